"""Bad input and abuse at ingest: every malformed request is a 4xx in the one error shape, and
nothing is claimed, stored or published (issue 7, "Bad input and abuse"; docs/reliability.md).

Most cases go through the ingest Lambda handler with API Gateway REST proxy events on an
in-process moto: bodies arrive base64-encoded, byte for byte, as the deployed API's
binaryMediaTypes ["*/*"] delivers them. A spy SQS queue, subscribed raw and unfiltered to the
topic, sees anything that is published; the idempotency and events tables show any claim or
stored event. The transport-level cases (raw bytes, broken Content-Length, unknown methods) go
over real HTTP to a LocalRuntime.

Timestamp rule (core/envelope.py): a store's `timestamp` must be UTC and lie within
[now - 3650 days, now + 1 hour]: old events (backfills, the document's 2024 test event) are fine
because retention counts from receipt; 1970 or 0001 is a bug; 1 hour allows for clock skew.
"""

from __future__ import annotations

import copy
import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

import seed_catalog as catalog
from litestore_webhooks import config
from litestore_webhooks import resources as r
from litestore_webhooks.aws import bootstrap, clients
from litestore_webhooks.core.envelope import build_envelope, format_timestamp
from litestore_webhooks.local.runtime import LocalRuntime
from litestore_webhooks.resources import MAX_BATCH_BODY_BYTES
from test_ingest import call, request

MAX_SAFE = 2**53 - 1
NOTHING = {"claims": 0, "events": 0, "published": 0}


# -- the world: moto, the stack's tables and topic, and a spy on the topic ---------------------


@dataclass
class World:
    ddb: Any
    sqs: Any
    spy_url: str

    def _count(self, table: r.Table) -> int:
        return self.ddb.scan(TableName=table.name(), Select="COUNT")["Count"]

    def published(self) -> list[str]:
        """Bodies the topic delivered to the spy since the last call (consumed)."""
        bodies = []
        while msgs := self.sqs.receive_message(QueueUrl=self.spy_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        ):
            bodies += [m["Body"] for m in msgs]
            self.sqs.delete_message_batch(
                QueueUrl=self.spy_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
            )
        return bodies

    def snapshot(self) -> dict[str, int]:
        return {
            "claims": self._count(r.IDEMPOTENCY_TABLE),
            "events": self._count(r.EVENTS_TABLE),
            "published": len(self.published()),
        }


def subscribe_spy(sns: Any, sqs: Any, topic_arn: str) -> str:
    """A queue getting every message published to the topic, raw (no filter policy)."""
    url = sqs.create_queue(QueueName="reliability-spy")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return url


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    from moto import mock_aws

    with mock_aws(), pytest.MonkeyPatch.context() as mp:
        clients.reset()
        config.settings.cache_clear()
        for key, value in bootstrap.create_stack_resources().items():
            mp.setenv(key, value)
        config.settings.cache_clear()
        sqs = clients.client("sqs")
        spy = subscribe_spy(clients.client("sns"), sqs, config.settings().topic_arn)
        yield World(clients.client("dynamodb"), sqs, spy)
        clients.reset()
        config.settings.cache_clear()


@pytest.fixture
def no_writes(world: World) -> Iterator[World]:
    """The test's requests claim, store and publish nothing."""
    world.published()  # consume anything an earlier (accepting) test left on the spy
    before = world.snapshot()
    yield world
    after = world.snapshot()
    assert {k: after[k] - before[k] for k in after} | {"published": after["published"]} == NOTHING


def refused(event: dict[str, Any], status: int, code: str | None = None, label: Any = None) -> dict[str, Any]:
    """Send `event`; assert a `status` answer in the error shape (a 4xx). Returns the answer."""
    got, headers, body = call(event)
    assert got == status, (label, body)
    assert 400 <= got < 500
    assert headers["Content-Type"] == "application/json"
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    assert isinstance(body["error"]["details"], (list, dict))
    if code:
        assert body["error"]["code"] == code, (label, body)
    return body


def now() -> datetime:
    return datetime.now(UTC)


def stamp(delta: timedelta = timedelta()) -> str:
    return format_timestamp(now() + delta)


def valid(event_type: str = "order.completed", **overrides: Any) -> dict[str, Any]:
    """The catalog's example of `event_type`, current, with a fresh id."""
    env = {**copy.deepcopy(catalog.get(event_type).example), "timestamp": stamp()}
    env["id"] = f"evt_input_{event_type.replace('.', '_')}"
    return {**env, **overrides}


