"""The system's operational event types (core/event_types/system.py) as the catalog takes them:
valid drafts in the reserved namespace, each example accepted by both validators (the static
catalog's and the stored catalog's jsonschema-rs), and what their schemas refuse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from litestore_webhooks.core import catalog
from litestore_webhooks.core.envelope import build_envelope
from litestore_webhooks.core.errors import ValidationFailed
from litestore_webhooks.core.event_types import lifecycle, system
from litestore_webhooks.core.event_types.records import EventTypeDraft
from litestore_webhooks.core.event_types.schemas import DataValidator
from litestore_webhooks.core.schema import validate

NOW = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
NAMES = [t["name"] for t in system.SYSTEM_TYPES]


def test_the_issue_asks_for_these_nine_types():
    assert sorted(NAMES) == sorted([
        "webhooks.endpoint.created", "webhooks.endpoint.updated", "webhooks.endpoint.deleted",
        "webhooks.endpoint.paused", "webhooks.endpoint.resumed", "webhooks.endpoint.failing",
        "webhooks.endpoint.recovered", "webhooks.delivery.dead_lettered", "webhooks.secret.rotated",
    ])
    assert set(catalog.SYSTEM) == set(NAMES) and not set(catalog.CATALOG) & set(NAMES)


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
    assert build_envelope(example, now=NOW, types=catalog.SYSTEM).data == example["data"]
    with pytest.raises(ValidationFailed, match="reserved for the system's own operational events"):
        build_envelope(example, now=NOW)  # a publisher's path


def test_the_schemas_refuse_what_the_system_never_sends():
    schema = catalog.SYSTEM[system.DELIVERY_DEAD_LETTERED].schema
    good = catalog.SYSTEM[system.DELIVERY_DEAD_LETTERED].example["data"]
    assert [p["path"] for p in validate({**good, "reason": "bored"}, schema, "data")] == ["data.reason"]
    assert [p["path"] for p in validate({**good, "lastStatus": None}, schema, "data")] == ["data.lastStatus"]
    assert [p["path"] for p in validate({**good, "secret": "x"}, schema, "data")] == ["data.secret"]
    missing = {k: v for k, v in good.items() if k != "endpointId"}
    assert [p["path"] for p in validate(missing, schema, "data")] == ["data.endpointId"]


@pytest.mark.parametrize(("pattern", "selected"), [
    ("*", []), ("webhooks.*", NAMES), ("webhooks.endpoint.*", [n for n in NAMES if ".endpoint." in n]),
    (system.SECRET_ROTATED, [system.SECRET_ROTATED]),
])
def test_subscription_patterns(pattern, selected):
    catalog.validate_patterns([pattern])
    assert sorted(n for n in NAMES if catalog.matches(pattern, n)) == sorted(selected)
