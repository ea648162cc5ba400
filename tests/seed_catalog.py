"""The seed the catalog starts from, as tests use it: the product document's event types (`CATALOG`,
what publishers send) and the system's own (`SYSTEM`, core/event_types/system.py, origin `system`).

What `core/catalog.py` offered before the catalog moved into DynamoDB (names, examples, data checks,
subscription patterns), now answered by the core's own seed and snapshot, so tests check against
exactly what a fresh deployment stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestore_webhooks.core.errors import ValidationFailed
from litestore_webhooks.core.event_types import names, system
from litestore_webhooks.core.event_types.seed import seed_drafts
from litestore_webhooks.core.event_types.snapshot import CatalogSnapshot

WILDCARD = names.WILDCARD
matches = names.matches


@dataclass(frozen=True)
class SeedType:
    name: str
    description: str
    schema: dict[str, Any]
    example: dict[str, Any]


CATALOG: dict[str, SeedType] = {
    draft.name: SeedType(draft.name, draft.description, draft.data_schema, draft.examples[0])
    for draft, _ in seed_drafts()
}
SYSTEM: dict[str, SeedType] = {
    t["name"]: SeedType(t["name"], t["description"], t["schema"], t["examples"][0]) for t in system.SYSTEM_TYPES
}
SNAPSHOT = CatalogSnapshot(
    [
        {"name": t.name, "version": 1, "mode": "enforce", "schema": t.schema}
        for t in [*CATALOG.values(), *SYSTEM.values()]
    ]
)


def event_names() -> list[str]:
    """The types publishers send (the document's)."""
    return list(CATALOG)


def seeded_names() -> list[str]:
    """Every type a fresh catalog holds: the document's and the system's, sorted as the API lists them."""
    return sorted([*CATALOG, *SYSTEM])


def get(name: str) -> SeedType:
    try:
        return CATALOG[name]
    except KeyError:
        raise ValidationFailed([{"path": "event", "message": names.unknown_type_message(name, CATALOG)}]) from None


def validate_data(name: str, data: Any) -> list[dict[str, str]]:
    get(name)
    return SNAPSHOT.check(name, data).problems


def validate_patterns(patterns: Any, path: str = "events") -> None:
    names.validate_patterns(patterns, SNAPSHOT.names, path=path)


def expand(patterns: list[str]) -> list[str]:
    return names.expand(patterns, SNAPSHOT.names)