def raw_event(raw: bytes, path: str = "/events", content_type: str = "application/json") -> dict[str, Any]:
    return request(path, raw=raw, content_type=content_type)


def paths(body: dict[str, Any]) -> list[str]:
    return [d["path"] for d in body["error"]["details"]]


# -- not JSON, wrong shape, wrong content type ------------------------------------------------


NOT_JSON = [
    b"",
    b" ",
    b"\r\n",
    b"{",
    b"}",
    b"{not json}",
    b"{'event': 'x'}",
    b'{"event": "x",}',
    b"[1,]",
    b"nul",
    b"NaN",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": -Infinity}',
    b'{"a": 1e999}',
    b'{"a": -1e999}',
    b'{"a": 01}',
    b'{"a": .5}',
    b'{"a": 0x10}',
    b'{"a": +1}',
    b'{"a": "\x01"}',
    b'{"a": "\t"}',
    b'{"a": 1} {"b": 2}',
    b'{"a": 1} x',
    b"<event/>",
    b"event=order.completed",
    b"\xef\xbb\xbf{}",  # UTF-8 byte order mark
]


def test_not_json_is_400_invalid_json(no_writes):
    for raw in NOT_JSON:
        refused(raw_event(raw), 400, "invalid_json", raw)
        refused(raw_event(raw, "/events/batch"), 400, "invalid_json", raw)


def test_json_that_is_not_an_object_is_400(no_writes):
    for doc in ["null", "true", "0", "-1.5", '""', '"order.completed"', "[]", "[{}]", "[[]]"]:
        body = refused(request(body=doc), 400, "validation_failed", doc)
        assert body["error"]["details"] == [{"path": "", "message": "expected object"}]
        refused(request("/events/batch", body=doc), 400, "validation_failed", doc)


CONTENT_TYPES = [
    None,
    "",
    "text/plain",
    "text/json",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonp",
    "application/json-patch+json",
    "application/vnd.api+json",
    "*/*",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "application/json; charset",
]


def test_wrong_content_type_is_415(no_writes):
    body = json.dumps(valid()).encode()
    for content_type in CONTENT_TYPES:
        for path in ("/events", "/events/batch"):
            answer = refused(
                request(path, raw=body, content_type=content_type), 415, "unsupported_media_type", content_type
            )
            assert answer["error"]["details"][0]["path"] == "Content-Type"


# -- the envelope: unknown type, missing or mistyped fields at every level --------------------


WRONG_TYPE: dict[str, list[Any]] = {
    "string": [None, 1, 1.5, True, [], {}],
    "number": [None, "1", True, [], {}],
    "integer": [None, "1", 1.5, True, [], {}],
    "boolean": [None, 0, "true", [], {}],
    "object": [None, "x", 1, True, []],
    "array": [None, "x", 1, True, {}],
}


UNKNOWN_TYPES = [
    "order.nope",
    "Order.Completed",
    " order.completed",
    "order.completed ",
    "order.*",
    "*",
    "",
    "order",
    "order.completed\x00",
    "ordеr.completed",  # Cyrillic e
    "x" * 100_000,
]


def test_unknown_event_type_is_400_and_names_the_known_ones(no_writes):
    for event in UNKNOWN_TYPES:
        body = refused(request(body=valid(event=event)), 400, "validation_failed", event[:30])
        (problem,) = [d for d in body["error"]["details"] if d["path"] == "event"]
        assert "unknown event type" in problem["message"] and "order.completed" in problem["message"]
        assert len(json.dumps(body)) < 4096  # a huge type name is not echoed back


def test_envelope_fields_missing_or_of_the_wrong_type_are_400(no_writes):
    for field in ("event", "id", "timestamp", "data"):
        for wrong in WRONG_TYPE["object" if field == "data" else "string"]:
            if wrong is None and field in ("id", "timestamp"):
                continue  # null id / timestamp mean "fill it in" (tested by test_envelope)
            body = refused(request(body=valid(**{field: wrong})), 400, "validation_failed", (field, wrong))
            assert field in paths(body), (field, wrong, body)
    for field in ("event", "data"):
        doc = valid()
        del doc[field]
        body = refused(request(body=doc), 400, "validation_failed", field)
        assert {"path": field, "message": "is required"} in body["error"]["details"]


