"""The product document's 11 event types as seed data, and merging a seed into a stored catalog.

The seed is core/event_types.json (the one copy). Every seeded type is
marked `document`, except `order.updated`, which the document names but never shows: `derived`.
A stored type carries the digest of the seed it was written from; while its content still hashes to
that digest nobody edited it, so a newer seed may replace it. An operator's edit, or a delete
(remembered by the store as a tombstone), is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from litestore_webhooks.core.event_types.errors import IncompatibleSchemaChange
from litestore_webhooks.core.event_types.lifecycle import Change, change_content, new_event_type
from litestore_webhooks.core.event_types.records import EventType, EventTypeDraft, Origin

SEED_FILE = Path(__file__).resolve().parent.parent / "event_types.json"
DERIVED = frozenset({"order.updated"})  # named by the document, payload never shown


def content_digest(content: Mapping[str, Any]) -> str:
    """sha256 of a type's operator-settable content (description, schema, examples, group, mode)."""
    canonical = json.dumps(dict(content), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def seed_drafts(path: Path = SEED_FILE) -> list[tuple[EventTypeDraft, Origin]]:
    """Each seeded type as a draft with its origin, sorted by name."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [
        (
            EventTypeDraft(
                name=name, description=entry["description"], data_schema=entry["schema"], examples=[entry["example"]]
            ),
            "derived" if name in DERIVED else "document",
        )
        for name, entry in sorted(raw.items())
    ]


@dataclass(frozen=True)
class SeedWrite:
    action: Literal["create", "update"]
    change: Change


@dataclass(frozen=True)
class SeedPlan:
    """What seeding writes, and the seeded names it leaves alone with the reason (for the deploy log)."""

    writes: list[SeedWrite] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)


def plan_seed(
    stored: Mapping[str, EventType],
    *,
    now: datetime,
    tombstones: Collection[str] = (),
    seed: list[tuple[EventTypeDraft, Origin]] | None = None,
) -> SeedPlan:
    """The writes that bring the stored catalog up to the seed without touching an operator's work.

    A seeded type is created when absent (unless an operator deleted it: `tombstones`), replaced when it
    still equals the seed it was written from and the seed changed compatibly, and otherwise kept. A
    system type is written once; a later seed leaves it (and says so only when the seed differs).
    """
    plan = SeedPlan()
    for draft, origin in seed if seed is not None else seed_drafts():
        digest = content_digest(draft.content())
        current = stored.get(draft.name)
        if current is None:
            if draft.name in tombstones:
                plan.kept[draft.name] = "deleted by an operator"
                continue
            change = new_event_type(draft, existing=stored.keys(), now=now, origin=origin, seed_digest=digest)
            plan.writes.append(SeedWrite("create", change))
        elif current.origin == origin == "system":  # the API cannot edit them; seeding never rewrites them
            if current.seed_digest != digest:
                plan.kept[draft.name] = "a system type is stored from an earlier seed; this seed does not rewrite it"
        elif current.origin not in ("document", "derived"):
            plan.kept[draft.name] = f"an event type of origin {current.origin!r} has this name"
        elif current.seed_digest != content_digest(current.content()):
            plan.kept[draft.name] = "edited by an operator"
        elif current.seed_digest != digest:
            try:
                change = change_content(current, draft.content(), now=now)
            except IncompatibleSchemaChange as refused:
                reasons = "; ".join(f"{p['path']}: {p['message']}" for p in refused.compatibility.details()[:3])
                plan.kept[draft.name] = f"the new seed's schema may refuse events the stored one accepts ({reasons})"
                continue
            updated = EventType.from_dict({**change.event_type.to_dict(), "seedDigest": digest, "origin": origin})
            plan.writes.append(
                SeedWrite("update", Change(updated, change.version, change.compatibility, change.fields))
            )
    return plan
