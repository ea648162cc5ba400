"""Hostile request bodies for POST /events/batch, each built to a given size, next to a benign one.

One definition for the regression tests (tests/test_hostile_input.py) and the bench's hostile-input
part (bench/hostile_input.py): every shape that has made, or could make, a JSON front end spend
more than linear time, or answer with more than a bounded error. The batch limit is
resources.MAX_BATCH_BODY_BYTES (4,669,440 bytes); every builder returns at most `size` bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import seed_catalog as catalog

# 40 empty arrays: more than 64 brackets (so the depth scan runs) at depth 3 (so it passes).
_PAD = b"[]," * 40 + b"[]"
_EXAMPLE = catalog.get("order.completed").example
# A valid order.completed event (the catalog's example) whose data gains {"pad": [...], "x": <payload>}.
_EVENT_HEAD = (
    b'{"events":[{"event":"order.completed","data":'
    + json.dumps(_EXAMPLE["data"], separators=(",", ":")).encode()[:-1]
    + b',"pad":['
    + _PAD
    + b'],"x":'
)
_EVENT_TAIL = b"}}]}"


def _fill(head: bytes, unit: bytes, tail: bytes, size: int) -> bytes:
    count = max(1, (size - len(head) - len(tail)) // len(unit))
    return head + unit * count + tail


def _in_event(open_: bytes, unit: bytes, close: bytes) -> Callable[[int], bytes]:
    """The event above with `data.x` = `open_ + unit * n + close`, filling the body."""
    return lambda size: _fill(_EVENT_HEAD + open_, unit, close + _EVENT_TAIL, size)


def _keys(head: bytes, tail: bytes) -> Callable[[int], bytes]:
    """`head`, then distinct keys "k0000000":0 ... (12 bytes each) filling the body, then `tail`."""

    def build(size: int) -> bytes:
        count = max(1, (size - len(head) - len(tail)) // 13)
        return head + b",".join(b'"k%07d":0' % i for i in range(count)) + tail

    return build


@dataclass(frozen=True)
class Shape:
    name: str
    description: str
    build: Callable[[int], bytes]


SHAPES: tuple[Shape, ...] = (
    Shape(
        "quote_storm",
        "65 '[' then an unclosed string of escaped quotes (issue 13's repro)",
        lambda size: _fill(b"[" * 65 + b'"', b'\\"', b"", size),
    ),
    Shape(
        "deep_arrays",
        "arrays nested to half the body's size, closed",
        lambda size: b"[" * (size // 2) + b"]" * (size // 2),
    ),
    Shape("deep_objects_unclosed", '{"a": repeated, never closed', lambda size: _fill(b"", b'{"a":', b"", size)),
    Shape("unclosed_string", "an event whose string never ends", _in_event(b'"', b"x", b"")),
    Shape("long_string", "an event with one string filling the body", _in_event(b'"', b"x", b'"')),
    Shape("escaped_quotes", "an event with one string of escaped quotes", _in_event(b'"', b'\\"', b'"')),
    Shape("backslash_run", "an event with one string of escaped backslashes", _in_event(b'"', b"\\\\", b'"')),
    Shape(
        "backslash_unclosed", "escaped backslashes, then a lone backslash at the end", _in_event(b'"', b"\\\\", b"\\")
    ),
    Shape("unicode_escapes", r"an event with one string of \u00e9 escapes", _in_event(b'"', b"\\u00e9", b'"')),
    Shape(
        "surrogate_pairs", r"an event with one string of \ud83d\ude00 escapes", _in_event(b'"', b"\\ud83d\\ude00", b'"')
    ),
    Shape(
        "brackets_in_strings", "an event with an array of strings made of brackets", _in_event(b"[", b'"[{[{",', b'""]')
    ),
    Shape("many_strings", "an event with an array of empty strings", _in_event(b"[", b'"",', b'""]')),
    Shape("many_numbers", "an event with an array of small integers", _in_event(b"[", b"7,", b"7]")),
    Shape("many_floats", "an event with an array of decimals", _in_event(b"[", b"1.5,", b"1.5]")),
    Shape("many_arrays", "an event with an array of empty arrays", _in_event(b"[", b"[],", b"[]]")),
    Shape("many_objects", "an event with an array of empty objects", _in_event(b"[", b"{},", b"{}]")),
    Shape(
        "many_data_keys",
        "an event whose data has a distinct key every 13 bytes",
        _keys(_EVENT_HEAD[: -len(b',"x":')] + b",", _EVENT_TAIL),
    ),
    Shape(
        "many_event_keys",
        "an event with an unknown top-level key every 13 bytes",
        _keys(b'{"events":[{"event":"order.completed","data":{},', b"}]}"),
    ),
    Shape(
        "many_batch_keys",
        "a batch with an unknown top-level key every 13 bytes (issue 13 item 11)",
        _keys(b'{"events":[{}],', b"}"),
    ),
)
SHAPES_BY_NAME = {shape.name: shape for shape in SHAPES}


def benign(size: int, tag: str = "benign") -> bytes:
    """A batch of valid order.completed events (100 when the size allows), line items filling `size`.

    `tag` goes into every id, so repeated runs can publish fresh events instead of duplicates.
    """
    example = catalog.get("order.completed").example
    item = {"productId": "prod-123", "quantity": 2, "price": 49.99, "name": "Organic cotton T-shirt, size M"}
    count = max(1, min(100, size // 4096))
    per_event = (size - 16) // count - 1
    event = {**example, "data": {**example["data"], "items": []}}
    empty = len(json.dumps({**event, "id": f"evt_{tag}_{count:03d}"}, separators=(",", ":")))
    items = max(1, (per_event - empty) // (len(json.dumps(item, separators=(",", ":"))) + 1))
    event["data"]["items"] = [item] * items
    events = [{**event, "id": f"evt_{tag}_{i:03d}"} for i in range(count)]
    return json.dumps({"events": events}, separators=(",", ":")).encode()