def test_unknown_top_level_fields_are_400(no_writes):
    body = refused(request(body=valid(extra=1, Event="order.completed")), 400, "validation_failed")
    assert [d for d in body["error"]["details"] if d["message"] == "unknown field"] == [
        {"path": "Event", "message": "unknown field"},
        {"path": "extra", "message": "unknown field"},
    ]


def _sample(schema: dict[str, Any]) -> Any:
    """A valid value for `schema` (the catalog's subset of JSON Schema)."""
    kind = schema["type"]
    if kind == "object":
        return {k: _sample(s) for k, s in schema.get("properties", {}).items()}
    if kind == "array":
        return [_sample(schema["items"])]
    if kind == "string":
        fmt = schema.get("format")
        text = {"date-time": "2024-01-15T10:30:00Z", "uri": "https://cdn.example.com/x"}.get(fmt, "abc")
        return text if fmt else text[: schema.get("maxLength", 3)].ljust(schema.get("minLength", 0), "a")
    return {"boolean": True, "integer": max(schema.get("minimum", 1), 1)}.get(kind, 1.5)


def _complete(value: Any, schema: dict[str, Any]) -> Any:
    """`value` (the catalog example) with every optional field the schema knows filled in, at every level."""
    if schema["type"] == "object":
        given = value if isinstance(value, dict) else {}
        return {
            k: _complete(given[k], s) if k in given else _sample(s) for k, s in schema.get("properties", {}).items()
        } | {k: v for k, v in given.items() if k not in schema.get("properties", {})}
    if schema["type"] == "array":
        items = value if isinstance(value, list) and value else [_sample(schema["items"])]
        return [_complete(v, schema["items"]) for v in items]
    return value


def _locations(
    value: Any, schema: dict[str, Any], path: str, loc: tuple
) -> Iterator[tuple[str, tuple, dict[str, Any]]]:
    yield path, loc, schema
    if schema["type"] == "object":
        for key, sub in schema.get("properties", {}).items():
            yield from _locations(value[key], sub, f"{path}.{key}", (*loc, key))
    elif schema["type"] == "array":
        yield from _locations(value[0], schema["items"], f"{path}[0]", (*loc, 0))


