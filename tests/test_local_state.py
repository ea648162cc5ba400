"""`--state`: endpoints and undelivered messages survive a restart of the local runtime;
the emulated API's routes stay those of the deployed stack."""

from __future__ import annotations

import json
import os
import stat

from tests.receivers import Receiver
from tests.test_local_runtime import admin, ingest

from litestore_webhooks import resources as r
from litestore_webhooks.aws import clients
from litestore_webhooks.local import apigw
from litestore_webhooks.local.runtime import LocalRuntime, example_event
from litestore_webhooks.local.state import save as save_state

SECRET = "state-test-secret-123"


def test_the_emulator_serves_exactly_the_deployed_routes():
    from infra import api

    served = {(route.resource, route.method) for route in apigw.ROUTES}
    assert served == set(api.ADMIN_ROUTES) | set(api.INGEST_ROUTES) | set(api.PUBLIC_ROUTES) | set(api.CONSOLE_ROUTES)


def test_route_resolution_prefers_literals_then_greedy_paths():
    assert apigw.resolve("/events", "POST")[0].function.suffix == "ingest"
    assert apigw.resolve("/events/batch", "POST")[0].resource == "/events/batch"
    route, params = apigw.resolve("/events/evt_1", "GET")
    assert (route.resource, params) == ("/events/{id}", {"id": "evt_1"})
    route, params = apigw.resolve("/endpoints/ep_1/secret/rotate", "POST")
    assert (route.resource, params) == ("/endpoints/{proxy+}", {"proxy": "ep_1/secret/rotate"})
    assert apigw.resolve("/events", "GET") == 405
    assert apigw.resolve("/nope", "GET") == 404


def test_endpoints_and_buffered_events_survive_a_restart(tmp_path):
    state = tmp_path / "state.json"
    with Receiver() as rx:
        with LocalRuntime(port=0, allow_insecure=True, state_file=state) as rt:
            status, ep = admin(rt, "POST", "/endpoints", {"url": rx.url(), "events": ["*"], "secret": SECRET})
            assert status == 201, ep
            assert admin(rt, "POST", f"/endpoints/{ep['id']}/pause")[0] == 200
            assert ingest(rt, example_event())[0] == 202
        saved = json.loads(state.read_text())
        assert [e["item"]["id"] for e in saved["endpoints"]] == [ep["id"]]
        assert len(saved["endpoints"][0]["queue"]) == 1 and rx.requests == []

        with LocalRuntime(port=0, allow_insecure=True, state_file=state) as rt:
            status, listed = admin(rt, "GET", "/endpoints")
            assert [e["id"] for e in listed["data"]] == [ep["id"]]
            assert admin(rt, "POST", f"/endpoints/{ep['id']}/resume")[0] == 200
            (request,) = rx.wait_for(1, timeout=15)
            from litestore_webhooks import verify

            verify(request.body, request.headers, SECRET)  # same secret as before the restart
            # Sealed again under this run's KMS key: the table holds no plaintext, the API shows the secret.
            stored = clients.client("dynamodb").get_item(
                TableName=r.ENDPOINTS_TABLE.name(rt.prefix), Key={"id": {"S": ep["id"]}}
            )["Item"]
            assert SECRET not in json.dumps(stored) and "sealedSecrets" in stored
            assert admin(rt, "GET", f"/endpoints/{ep['id']}/secret")[1]["secret"] == SECRET


def test_the_catalog_and_the_endpoints_holding_its_types_survive_a_restart(tmp_path):
    state = tmp_path / "state.json"
    shipped = {
        "name": "order.shipped",
        "description": "Shipped.",
        "schema": {"type": "object", "required": ["orderId"]},
    }
    with LocalRuntime(port=0, allow_insecure=True, state_file=state) as rt:
        assert admin(rt, "POST", "/event-types", shipped)[0] == 201
        assert admin(rt, "PATCH", "/event-types/order.shipped", {"schema": {"type": "object"}})[0] == 200
        assert admin(rt, "DELETE", "/event-types/content.rejected")[0] == 204  # a seeded one: its tombstone is kept
        status, ep = admin(
            rt, "POST", "/endpoints", {"name": "shipping", "url": "http://127.0.0.1:9/", "events": ["order.shipped"]}
        )
        assert status == 201, ep
    with LocalRuntime(port=0, allow_insecure=True, state_file=state) as rt:
        status, restored = admin(rt, "GET", "/event-types/order.shipped")
        assert status == 200 and restored["version"] == 2 and [s["id"] for s in restored["subscribers"]] == [ep["id"]]
        assert len(admin(rt, "GET", "/event-types/order.shipped/versions")[1]["data"]) == 2
        assert admin(rt, "GET", "/event-types/content.rejected")[0] == 404  # the seed did not bring it back
        status, body = ingest(rt, {"event": "order.shipped", "data": {}})
        assert status == 202 and body["version"] == 2, body


def test_the_state_file_is_written_owner_only_and_atomically(tmp_path):
    """It holds endpoint secrets: 0600 like the CLI profile, whatever the umask, and also when it
    replaces a file an older version wrote 0644."""
    fresh, older = tmp_path / "fresh.json", tmp_path / "older.json"
    older.write_text("{}")
    older.chmod(0o644)
    previous = os.umask(0o022)
    try:
        with LocalRuntime(port=0, allow_insecure=True, state_file=fresh, write_profile=False) as rt:
            status, ep = admin(
                rt, "POST", "/endpoints", {"url": "https://state.example/hook", "events": ["*"], "secret": SECRET}
            )
            assert status == 201, ep
            save_state(older)
    finally:
        os.umask(previous)
    for path in (fresh, older):
        assert SECRET in path.read_text()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.json", "older.json"]  # no temp file left behind
