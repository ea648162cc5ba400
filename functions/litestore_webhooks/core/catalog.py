"""The event catalog: which event types exist, what their `data` must look like, and how
subscription patterns ("*", "order.*", exact names) select them.

The catalog is data (event_types.json) so the API, docs and tests all read one source. The
system's own operational types (`webhooks.*`, core/event_types/system.py) are in `SYSTEM`: endpoints
subscribe to them, publishers cannot send them, and `*` does not select them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestore_webhooks.core.errors import ValidationFailed, shown_key
from litestore_webhooks.core.event_types.system import SYSTEM_TYPES, is_operational
from litestore_webhooks.core.schema import validate

WILDCARD = "*"


@dataclass(frozen=True)
class EventType:
    """One catalog entry; `schema` validates the envelope's `data`, `example` is a full envelope."""

    name: str
    description: str
    schema: dict[str, Any]
    example: dict[str, Any]


def _load() -> dict[str, EventType]:
    raw = json.loads((Path(__file__).parent / "event_types.json").read_text(encoding="utf-8"))
    return {
        name: EventType(name, entry["description"], entry["schema"], entry["example"])
        for name, entry in sorted(raw.items())
    }


CATALOG: dict[str, EventType] = _load()
SYSTEM: dict[str, EventType] = {
    t["name"]: EventType(t["name"], t["description"], t["schema"], t["examples"][0]) for t in SYSTEM_TYPES
}
_NAMESPACES = frozenset(name.split(".", 1)[0] for name in CATALOG)
# Subscribable prefixes of the operational types: webhooks.*, webhooks.endpoint.*, ...
_SYSTEM_PREFIXES = frozenset(".".join(name.split(".")[:n]) for name in SYSTEM for n in range(1, name.count(".") + 1))


def event_names() -> list[str]:
    """All known event type names, sorted."""
    return list(CATALOG)


def unknown_type_message(name: object) -> str:
    """The one wording for an unknown event type, listing the known ones so the fix is obvious."""
    shown = shown_key(name) if isinstance(name, str) else name  # the store's text, cut as keys are
    return f"unknown event type {shown!r:.80}; known types: {', '.join(CATALOG)}"


def get(name: str) -> EventType:
    """The event type called `name`; ValidationFailed naming the known types otherwise."""
    try:
        return CATALOG[name]
    except (KeyError, TypeError):
        raise ValidationFailed(
            [{"path": "event", "message": unknown_type_message(name)}]
        ) from None


def validate_data(name: str, data: Any) -> list[dict[str, str]]:
    """Problems with `data` for event type `name` (paths start at "data")."""
    return validate(data, get(name).schema, "data")


def matches(pattern: str, name: str) -> bool:
    """Whether subscription `pattern` ("*", "namespace.*" or an exact name) selects event `name`;
    "*" selects every type but the operational ones."""
    if pattern == WILDCARD:
        return not is_operational(name)  # operational events are subscribed to by name
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1])
    return pattern == name


def _pattern_problem(pattern: Any) -> str | None:
    if not isinstance(pattern, str):
        return "expected string"
    if pattern == WILDCARD or pattern in CATALOG or pattern in SYSTEM:
        return None
    if pattern.endswith(".*"):
        if pattern[:-2] in _NAMESPACES or pattern[:-2] in _SYSTEM_PREFIXES:
            return None
        return f"no event type in namespace {pattern[:-2]!r}; namespaces: {', '.join(sorted(_NAMESPACES))}"
    return unknown_type_message(pattern)


def validate_patterns(patterns: list[str], path: str = "events") -> None:
    """Reject subscriptions that could never match, so typos fail at subscribe time, not silently."""
    if not isinstance(patterns, list):
        raise ValidationFailed([{"path": path, "message": "expected array"}])
    if not patterns:
        raise ValidationFailed(
            [{"path": path, "message": f'must list at least one event type or "*"; known types: {", ".join(CATALOG)}'}]
        )
    problems = [
        {"path": f"{path}[{index}]", "message": message}
        for index, pattern in enumerate(patterns)
        if (message := _pattern_problem(pattern)) is not None
    ]
    if problems:
        raise ValidationFailed(problems)


def expand(patterns: list[str]) -> list[str]:
    """The sorted event type names selected by any of `patterns`."""
    return [name for name in CATALOG if any(matches(pattern, name) for pattern in patterns)]
