"""core/event_types/seed.py: the document's 11 types as seed data, merged without touching operators' work."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import seed_catalog as catalog
from litestore_webhooks.core.event_types import lifecycle
from litestore_webhooks.core.event_types.records import EventType, EventTypeDraft
from litestore_webhooks.core.event_types.seed import content_digest, plan_seed, seed_drafts

NOW = datetime(2024, 1, 16, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)
DOCUMENTED = [
    "commission.earned", "content.approved", "content.rejected", "content.submitted", "creator.registered",
    "order.completed", "order.updated", "product.purchased", "review.approved", "review.created", "user.registered",
]  # fmt: skip


def seeded() -> dict[str, EventType]:
    return {write.change.event_type.name: write.change.event_type for write in plan_seed({}, now=NOW).writes}


def test_the_seed_is_the_documents_eleven_types_and_the_file_core_catalog_reads():
    drafts = seed_drafts()
    assert [draft.name for draft, _ in drafts] == DOCUMENTED == list(catalog.CATALOG)
    for draft, origin in drafts:
        assert origin == ("derived" if draft.name == "order.updated" else "document")
        assert draft.data_schema == catalog.get(draft.name).schema
        assert draft.examples == [catalog.get(draft.name).example]  # full envelopes, the document's own


def test_order_updated_requires_no_field_the_document_never_showed():
    # The document names order.updated (an endpoint subscribes to it) but never shows its payload.
    assert catalog.validate_data("order.updated", {"orderId": "order-777", "status": "shipped"}) == []
    assert catalog.validate_data("order.updated", {"order": {"id": "order-777"}, "fulfillment": "partial"}) == []
    description = catalog.get("order.updated").description
    assert "NOT DOCUMENTED" in description
    for field in ("orderId", "status", "previousStatus", "changes", "updatedAt"):
        assert field in description
    # what it does say is still checked when present
    assert catalog.validate_data("order.updated", {"orderId": 7}) == [
        {"path": "data.orderId", "message": "expected string"}
    ]


def test_an_empty_catalog_gets_every_type_marked_with_its_seed():
    plan = plan_seed({}, now=NOW)
    assert plan.kept == {}
    assert [(w.action, w.change.event_type.name) for w in plan.writes] == [("create", name) for name in DOCUMENTED]
    for write in plan.writes:
        event_type = write.change.event_type
        assert event_type.version == 1 and write.change.version is not None
        assert event_type.seed_digest == content_digest(event_type.content())
    assert seeded()["order.updated"].origin == "derived" and seeded()["user.registered"].origin == "document"


def test_seeding_again_writes_nothing():
    assert plan_seed(seeded(), now=LATER).writes == []


def test_an_operators_edit_and_delete_are_never_overwritten():
    stored = seeded()
    stored["user.registered"] = lifecycle.update(
        stored["user.registered"], {"description": "Mine."}, now=NOW
    ).event_type
    del stored["review.approved"]
    changed_seed = [
        (EventTypeDraft.model_validate({**draft.to_dict(), "description": draft.description + " (v2)"}), origin)
        for draft, origin in seed_drafts()
    ]
    plan = plan_seed(stored, now=LATER, tombstones={"review.approved"}, seed=changed_seed)
    assert plan.kept == {"user.registered": "edited by an operator", "review.approved": "deleted by an operator"}
    updated = {w.change.event_type.name: w for w in plan.writes}
    assert set(updated) == set(DOCUMENTED) - {"user.registered", "review.approved"}
    write = updated["order.completed"]
    assert write.action == "update" and write.change.event_type.description.endswith("(v2)")
    assert write.change.event_type.seed_digest == content_digest(write.change.event_type.content())
    assert write.change.version is None  # only the description changed


def test_a_seed_schema_change_is_applied_when_compatible_and_kept_back_otherwise():
    stored = seeded()
    old = stored["order.updated"]
    # a deployment seeded before order.updated stopped requiring updatedAt
    required = {**old.data_schema, "required": ["orderId", "status", "updatedAt"]}
    content = {**old.content(), "schema": required}
    stored["order.updated"] = EventType.from_dict({**old.to_dict(), **content, "seedDigest": content_digest(content)})
    plan = plan_seed(stored, now=LATER)
    [write] = plan.writes
    assert write.action == "update" and write.change.event_type.version == 2
    assert (
        write.change.version is not None
        and write.change.version.change == "no longer required: orderId, status, updatedAt"
    )
    tighter_seed = []
    for draft, origin in seed_drafts():
        schema = copy.deepcopy(draft.data_schema)
        if draft.name == "review.approved":
            schema["required"].append("note")
        tighter_seed.append((EventTypeDraft.model_validate({**draft.to_dict(), "schema": schema}), origin))
    kept = plan_seed(seeded(), now=LATER, seed=tighter_seed)
    assert kept.writes == []
    assert kept.kept["review.approved"].startswith("the new seed's schema may refuse events the stored one accepts")
    assert "data.note: new required property" in kept.kept["review.approved"]


def test_a_same_named_type_of_another_origin_is_left_alone():
    first = lifecycle.first_sight("order.updated", now=NOW).event_type
    plan = plan_seed({"order.updated": first}, now=NOW)
    assert plan.kept == {"order.updated": "an event type of origin 'first-sight' has this name"}
