"""Operational events end to end over HTTP (issue 19 item 1): the system's own `webhooks.*` events
travel the same pipeline as a store's (stored, signed, retried, dead-lettered) to the endpoints that
subscribe to them; a delivery about operational events never reports on itself; a failure to publish
one never fails the operator's request."""

from __future__ import annotations

import json

from tests.local_stack import FAST_RETRIES, attempts, dead_letters, event, poll, rt, scratch, settle  # noqa: F401
from tests.receivers import Reply
from tests.test_local_runtime import admin, ingest
from tests.test_reliability_faults import Faults

from litestore_webhooks import verify
from litestore_webhooks.core.event_types import system

OPS_SECRET = "whsec_" + "b3BlcmF0aW9uYWwtZXZlbnRzLXNlY3JldC0xMjM0"


def _ops(rx, secret=OPS_SECRET):
    """What an operational receiver got, verified with its endpoint's secret."""
    out = []
    for request in rx.requests:
        verify(request.body, request.headers, secret)
        out.append(json.loads(request.body))
    return out


def _about(received, event_type, endpoint_id):
    return [e for e in received if e["event"] == event_type and e["data"]["endpointId"] == endpoint_id]


def test_an_ops_endpoint_hears_of_a_new_endpoint_and_of_a_dead_letter(rt, scratch):  # noqa: F811
    ops_rx = scratch.receiver()
    ops = scratch.endpoint("ops-bridge", ops_rx.url(), ["webhooks.*"], secret=OPS_SECRET)
    broken_rx = scratch.receiver(default=Reply(400))  # 400: not retryable, dead-lettered at once
    orders = scratch.endpoint("orders-broken", broken_rx.url(), ["order.*"], retryPolicy=FAST_RETRIES)

    created = poll(
        lambda: _about(_ops(ops_rx), system.ENDPOINT_CREATED, orders["id"]),
        timeout=20,
        what="webhooks.endpoint.created for the new endpoint",
    )
    assert created[0]["data"] == {
        "endpointId": orders["id"],
        "name": "orders-broken",
        "url": broken_rx.url(),
        "events": ["order.*"],
        "active": True,
    }
    assert created[0]["id"].startswith("evt_")

    assert ingest(rt, event("order.completed", "evt_ops_dead_1"))[0] == 202
    dead = poll(
        lambda: _about(_ops(ops_rx), system.DELIVERY_DEAD_LETTERED, orders["id"]),
        timeout=20,
        what="webhooks.delivery.dead_lettered",
    )
    assert dead[0]["data"] == {
        "endpointId": orders["id"],
        "name": "orders-broken",
        "url": broken_rx.url(),
        "eventId": "evt_ops_dead_1",
        "eventType": "order.completed",
        "reason": "rejected",
        "attempts": 1,
        "lastStatus": 400,
    }
    failing = poll(
        lambda: _about(_ops(ops_rx), system.ENDPOINT_FAILING, orders["id"]),
        timeout=20,
        what="webhooks.endpoint.failing",
    )
    assert failing[0]["data"]["lastStatus"] == 400 and failing[0]["data"]["failingSince"]
    assert [d["id"] for d in dead_letters(rt, orders["id"])] == ["evt_ops_dead_1"]
    # delivered as any event is: an attempt in the ops endpoint's log, the event shown by the admin API
    assert any(a["eventId"] == dead[0]["id"] and a["status"] == "delivered" for a in attempts(rt, ops["id"]))
    status, shown = admin(rt, "GET", f"/events/{dead[0]['id']}")
    assert status == 200 and shown["event"] == system.DELIVERY_DEAD_LETTERED, shown

    # recovered, then paused and resumed by hand, then the secret rotated and the endpoint deleted
    broken_rx.default = Reply(200)
    assert ingest(rt, event("order.completed", "evt_ops_ok_1"))[0] == 202
    recovered = poll(
        lambda: _about(_ops(ops_rx), system.ENDPOINT_RECOVERED, orders["id"]),
        timeout=20,
        what="webhooks.endpoint.recovered",
    )
    assert recovered[0]["data"]["failures"] == 1
    assert admin(rt, "POST", f"/endpoints/{orders['id']}/pause")[0] == 200
    assert admin(rt, "POST", f"/endpoints/{orders['id']}/resume")[0] == 200
    assert admin(rt, "PATCH", f"/endpoints/{orders['id']}", {"events": ["order.*", "review.*"]})[0] == 200
    assert admin(rt, "POST", f"/endpoints/{orders['id']}/secret/rotate", {})[0] == 200
    assert admin(rt, "DELETE", f"/endpoints/{orders['id']}")[0] == 204
    deleted = poll(
        lambda: _about(_ops(ops_rx), system.ENDPOINT_DELETED, orders["id"]),
        timeout=20,
        what="webhooks.endpoint.deleted",
    )
    got = {e["event"]: e["data"] for e in _ops(ops_rx) if e["data"]["endpointId"] == orders["id"]}
    assert got[system.ENDPOINT_PAUSED]["reason"] == "manual"
    assert system.ENDPOINT_RESUMED in got
    assert got[system.ENDPOINT_UPDATED]["changed"] == ["events"]
    assert got[system.ENDPOINT_UPDATED]["events"] == ["order.*", "review.*"]
    assert "previousSecretExpiresAt" in got[system.SECRET_ROTATED]
    assert not any(
        "secret" in k.lower() and k != "previousSecretExpiresAt" for e in _ops(ops_rx) for k in e["data"]
    )  # never the secret
    assert deleted[0]["data"]["name"] == "orders-broken"


