"""A validator for exactly the JSON Schema subset the event catalog uses.

A full JSON Schema library would be a dependency for features we never use; this subset is small
enough to own, and owning it lets every problem carry a stable path and a plain-English message.
Supported keywords: type, required, properties, additionalProperties (bool, default true), items,
enum, minimum, maximum, minLength, maxLength, minItems, format ("date-time", "uri").
"""

from __future__ import annotations

import heapq
import json
import math
import re
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

from litestore_webhooks.core.errors import shown_key

MAX_PROBLEMS = 50

# RFC 3339 profile of ISO-8601: full date, full time, optional fraction, explicit offset.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def parse_date_time(value: str) -> datetime | None:
    """Parse an RFC 3339 date-time to an aware datetime; None when it is not one."""
    if not _DATE_TIME.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # well-formed but impossible, e.g. 2024-02-30 or hour 24
        return None


def _is_uri(value: str) -> bool:
    """Absolute URI with a scheme and a host: relative references are useless in an event."""
    if _WHITESPACE_OR_CONTROL.search(value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(_SCHEME.fullmatch(parts.scheme) and parts.netloc)


def _is_number(value: Any) -> bool:
    # bool is an int subclass in Python, but true/false are not numbers in JSON.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _json_equal(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


_TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: _is_number(v) and float(v).is_integer(),
}

_FORMATS = {
    "date-time": (lambda v: parse_date_time(v) is not None, "not an ISO-8601 date-time"),
    "uri": (_is_uri, "not an absolute URI"),
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _problem(path: str, message: str) -> dict[str, str]:
    return {"path": path, "message": message}


def _problems(instance: Any, schema: dict[str, Any], path: str) -> Iterator[dict[str, str]]:
    expected = schema.get("type")
    if expected is not None and not _TYPE_CHECKS[expected](instance):
        yield _problem(path, f"expected {expected}")
        return  # every other keyword assumes the right type

    if "enum" in schema and not any(_json_equal(instance, option) for option in schema["enum"]):
        yield _problem(path, f"must be one of {json.dumps(schema['enum'])}")

    if _is_number(instance):
        if "minimum" in schema and instance < schema["minimum"]:
            yield _problem(path, f"must be >= {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            yield _problem(path, f"must be <= {schema['maximum']}")

    elif isinstance(instance, str):
        if "minLength" in schema and len(instance) < schema["minLength"]:
            yield _problem(path, f"must be at least {_count(schema['minLength'], 'character')}")
        if "maxLength" in schema and len(instance) > schema["maxLength"]:
            yield _problem(path, f"must be at most {_count(schema['maxLength'], 'character')}")
        if "format" in schema:
            check, message = _FORMATS[schema["format"]]
            if not check(instance):
                yield _problem(path, message)

    elif isinstance(instance, list):
        if "minItems" in schema and len(instance) < schema["minItems"]:
            yield _problem(path, f"must have at least {_count(schema['minItems'], 'item')}")
        if "items" in schema:
            for index, item in enumerate(instance):
                yield from _problems(item, schema["items"], f"{path}[{index}]")

    elif isinstance(instance, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in instance:
                yield _problem(_key_path(path, key), "is required")
        for key, subschema in properties.items():
            if key in instance:
                yield from _problems(instance[key], subschema, _key_path(path, key))
        if schema.get("additionalProperties", True) is False:
            for key in heapq.nsmallest(MAX_PROBLEMS, (k for k in instance if k not in properties)):
                yield _problem(_key_path(path, shown_key(key)), "unknown field")


def validate(instance: Any, schema: dict[str, Any], path: str = "data") -> list[dict[str, str]]:
    """Every problem (up to MAX_PROBLEMS), in schema order, as {"path", "message"}; [] when valid."""
    return list(islice(_problems(instance, schema, path), MAX_PROBLEMS))
