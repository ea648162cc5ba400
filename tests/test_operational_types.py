"""The system's operational event types (core/event_types/system.py) as the catalog takes them:
valid drafts in the reserved namespace, seeded with origin `system`, each example accepted by both
validators (core/schema.py and the stored catalog's jsonschema-rs) and by the system's envelope path
only, and what their schemas refuse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import seed_catalog as catalog
from litestore_webhooks import ingest
from litestore_webhooks.aws.catalog import seed_types
from litestore_webhooks.core.envelope import build_envelope
from litestore_webhooks.core.errors import ValidationFailed
from litestore_webhooks.core.event_types import lifecycle, system
from litestore_webhooks.core.event_types.records import EventTypeDraft
from litestore_webhooks.core.event_types.schemas import DataValidator
from litestore_webhooks.core.schema import validate

NOW = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
NAMES = [t["name"] for t in system.SYSTEM_TYPES]


def test_the_issue_asks_for_these_nine_types():
    assert sorted(NAMES) == sorted(
        [
            "webhooks.endpoint.created",
            "webhooks.endpoint.updated",
            "webhooks.endpoint.deleted",
            "webhooks.endpoint.paused",
            "webhooks.endpoint.resumed",
            "webhooks.endpoint.failing",
            "webhooks.endpoint.recovered",
            "webhooks.delivery.dead_lettered",
            "webhooks.secret.rotated",
        ]
    )
    assert set(catalog.SYSTEM) == set(NAMES) and not set(catalog.CATALOG) & set(NAMES)


def test_the_seed_writes_them_with_origin_system_beside_the_documents_types():
    seeded = [(draft.name, origin) for draft, origin in seed_types()]
    assert [n for n, origin in seeded if origin == "system"] == NAMES
    assert [n for n, origin in seeded if origin != "system"] == list(catalog.CATALOG)


def test_seeding_again_leaves_them_quietly():
    """Every deploy and local start seeds: the stored system types are neither rewritten nor logged as
    kept (before, all nine were reported "an event type of origin 'system' has this name" each time)."""
    from litestore_webhooks.core.event_types.seed import plan_seed

    first = plan_seed({}, now=NOW, seed=seed_types())
    stored = {w.change.event_type.name: w.change.event_type for w in first.writes}
    assert {n for n, t in stored.items() if t.origin == "system"} == set(NAMES)
    again = plan_seed(stored, now=NOW, seed=seed_types())
    assert (again.writes, again.kept) == ([], {})


@pytest.mark.parametrize("entry", system.SYSTEM_TYPES, ids=NAMES)
def test_each_is_a_system_type_the_stored_catalog_accepts(entry):
    draft = EventTypeDraft.model_validate(entry)
    change = lifecycle.new_event_type(draft, existing=[], now=NOW, origin="system")
    assert change.event_type.origin == "system" and change.event_type.mode == "enforce"
    with pytest.raises(ValidationFailed, match="reserved"):  # an operator cannot take the name
        lifecycle.new_event_type(draft, existing=[], now=NOW)


@pytest.mark.parametrize("entry", system.SYSTEM_TYPES, ids=NAMES)
def test_each_example_passes_both_validators_and_the_system_envelope(entry):
    (example,) = entry["examples"]
    assert validate(example["data"], entry["schema"], "data") == []
    assert DataValidator(entry["schema"]).problems(example["data"]) == []
    assert build_envelope(example, ingest.system_types(), now=NOW, system=True).data == example["data"]
    # a publisher's path, against a catalog that holds the type (as the seeded one does)
    with pytest.raises(ValidationFailed, match="reserved for the system's own operational events"):
        build_envelope(example, catalog.SNAPSHOT, now=NOW)


def test_a_publisher_is_refused_even_when_unknown_types_are_accepted():
    from litestore_webhooks.core.event_types.snapshot import CatalogSnapshot

    (example,) = system.SYSTEM_TYPES[0]["examples"]
    with pytest.raises(ValidationFailed, match="reserved for the system's own operational events"):
        build_envelope(example, CatalogSnapshot([], accept_unknown=True), now=NOW)


def test_the_system_path_takes_only_operational_types():
    order = {**catalog.CATALOG["order.completed"].example, "timestamp": "2026-12-02T12:00:00Z"}
    with pytest.raises(ValidationFailed, match="not an operational event type"):
        build_envelope(order, catalog.SNAPSHOT, now=NOW, system=True)


def test_the_schemas_refuse_what_the_system_never_sends():
    schema = catalog.SYSTEM[system.DELIVERY_DEAD_LETTERED].schema
    good = catalog.SYSTEM[system.DELIVERY_DEAD_LETTERED].example["data"]
    assert [p["path"] for p in validate({**good, "reason": "bored"}, schema, "data")] == ["data.reason"]
    assert [p["path"] for p in validate({**good, "lastStatus": None}, schema, "data")] == ["data.lastStatus"]
    assert [p["path"] for p in validate({**good, "secret": "x"}, schema, "data")] == ["data.secret"]
    missing = {k: v for k, v in good.items() if k != "endpointId"}
    assert [p["path"] for p in validate(missing, schema, "data")] == ["data.endpointId"]


@pytest.mark.parametrize(
    ("pattern", "selected"),
    [
        ("*", []),
        ("webhooks.*", NAMES),
        ("webhooks.endpoint.*", [n for n in NAMES if ".endpoint." in n]),
        (system.SECRET_ROTATED, [system.SECRET_ROTATED]),
    ],
)
def test_subscription_patterns(pattern, selected):
    catalog.validate_patterns([pattern])
    assert sorted(n for n in NAMES if catalog.matches(pattern, n)) == sorted(selected)
