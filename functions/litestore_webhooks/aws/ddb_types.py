"""DynamoDB attribute values <-> Python values, by boto3's TypeSerializer/TypeDeserializer rules.

A port of `boto3.dynamodb.types` (Apache-2.0, same mapping, same errors), because that module
cannot be imported without running boto3's package `__init__`, which imports s3transfer:
~60 ms of every handler's cold start, for S3 transfers no handler makes. Checked value for
value against boto3's own classes by tests/test_ddb_types.py.

    None -> NULL, bool -> BOOL, int/Decimal -> N (38 digits, no float), str -> S,
    bytes/bytearray/Binary -> B, sets of those -> NS/SS/BS, Mapping -> M, list/tuple -> L;
    back: N -> Decimal, B -> Binary, sets -> set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

DYNAMODB_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])
BINARY_TYPES = (bytearray, bytes)


class Binary:
    """Bytes as DynamoDB's B type (what the deserializer returns for B)."""

    def __init__(self, value: bytes | bytearray) -> None:
        if not isinstance(value, BINARY_TYPES):
            raise TypeError(f"Value must be of the following types: {', '.join(str(t) for t in BINARY_TYPES)}")
        self.value = value

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, Binary) else other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __repr__(self) -> str:
        return f"Binary({self.value!r})"

    def __bytes__(self) -> bytes:
        return bytes(self.value)

    def __hash__(self) -> int:
        return hash(self.value)


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, Decimal)):  # bool is tested before this
        return True
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return False


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_binary(value: Any) -> bool:
    return isinstance(value, (Binary, *BINARY_TYPES))


def _number(value: Any) -> str:
    number = str(DYNAMODB_CONTEXT.create_decimal(value))
    if number in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def _binary(value: Any) -> Any:
    return value.value if isinstance(value, Binary) else value


def _set_of(value: Any, is_member: Callable[[Any], bool]) -> bool:
    return isinstance(value, Set) and all(map(is_member, value))


class TypeSerializer:
    """Python value -> DynamoDB attribute value ({"S": ...}, {"M": {...}}, ...)."""

    def serialize(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {"NULL": True}
        if isinstance(value, bool):
            return {"BOOL": value}
        if _is_number(value):
            return {"N": _number(value)}
        if _is_string(value):
            return {"S": value}
        if _is_binary(value):
            return {"B": _binary(value)}
        if _set_of(value, _is_number):
            return {"NS": [_number(v) for v in value]}
        if _set_of(value, _is_string):
            return {"SS": list(value)}
        if _set_of(value, _is_binary):
            return {"BS": [_binary(v) for v in value]}
        if isinstance(value, Mapping):
            return {"M": {k: self.serialize(v) for k, v in value.items()}}
        if isinstance(value, (list, tuple)):
            return {"L": [self.serialize(v) for v in value]}
        raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


class TypeDeserializer:
    """DynamoDB attribute value -> Python value."""

    def __init__(self) -> None:
        self._by_type: dict[str, Callable[[Any], Any]] = {
            "null": lambda v: None,
            "bool": lambda v: v,
            "n": DYNAMODB_CONTEXT.create_decimal,
            "s": lambda v: v,
            "b": Binary,
            "ns": lambda v: set(map(DYNAMODB_CONTEXT.create_decimal, v)),
            "ss": set,
            "bs": lambda v: set(map(Binary, v)),
            "l": lambda v: [self.deserialize(x) for x in v],
            "m": lambda v: {k: self.deserialize(x) for k, x in v.items()},
        }

    def deserialize(self, value: dict[str, Any]) -> Any:
        if not value:
            raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
        dynamodb_type = list(value.keys())[0]
        deserializer = self._by_type.get(f"{dynamodb_type}".lower())
        if deserializer is None:
            raise TypeError(f"Dynamodb type {dynamodb_type} is not supported")
        return deserializer(value[dynamodb_type])
