"""The stored catalog on moto: the store adapter, the /event-types routes, and ingest reading them.

The admin and ingest Lambda handlers are driven with REST proxy events (tests/admin_api.py and
test_ingest's helpers); DynamoDB is moto, seeded as a deploy seeds it (aws/bootstrap.py).
"""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime

import pytest
from openapi_spec_validator import validate

import seed_catalog as catalog
from admin_api import call
from litestore_webhooks import config
from litestore_webhooks import resources as r
from litestore_webhooks.aws import bootstrap, clients
from litestore_webhooks.aws.catalog import CatalogStore
from litestore_webhooks.core.event_types import lifecycle
from test_admin import admin  # noqa: F401 - moto AWS with local event sources
from test_ingest import call as ingest_call
from test_ingest import request

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SHIPPED = {
    "name": "order.shipped",
    "description": "An order left the warehouse.",
    "schema": {
        "type": "object",
        "required": ["orderId"],
        "properties": {"orderId": {"type": "string"}, "carrier": {"type": "string"}},
    },
    "examples": [
        {
            "event": "order.shipped",
            "id": "evt_shipped_1",
            "timestamp": "2026-01-05T12:00:00Z",
            "data": {"orderId": "order-1", "carrier": "UPS"},
        }
    ],
    "group": "Orders",
}
_names = itertools.count(1)


def store() -> CatalogStore:
    return CatalogStore(config.settings().event_types_table)


def publish(event: str, data: dict, event_id: str | None = None) -> tuple[int, dict]:
    status, _, body = ingest_call(request(body={"event": event, "data": data, "id": event_id or f"evt_{next(_names)}"}))
    return status, body


def endpoint(events: list[str]) -> dict:
    status, body, _ = call(
        "POST",
        "/endpoints",
        {"name": f"catalog hook {next(_names)}", "url": "https://hooks.example.com/in", "events": events},
    )
    assert status == 201, body
    return body


def problems(body: dict) -> list[dict]:
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    return body["error"]["details"]


# -- seed ------------------------------------------------------------------------------------------
def test_the_document_types_are_seeded_once_and_an_operator_edit_or_delete_stands(admin):
    stored = store().types()
    assert sorted(stored) == catalog.seeded_names()
    assert {t.origin for n, t in stored.items() if n in catalog.CATALOG} == {"document", "derived"}
    assert stored["order.updated"].origin == "derived"
    assert {n for n, t in stored.items() if t.origin == "system"} == set(catalog.SYSTEM)
    status, _, _ = call("PATCH", "/event-types/review.created", {"description": "Our own words."})
    assert status == 200
    status, _, _ = call("DELETE", "/event-types/content.rejected")
    assert status == 204
    again = bootstrap.seed_catalog(config.settings().event_types_table)
    assert again["written"] == {}
    assert again["kept"] == {"review.created": "edited by an operator", "content.rejected": "deleted by an operator"}
    assert store().get("review.created").description == "Our own words."
    assert store().get("content.rejected") is None


# -- routes ----------------------------------------------------------------------------------------
def test_create_show_list_and_versions(admin):
    status, created, _ = call("POST", "/event-types", SHIPPED)
    assert status == 201, created
    assert (created["version"], created["origin"], created["mode"], created["deprecated"]) == (
        1,
        "operator",
        "enforce",
        False,
    )
    status, shown, _ = call("GET", "/event-types/order.shipped")
    assert status == 200 and shown["schema"] == SHIPPED["schema"] and shown["subscribers"] == []
    status, listed, _ = call("GET", "/event-types?group=Orders")
    assert [t["name"] for t in listed["data"]] == ["order.shipped"]
    status, history, _ = call("GET", "/event-types/order.shipped/versions")
    assert [(v["version"], v["change"]) for v in history["data"]] == [(1, "created")]
    status, body, _ = call("POST", "/event-types", SHIPPED)
    assert status == 409 and body["error"]["code"] == "event_type_exists"


def test_bad_bodies_get_every_problem_in_the_one_shape(admin):
    status, body, _ = call("POST", "/event-types", {**SHIPPED, "name": "Order Shipped", "schema": {"type": "strin"}})
    assert status == 400
    paths = {p["path"] for p in problems(body)}
    assert "name" in paths and any(p.startswith("schema") for p in paths)
    status, body, _ = call("POST", "/event-types", {**SHIPPED, "name": "openapi.json"})
    assert status == 400 and "GET /event-types/openapi.json" in body["error"]["message"]
    status, body, _ = call("POST", "/event-types", {**SHIPPED, "name": "webhooks.endpoint.paused"})
    assert status == 400 and "reserved" in body["error"]["message"]
    assert call("GET", "/event-types/order.nothing")[0] == 404
    assert call("PATCH", "/event-types/order.shipped", {"description": "x"})[0] == 404