def _violations(schema: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    """(bad value, expected message) for every keyword of `schema`."""
    kind = schema["type"]
    for wrong in WRONG_TYPE[kind]:
        yield wrong, f"expected {kind}"
    if "minLength" in schema and schema["minLength"] > 0:
        yield "", f"must be at least {schema['minLength']} character" + ("s" if schema["minLength"] > 1 else "")
    if "maxLength" in schema:
        yield "x" * (schema["maxLength"] + 1), f"must be at most {schema['maxLength']} characters"
    if "minimum" in schema:
        yield schema["minimum"] - 1, f"must be >= {schema['minimum']}"
    if "maximum" in schema:
        yield schema["maximum"] + 1, f"must be <= {schema['maximum']}"
    if "minItems" in schema:
        yield [], f"must have at least {schema['minItems']} item"
    if schema.get("format") == "date-time":
        yield from (
            ("2024-01-15 10:30:00", "not an ISO-8601 date-time"),
            ("yesterday", "not an ISO-8601 date-time"),
            ("2024-02-30T00:00:00Z", "not an ISO-8601 date-time"),
        )
    if schema.get("format") == "uri":
        yield from (
            ("/relative/path", "not an absolute URI"),
            ("https://exa mple.com/x", "not an absolute URI"),
            ("no scheme", "not an absolute URI"),
        )


def _at(doc: Any, loc: tuple) -> tuple[Any, Any]:
    parent = doc
    for step in loc[:-1]:
        parent = parent[step]
    return parent, loc[-1]


def data_mutations(event_type: str) -> Iterator[tuple[str, dict[str, Any], dict[str, str]]]:
    """(label, envelope, a problem the answer must list) for every field of the type's schema, at every
    level: each required field removed, each field given every wrong type and every out-of-range value."""
    schema = catalog.get(event_type).schema
    full = valid(event_type)
    full["data"] = _complete(full["data"], schema)
    build_envelope(full, catalog.SNAPSHOT)  # the starting point is valid
    for path, loc, sub in _locations(full["data"], schema, "data", ("data",)):
        for key in sub.get("required", []) if sub["type"] == "object" else []:
            doc = copy.deepcopy(full)
            parent, last = _at(doc, (*loc, key))
            del parent[last]
            yield f"{path}.{key} missing", doc, {"path": f"{path}.{key}", "message": "is required"}
        for bad, message in _violations(sub):
            doc = copy.deepcopy(full)
            parent, last = _at(doc, loc)
            parent[last] = bad
            yield f"{path}={json.dumps(bad)[:20]}", doc, {"path": path, "message": message}


@pytest.mark.parametrize("event_type", catalog.event_names())
def test_every_missing_or_mistyped_data_field_is_400_at_its_path(no_writes, event_type):
    count = 0
    for label, doc, problem in data_mutations(event_type):
        body = refused(request(body=doc), 400, "validation_failed", label)
        assert problem in body["error"]["details"], (label, body["error"]["details"])
        count += 1
    assert count >= 20, count  # the generator really walked the schema


# -- sizes, depth, numbers --------------------------------------------------------------------


def test_deep_nesting_10000_levels_is_400_fast(no_writes):
    for raw in (
        "[" * 10_000 + "]" * 10_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        json.dumps(valid())[:-1] + ', "deep": ' + "[" * 10_000 + "]" * 10_000 + "}",
    ):
        body = refused(request(body=raw), 400, "invalid_json")
        assert "nesting depth" in body["error"]["message"]
        refused(request("/events/batch", body='{"events": [' + raw + "]}"), 400, "invalid_json")


def test_nesting_just_over_the_limit_of_64_is_400(no_writes):
    doc = valid("order.updated")
    doc["data"]["extra"] = json.loads("[" * 62 + "]" * 62)  # envelope + data + 62 = 64: allowed ...
    assert build_envelope(doc, catalog.SNAPSHOT)
    doc["data"]["extra"] = json.loads("[" * 63 + "]" * 63)  # ... one more is not
    body = refused(request(body=json.dumps(doc)), 400, "invalid_json")
    assert body["error"]["message"] == "JSON nesting depth 65 exceeds the limit of 64"


def test_over_size_bodies_are_413(no_writes):
    doc = valid("order.updated")
    doc["data"]["status"] = "x" * r.MAX_EVENT_BYTES  # a huge string
    body = refused(request(body=doc), 413, "payload_too_large")
    assert body["error"]["details"]["limit"] == r.MAX_EVENT_BYTES
    refused(request(body=" " * (r.MAX_EVENT_BYTES + 1)), 413, "payload_too_large")
    big = refused(request("/events/batch", raw=b" " * (MAX_BATCH_BODY_BYTES + 1)), 413, "payload_too_large")
    assert big["error"]["details"] == {"limit": MAX_BATCH_BODY_BYTES, "size": MAX_BATCH_BODY_BYTES + 1}


def test_numbers_javascript_cannot_hold_are_400(no_writes):
    for number in (
        str(MAX_SAFE + 1),
        str(-MAX_SAFE - 1),
        str(2**64),
        "9" * 5000,
        "-" + "9" * 5000,
        "1e309",
        "-1e309",
        "123e99999",
    ):
        doc = json.dumps(valid("product.purchased")).replace('"quantity": 1', f'"quantity": {number}')
        assert number in doc
        body = refused(request(body=doc), 400, "invalid_json", number[:30])
        assert body["error"]["details"][0]["path"] == "data.quantity"
        assert len(body["error"]["message"]) < 200  # a 5,000-digit number is not echoed back whole


# -- invalid UTF-8 and lone surrogates --------------------------------------------------------


INVALID_UTF8 = {
    "ff": b"\xff",
    "fe-ff-bom": b"\xfe\xff",
    "bad-continuation": b"\xc3\x28",
    "overlong-slash": b"\xc0\xaf",
    "overlong-3": b"\xe0\x80\xaf",
    "encoded-surrogate": b"\xed\xa0\x80",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "truncated": b"\xe2\x82",
    "latin1-e-acute": b"caf\xe9",
}


@pytest.mark.parametrize("where", ["event", "id", "key", "data"])
def test_invalid_utf8_anywhere_is_400(no_writes, where):
    for label, raw in INVALID_UTF8.items():
        doc = json.dumps(valid("order.updated"), ensure_ascii=False).encode()
        target = {
            "event": b'"order.updated"',
            "id": b'"evt_input_order_updated"',
            "key": b'"status"',
            "data": b'"shipped"',
        }[where]
        assert target in doc
        doc = doc.replace(target, target[:-1] + raw + b'"', 1)
        body = refused(raw_event(doc), 400, "invalid_json", label)
        assert body["error"]["message"] == "body is not valid UTF-8"
        refused(raw_event(b'{"events": [' + doc + b"]}", "/events/batch"), 400, "invalid_json", label)


def test_a_body_in_utf16_is_400(no_writes):
    refused(raw_event(json.dumps(valid()).encode("utf-16")), 400, "invalid_json")


@pytest.mark.parametrize("where", ["event", "id", "key", "data", "nested"])
def test_lone_surrogate_escapes_anywhere_are_400(no_writes, where):
    for escape in (r"\ud800", r"\uDFFF", r"\udbff\u0041", r"\udc00\ud800", r"x\ud800y"):
        doc = valid("order.updated")
        doc["data"]["changes"] = [{"field": "status", "tags": ["a", {"b": "SURR"}]}]
        text = json.dumps(doc)
        target = {
            "event": '"order.updated"',
            "id": '"evt_input_order_updated"',
            "key": '"status"',
            "data": '"shipped"',
            "nested": '"SURR"',
        }[where]
        text = text.replace(target, target[:-1] + escape + '"', 1)
        body = refused(request(body=text), 400, "invalid_json", escape)
        assert "lone UTF-16 surrogate" in body["error"]["message"]
        refused(request("/events/batch", body='{"events": [' + text + "]}"), 400, "invalid_json", escape)


def test_lone_surrogates_that_api_gateway_passed_as_text_are_400(no_writes):
    # A non-base64 body (not what our API sends, but a handler must not trust it): a raw lone surrogate.
    refused(request(body='{"event": "order.updated", "data": {"x": "\ud800"}}'), 400, "invalid_json")
    bad = request(body="{}")
    bad.update(body="not base64!", isBase64Encoded=True)
    refused(bad, 400, "invalid_body")


# -- odd ids and timestamps -------------------------------------------------------------------


ODD_IDS = [
    "../",
    "../../etc/passwd",
    "..",
    ".",
    "...",
    "a/b",
    "a\\b",
    "a b",
    " evt_1",
    "evt_1\n",
    "evt\r\nX-Injected: 1",
    "\x00",
    "evt\x00",
    "evt\x7f",
    "evt\u0085",
    "evt\u202e",
    "évt",
    "evt_😀",
    "%2e%2e%2f",
    "evt?x=1",
    "evt#x",
    "<script>",
    "___",
    "-",
    "",
    "a" * 129,
    "a" * 10_240,
]


def test_odd_ids_are_400(no_writes):
    for event_id in ODD_IDS:
        body = refused(request(body=valid(id=event_id)), 400, "validation_failed", event_id[:30])
        assert paths(body) == ["id"]
        assert len(json.dumps(body)) < 1024  # a 10 KB id is not echoed back


def test_timestamps_outside_the_window_or_not_utc_are_400(no_writes):
    bad = [
        "0001-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        stamp(-timedelta(days=3650, minutes=5)),
        "9999-12-31T23:59:59Z",
        stamp(timedelta(hours=1, minutes=5)),
        "2024-01-15T10:30:00+01:00",
        "2024-01-15T10:30:00-00:00",
        "2024-01-15T10:30:00",
        "2024-01-15",
        "2024-01-15T10:30Z",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2023-12-31T23:59:60Z",
        "2024-01-15t10:30:00z",
        " " + stamp(),
        stamp() + " ",
        "2024-01-15T10:30:00.1234567890Z",
        "+002024-01-15T10:30:00Z",
        "-2024-01-15T10:30:00Z",
        "1705314600",
        "",
        "２０２４-01-15T10:30:00Z",
        "2024-01-15T10:30:00Z\n",
    ]
    for timestamp in bad:
        body = refused(request(body=valid(timestamp=timestamp)), 400, "validation_failed", timestamp)
        assert paths(body) == ["timestamp"], (timestamp, body)
        assert len(body["error"]["message"]) < 200


def test_the_timestamp_window_edges_are_accepted(world):
    world.snapshot()
    accepted = [
        stamp(-timedelta(days=3650) + timedelta(minutes=5)),
        stamp(timedelta(minutes=55)),
        stamp().replace("Z", "+00:00"),
        "2024-01-15T10:00:00Z",
    ]  # the last: the document's test event
    for i, timestamp in enumerate(accepted):
        status, _, body = call(request(body=valid(id=f"evt_window_{i}", timestamp=timestamp)))
        assert status == 202, (timestamp, body)
    assert sorted(json.loads(b)["id"] for b in world.published()) == [f"evt_window_{i}" for i in range(4)]


def test_the_safe_integer_edges_and_escaped_text_are_accepted(world):
    """The controls: the largest safe integers and a literal backslash-u text pass, so the refusals above are real."""
    world.snapshot()
    doc = json.dumps(valid("product.purchased", id="evt_edges")).replace('"quantity": 1', f'"quantity": {MAX_SAFE}')
    doc = doc.replace('"user-111"', r'"user-111\\ud800"')  # an escaped backslash, not a surrogate
    assert call(request(body=doc))[0] == 202
    (published,) = world.published()
    data = json.loads(published)["data"]
    assert (data["quantity"], data["customer"]["id"]) == (MAX_SAFE, "user-111\\ud800")


# -- batches ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc",
    [
        {"events": None},
        {"events": "x"},
        {"events": 1},
        {"events": {}},
        {"events": []},
        {},
        {"events": [valid()], "extra": 1},  # one valid event, but the request is malformed: nothing published
        {"Events": [valid()]},
        {"events": [valid(id=f"evt_over_{i}") for i in range(r.MAX_BATCH_EVENTS + 1)]},
    ],
    ids=["null", "string", "number", "object", "empty", "no-events", "extra-field", "wrong-case", "101-events"],
)
def test_malformed_batches_are_400_and_publish_nothing(no_writes, doc):
    refused(request("/events/batch", body=doc), 400, "validation_failed")