def test_a_store_cannot_publish_an_operational_event_and_star_does_not_receive_them(rt, scratch):  # noqa: F811
    status, body = ingest(rt, {**system.SYSTEM_TYPES[0]["examples"][0], "id": "evt_forged_1"})
    assert status == 400, body
    assert body["error"]["details"][0]["path"] == "event"
    assert "reserved for the system's own operational events" in body["error"]["details"][0]["message"]

    star_rx = scratch.receiver()
    star = scratch.endpoint("everything-store", star_rx.url(), ["*"])
    other_rx = scratch.receiver()
    scratch.endpoint("another-store", other_rx.url(), ["order.*"])  # made after: a created event about it
    assert ingest(rt, event("order.completed", "evt_star_1"))[0] == 202
    poll(lambda: star_rx.requests, timeout=20, what="the store's event at the * endpoint")
    settle(rt, [star["id"]])
    assert [json.loads(q.body)["event"] for q in star_rx.requests] == ["order.completed"]


def test_no_loop_an_ops_endpoint_that_fails_does_not_report_on_itself(rt, scratch):  # noqa: F811
    watcher_rx = scratch.receiver()
    watcher = scratch.endpoint("ops-watcher", watcher_rx.url(), ["webhooks.*"], secret=OPS_SECRET)
    sink_rx = scratch.receiver(default=Reply(400))
    sink = scratch.endpoint("ops-broken-sink", sink_rx.url(), ["webhooks.*"])
    # the sink gets (at least) its own created event and the watcher's, and refuses them: dead letters
    poll(lambda: dead_letters(rt, sink["id"]), timeout=20, what="the sink's dead letters")
    target = scratch.endpoint("orders-for-loop", scratch.receiver().url(), ["order.*"])
    poll(
        lambda: _about(_ops(watcher_rx), system.ENDPOINT_CREATED, target["id"]),
        timeout=20,
        what="the watcher hears of a later endpoint",
    )
    settle(rt, [sink["id"], watcher["id"]])
    about_sink = [e["event"] for e in _ops(watcher_rx) if e["data"]["endpointId"] == sink["id"]]
    assert about_sink == [system.ENDPOINT_CREATED]  # no dead_lettered, failing or paused about it
    refused = len(sink_rx.requests)
    assert refused >= 2 and len(dead_letters(rt, sink["id"])) == refused  # each refused once, no chain
    assert all(json.loads(q.body)["event"].startswith("webhooks.") for q in sink_rx.requests)