def test_a_schema_tightening_needs_force_and_says_why(admin):
    call("POST", "/event-types", SHIPPED)
    tighter = {**SHIPPED["schema"], "required": ["orderId", "carrier"]}
    status, body, _ = call("PATCH", "/event-types/order.shipped", {"schema": tighter})
    assert status == 409 and body["error"]["code"] == "incompatible_schema_change"
    assert "pass force" in body["error"]["message"]
    assert any(p["path"] == "data.carrier" and "required" in p["message"] for p in problems(body))
    assert store().get("order.shipped").version == 1  # nothing written
    status, body, _ = call("PATCH", "/event-types/order.shipped?force=true", {"schema": tighter})
    assert status == 200 and body["version"] == 2
    status, history, _ = call("GET", "/event-types/order.shipped/versions")
    assert [(v["version"], v["forced"]) for v in history["data"]] == [(1, False), (2, True)]
    looser = {**SHIPPED["schema"], "required": []}
    status, body, _ = call("PATCH", "/event-types/order.shipped", {"schema": looser})
    assert status == 200 and body["version"] == 3


def test_deprecate_restore_and_delete_held_by_an_endpoint(admin):
    call("POST", "/event-types", SHIPPED)
    status, body, _ = call(
        "POST",
        "/event-types/order.shipped/deprecate",
        {"message": "Use order.completed.", "replacement": "order.completed"},
    )
    assert status == 200 and body["deprecated"] and body["deprecation"]["replacement"] == "order.completed"
    assert [t["name"] for t in call("GET", "/event-types?deprecated=true")[1]["data"]] == ["order.shipped"]
    status, body, _ = call("POST", "/event-types/order.shipped/restore")
    assert status == 200 and not body["deprecated"]
    holder = endpoint(["order.shipped"])
    endpoint(["*"])  # "*" never holds a type
    status, body, _ = call("DELETE", "/event-types/order.shipped")
    assert status == 409 and body["error"]["code"] == "event_type_in_use"
    assert holder["name"] in body["error"]["message"]
    assert [p["endpointId"] for p in problems(body)] == [holder["id"]]
    assert call("PATCH", f"/endpoints/{holder['id']}", {"events": ["order.completed"]})[0] == 200
    assert call("DELETE", "/event-types/order.shipped")[0] == 204
    assert call("GET", "/event-types/order.shipped")[0] == 404
    assert store().versions("order.shipped") == []
    assert "order.shipped" not in store().tombstones()  # an operator's own type: no tombstone


def test_endpoint_filters_are_checked_against_the_stored_catalog(admin):
    status, body, _ = call(
        "POST", "/endpoints", {"name": "shipping", "url": "https://hooks.example.com/in", "events": ["shipping.*"]}
    )
    assert status == 400 and "namespace" in body["error"]["message"]
    call("POST", "/event-types", {**SHIPPED, "name": "shipping.label_printed", "examples": []})
    assert endpoint(["shipping.*"])["events"] == ["shipping.*"]


def test_openapi_export_validates_and_round_trips_through_import(admin):
    call("POST", "/event-types", SHIPPED)
    status, document, _ = call("GET", "/event-types/openapi.json")
    assert status == 200
    validate(document)
    assert set(document["webhooks"]) == set(catalog.seeded_names()) | {"order.shipped"}
    status, plan, _ = call("POST", "/event-types/import", document)
    assert status == 200, plan
    assert plan["created"] == plan["updated"] == [] and len(plan["unchanged"]) == 21  # the system's 9 included
    assert call("GET", "/event-types/openapi.json")[1] == document
    edited = copy.deepcopy(document)
    edited["webhooks"]["order.shipped"]["post"]["description"] = "Left the warehouse, tracked."
    edited["webhooks"]["order.refunded"] = copy.deepcopy(edited["webhooks"]["order.shipped"])
    edited["webhooks"]["order.refunded"]["post"]["requestBody"]["content"]["application/json"].pop("examples", None)
    status, plan, _ = call("POST", "/event-types/import?dryRun=true", edited)
    assert status == 200, plan
    assert [c["name"] for c in plan["created"]] == ["order.refunded"] and plan["dryRun"] is True
    assert call("GET", "/event-types/order.refunded")[0] == 404  # a dry run writes nothing
    status, plan, _ = call("POST", "/event-types/import", {"eventTypes": [{**SHIPPED, "description": "Shipped."}]})
    assert status == 200 and [u["name"] for u in plan["updated"]] == ["order.shipped"]
    assert store().get("order.shipped").description == "Shipped."
    status, body, _ = call("POST", "/event-types/import", {"openapi": "3.0.3", "webhooks": {}})
    assert status == 400 and problems(body)[0]["path"] == "openapi"


def test_a_write_conditional_on_a_stale_read_is_refused_whole(admin):
    st = store()
    current = st.get("order.completed")
    first = lifecycle.update(current, {"description": "First."}, now=NOW)
    st.write(first, current)
    second = lifecycle.update(current, {"description": "Second."}, now=NOW)
    with pytest.raises(Exception) as refused:
        st.write(second, current)
    assert getattr(refused.value, "status", None) == 409 and "changed meanwhile" in str(refused.value)
    assert st.get("order.completed").description == "First."


