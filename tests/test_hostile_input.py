"""Hostile bodies at ingest: answered in time linear in their size, with answers of bounded size.

Issue 13 item 1: the depth pre-scan rescanned from every unclosed quote, so 40 KB of escaped
quotes held the ingest handler 11 s. Item 11: a batch of 473,928 unknown keys answered 20 MB,
over Lambda's 6 MB response limit. The shapes are tests/hostile_bodies.py (the bench's
hostile-input part measures the same ones).

Times are never compared with a fixed number of seconds: each hostile body is timed next to a
benign body of the same size, interleaved, medians of a few runs. Time is this process's CPU time
(`time.process_time`): the machines are shared, and wall time would count other people's work.
The timed tests set aside (`gc.freeze`) the millions of objects earlier tests leave in this
process (moto, CDK, hypothesis): CPython's collector re-walks the heap while `json.loads` builds
containers, so a bloated test process would price a body by what else it holds, not by its size.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.hostile_bodies import SHAPES, Shape, benign

from litestore_webhooks.core.canonical import CanonicalJSONError, parse_json
from litestore_webhooks.resources import MAX_BATCH_BODY_BYTES
from test_ingest import call, request

# Parsing a hostile body may cost this many times a benign body of the same size. The dearest
# shape, 1.5 million empty arrays, costs ~9x: CPython's garbage collector re-walks the containers
# json.loads makes (linear, with a large constant). A quadratic scan is 4,000x over at 36 KB.
PARSE_RATIO = 25
# Through the handler, a benign batch also claims, stores and publishes its 100 events (moto).
HANDLER_RATIO = 3
SMALL = MAX_BATCH_BODY_BYTES // 128  # 36 KB: a quadratic scan fails here in seconds, not hours


@pytest.fixture
def quiet_heap() -> Iterator[None]:
    """The heap as a fresh function's: what earlier tests left is frozen out of collections."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


def _cpu(call_: Callable[[], object]) -> float:
    start = time.process_time()
    call_()
    return time.process_time() - start


def _parse(raw: bytes) -> None:
    try:
        parse_json(raw)
    except CanonicalJSONError:
        pass


