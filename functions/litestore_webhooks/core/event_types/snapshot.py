"""The catalog as ingest sees it: one immutable snapshot, validators compiled on first use, no pydantic.

Built from stored items (the records' `to_dict()` form) by the store adapter, which decides when to
build a new one (the integration's read-your-writes rule); checking an event reads nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from litestore_webhooks.core.event_types.names import unknown_type_message
from litestore_webhooks.core.event_types.schemas import DataValidator, Problem


@dataclass(frozen=True)
class Verdict:
    """What ingest needs to answer an event: its problems, the schema version used, and flags to report."""

    name: str
    problems: list[Problem]
    version: int | None = None
    mode: str | None = None
    deprecated: bool = False
    first_sight: bool = False  # unknown, accepted: the caller creates the type (lifecycle.first_sight)


@dataclass
class _Entry:
    version: int
    mode: str
    deprecated: bool
    schema: dict[str, Any]
    validator: DataValidator | None = field(default=None)


class CatalogSnapshot:
    """Event types by name; `check` validates one event's `data` against its type's current schema."""

    def __init__(self, items: Iterable[Mapping[str, Any]], *, accept_unknown: bool = False) -> None:
        self._entries = {
            item["name"]: _Entry(
                version=int(item["version"]),
                mode=item.get("mode", "enforce"),
                deprecated=item.get("deprecation") is not None,
                schema=item["schema"],
            )
            for item in items
        }
        self.accept_unknown = accept_unknown
        self.names = frozenset(self._entries)
        self.deprecated = frozenset(name for name, entry in self._entries.items() if entry.deprecated)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def check(self, name: str, data: Any, path: str = "data") -> Verdict:
        """The verdict on one event of type `name`; problems at "event" for an unknown type refused."""
        entry = self._entries.get(name)
        if entry is None:
            if not self.accept_unknown:
                return Verdict(name, [{"path": "event", "message": unknown_type_message(name, self.names)}])
            return Verdict(name, _object_problems(data, path), 1, "accept", first_sight=True)
        if entry.mode == "accept":
            return Verdict(name, _object_problems(data, path), entry.version, entry.mode, entry.deprecated)
        if entry.validator is None:
            entry.validator = DataValidator(entry.schema)
        return Verdict(name, entry.validator.problems(data, path), entry.version, entry.mode, entry.deprecated)


def _object_problems(data: Any, path: str) -> list[Problem]:
    return [] if isinstance(data, dict) else [{"path": path, "message": "expected object"}]