# -- ingest ----------------------------------------------------------------------------------------
def test_a_type_created_through_the_api_is_accepted_by_the_very_next_publish(admin):
    status, body = publish("order.shipped", {"orderId": "order-1"})
    assert status == 400 and problems(body)[0]["path"] == "event"
    call("POST", "/event-types", SHIPPED)
    status, body = publish("order.shipped", {"orderId": "order-1"})
    assert status == 202 and (body["version"], body["deprecated"]) == (1, False)
    call(
        "PATCH",
        "/event-types/order.shipped?force=true",
        {"schema": {**SHIPPED["schema"], "required": ["orderId", "carrier"]}},
    )
    status, body = publish("order.shipped", {"orderId": "order-2"})
    assert status == 400 and problems(body) == [{"path": "data.carrier", "message": "is required"}]
    call("POST", "/event-types/order.shipped/deprecate", {})
    status, body = publish("order.shipped", {"orderId": "order-3", "carrier": "DHL"})
    assert status == 202 and (body["version"], body["deprecated"]) == (2, True)


def test_an_accept_mode_type_takes_any_object(admin):
    call("POST", "/event-types", {**SHIPPED, "mode": "accept"})
    assert publish("order.shipped", {"anything": [1, 2, {"x": None}]})[0] == 202
    status, body = publish("order.shipped", "not an object")  # type: ignore[arg-type]
    assert status == 400 and problems(body) == [{"path": "data", "message": "expected object"}]


def test_ingest_reads_one_stamp_per_request_and_the_types_only_after_a_change(admin):
    calls: list[str] = []
    ddb = clients.client("dynamodb")
    table = config.settings().event_types_table

    def recorder(operation: str):
        def record(params, **_):
            if params.get("TableName") == table:
                assert params.get("ConsistentRead") is True  # read-your-writes
                calls.append(operation)

        return record

    for operation in ("GetItem", "Query"):
        ddb.meta.events.register(f"provide-client-params.dynamodb.{operation}", recorder(operation))
    publish("order.completed", catalog.get("order.completed").example["data"])  # builds the snapshot
    calls.clear()
    for _ in range(3):
        assert publish("order.completed", catalog.get("order.completed").example["data"])[0] == 202
    assert calls == ["GetItem"] * 3
    call("PATCH", "/event-types/order.completed", {"description": "Changed."})
    calls.clear()
    status, _, body = ingest_call(
        request(
            "/events/batch",
            {
                "events": [
                    {"event": "order.completed", "data": catalog.get("order.completed").example["data"]}
                    for _ in range(5)
                ]
            },
        )
    )
    assert status == 202, body
    assert calls == ["GetItem", "Query"]  # one stamp read for the batch, one catalog read after the change


def test_unknown_types_are_refused_unless_the_stack_accepts_them_on_first_sight(admin, monkeypatch):
    assert publish("order.shipped", {"orderId": "1"})[0] == 400
    monkeypatch.setenv(r.ACCEPT_UNKNOWN_ENV, "1")
    config.settings.cache_clear()
    status, body = publish("order.shipped", {"anything": True})
    assert status == 202 and body["version"] == 1
    created = store().get("order.shipped")
    assert (created.origin, created.mode, created.data_schema) == ("first-sight", "accept", {"type": "object"})
    status, body = publish("Not A Name", {})
    assert status == 400 and "no name for a new one" in problems(body)[0]["message"]


def test_an_import_is_written_whole_or_not_at_all(admin):
    st = store()
    current = st.get("order.completed")
    st.write(lifecycle.update(current, {"description": "Changed meanwhile."}, now=NOW), current)
    new = lifecycle.new_event_type(lifecycle.parse(lifecycle.EventTypeDraft, SHIPPED), existing=(), now=NOW)
    stale = lifecycle.update(current, {"description": "From a stale read."}, now=NOW)
    with pytest.raises(Exception) as refused:
        st.write_all([(new, None), (stale, current)])
    assert getattr(refused.value, "status", None) == 409 and "order.completed" in str(refused.value)
    assert st.get("order.shipped") is None and st.get("order.completed").description == "Changed meanwhile."
    many = [{**SHIPPED, "name": f"bulk.type_{n}", "examples": []} for n in range(50)]  # 100 items and a stamp
    status, body, _ = call("POST", "/event-types/import", {"eventTypes": many})
    assert status == 400 and "smaller files" in problems(body)[0]["message"]
    assert not [name for name in store().types() if name.startswith("bulk.")]
    assert call("POST", "/event-types/import", {"eventTypes": many[:49]})[0] == 200
    assert len([name for name in store().types() if name.startswith("bulk.")]) == 49
