"""aws/ddb_types.py maps values exactly as boto3.dynamodb.types does: same results, same errors."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from boto3.dynamodb import types as boto3_types
from hypothesis import example, given, settings
from hypothesis import strategies as st

from litestore_webhooks.aws import ddb_types

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**45), max_value=10**45),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.floats(),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.binary(max_size=4).map(bytearray),
    st.just(object()),
)
SET_MEMBERS = st.one_of(
    st.integers(-1000, 1000),
    st.decimals(places=2, allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.floats(allow_nan=False),
)
SETS = st.one_of(
    st.frozensets(st.integers(-1000, 1000), max_size=4),
    st.frozensets(st.text(max_size=4), max_size=4),
    st.frozensets(st.binary(max_size=4), max_size=4),
    st.sets(SET_MEMBERS, max_size=4),
)
VALUES = st.recursive(
    st.one_of(SCALARS, SETS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=4), inner, max_size=4),
    ),
    max_leaves=12,
)


def outcome(fn: Callable[[Any], Any], value: Any) -> tuple[str, Any]:
    try:
        return "ok", normalise(fn(value))
    except Exception as exc:  # noqa: BLE001 - comparing the two implementations' errors
        return type(exc).__name__, str(exc)


def normalise(value: Any) -> Any:
    """boto3's Binary and ours compare by class; compare what they hold (and NaN as text)."""
    if isinstance(value, (boto3_types.Binary, ddb_types.Binary)):
        return ("Binary", value.value)
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return type(value).__name__, frozenset(normalise(v) for v in value)
    return value


@settings(max_examples=400, deadline=None)
@given(VALUES)
@example(10**37)  # 38 digits: the most DynamoDB takes
@example(10**38 + 1)  # 39 significant digits: Inexact
@example(Decimal("1e126"))
@example(Decimal("1e127"))  # Overflow
@example({"a": [set(), {1, "x"}, {b"x", b"y"}, (1.5,)]})
def test_serializer_matches_boto3(value):
    assert outcome(ddb_types.TypeSerializer().serialize, value) == outcome(
        boto3_types.TypeSerializer().serialize, value
    )


ATTRIBUTE_VALUES = st.recursive(
    st.one_of(
        st.builds(lambda v: {"S": v}, st.text(max_size=4)),
        st.builds(lambda v: {"N": v}, st.one_of(st.integers().map(str), st.text("0123456789.-eE", max_size=6))),
        st.builds(lambda v: {"B": v}, st.one_of(st.binary(max_size=4), st.text(max_size=2))),
        st.builds(lambda v: {"BOOL": v}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda v: {"SS": v}, st.lists(st.text(max_size=3), max_size=3)),
        st.builds(lambda v: {"NS": v}, st.lists(st.integers().map(str), max_size=3)),
        st.builds(lambda v: {"BS": v}, st.lists(st.binary(max_size=3), max_size=3)),
        st.sampled_from([{}, {"X": 1}, {"s": "lower-case type"}, {1: "x"}]),
    ),
    lambda inner: st.one_of(
        st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3)),
        st.builds(lambda v: {"M": v}, st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    ),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(ATTRIBUTE_VALUES)
@example({"NS": ["1", "1e-130", "123456789012345678901234567890123456789"]})
@example({"N": "1.5e-165"})  # subnormal and inexact: Underflow
@example({"N": "0e-200"})  # Clamped
def test_deserializer_matches_boto3(value):
    ours = outcome(ddb_types.TypeDeserializer().deserialize, value)
    assert ours == outcome(boto3_types.TypeDeserializer().deserialize, value)


def test_round_trip_of_what_the_store_writes():
    item = {
        "id": "ep_1",
        "n": 3,
        "big": Decimal("1e37"),
        "on": True,
        "none": None,
        "nested": {"list": [1, "a", {"x": None}], "tags": {"a", "b"}},
    }
    back = ddb_types.TypeDeserializer().deserialize(ddb_types.TypeSerializer().serialize(item))
    assert back == {**item, "n": Decimal(3), "nested": {"list": [Decimal(1), "a", {"x": None}], "tags": {"a", "b"}}}
