"""core/event_types/openapi.py: the catalog as an OpenAPI 3.1 webhooks document, and back."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import pytest
from openapi_spec_validator import validate

from litestore_webhooks.core.errors import ValidationFailed
from litestore_webhooks.core.event_types import lifecycle
from litestore_webhooks.core.event_types.openapi import HEADERS, RESPONSES, export_openapi, import_openapi, import_path
from litestore_webhooks.core.event_types.records import EventType, EventTypeDraft
from litestore_webhooks.core.event_types.seed import plan_seed

NOW = datetime(2024, 1, 16, 9, 0, tzinfo=UTC)


def catalog() -> dict[str, EventType]:
    stored = {w.change.event_type.name: w.change.event_type for w in plan_seed({}, now=NOW).writes}
    money = {
        "type": "object",
        "$defs": {"money": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}}},
        "properties": {
            "refund": {"$ref": "#/$defs/money"},
            "lines": {"type": "array", "items": {"$ref": "#/$defs/money"}},
        },
    }
    body = {"name": "refund.issued", "description": "A refund was issued.", "schema": money, "group": "Payments"}
    stored["refund.issued"] = lifecycle.create(body, existing=stored.keys(), now=NOW).event_type
    deprecated = lifecycle.deprecate(
        stored["review.approved"],
        {"message": "Use review.published.", "replacement": "refund.issued"},
        names=stored,
        now=NOW,
    )
    stored["review.approved"] = deprecated.event_type
    stored["content.rejected"] = lifecycle.update(stored["content.rejected"], {"mode": "accept"}, now=NOW).event_type
    return stored


def test_the_export_is_a_valid_openapi_31_document_with_one_webhook_per_type():
    document = export_openapi(catalog().values())
    validate(document)  # openapi-spec-validator: raises on any error
    assert document["openapi"] == "3.1.0"
    assert list(document["webhooks"]) == sorted(catalog())
    assert len(document["webhooks"]) == 12


def test_each_webhook_posts_the_full_envelope_with_our_headers_and_response_meanings():
    document = export_openapi(catalog().values())
    operation = document["webhooks"]["product.purchased"]["post"]
    envelope = operation["requestBody"]["content"]["application/json"]["schema"]
    assert envelope["required"] == ["event", "id", "timestamp", "data"]
    assert envelope["properties"]["event"]["const"] == "product.purchased"
    assert envelope["properties"]["data"] == {"$ref": "#/components/schemas/product.purchased"}
    assert document["components"]["schemas"]["product.purchased"] == catalog()["product.purchased"].data_schema
    headers = document["components"]["parameters"]
    assert [h for h, _, _ in HEADERS] == [
        "webhook-id", "webhook-timestamp", "webhook-signature", "X-Litestore-Signature", "X-Litestore-Event",
        "X-Litestore-Event-Id", "X-Litestore-Delivery-Attempt",
    ]  # fmt: skip
    assert all(headers[h]["in"] == "header" and len(headers[h]["description"]) > 20 for h, _, _ in HEADERS)
    assert operation["parameters"][0] == {"$ref": "#/components/parameters/webhook-id"}
    assert set(operation["responses"]) == {"2XX", "3XX", "408", "410", "429", "4XX", "5XX"}
    assert "paused" in RESPONSES["410"] and "not retried" in RESPONSES["4XX"] and "Retried" in RESPONSES["5XX"]
    assert (operation["x-litestore-mode"], operation["x-litestore-version"], operation["x-litestore-origin"]) == (
        "enforce",
        1,
        "document",
    )
    assert "deprecated" not in operation
    [example] = operation["requestBody"]["content"]["application/json"]["examples"].values()
    assert example["value"]["id"] == "evt_product_purchased_126"


def test_deprecation_mode_and_group_show_in_the_export():
    webhooks = export_openapi(catalog().values())["webhooks"]
    review = webhooks["review.approved"]["post"]
    assert review["deprecated"] is True
    assert review["x-litestore-deprecation"]["replacement"] == "refund.issued"
    assert webhooks["content.rejected"]["post"]["x-litestore-mode"] == "accept"
    refund = webhooks["refund.issued"]["post"]
    assert refund["x-litestore-group"] == "Payments" and refund["tags"] == ["Payments"]
    assert webhooks["order.updated"]["post"]["x-litestore-origin"] == "derived"


def test_a_types_own_refs_point_into_its_component_and_still_resolve():
    document = export_openapi(catalog().values())
    component = document["components"]["schemas"]["refund.issued"]
    assert component["properties"]["refund"] == {"$ref": "#/components/schemas/refund.issued/$defs/money"}
    # what a receiver's validator does with the document: resolve the envelope's refs inside it
    registry = jsonschema_rs.Registry([("urn:doc", document)])
    envelope = document["webhooks"]["refund.issued"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    resolved = json.loads(json.dumps(envelope).replace('"#/components', '"urn:doc#/components'))
    validator = jsonschema_rs.validator_for(resolved, registry=registry)
    event = {"event": "refund.issued", "id": "evt_1", "timestamp": "2024-01-15T10:00:00Z", "data": {"refund": {}}}
    assert not validator.is_valid(event)
    event["data"]["refund"]["amount"] = 5
    assert validator.is_valid(event)


def test_examples_in_the_export_are_valid_envelopes():
    document = export_openapi(catalog().values())
    for name, item in document["webhooks"].items():
        content = item["post"]["requestBody"]["content"]["application/json"]
        for example in content.get("examples", {}).values():
            assert example["value"]["event"] == name and set(example["value"]) == {"event", "id", "timestamp", "data"}


# --- import ------------------------------------------------------------------------------------------------


def test_our_own_export_round_trips_exactly():
    stored = catalog()
    document = export_openapi(stored.values())
    drafts = import_openapi(copy.deepcopy(document), now=NOW)
    assert drafts == [stored[name].draft() for name in sorted(stored)]
    assert lifecycle.plan_apply(stored, drafts, now=NOW).writes == []  # importing it changes nothing
    rebuilt = [
        EventType.from_dict(
            {**stored[d.name].to_dict(), **d.content(), "deprecation": stored[d.name].to_dict().get("deprecation")}
        )
        for d in drafts
    ]
    assert export_openapi(rebuilt) == document


def test_an_export_with_the_system_types_imports_back_unchanged_and_cannot_change_them():
    """The stored catalog holds the nine webhooks.* types (origin system): the CLI's export -> apply round
    trip must pass them (it failed with "reserved" at each of them before), and must not change them."""
    from litestore_webhooks.aws.catalog import seed_types
    from litestore_webhooks.core.event_types.errors import SystemEventType

    stored = {w.change.event_type.name: w.change.event_type for w in plan_seed({}, now=NOW, seed=seed_types()).writes}
    assert sum(t.origin == "system" for t in stored.values()) == 9
    document = export_openapi(stored.values())
    assert lifecycle.plan_apply(stored, import_openapi(copy.deepcopy(document), now=NOW), now=NOW).writes == []
    changed = copy.deepcopy(document)
    changed["webhooks"]["webhooks.secret.rotated"]["post"]["description"] = "Mine now."
    with pytest.raises(SystemEventType, match="webhooks.secret.rotated"):
        lifecycle.plan_apply(stored, import_openapi(changed, now=NOW), now=NOW)
    leaked = EventTypeDraft(name="webhooks.secret.leaked", description="No.", schema={"type": "object"})
    with pytest.raises(ValidationFailed, match="reserved for the system's own operational events"):
        lifecycle.plan_apply(stored, [leaked], now=NOW)  # a new name in the namespace: only a release adds one


def test_imported_into_an_empty_catalog_the_export_differs_only_in_origin_and_dates():
    document = export_openapi(catalog().values())
    plan = lifecycle.plan_apply({}, import_openapi(document, now=NOW), now=NOW)
    again = export_openapi(p.change.event_type for p in plan.changes)
    for name, item in again["webhooks"].items():
        assert item["post"]["x-litestore-origin"] == "operator"
        item["post"]["x-litestore-origin"] = document["webhooks"][name]["post"]["x-litestore-origin"]
    again["info"]["version"] = document["info"]["version"]
    assert again == document


GENERIC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Shop", "version": "2"},
    "webhooks": {
        "invoice.paid": {
            "post": {
                "summary": "An invoice was paid",
                "tags": ["Billing"],
                "requestBody": {"$ref": "#/components/requestBodies/Invoice"},
                "responses": {"200": {"description": "ok"}},
            }
        },
        "invoice.voided": {"$ref": "#/components/pathItems/Voided"},
    },
    "components": {
        "requestBodies": {
            "Invoice": {
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/Invoice"},
                        "examples": {"paid": {"value": {"id": "inv_1", "total": {"amount": 5, "currency": "EUR"}}}},
                    }
                }
            }
        },
        "pathItems": {
            "Voided": {
                "post": {
                    "description": "An invoice was voided.",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "type": {"const": "invoice.voided"},
                                        "data": {"$ref": "#/components/schemas/Invoice"},
                                    },
                                }
                            }
                        }
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
        "schemas": {
            "Invoice": {
                "type": "object",
                "required": ["id", "total"],
                "properties": {"id": {"type": "string"}, "total": {"$ref": "#/components/schemas/Money"}},
            },
            "Money": {
                "type": "object",
                "properties": {"amount": {"type": "number"}, "currency": {"$ref": "#/components/schemas/Currency"}},
            },
            "Currency": {"type": "string", "minLength": 3, "maxLength": 3},
        },
    },
}


def test_a_generic_document_is_imported_with_its_refs_resolved_locally():
    paid, voided = import_openapi(copy.deepcopy(GENERIC), now=NOW)
    assert (paid.name, paid.description, paid.group, paid.mode) == (
        "invoice.paid",
        "An invoice was paid",
        "Billing",
        "enforce",
    )
    assert paid.data_schema == {
        "type": "object",
        "required": ["id", "total"],
        "properties": {"id": {"type": "string"}, "total": {"$ref": "#/$defs/Money"}},
        "$defs": {
            "Money": {
                "type": "object",
                "properties": {"amount": {"type": "number"}, "currency": {"$ref": "#/$defs/Currency"}},
            },
            "Currency": {"type": "string", "minLength": 3, "maxLength": 3},
        },
    }
    # the body was the payload itself: the example becomes an envelope's data
    assert paid.examples == [
        {
            "event": "invoice.paid",
            "id": "evt_invoice_paid_1",
            "timestamp": "2024-01-16T09:00:00.000Z",
            "data": {"id": "inv_1", "total": {"amount": 5, "currency": "EUR"}},
        }
    ]
    # an envelope-shaped body ({type, data}): its data is the type's schema
    assert voided.description == "An invoice was voided." and voided.data_schema == paid.data_schema
    created = lifecycle.plan_apply({}, [paid, voided], now=NOW)
    assert [p.action for p in created.changes] == ["create", "create"]


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (lambda d: d.update(openapi="3.0.3"), "openapi", "must be 3.1.x"),
        (lambda d: d.pop("webhooks"), "webhooks", "at least one webhook"),
        (lambda d: d["webhooks"].update({"Invoice Paid": {}}), 'webhooks["Invoice Paid"]', "cannot name an event type"),
        (
            lambda d: d["webhooks"]["invoice.paid"].update(post=None, get={}),
            'webhooks["invoice.paid"]',
            "no post operation",
        ),
        (
            lambda d: d["components"]["schemas"]["Money"]["properties"].update(
                rate={"$ref": "https://example.com/rate.json"}
            ),
            'webhooks["invoice.paid"].post.requestBody.content["application/json"].schema',
            "nothing is fetched",
        ),
        (
            lambda d: d["components"]["schemas"]["Invoice"]["properties"].update(
                x={"$ref": "#/components/schemas/Nope"}
            ),
            'webhooks["invoice.paid"].post.requestBody.content["application/json"].schema',
            "names nothing",
        ),
        (
            lambda d: d["components"]["schemas"]["Currency"].update(pattern="(?<=a)b"),
            'webhooks["invoice.paid"].post.requestBody.content["application/json"].schema.$defs.Currency.pattern',
            "linear-time engine",
        ),
        (
            lambda d: d["components"]["requestBodies"]["Invoice"]["content"]["application/json"]["examples"]["paid"][
                "value"
            ].update(total={"amount": "5"}),
            'webhooks["invoice.paid"].post.requestBody.content["application/json"].examples[0].data.total.amount',
            "expected number",
        ),
    ],
)
def test_what_cannot_be_imported_is_refused_by_path(change, path, fragment):
    document = copy.deepcopy(GENERIC)
    change(document)
    with pytest.raises(ValidationFailed) as raised:
        import_openapi(document, now=NOW)
    problems = raised.value.details
    assert any(p["path"] == path and fragment in p["message"] for p in problems), problems


def test_recursive_components_are_refused_not_looped_on():
    document = copy.deepcopy(GENERIC)
    document["components"]["schemas"]["Money"]["properties"]["parent"] = {"$ref": "#/components/schemas/Invoice"}
    with pytest.raises(ValidationFailed) as raised:
        import_openapi(document, now=NOW)
    assert any("recursive schemas are not supported" in p["message"] for p in raised.value.details)


def test_import_path_names_where_a_draft_came_from():
    assert import_path("invoice.paid") == 'webhooks["invoice.paid"]'