def test_a_batch_of_only_invalid_events_is_400_with_one_result_each(no_writes):
    events: list[Any] = [
        None,
        "x",
        [],
        valid(event="order.nope"),
        valid(id="../x"),
        valid(timestamp="1970-01-01T00:00:00Z"),
        valid(data=[]),
        {**valid(), "data": {}},
        valid(extra=1),
        {**valid(id="evt_dup")},
        {**valid(id="evt_dup"), "data": {}},  # the same id twice, both invalid
    ]
    events[9]["data"] = {"orderId": 1}
    body = refused(request("/events/batch", body={"events": events}), 400, "validation_failed")
    results = body["error"]["details"]
    assert [x["index"] for x in results] == list(range(len(events)))
    assert all(x["status"] == 400 and x["duplicate"] is False for x in results)
    for x in results:
        assert set(x["error"]) == {"code", "message", "details"} and x["error"]["code"] == "validation_failed"
    assert [x["id"] for x in results][:5] == [None, None, None, "evt_input_order_completed", None]  # "../x" not echoed
    assert [x["event"] for x in results][3:5] == [None, "order.completed"]  # an unknown type is not echoed


def test_error_answers_stay_small_however_large_the_bad_input(no_writes):
    """A bad batch of 100 events full of unknown keys answered 21 MB (over Lambda's 6 MB response limit,
    a 502 when deployed): the answer lists at most 50 problems per event and cuts long keys. The
    batches fill the body limit (4.67 MB, what can reach the function through API Gateway)."""
    many_keys = {"event": "order.completed", "data": {}, **{f"k{i}": 0 for i in range(5000)}}
    long_keys = {"event": "order.completed", "data": {}, **{f"K{i}" + "x" * 1200: 0 for i in range(48)}}
    long_ids = {"event": "order.nope" + "x" * 25_000, "id": "y" * 25_000, "data": {}}
    for doc in (many_keys, long_keys, long_ids):
        n = min(100, (MAX_BATCH_BODY_BYTES - 64) // (len(json.dumps(doc, separators=(",", ":"))) + 1))
        raw = json.dumps({"events": [doc] * n}, separators=(",", ":")).encode()
        assert 4_000_000 < len(raw) <= MAX_BATCH_BODY_BYTES  # as large as a batch that reaches the function can be
        got, _, body = call(request("/events/batch", raw=raw))
        print(f"[bad batch] {n} events, {len(raw):,} bytes -> answer {len(json.dumps(body)):,} bytes")
        assert got == 400 and len(json.dumps(body)) < 1_000_000
        assert all(len(x["error"]["details"]) <= 50 for x in body["error"]["details"])
    single = {**many_keys, **{f"k{i}": 0 for i in range(20_000)}}
    body = refused(request(body=json.dumps(single, separators=(",", ":"))), 400, "validation_failed")
    assert len(body["error"]["details"]) == 50 and len(json.dumps(body)) < 16_384
    body = refused(request(body=long_keys), 400, "validation_failed")
    assert all(len(d["path"]) < 100 for d in body["error"]["details"])


def test_methods_and_paths_that_do_not_exist_are_4xx(no_writes):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        refused(request(method=method, body=valid()), 405, "method_not_allowed")
    for path in ("/event", "/events/batch/x", "/Events", "/events/x"):
        refused(request(path, body=valid()), 404, "not_found")


# -- over real HTTP: the local runtime --------------------------------------------------------


def test_over_real_http_every_bad_request_is_a_4xx_and_nothing_is_published():
    with LocalRuntime(port=0, write_profile=False) as rt:
        session = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
        )
        sqs, ddb = (session.client(name, endpoint_url=rt.aws_endpoint_url) for name in ("sqs", "dynamodb"))
        spy = World(
            ddb,
            sqs,
            subscribe_spy(session.client("sns", endpoint_url=rt.aws_endpoint_url), sqs, config.settings().topic_arn),
        )
        host, port = rt.base_url.split("//")[1].split("/")[0].split(":")
        key = rt.api_key.encode()

        def send(raw: bytes) -> tuple[int, dict[str, Any]]:
            """Raw bytes on a socket: http.client would refuse to send some of these requests."""
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(raw)
                resp = http.client.HTTPResponse(sock, method="POST")
                resp.begin()
                return resp.status, json.loads(resp.read())

        def post(
            body: bytes,
            *,
            path: str = "/v1/events",
            headers: bytes = b"Content-Type: application/json\r\n",
            length: bytes | None = None,
            method: bytes = b"POST",
        ) -> bytes:
            size = str(len(body)).encode() if length is None else length
            return (
                method
                + b" "
                + path.encode()
                + b" HTTP/1.1\r\nHost: x\r\nx-api-key: "
                + key
                + b"\r\n"
                + headers
                + b"Content-Length: "
                + size
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )

        good = json.dumps(valid("content.submitted", id="evt_http_ok")).encode()
        cases = {
            "invalid UTF-8": (post(good.replace(b"content-456", b"content-\xff")), 400, "invalid_json"),
            "lone surrogate escape": (post(good.replace(b"content-456", b"\\ud800")), 400, "invalid_json"),
            "10,000 levels": (post(b"[" * 10_000 + b"]" * 10_000), 400, "invalid_json"),
            "empty body": (post(b""), 400, "invalid_json"),
            "array": (post(b"[]"), 400, "validation_failed"),
            "text/plain": (post(good, headers=b"Content-Type: text/plain\r\n"), 415, "unsupported_media_type"),
            "no Content-Type": (post(good, headers=b""), 400, "bad_request"),
            "over 261,120 bytes": (post(b" " * (r.MAX_EVENT_BYTES + 1)), 413, "payload_too_large"),
            "Content-Length: abc": (post(b"{}", length=b"abc"), 400, "bad_request"),
            "Content-Length: -5": (post(b"{}", length=b"-5"), 400, "bad_request"),
            "unknown method": (post(good, method=b"BREW"), 405, "method_not_allowed"),
            "odd id": (post(good.replace(b"evt_http_ok", b"../../x")), 400, "validation_failed"),
            "batch of invalid": (post(b'{"events": [{}, []]}', path="/v1/events/batch"), 400, "validation_failed"),
        }
        before = spy.snapshot()
        for label, (raw, status, code) in cases.items():
            got, body = send(raw)
            assert (got, body["error"]["code"]) == (status, code), (label, body)
            assert set(body["error"]) == {"code", "message", "details"}
        assert spy.snapshot() == before == NOTHING
        # The control: a valid event over the same path reaches the spy.
        assert send(post(good))[0] == 202
        assert [json.loads(b)["id"] for b in spy.published()] == ["evt_http_ok"]


def test_the_data_mutation_generator_covers_every_type():
    """Guard for the generated cases: each catalog type yields mutations at nested paths too."""
    nested = {
        name: [p["path"] for _, _, p in data_mutations(name) if p["path"].count(".") > 1 or "[" in p["path"]]
        for name in catalog.event_names()
    }
    assert all(nested[n] for n in ("order.completed", "content.submitted", "product.purchased")), nested