def test_a_failed_operational_event_does_not_fail_the_operators_request(rt, scratch, caplog):  # noqa: F811
    watcher_rx = scratch.receiver()
    scratch.endpoint("ops-watcher-2", watcher_rx.url(), ["webhooks.*"], secret=OPS_SECRET)
    faults = Faults().attach()
    faults.add("sns.PublishBatch", "error", system.ENDPOINT_CREATED, "unlucky-endpoint")
    made = scratch.endpoint("unlucky-endpoint", scratch.receiver().url(), ["order.*"])  # 201 all the same
    assert faults.injected[("sns.PublishBatch", "error")] == 1
    assert admin(rt, "GET", f"/endpoints/{made['id']}")[0] == 200
    assert any(r.getMessage() == "operational event not published" for r in caplog.records)
    # the next one goes out as usual
    later = scratch.endpoint("lucky-endpoint", scratch.receiver().url(), ["order.*"])
    poll(lambda: _about(_ops(watcher_rx), system.ENDPOINT_CREATED, later["id"]), timeout=20, what="next created")
    assert not _about(_ops(watcher_rx), system.ENDPOINT_CREATED, made["id"])


def test_an_endpoint_that_answers_410_is_reported_paused_as_gone(rt, scratch):  # noqa: F811
    ops_rx = scratch.receiver()
    scratch.endpoint("ops-gone-watch", ops_rx.url(), ["webhooks.*"], secret=OPS_SECRET)
    gone = scratch.endpoint("orders-gone", scratch.receiver(default=Reply(410)).url(), ["order.*"])
    assert ingest(rt, event("order.completed", "evt_ops_gone_1"))[0] == 202
    paused = poll(
        lambda: _about(_ops(ops_rx), system.ENDPOINT_PAUSED, gone["id"]),
        timeout=20,
        what="webhooks.endpoint.paused (gone)",
    )
    assert {k: paused[0]["data"][k] for k in ("reason", "lastStatus")} == {"reason": "gone", "lastStatus": 410}
    dead = poll(
        lambda: _about(_ops(ops_rx), system.DELIVERY_DEAD_LETTERED, gone["id"]),
        timeout=20,
        what="webhooks.delivery.dead_lettered (gone)",
    )
    assert dead[0]["data"]["reason"] == "gone"
    status, shown = admin(rt, "GET", f"/endpoints/{gone['id']}")
    assert (shown["active"], shown["pausedReason"]) == (False, "gone")


def test_the_stored_catalog_holds_the_system_types_and_filters_are_checked_against_it(rt, scratch):  # noqa: F811
    """Seeded at local start with origin system (as at deploy): listed, subscribable by namespace wildcard at
    any depth or by name, and neither changed nor deleted through the API."""
    status, listed = admin(rt, "GET", "/event-types")
    assert status == 200, listed
    origins = {t["name"]: t["origin"] for t in listed["data"]}
    names = [t["name"] for t in system.SYSTEM_TYPES]
    assert {n: origins.get(n) for n in names} == dict.fromkeys(names, "system")
    made = scratch.endpoint(
        "ops-endpoint-events", scratch.receiver().url(), ["webhooks.endpoint.*", system.DELIVERY_DEAD_LETTERED]
    )
    assert made["events"] == ["webhooks.endpoint.*", system.DELIVERY_DEAD_LETTERED]
    status, refused = admin(
        rt,
        "POST",
        "/endpoints",
        {"name": "ops-typo", "url": scratch.receiver().url(), "events": ["webhooks.endpoints.*"]},
    )
    assert status == 400 and "no event type in namespace 'webhooks.endpoints'" in refused["error"]["message"], refused
    status, body = admin(rt, "PATCH", f"/event-types/{system.SECRET_ROTATED}", {"description": "Mine."})
    assert (status, body["error"]["code"]) == (409, "system_event_type"), body
    status, body = admin(rt, "DELETE", f"/event-types/{system.SECRET_ROTATED}")
    assert (status, body["error"]["code"]) == (409, "system_event_type"), body
