"""Event type names and the subscription patterns that select them, checked against a given catalog.

Names keep the product document's `namespace.action` form: 2 to 4 lowercase dot-separated segments
(`order.completed`, `webhooks.endpoint.paused`). The `webhooks.` namespace belongs to the system's own
operational events, so an operator's type can never be mistaken for one of them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from litestore_webhooks.core.errors import ValidationFailed, shown_key

WILDCARD = "*"
MAX_NAME_LENGTH = 100
SYSTEM_NAMESPACE = "webhooks"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}(?:\.[a-z][a-z0-9_]{0,39}){1,3}")
NAME_RULE = (
    "must be 2-4 dot-separated segments of lowercase letters, digits and _ (each starting with a letter),"
    f" at most {MAX_NAME_LENGTH} characters, like order.completed"
)
# Names the admin API's own routes take (GET /event-types/openapi.json is the export).
RESERVED_NAMES = frozenset({"openapi.json"})
_SHOWN_NAMES = 20  # an error lists this many known names, then says how many more


def name_problem(name: object, *, system: bool = False) -> str | None:
    """Why `name` cannot name an event type (None when it can); `system` allows the reserved namespace."""
    if not isinstance(name, str):
        return "expected string"
    if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.fullmatch(name):
        return NAME_RULE
    if name in RESERVED_NAMES:
        return f"{name!r} is taken by the admin API's own route GET /event-types/{name}"
    reserved = name.split(".", 1)[0] == SYSTEM_NAMESPACE
    if reserved and not system:
        return f"the {SYSTEM_NAMESPACE}.* namespace is reserved for the system's own operational events"
    if system and not reserved:
        return f"system event types live in the {SYSTEM_NAMESPACE}.* namespace"
    return None


def check_name(name: object, *, system: bool = False, path: str = "name") -> str:
    """`name` when it can name an event type; ValidationFailed at `path` otherwise."""
    problem = name_problem(name, system=system)
    if problem is not None:
        raise ValidationFailed([{"path": path, "message": problem}])
    assert isinstance(name, str)
    return name


def matches(pattern: str, name: str) -> bool:
    """Whether subscription `pattern` ("*", "prefix.*" at any depth, or an exact name) selects `name`.

    `*` is every type outside the system's `webhooks.` namespace: operational events go only to
    endpoints that name them (`webhooks.*` or exact names), never to a store's receivers unasked."""
    if pattern == WILDCARD:
        return not name.startswith(SYSTEM_NAMESPACE + ".")
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1])
    return pattern == name


def expand(patterns: Iterable[str], names: Iterable[str]) -> list[str]:
    """The sorted names selected by any of `patterns`."""
    chosen = list(patterns)
    return sorted(name for name in names if any(matches(pattern, name) for pattern in chosen))


def _listing(names: Collection[str]) -> str:
    shown = sorted(names)[:_SHOWN_NAMES]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def unknown_type_message(name: object, names: Collection[str]) -> str:
    """The one wording for a name the catalog lacks, listing known ones so the fix is obvious."""
    shown = shown_key(name) if isinstance(name, str) else name
    known = _listing(names) if names else "none yet"
    return f"unknown event type {shown!r:.80}; known types: {known}"


@dataclass(frozen=True)
class PatternWarning:
    """A pattern that is accepted but worth telling the caller about (it selects deprecated types)."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def _pattern_problem(pattern: Any, names: Collection[str]) -> str | None:
    if not isinstance(pattern, str):
        return "expected string"
    if pattern == WILDCARD or pattern in names:
        return None
    if pattern.endswith(".*"):
        prefix = pattern[:-1]
        if any(name.startswith(prefix) for name in names):
            return None
        namespaces = sorted({name.split(".", 1)[0] for name in names})
        return f"no event type in namespace {pattern[:-2]!r:.80}; namespaces: {', '.join(namespaces) or 'none yet'}"
    return unknown_type_message(pattern, names)


def validate_patterns(
    patterns: Any, names: Collection[str], deprecated: Collection[str] = (), path: str = "events"
) -> list[PatternWarning]:
    """Refuse subscriptions that could never match `names`; warn about the deprecated types they select.

    Deprecated types stay subscribable (their events still flow), so they warn instead of failing;
    "*" and a namespace wildcard warn only when every type they select is deprecated.
    """
    if not isinstance(patterns, list):
        raise ValidationFailed([{"path": path, "message": "expected array"}])
    if not patterns:
        wanted = f'must list at least one event type or "*"; known types: {_listing(names) or "none yet"}'
        raise ValidationFailed([{"path": path, "message": wanted}])
    problems = [
        {"path": f"{path}[{index}]", "message": message}
        for index, pattern in enumerate(patterns)
        if (message := _pattern_problem(pattern, names)) is not None
    ]
    if problems:
        raise ValidationFailed(problems)
    warnings = []
    for index, pattern in enumerate(patterns):
        selected = [name for name in names if matches(pattern, name)]
        stale = sorted(name for name in selected if name in deprecated)
        if stale and (pattern in names or len(stale) == len(selected)):
            warnings.append(PatternWarning(f"{path}[{index}]", f"selects deprecated event types: {', '.join(stale)}"))
    return warnings


@dataclass(frozen=True)
class Subscriber:
    """An endpoint whose filter selects a type; `holds` when deleting the type would break that filter."""

    id: str
    name: str
    patterns: tuple[str, ...]
    holds: bool


def subscribers(
    name: str, endpoints: Iterable[tuple[str, str, Sequence[str]]], names: Collection[str]
) -> list[Subscriber]:
    """Each endpoint (id, name, patterns) whose patterns select event type `name`, in the order given.

    An exact subscription holds the type (DELETE answers 409 naming the endpoint), and so does a
    "prefix.*" for which `name` is the only type of `names` it selects: without it the filter would
    select nothing. "*" and wider wildcards keep working, so they never hold a type.
    """
    out = []
    for endpoint_id, endpoint_name, patterns in endpoints:
        selecting = tuple(pattern for pattern in patterns if matches(pattern, name))
        if not selecting:
            continue
        holds = any(
            pattern == name
            or (pattern != WILDCARD and not any(matches(pattern, other) for other in names if other != name))
            for pattern in selecting
        )
        out.append(Subscriber(endpoint_id, endpoint_name, selecting, holds))
    return out


def delete_blockers(
    name: str, endpoints: Iterable[tuple[str, str, Sequence[str]]], names: Collection[str]
) -> list[Subscriber]:
    """The endpoints that hold event type `name` (see `subscribers`): a DELETE must wait for them."""
    return [subscriber for subscriber in subscribers(name, endpoints, names) if subscriber.holds]
