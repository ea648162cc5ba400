"""The catalog through the local runtime: the admin API over HTTP, real deliveries, and the CLI as a
subprocess (docs/catalog.md). Each test names its own types and endpoints: the runtime is shared."""

from __future__ import annotations

import json

from openapi_spec_validator import validate
from tests.local_stack import rt, scratch  # noqa: F401 - module-scoped runtime, per-test endpoints
from tests.test_e2e_cli import run
from tests.test_local_runtime import admin, ingest

from litestore_webhooks import verify as verified

SCHEMA = {"type": "object", "required": ["orderId"], "properties": {"orderId": {"type": "string"}}}


def test_a_type_created_through_the_api_is_accepted_by_the_next_publish_and_delivered_to_star(rt, scratch):
    rx = scratch.receiver()
    hook = scratch.endpoint("catalog everything", rx.url("/all"), ["*"], secret="catalog-local-secret-1")
    status, body = ingest(rt, {"event": "parcel.dispatched", "id": "evt_parcel_0", "data": {"orderId": "o-0"}})
    assert status == 400 and body["error"]["details"][0]["path"] == "event"
    status, created = admin(
        rt, "POST", "/event-types", {"name": "parcel.dispatched", "description": "Sent.", "schema": SCHEMA}
    )
    assert status == 201, created
    status, body = ingest(rt, {"event": "parcel.dispatched", "id": "evt_parcel_1", "data": {"orderId": "o-1"}})
    assert status == 202 and body["version"] == 1, body
    (delivered,) = rx.wait_for(1, timeout=20)
    assert json.loads(delivered.body)["event"] == "parcel.dispatched"
    verified(delivered.body, delivered.headers, "catalog-local-secret-1")
    assert hook["events"] == ["*"]


def test_an_accept_mode_type_takes_any_object_and_a_tightening_needs_force(rt):
    body = {"name": "parcel.weighed", "description": "Weighed.", "schema": SCHEMA, "mode": "accept"}
    assert admin(rt, "POST", "/event-types", body)[0] == 201
    assert ingest(rt, {"event": "parcel.weighed", "data": {"grams": 12, "nested": {"any": [True]}}})[0] == 202
    status, refused = admin(
        rt,
        "PATCH",
        "/event-types/parcel.weighed",
        {"schema": {**SCHEMA, "required": ["orderId", "grams"]}, "mode": "enforce"},
    )
    assert status == 409 and "pass force" in refused["error"]["message"]
    assert any(d["path"] == "data.grams" for d in refused["error"]["details"])


def test_cli_manages_the_catalog(rt, tmp_path):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    out = run(
        rt,
        "event-types",
        "create",
        "parcel.lost",
        "--description",
        "Lost in transit.",
        "--schema",
        f"@{schema}",
        "--group",
        "Parcels",
    ).stdout
    assert "created parcel.lost (version 1, enforce)" in out
    listed = run(rt, "event-types", "list", "--group", "Parcels").stdout
    assert listed.splitlines()[0].split()[:3] == ["TYPE", "V", "MODE"] and "parcel.lost" in listed
    shown = json.loads(run(rt, "--json", "event-types", "show", "parcel.lost").stdout)
    assert shown["schema"] == SCHEMA and shown["group"] == "Parcels"
    tighter = json.dumps({**SCHEMA, "required": ["orderId", "reason"]})
    refused = run(rt, "event-types", "update", "parcel.lost", "--schema", tighter, code=1)
    assert "pass force" in refused.stderr and "data.reason" in refused.stderr
    assert "version 2" in run(rt, "event-types", "update", "parcel.lost", "--schema", tighter, "--force").stdout
    history = run(rt, "event-types", "versions", "parcel.lost").stdout
    assert [line.split()[0] for line in history.splitlines()[1:]] == ["1", "2"]
    assert "deprecated parcel.lost" in run(rt, "event-types", "deprecate", "parcel.lost", "--message", "Gone.").stdout
    assert "deprecated" in run(rt, "event-types", "list", "--deprecated").stdout

    exported = tmp_path / "catalog.json"
    run(rt, "event-types", "export", "-o", str(exported))
    document = json.loads(exported.read_text())
    validate(document)
    assert "nothing to do" in run(rt, "event-types", "apply", str(exported), "--yes").stdout  # round trip
    document["webhooks"]["parcel.lost"]["post"]["description"] = "Lost, and the carrier says so."
    exported.write_text(json.dumps(document))
    plan = run(rt, "--json", "event-types", "apply", str(exported), "--yes")
    result = json.loads(plan.stdout)
    assert [u["name"] for u in result["plan"]["updated"]] == ["parcel.lost"] and result["applied"] is True
    assert (
        json.loads(run(rt, "--json", "event-types", "show", "parcel.lost").stdout)["description"]
        == "Lost, and the carrier says so."
    )

    assert run(rt, "event-types", "delete", "parcel.lost", code=2).returncode == 2  # asks; nobody to answer
    assert "deleted parcel.lost" in run(rt, "event-types", "delete", "parcel.lost", "--yes").stdout
    assert run(rt, "event-types", "show", "parcel.lost", code=1).returncode == 1
