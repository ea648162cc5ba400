"""core/event_types: records, what the admin API does to a type, subscription patterns, ingest's snapshot."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from litestore_webhooks.core.errors import ValidationFailed
from litestore_webhooks.core.event_types import lifecycle, names
from litestore_webhooks.core.event_types.errors import (
    EventTypeExists,
    EventTypeInUse,
    IncompatibleSchemaChange,
    SystemEventType,
)
from litestore_webhooks.core.event_types.records import EventType, EventTypeDraft
from litestore_webhooks.core.event_types.snapshot import CatalogSnapshot

NOW = datetime(2024, 1, 16, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
SCHEMA = {
    "type": "object",
    "required": ["sku"],
    "properties": {"sku": {"type": "string", "minLength": 1}, "quantity": {"type": "integer", "minimum": 0}},
}
EXAMPLE = {"event": "stock.changed", "id": "evt_stock_1", "timestamp": "2024-01-15T10:00:00Z", "data": {"sku": "A-1"}}


def body(**overrides: Any) -> dict[str, Any]:
    return {"name": "stock.changed", "description": "Stock of a product changed.", "schema": SCHEMA, **overrides}


def created(**overrides: Any) -> EventType:
    return lifecycle.create(body(**{"examples": [EXAMPLE], **overrides}), existing=set(), now=NOW).event_type


def details(raised: pytest.ExceptionInfo[Any]) -> list[tuple[str, str]]:
    return [(p["path"], p["message"]) for p in raised.value.details]


# --- create ------------------------------------------------------------------------------------------------


def test_create_gives_version_one_and_its_schema_version():
    change = lifecycle.create(body(examples=[EXAMPLE], group="Inventory"), existing={"order.completed"}, now=NOW)
    event_type = change.event_type
    assert event_type.to_dict() == {
        "name": "stock.changed",
        "description": "Stock of a product changed.",
        "schema": SCHEMA,
        "examples": [EXAMPLE],
        "group": "Inventory",
        "mode": "enforce",
        "origin": "operator",
        "version": 1,
        "createdAt": "2024-01-16T09:00:00.000Z",
        "updatedAt": "2024-01-16T09:00:00.000Z",
        "deprecated": False,
    }
    assert EventType.from_dict(event_type.to_dict()) == event_type
    assert change.version is not None and change.version.to_dict() == {
        "name": "stock.changed",
        "version": 1,
        "schema": SCHEMA,
        "createdAt": "2024-01-16T09:00:00.000Z",
        "change": "created",
        "forced": False,
        "reasons": [],
    }


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("stock", "2-4 dot-separated segments"),
        ("Stock.Changed", "lowercase"),
        ("a.b.c.d.e", "2-4 dot-separated segments"),
        ("stock..changed", "2-4"),
        ("stock.changed-now", "lowercase letters, digits and _"),
        (".".join(["x" * 40] * 3), "at most 100"),
        ("webhooks.endpoint.created", "reserved for the system's own operational events"),
        (7, "expected string"),
    ],
)
def test_names_follow_the_documents_form(name, fragment):
    with pytest.raises(ValidationFailed) as raised:
        lifecycle.create(body(name=name), existing=set(), now=NOW)
    [(path, message)] = details(raised)
    assert path == "name" and fragment in message


def test_names_accept_the_document_and_operational_forms():
    assert names.name_problem("order.completed") is None
    assert names.name_problem("delivery.dead_lettered.v2") is None
    assert names.name_problem("webhooks.endpoint.paused", system=True) is None
    assert "webhooks.*" in (names.name_problem("order.completed", system=True) or "")


def test_every_problem_of_a_body_at_once_by_path():
    bad = body(
        description="",
        schema={"type": "object", "properties": {"sku": {"type": "strng"}}},
        mode="strict",
        colour="red",
    )
    with pytest.raises(ValidationFailed) as raised:
        lifecycle.create(bad, existing=set(), now=NOW)
    assert details(raised) == [
        ("description", "must not be empty"),
        ("mode", 'must be one of "enforce" or "accept"'),
        ("colour", "unknown field"),
    ]
    with pytest.raises(ValidationFailed) as raised:
        lifecycle.create(body(schema=bad["schema"]), existing=set(), now=NOW)
    assert details(raised) == [
        (
            "schema.properties.sku.type",
            "not a JSON Schema type: use array, boolean, integer, null, number, object or string",
        )
    ]


def test_examples_are_full_envelopes_of_the_type_that_the_schema_accepts():
    examples = [
        {**EXAMPLE, "event": "stock.moved", "data": {"sku": "", "quantity": -1}},
        {"event": "stock.changed", "data": {"sku": "A"}, "note": 1},
    ]
    with pytest.raises(ValidationFailed) as raised:
        lifecycle.create(body(examples=examples), existing=set(), now=NOW)
    assert details(raised) == [
        ("examples[0].event", "must be 'stock.changed', the type it is an example of"),
        ("examples[0].data.sku", "must be at least 1 character"),
        ("examples[0].data.quantity", "must be >= 0"),
        ("examples[1].id", "is required"),
        ("examples[1].timestamp", "is required"),
        ("examples[1].note", "unknown field"),
    ]
    with pytest.raises(ValidationFailed) as raised:
        lifecycle.create(body(examples=[["not an envelope"]]), existing=set(), now=NOW)
    assert details(raised) == [("examples[0]", "expected object")]


def test_a_second_type_of_the_same_name_is_a_conflict():
    with pytest.raises(EventTypeExists) as raised:
        lifecycle.create(body(), existing={"stock.changed"}, now=NOW)
    assert raised.value.status == 409 and "PATCH /event-types/stock.changed" in raised.value.message


def test_first_sight_types_accept_any_object_and_say_so():
    event_type = lifecycle.first_sight("stock.changed", now=NOW).event_type
    assert (event_type.origin, event_type.mode, event_type.data_schema) == ("first-sight", "accept", {"type": "object"})
    assert "first sight" in event_type.description


# --- update ------------------------------------------------------------------------------------------------


def test_a_description_change_keeps_the_schema_version():
    change = lifecycle.update(created(), {"description": "Stock moved."}, now=LATER)
    assert change.version is None and change.fields == ("description",)
    assert (change.event_type.version, change.event_type.description) == (1, "Stock moved.")
    assert change.event_type.updated_at == "2024-01-16T10:00:00.000Z"
    assert lifecycle.update(created(), {"description": "Stock of a product changed."}, now=LATER).fields == ()


def test_a_compatible_schema_change_records_a_new_version():
    looser = {**SCHEMA, "required": [], "properties": {**SCHEMA["properties"], "warehouse": {}}}
    change = lifecycle.update(created(), {"schema": looser}, now=LATER)
    assert change.event_type.version == 2 and change.event_type.data_schema == looser
    assert change.version is not None
    assert (change.version.version, change.version.forced, change.version.change) == (
        2,
        False,
        "added: warehouse; no longer required: sku",
    )


def test_a_tightening_needs_force_and_says_why():
    tighter = {**SCHEMA, "required": ["sku", "quantity"]}
    samples = {"evt_recent_9": {"sku": "B"}, "evt_recent_8": {"sku": "C", "quantity": 2}}
    with pytest.raises(IncompatibleSchemaChange) as raised:
        lifecycle.update(created(), {"schema": tighter}, now=LATER, samples=samples)
    error = raised.value
    assert (error.status, error.code) == (409, "incompatible_schema_change")
    assert "data.quantity: new required property" in error.message and "pass force" in error.message
    assert error.details == [
        {"path": "data.quantity", "message": "new required property"},
        {"path": "data.quantity", "message": "is required", "sample": "examples[0] (evt_stock_1)"},
        {"path": "data.quantity", "message": "is required", "sample": "evt_recent_9"},
    ]
    forced = lifecycle.update(created(), {"schema": tighter, "examples": []}, now=LATER, force=True, samples=samples)
    assert forced.event_type.version == 2 and forced.version is not None and forced.version.forced
    assert forced.version.reasons[0] == {"path": "data.quantity", "message": "new required property"}


def test_examples_must_fit_the_new_schema_even_when_forced():
    tighter = {**SCHEMA, "required": ["sku", "quantity"]}
    with pytest.raises(ValidationFailed) as raised:
        lifecycle.update(created(), {"schema": tighter}, now=LATER, force=True)
    assert details(raised) == [("examples[0].data.quantity", "is required")]


def test_patch_replaces_given_fields_and_null_clears_the_group():
    event_type = created(group="Inventory")
    change = lifecycle.update(event_type, {"group": None, "mode": "accept"}, now=LATER)
    assert change.event_type.group is None and change.event_type.mode == "accept"
    assert set(change.fields) == {"group", "mode"}
    with pytest.raises(ValidationFailed) as raised:
        lifecycle.update(event_type, {"name": "stock.moved", "schema": []}, now=LATER)
    assert details(raised) == [("schema", "expected object"), ("name", "unknown field")]


def test_system_types_are_not_changed_or_deleted_through_the_api():
    draft = EventTypeDraft(
        name="webhooks.endpoint.paused", description="An endpoint was paused.", schema={"type": "object"}
    )
    system = lifecycle.new_event_type(draft, existing=(), now=NOW, origin="system").event_type
    with pytest.raises(SystemEventType):
        lifecycle.update(system, {"description": "x"}, now=LATER)
    with pytest.raises(SystemEventType):
        lifecycle.check_delete(system, [], {system.name})


# --- deprecate, delete ---------------------------------------------------------------------------------------


def test_deprecate_flags_the_type_and_names_its_replacement():
    change = lifecycle.deprecate(
        created(), {"message": "Use stock.moved.", "replacement": "stock.moved"}, names={"stock.moved"}, now=LATER
    )
    event_type = change.event_type
    assert event_type.deprecated and event_type.to_dict()["deprecated"] is True
    assert event_type.to_dict()["deprecation"] == {
        "at": "2024-01-16T10:00:00.000Z",
        "message": "Use stock.moved.",
        "replacement": "stock.moved",
    }
    again = lifecycle.deprecate(event_type, {"message": "Gone soon."}, names=set(), now=LATER + timedelta(days=1))
    assert again.event_type.deprecation is not None and again.event_type.deprecation.at == "2024-01-16T10:00:00.000Z"
    assert not lifecycle.restore(again.event_type, now=LATER).event_type.deprecated
    with pytest.raises(ValidationFailed) as raised:
        lifecycle.deprecate(created(), {"replacement": "stock.moved"}, names=set(), now=LATER)
    assert details(raised) == [("replacement", "no event type named 'stock.moved'")]


ENDPOINTS = [
    ("ep_1", "Warehouse", ["stock.changed", "order.completed"]),
    ("ep_2", "Analytics", ["*"]),
    ("ep_3", "Stock feed", ["stock.*"]),
    ("ep_4", "Orders", ["order.*"]),
]


def test_delete_is_held_by_exact_subscriptions_and_wildcards_it_alone_feeds():
    with pytest.raises(EventTypeInUse) as raised:
        lifecycle.check_delete(created(), ENDPOINTS, {"stock.changed", "order.completed"})
    error = raised.value
    assert error.status == 409 and "Warehouse (ep_1), Stock feed (ep_3)" in error.message
    assert [d["endpointId"] for d in error.details] == ["ep_1", "ep_3"]
    assert error.details[1]["patterns"] == ["stock.*"]
    lifecycle.check_delete(created(), ENDPOINTS[1:2] + ENDPOINTS[3:], {"stock.changed"})
    lifecycle.check_delete(created(), ENDPOINTS[2:3], {"stock.changed", "stock.moved"})  # stock.* keeps a type


def test_subscribers_include_wildcards_for_the_consoles_picker():
    found = names.subscribers("stock.changed", ENDPOINTS, {"stock.changed", "order.completed"})
    assert [(s.id, s.patterns, s.holds) for s in found] == [
        ("ep_1", ("stock.changed",), True),
        ("ep_2", ("*",), False),
        ("ep_3", ("stock.*",), True),
    ]


# --- subscription patterns against a catalog instance --------------------------------------------------------

CATALOG = {"order.completed", "order.updated", "webhooks.endpoint.paused", "webhooks.delivery.dead_lettered"}


def test_patterns_are_checked_against_the_given_names():
    assert names.validate_patterns(["*", "order.*", "webhooks.*", "webhooks.endpoint.*"], CATALOG) == []
    with pytest.raises(ValidationFailed) as raised:
        names.validate_patterns(["order.shipped", "foo.*", 3, "webhooks.secret.*"], CATALOG)
    problems = raised.value.details
    assert [p["path"] for p in problems] == ["events[0]", "events[1]", "events[2]", "events[3]"]
    assert "known types: order.completed, order.updated, webhooks.delivery.dead_lettered" in problems[0]["message"]
    assert problems[1]["message"] == "no event type in namespace 'foo'; namespaces: order, webhooks"
    assert problems[2]["message"] == "expected string"
    with pytest.raises(ValidationFailed) as raised:
        names.validate_patterns([], CATALOG, path="filter.events")
    assert raised.value.details[0]["path"] == "filter.events"


def test_deprecated_types_stay_subscribable_with_a_warning():
    warnings = names.validate_patterns(["order.updated", "order.*", "*"], CATALOG, deprecated={"order.updated"})
    assert [w.to_dict() for w in warnings] == [
        {"path": "events[0]", "message": "selects deprecated event types: order.updated"}
    ]
    only = names.validate_patterns(["order.*"], {"order.updated"}, deprecated={"order.updated"})
    assert [w.path for w in only] == ["events[0]"]


def test_matches_and_expand_at_any_depth():
    assert names.matches("webhooks.*", "webhooks.endpoint.paused")
    assert names.matches("webhooks.endpoint.*", "webhooks.endpoint.paused")
    assert not names.matches("webhooks.endpoint.*", "webhooks.delivery.dead_lettered")
    assert not names.matches("order.*", "orders.updated")
    assert names.expand(["order.*", "webhooks.delivery.*"], CATALOG) == [
        "order.completed",
        "order.updated",
        "webhooks.delivery.dead_lettered",
    ]


# --- declarative apply ----------------------------------------------------------------------------------------


def test_plan_apply_creates_updates_and_leaves_the_rest():
    stored = {"stock.changed": created(), "order.completed": created(name="order.completed", examples=[])}
    drafts = [
        EventTypeDraft.model_validate({**body(), "examples": [EXAMPLE], "description": "Stock moved."}),
        EventTypeDraft.model_validate(body(name="stock.counted")),
    ]
    plan = lifecycle.plan_apply(stored, drafts, now=LATER)
    assert [(p.action, p.change.event_type.name) for p in plan.changes] == [
        ("update", "stock.changed"),
        ("create", "stock.counted"),
    ]
    assert plan.absent == ["order.completed"]
    again = {**stored, **{p.change.event_type.name: p.change.event_type for p in plan.changes}}
    assert lifecycle.plan_apply(again, drafts, now=LATER).writes == []


def test_plan_apply_reports_every_draft_by_where_it_came_from():
    tighter = EventTypeDraft.model_validate(body(schema={**SCHEMA, "required": ["sku", "quantity"]}))
    broken = EventTypeDraft.model_validate(body(name="stock.counted", schema={"type": "object", "$id": "x"}))
    stored = {"stock.changed": created(examples=[])}
    with pytest.raises(ValidationFailed) as raised:
        lifecycle.plan_apply(stored, [tighter, broken, broken], now=LATER, where=lambda i, d: f"file[{i}]")
    assert [p["path"] for p in raised.value.details] == ["file[1].schema.$id", "file[2].name"]
    with pytest.raises(IncompatibleSchemaChange) as refused:
        lifecycle.plan_apply(stored, [tighter], now=LATER)
    assert refused.value.details == [{"path": "types[0].data.quantity", "message": "new required property"}]
    assert lifecycle.plan_apply(stored, [tighter], now=LATER, force=True).writes[0].change.version is not None


# --- ingest's snapshot ----------------------------------------------------------------------------------------


def test_snapshot_checks_data_against_the_current_version():
    stock = created().to_dict()
    accepting = lifecycle.first_sight("audit.logged", now=NOW).event_type.to_dict()
    snapshot = CatalogSnapshot([stock, accepting])
    verdict = snapshot.check("stock.changed", {"quantity": "3"})
    assert (verdict.version, verdict.mode, verdict.deprecated, verdict.first_sight) == (1, "enforce", False, False)
    assert verdict.problems == [
        {"path": "data.sku", "message": "is required"},
        {"path": "data.quantity", "message": "expected integer"},
    ]
    assert snapshot.check("audit.logged", {"anything": [1, {"goes": True}]}).problems == []
    assert snapshot.check("audit.logged", ["not an object"]).problems == [
        {"path": "data", "message": "expected object"}
    ]


def test_snapshot_refuses_or_accepts_unknown_types_as_configured():
    snapshot = CatalogSnapshot([created().to_dict()])
    [problem] = snapshot.check("stock.moved", {}).problems
    assert problem["path"] == "event" and "known types: stock.changed" in problem["message"]
    lenient = CatalogSnapshot([], accept_unknown=True)
    verdict = lenient.check("stock.moved", {"x": 1})
    assert verdict.first_sight and verdict.problems == [] and verdict.mode == "accept"


def test_snapshot_flags_deprecated_types_for_the_publishers_answer():
    deprecated = lifecycle.deprecate(created(), {}, names=set(), now=LATER).event_type
    snapshot = CatalogSnapshot([deprecated.to_dict()])
    assert snapshot.check("stock.changed", {"sku": "A"}).deprecated
    assert snapshot.deprecated == {"stock.changed"} and "stock.changed" in snapshot


def test_ingest_side_modules_load_no_pydantic():
    code = (
        "import sys, json\n"
        "from litestore_webhooks.core.event_types import snapshot, names, schemas\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'boto3', 'botocore'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
