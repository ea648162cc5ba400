"""Fuzzing the ingest API with hypothesis (issue 7, "Bad input and abuse"; docs/reliability.md).

Through the ingest Lambda handler with API Gateway REST proxy events on an in-process moto (the
world and topic spy of test_reliability_input): arbitrary bytes, arbitrary JSON and mutated valid
envelopes. The properties: never a 5xx; every non-2xx is a 4xx in the one error shape; a 2xx only
for an envelope the pure validator accepts (and a valid one is accepted); what is published is
exactly the accepted events' canonical bodies. Bounded: a few hundred examples, seconds in all.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import seed_catalog as catalog
from litestore_webhooks import resources as r
from litestore_webhooks.core.canonical import CanonicalJSONError, canonical_bytes, parse_json
from litestore_webhooks.core.envelope import Envelope, build_envelope
from litestore_webhooks.core.errors import ValidationFailed
from test_ingest import call, request
from test_reliability_input import World, stamp, world  # noqa: F401 - `world` is the module fixture

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
# LSW_FUZZ_EXAMPLES raises the bound for a long run by hand.
FUZZ = settings(
    max_examples=int(os.environ.get("LSW_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CONTENT_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", None])

# Text that includes lone surrogates (json.dumps escapes them as \udXXX, which the parser must refuse).
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12
)


def oracle(raw: bytes) -> Envelope | None:
    """What the pure core says of a body: the envelope it would accept, or None."""
    try:
        envelope = build_envelope(parse_json(raw), catalog.SNAPSHOT)
        body = envelope.body()
    except (CanonicalJSONError, ValidationFailed):
        return None
    return envelope if len(body) <= r.MAX_EVENT_BYTES and len(raw) <= r.MAX_EVENT_BYTES else None


def assert_error_shape(status: int, body: Any) -> None:
    assert 400 <= status < 500, (status, body)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)


def post(world: World, raw: bytes, content_type: str | None = "application/json") -> tuple[int, Any, list[str]]:
    world.published()  # start from an empty spy
    status, _, body = call(request(raw=raw, content_type=content_type))
    assert status < 500, body
    return status, body, world.published()


def check_single(world: World, raw: bytes, content_type: str | None = "application/json") -> int:
    status, body, published = post(world, raw, content_type)
    expected = oracle(raw) if content_type and content_type.startswith("application/json") else None
    if expected is None:
        assert_error_shape(status, body)
        assert published == []
        return status
    assert status in (200, 202), (status, body, raw[:200])
    sent = parse_json(raw)
    want = expected.to_dict() | {
        k: body["id"] if k == "id" else None for k in ("id", "timestamp") if sent.get(k) is None
    }
    assert (body["id"], body["event"]) == (want["id"], want["event"])
    if status == 202:  # published exactly once, as the canonical body (filled-in fields aside)
        (got,) = published
        filled = {"timestamp": json.loads(got)["timestamp"]} if want["timestamp"] is None else {}
        assert got.encode() == canonical_bytes(want | filled)
    else:
        assert body["duplicate"] is True and published == []
    return status


@FUZZ
@given(raw=st.binary(max_size=600), content_type=CONTENT_TYPES)
@example(raw=b"", content_type="application/json")
@example(raw=b'{"a":"\xed\xa0\x80"}', content_type="application/json")
def test_arbitrary_bytes_are_never_a_5xx(world, raw, content_type):
    check_single(world, raw, content_type)
    status, _, body = call(request("/events/batch", raw=raw, content_type=content_type))
    assert_error_shape(status, body)


@FUZZ
@given(value=JSON, ascii_only=st.booleans())
@example(value={"event": "order.completed", "data": {"x": "\ud800"}}, ascii_only=True)
@example(value={"event": "order.updated", "data": {"n": 2**53}}, ascii_only=True)
def test_arbitrary_json_is_never_a_5xx(world, value, ascii_only):
    try:
        raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    except (ValueError, OverflowError):
        return
    check_single(world, raw)
    status, _, body = call(request("/events/batch", raw=json.dumps({"events": [value]}).encode()))
    assert status < 500 and (status >= 400 or status in (200, 202)), body


# -- mutated valid envelopes -------------------------------------------------------------------


def _locations(doc: Any, loc: tuple = ()) -> list[tuple]:
    found = [loc]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _locations(value, (*loc, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _locations(value, (*loc, i))
    return found


@st.composite
def mutated_envelopes(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(catalog.event_names()))
    doc = copy.deepcopy(catalog.get(name).example)
    doc["id"] = "evt_fz_" + draw(st.uuids()).hex
    doc["timestamp"] = stamp()
    for _ in range(draw(st.integers(0, 3))):
        targets = _locations(doc)[1:]
        kind = draw(st.sampled_from(["delete", "replace", "insert", "id", "timestamp", "event"]))
        if kind in ("delete", "replace") and targets:
            loc = draw(st.sampled_from(targets))
            parent = doc
            for step in loc[:-1]:
                parent = parent[step]
            if kind == "delete":
                del parent[loc[-1]]
            else:
                parent[loc[-1]] = draw(JSON)
        elif kind == "insert":
            objects = [loc for loc in _locations(doc) if isinstance(_get(doc, loc), dict)]
            _get(doc, draw(st.sampled_from(objects)))[draw(TEXT)] = draw(JSON)
        elif kind == "id":
            doc["id"] = draw(st.from_regex(r"[A-Za-z0-9_.:-]{1,130}", fullmatch=True) | TEXT)
        elif kind == "timestamp":
            doc["timestamp"] = draw(
                st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z")) | TEXT
            )
        else:
            doc["event"] = draw(st.sampled_from(catalog.event_names()) | TEXT)
    return doc


def _get(doc: Any, loc: tuple) -> Any:
    for step in loc:
        doc = doc[step]
    return doc


def _dumps(doc: Any) -> bytes | None:
    try:
        return json.dumps(doc).encode()
    except (ValueError, OverflowError):
        return None


@FUZZ
@given(doc=mutated_envelopes())
@example(
    doc={
        "event": "order.updated",
        "id": "evt_fz_rt",
        "timestamp": None,
        "data": {"orderId": "o", "status": "s", "updatedAt": "2024-01-15T11:00:00Z", "x": -0.0},
    }
)
# Found by this fuzzer: a float JavaScript prints without exponent (8.6e19 -> "86143687258626650000") is
# published as those digits, which Python reads back as an int; the bytes are the canonical ones.
@example(
    doc={
        "event": "review.approved",
        "id": "evt_fz_big",
        "data": {
            "reviewId": "r",
            "approvedBy": "m",
            "approvedAt": "2024-01-15T16:30:00Z",
            "x": [8.614368725862665e19, 5.6e102],
        },
    }
)
def test_mutated_envelopes_are_accepted_exactly_when_valid(world, doc):
    raw = _dumps(doc)
    if raw is not None:
        check_single(world, raw)


@FUZZ
@given(docs=st.lists(mutated_envelopes(), min_size=1, max_size=5))
# Found by this fuzzer: one unsafe integer anywhere refuses the whole batch body (400 invalid_json), not one item.
@example(docs=[{"event": "order.updated", "data": {}}, {"event": "order.updated", "data": {"": 2**53}}])
def test_mutated_batches_answer_per_event_exactly_as_single_events_would(world, docs):
    raw = _dumps({"events": docs})
    if raw is None:
        return
    world.published()
    status, _, body = call(request("/events/batch", raw=raw))
    assert status < 500, body
    try:
        parse_json(raw)
    except CanonicalJSONError:  # the body as a whole is refused (e.g. one unsafe integer anywhere)
        assert_error_shape(status, body)
        assert (status, body["error"]["code"], world.published()) == (400, "invalid_json", [])
        return
    expected = [oracle(_dumps(d) or b"") for d in docs]
    if not any(expected):
        assert_error_shape(status, body)
        assert status == 400 and world.published() == []
        results = body["error"]["details"]
        assert isinstance(results, list) and len(results) == len(docs), body
    else:
        assert status in (200, 202, 207), body
        results = body["results"]
    assert [res["index"] for res in results] == list(range(len(docs)))
    for res, envelope, doc in zip(results, expected, docs, strict=True):
        if envelope is None:
            assert res["status"] == 400 and res["error"]["code"] in ("validation_failed", "payload_too_large"), res
        else:
            assert res["status"] in (200, 202) and res["error"] is None, res
            assert res["id"] == (envelope.id if doc.get("id") is not None else res["id"]) and res["id"]
    accepted = {res["id"] for res in results if res["status"] == 202}
    assert sorted(json.loads(p)["id"] for p in world.published()) == sorted(accepted)


def test_the_fuzzers_reach_acceptance():
    """Guard: mutated envelopes are valid often enough that the 2xx side of the property is exercised."""

    @settings(max_examples=60, deadline=None, database=None)
    @given(doc=mutated_envelopes())
    def count(doc: dict[str, Any]) -> None:
        seen.append(oracle(_dumps(doc) or b"") is not None)

    seen: list[bool] = []
    count()
    assert 0.1 < sum(seen) / len(seen) < 0.95, sum(seen)
