"""Admin API over SQS: dead-letter peek/redrive/purge and stats (moto; no StartMessageMoveTask needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import seed_catalog as catalog
from admin_api import call
from litestore_webhooks.aws import queues
from litestore_webhooks.core.canonical import canonical_bytes
from test_admin import _attempt, admin, create, drain, error_code, resources, store  # noqa: F401 - fixture

DEAD = {
    queues.EVENT: "order.completed",
    queues.REASON: "retries_exhausted",
    queues.LAST_STATUS: 503,
    queues.LAST_ERROR: "HTTP 503",
    queues.ATTEMPTS: 5,
    queues.ATTEMPT: 5,
    queues.NOT_BEFORE: 1,
    queues.FIRST_ATTEMPT_AT: "2024-01-15T10:30:00.000Z",
    queues.LAST_ATTEMPT_AT: "2024-01-15T10:35:00.000Z",
}


def dead_letter(endpoint_id: str, n: int) -> str:
    envelope = {**catalog.get("order.completed").example, "id": f"evt_dead_{n}"}
    queues.send(
        resources(endpoint_id).dlq_url, canonical_bytes(envelope).decode(), {**DEAD, queues.ENDPOINT_ID: endpoint_id}
    )
    return envelope["id"]


def test_peek_shows_dead_letters_without_consuming_them(admin):
    eid = create()["id"]
    ids = {dead_letter(eid, n) for n in range(3)}
    status, body, _ = call("GET", f"/endpoints/{eid}/dead-letters")
    assert status == 200 and body["approximateCount"] == 3
    assert {d["id"] for d in body["data"]} == ids
    first = next(d for d in body["data"] if d["id"] == "evt_dead_0")
    assert first == {
        "id": "evt_dead_0",
        "messageId": first["messageId"],
        "event": "order.completed",
        "reason": "retries_exhausted",
        "lastStatus": 503,
        "lastError": "HTTP 503",
        "attempts": 5,
        "firstAttemptAt": "2024-01-15T10:30:00.000Z",
        "lastAttemptAt": "2024-01-15T10:35:00.000Z",
    }
    again = call("GET", f"/endpoints/{eid}/dead-letters?limit=2")[1]
    assert len(again["data"]) == 2 and again["approximateCount"] == 3
    assert queues.depth(resources(eid).dlq_url) == queues.Depth(3, 0, 0)
    assert call("GET", f"/endpoints/{eid}/dead-letters?limit=0")[0] == 400
    assert call("GET", "/endpoints/ep_missing/dead-letters")[0] == 404


def test_redrive_by_ids_then_all_with_a_fresh_attempt_count(admin):
    eid = create()["id"]
    for n in range(4):
        dead_letter(eid, n)
    res = resources(eid)
    status, body, _ = call(
        "POST", f"/endpoints/{eid}/dead-letters/redrive", {"ids": ["evt_dead_1", "evt_dead_3", "evt_gone"]}
    )
    assert (status, body) == (200, {"redriven": 2, "remaining": 2, "failed": 0})
    moved = drain(res.queue_url)
    assert sorted(m["Body"].split('"id":"')[1][:10] for m in moved) == ["evt_dead_1", "evt_dead_3"]
    assert all(queues.decode_attributes(m["MessageAttributes"]) == {"event": "order.completed"} for m in moved)

    assert call("POST", f"/endpoints/{eid}/dead-letters/redrive")[1] == {"redriven": 2, "remaining": 0, "failed": 0}
    assert len(drain(res.queue_url)) == 2
    assert queues.depth(res.dlq_url) == queues.Depth(0, 0, 0)
    assert call("POST", f"/endpoints/{eid}/dead-letters/redrive", {"ids": []})[0] == 400


def test_purge_requires_confirm_true(admin):
    eid = create()["id"]
    for n in range(2):
        dead_letter(eid, n)
    for target in (f"/endpoints/{eid}/dead-letters", f"/endpoints/{eid}/dead-letters?confirm=false"):
        status, body, _ = call("DELETE", target)
        assert (status, error_code(body)) == (400, "confirmation_required")
    assert queues.depth(resources(eid).dlq_url).visible == 2
    assert call("DELETE", f"/endpoints/{eid}/dead-letters?confirm=true")[1] == {"purged": 2}
    assert queues.depth(resources(eid).dlq_url).visible == 0


def test_stats_count_outcomes_latency_and_depths(admin):
    eid = create()["id"]
    now = datetime.now(UTC)

    def at(minutes: int) -> str:
        return (now - timedelta(minutes=minutes)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    codes = [200] * 6 + [204, 301, 410, 503, None]
    store().put_attempt_items(
        [_attempt(eid, f"evt_{n}", 1, at(n + 1), "x", code, (n + 1) * 10) for n, code in enumerate(codes)]
        + [_attempt(eid, "evt_old", 1, at(3 * 24 * 60), "delivered", 200, 5)]
    )
    res = resources(eid)
    queues.send(res.queue_url, "{}", {queues.EVENT: "order.completed"})
    queues.send(res.queue_url, "{}", {queues.EVENT: "order.completed"}, delay_s=60)
    dead_letter(eid, 0)
    call("POST", f"/endpoints/{eid}/pause")

    status, body, _ = call("GET", f"/endpoints/{eid}/stats")
    assert status == 200
    assert body == {
        "window": "24h",
        "attempts": 11,
        "delivered": 7,
        "failed": 4,
        "byStatusClass": {"2xx": 7, "3xx": 1, "4xx": 1, "5xx": 1, "network": 1},
        "latencyMs": {"p50": 60, "p99": 110},
        "queueDepth": 2,
        "inFlight": 0,
        "deadLetterDepth": 1,
        "active": False,
        "pausedReason": "manual",
        "truncated": False,
    }
    assert call("GET", f"/endpoints/{eid}/stats?window=14d")[1]["attempts"] == 12
    assert call("GET", f"/endpoints/{eid}/stats?window=5m")[1]["attempts"] == 4


@pytest.mark.parametrize("window", ["15d", "0h", "24", "1w", "h", "-1d"])
def test_stats_rejects_bad_windows(admin, window):
    eid = create()["id"]
    status, body, _ = call("GET", f"/endpoints/{eid}/stats?window={window}")
    assert (status, error_code(body)) == (400, "validation_failed")