def _medians(*calls: Callable[[], object], runs: int) -> list[float]:
    """Median CPU seconds of each call, run interleaved so machine noise hits them alike."""
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(runs):
        for call_, spent in zip(calls, times):
            spent.append(_cpu(call_))
    return [statistics.median(spent) for spent in times]


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_parsing_is_linear_in_the_body_for_every_hostile_shape(shape: Shape, quiet_heap: None) -> None:
    seconds = {}
    for size in (SMALL, MAX_BATCH_BODY_BYTES // 2, MAX_BATCH_BODY_BYTES):
        hostile, good = shape.build(size), benign(size)
        assert len(hostile) <= size and len(good) <= size
        seconds[size] = _medians(lambda: _parse(hostile), lambda: _parse(good), runs=5 if size == SMALL else 3)
        print(
            f"[{shape.name}] {len(hostile):,} bytes: {seconds[size][0] * 1000:.1f} ms, "
            f"benign {seconds[size][1] * 1000:.1f} ms"
        )
        assert seconds[size][0] <= PARSE_RATIO * seconds[size][1], (shape.name, size, seconds[size])
    half, full = seconds[MAX_BATCH_BODY_BYTES // 2][0], seconds[MAX_BATCH_BODY_BYTES][0]
    # Linear: ~2x (up to ~2.5x where the collector's 25% steps fall differently); quadratic: 4x.
    assert full <= 3.5 * half, f"doubling the body took {full / half:.1f}x the time"


def _handler(raw: bytes, path: str = "/events/batch") -> tuple[float, int, dict]:
    """CPU seconds, status and body of the ingest handler's answer to `raw`."""
    event = request(path, raw=raw)
    answer: list = []
    spent = _cpu(lambda: answer.extend(call(event)))
    return spent, answer[0], answer[2]


def _benign_handler(size: int, runs: int) -> float:
    """Median handler CPU seconds for a benign batch of `size` bytes, accepted (fresh ids each run)."""
    spent = []
    for run in range(runs):
        seconds, status, body = _handler(benign(size, tag=f"b{size}r{run}{time.monotonic_ns()}"))
        assert status == 202, body
        spent.append(seconds)
    return statistics.median(spent)


def test_the_40_kb_quote_storm_is_a_400_from_the_ingest_handler_sooner_than_a_benign_body(aws) -> None:
    """The issue's repro held the real handler 11.2 s; now it is refused before a benign body of
    the same size is accepted (which claims, stores and publishes its events)."""
    raw = b"[" * 65 + b'"' + b'\\"' * 20_000
    assert len(raw) == 40_066
    good = _benign_handler(len(raw), runs=3)
    for path in ("/events", "/events/batch"):
        spent, status, body = _handler(raw, path)
        print(f"[quote storm, {path}] {spent * 1000:.1f} ms; benign {good * 1000:.1f} ms")
        assert (status, body["error"]["code"]) == (400, "invalid_json")
        assert body["error"]["message"] == "JSON nesting depth 65 exceeds the limit of 64"
        assert spent <= good, (path, spent, good)


@pytest.mark.slow
def test_every_hostile_shape_at_the_batch_limit_is_a_small_4xx_costing_about_a_benign_batch(aws, quiet_heap) -> None:
    good = _benign_handler(MAX_BATCH_BODY_BYTES, runs=3)
    answers = {}
    for shape in SHAPES:
        spent, status, body = answers[shape.name] = _handler(shape.build(MAX_BATCH_BODY_BYTES))
        print(
            f"[{shape.name}] {status} {body['error']['code']} in {spent * 1000:.0f} ms "
            f"(benign {good * 1000:.0f} ms), answer {len(json.dumps(body)):,} bytes"
        )
    assert {name: status for name, (_, status, _) in answers.items() if not 400 <= status < 500} == {}
    assert {name: spent for name, (spent, _, _) in answers.items() if spent > HANDLER_RATIO * good} == {}
    assert {name: len(json.dumps(body)) for name, (_, _, body) in answers.items() if len(json.dumps(body)) > 4096} == {}


# -- answers of bounded size (item 11) ----------------------------------------------------------


def _lambda_answer(event: dict) -> tuple[int, dict, int]:
    """Status, body and the size of the whole Lambda response as the runtime serialises it
    (\\u-escaped: the larger spelling), which is what Lambda's 6 MB response limit counts."""
    from litestore_webhooks.handlers import ingest as handler
    from test_ingest import Context

    response = handler.handler(event, Context())
    return response["statusCode"], json.loads(response["body"]), len(json.dumps(response))


def test_a_batch_with_473928_unknown_keys_is_answered_with_the_first_50(aws) -> None:
    """The issue's repro answered 20 MB; the answer now lists 50 problems, as the envelope does."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    keys = [
        digits[i // 36**3] + digits[i // 36**2 % 36] + digits[i // 36 % 36] + digits[i % 36] for i in range(473_928)
    ]
    raw = ('{"events":[{}],' + ",".join(f'"{k}":0' for k in keys) + "}").encode()
    assert len(raw) <= MAX_BATCH_BODY_BYTES
    status, body, size = _lambda_answer(request("/events/batch", raw=raw))
    print(f"[473,928 unknown keys] {len(raw):,} bytes -> {status}, answer {size:,} bytes")
    assert (status, body["error"]["code"]) == (400, "validation_failed")
    assert body["error"]["details"] == [{"path": k, "message": "unknown field"} for k in sorted(keys)[:50]]
    assert size < 16 * 1024


def _worst_batches() -> dict[str, bytes]:
    """Bodies within the batch limit built to make the largest error answers we know of."""
    astral = "\U0001f600" * 80  # 12 characters each once \\u-escaped
    control = "\x01" * 80  # \\u0001: 6 characters each

    def events(key: str) -> list[dict]:
        """100 events, each with 4 bad fields and 60 unknown keys: more than 50 problems."""
        return [
            {
                "event": astral * 2,
                "id": astral,
                "timestamp": control,
                "data": [],
                **{f"{key}{i:02d}": 0 for i in range(60)},
            }
            for _ in range(100)
        ]

    quotes = '"' * 1_500_000  # a key that json.dumps doubles, and the answer doubles again
    return {
        "100 events x 50 problems, keys of emoji": json.dumps({"events": events(astral)}, ensure_ascii=False).encode(),
        "100 events x 50 problems, keys of control characters": json.dumps(
            {"events": events(control[:40])}, ensure_ascii=False
        ).encode(),
        "a 4.6 MB number that overflows a double": b'{"events":[{"x":1' + b"0" * 4_600_000 + b".0}]}",
        "an unsafe integer under a key of 1.5 million quotes": json.dumps({"events": [{quotes: 2**53}]}).encode(),
        "a lone surrogate under a key of 1.5 million quotes": json.dumps({"events": [{quotes: "\ud800"}]}).encode(),
    }


def test_no_body_within_the_limits_gets_an_answer_near_lambdas_6_mb_limit(aws) -> None:
    """Every error path at ingest that echoes the input is bounded: problem lists (50 per event and
    per batch), the keys in paths (cut where their JSON spelling passes 64 characters) and
    number literals in messages. The largest answer we can build is far below 6 MB."""
    answers = {}
    for label, raw in _worst_batches().items():
        assert len(raw) <= MAX_BATCH_BODY_BYTES, (label, len(raw))
        status, body, size = answers[label] = _lambda_answer(request("/events/batch", raw=raw))
        print(f"[{label}] {len(raw):,} bytes -> {status} {body['error']['code']}, answer {size:,} bytes")
    assert all(400 <= status < 500 for status, _, _ in answers.values())
    assert {label: size for label, (_, _, size) in answers.items() if size >= 1_000_000} == {}


def test_unknown_data_keys_are_capped_and_cut_in_paths_too() -> None:
    """The catalog has no closed schema today; an operator's (issue 16) may: same caps as the envelope."""
    from litestore_webhooks.core.schema import validate

    closed = {"type": "object", "properties": {}, "additionalProperties": False}
    problems = validate({"K" + "\U0001f600" * 100_000: 0, **{f"k{i:06d}": 0 for i in range(100_000)}}, closed)
    assert [p["path"] for p in problems] == [
        "data.K" + "\U0001f600" * 5 + "...(100001 characters)",  # 1 + 5 x 12 escaped characters: at most 64
        *(f"data.k{i:06d}" for i in range(49)),
    ]


# -- the depth scan itself ----------------------------------------------------------------------


def _reference_depth(body: bytes) -> int:
    """Character by character: a backslash before a quote or backslash escapes it; brackets count
    outside strings; an unclosed string runs to the end."""
    depth, prefix_sums, in_string, i = 0, [], False, 0
    while i < len(body):
        char = body[i : i + 1]
        if char == b"\\" and body[i + 1 : i + 2] in (b"\\", b'"'):
            i += 2
            continue
        if char == b'"':
            in_string = not in_string
        elif not in_string and char in (b"[", b"{", b"]", b"}"):
            depth += 1 if char in (b"[", b"{") else -1
            prefix_sums.append(depth)
        i += 1
    return max(prefix_sums, default=0)


def _value_depth(value: object) -> int:
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    return 0 if children is None else 1 + max((_value_depth(c) for c in children), default=0)


_MARKS = st.text(alphabet='"\\[]{}a,:', max_size=60)
_STRINGS = st.text(alphabet=st.sampled_from('"\\[]{}ab\n\u00e9\U0001f600'), max_size=8)
_VALUES = st.recursive(
    st.none() | st.integers() | _STRINGS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_STRINGS, inner, max_size=3),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_MARKS)
def test_the_depth_scan_agrees_with_a_character_by_character_scan_on_any_text(text: str) -> None:
    from litestore_webhooks.core.canonical import _depth

    assert _depth(text.encode()) == _reference_depth(text.encode())


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_the_depth_scan_measures_the_nesting_of_any_json_value(value: object) -> None:
    from litestore_webhooks.core.canonical import _depth

    assert _depth(json.dumps(value, ensure_ascii=False).encode()) == _value_depth(value)


def test_a_batch_with_many_unknown_keys_still_says_what_is_wrong_with_events(aws) -> None:
    raw = json.dumps({"events": "not a list", **{f"k{i:03d}": 0 for i in range(500)}}).encode()
    status, body, _ = _lambda_answer(request("/events/batch", raw=raw))
    assert status == 400
    assert body["error"]["details"] == [
        {"path": "events", "message": "expected array"},
        *({"path": f"k{i:03d}", "message": "unknown field"} for i in range(49)),
    ]
