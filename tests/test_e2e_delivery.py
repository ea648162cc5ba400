"""Delivery end to end through the local runtime, driven only over HTTP as a user would:
routing (exact, prefix, "*"), retries with their delays in the attempt log, dead letters and
redrive, pause/resume buffering, duplicate ids, and a 30%-failing receiver under load."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import datetime

import pytest
from tests.local_stack import (
    FAST_RETRIES,
    attempts,
    dead_letters,
    event,
    poll,
    rt,  # noqa: F401 - the module-scoped runtime fixture
    scratch,  # noqa: F401 - per-test receivers and endpoints, removed afterwards
    settle,
    stats,
)
from tests.receivers import Reply
from tests.test_local_runtime import admin, call, ingest

import seed_catalog as catalog
from litestore_webhooks import verify
from litestore_webhooks.core.endpoint import subscribes

TYPES = sorted(catalog.CATALOG)
SECRET = "e2e-delivery-secret-123"


def ids_of(requests) -> list[str]:
    return [json.loads(q.body)["id"] for q in requests]


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_exact_prefix_and_wildcard_subscriptions_get_exactly_their_events(rt, scratch):
    subscriptions = {
        "exact": ["order.updated"],
        "prefix": ["order.*"],
        "several": ["review.created", "user.*"],
        "all": ["*"],
    }
    rxs = {name: scratch.receiver() for name in subscriptions}
    endpoints = {
        name: scratch.endpoint(f"routing {name}", rxs[name].url(), events, secret=SECRET)
        for name, events in subscriptions.items()
    }
    published = [event(t, f"evt_route_{t}") for t in TYPES]
    for e in published:
        assert ingest(rt, e)[0] == 202
    for name, events in subscriptions.items():
        expected = sorted(e["id"] for e in published if subscribes(events, e["event"]))
        got = rxs[name].wait_for(len(expected), timeout=20)
        for request in got:
            verify(request.body, request.headers, SECRET)
    settle(rt, [e["id"] for e in endpoints.values()])
    seen = {name: sorted(ids_of(rx.requests)) for name, rx in rxs.items()}
    assert seen == {
        "exact": ["evt_route_order.updated"],
        "prefix": ["evt_route_order.completed", "evt_route_order.updated"],
        "several": ["evt_route_review.created", "evt_route_user.registered"],
        "all": sorted(e["id"] for e in published),
    }


def test_retries_then_success_with_the_delays_in_the_attempt_log(rt, scratch):
    rx = scratch.receiver(Reply(503), Reply(500, body=b"try later"))
    policy = {"maxAttempts": 4, "initialDelay": 200, "backoffMultiplier": 2.0, "maxDelay": 1000}
    ep = scratch.endpoint("flaky", rx.url(), ["order.updated"], secret=SECRET, retryPolicy=policy)
    sent = event("order.updated", "evt_retry_1")
    assert ingest(rt, sent)[0] == 202

    requests = rx.wait_for(3, timeout=20)
    assert ids_of(requests) == [sent["id"]] * 3
    assert [q.headers["X-Litestore-Delivery-Attempt"] for q in requests] == ["1", "2", "3"]
    for request in requests:
        verify(request.body, request.headers, SECRET)
    assert len({q.body for q in requests}) == 1  # the same canonical body each time

    log = poll(lambda: len(found := attempts(rt, ep["id"])) == 3 and found, timeout=10, what="three attempts logged")
    log.sort(key=lambda a: a["attempt"])
    assert [(a["attempt"], a["status"], a["httpStatus"]) for a in log] == [
        (1, "retry_scheduled", 503),
        (2, "retry_scheduled", 500),
        (3, "delivered", 200),
    ]
    assert log[1]["responseExcerpt"] == "try later" and log[2].get("nextRetryAt") is None
    for n, (attempt, request_after) in enumerate(zip(log[:2], requests[1:]), start=1):
        nominal_ms = 200 * 2 ** (n - 1)
        scheduled = at(attempt["nextRetryAt"])
        delay_ms = (scheduled - at(attempt["at"])) * 1000
        assert 0.8 * nominal_ms <= delay_ms <= 1.2 * nominal_ms + 1000, (n, delay_ms)  # + the POST's own time
        assert request_after.at >= scheduled - 0.05, f"attempt {n + 1} came before its nextRetryAt"
    settle(rt, [ep["id"]])
    assert len(rx.requests) == 3


def test_exhausted_and_rejected_events_are_dead_lettered_and_redrive_delivers_them(rt, scratch):
    rx = scratch.receiver(default=Reply(503))
    ep = scratch.endpoint(
        "down", rx.url(), ["order.*", "review.created"], secret=SECRET, retryPolicy={**FAST_RETRIES, "maxAttempts": 2}
    )
    exhausted, rejected = event("order.completed", "evt_dead_exhausted"), event("review.created", "evt_dead_rejected")
    assert ingest(rt, exhausted)[0] == 202
    rx.wait_for(2, timeout=20)
    rx.default = Reply(400, body=b"unknown product")  # the receiver now refuses outright
    assert ingest(rt, rejected)[0] == 202

    dead = poll(lambda: len(d := dead_letters(rt, ep["id"])) == 2 and d, timeout=20, what="two dead letters")
    by_id = {d["id"]: d for d in dead}
    assert (
        by_id[exhausted["id"]]["reason"],
        by_id[exhausted["id"]]["lastStatus"],
        by_id[exhausted["id"]]["attempts"],
    ) == ("retries_exhausted", 503, 2)
    assert (
        by_id[rejected["id"]]["reason"],
        by_id[rejected["id"]]["lastStatus"],
        by_id[rejected["id"]]["attempts"],
    ) == ("rejected", 400, 1)
    assert by_id[exhausted["id"]]["event"] == "order.completed"
    assert len(dead_letters(rt, ep["id"])) == 2  # peeking consumed nothing
    assert stats(rt, ep["id"])["deadLetterDepth"] == 2
    assert sorted(ids_of(rx.requests)) == sorted([exhausted["id"]] * 2 + [rejected["id"]])
    logged = sorted((a["eventId"], a["attempt"], a["status"], a["httpStatus"]) for a in attempts(rt, ep["id"]))
    assert logged == [
        (exhausted["id"], 1, "retry_scheduled", 503),
        (exhausted["id"], 2, "dead_lettered", 503),
        (rejected["id"], 1, "dead_lettered", 400),
    ]

    rx.default = Reply(200)  # fixed
    status, result = admin(rt, "POST", f"/endpoints/{ep['id']}/dead-letters/redrive", {"ids": [rejected["id"]]})
    assert (status, result) == (200, {"redriven": 1, "remaining": 1, "failed": 0})
    assert ids_of(rx.wait_for(4, timeout=20))[3] == rejected["id"]
    status, result = admin(rt, "POST", f"/endpoints/{ep['id']}/dead-letters/redrive", {})
    assert (status, result) == (200, {"redriven": 1, "remaining": 0, "failed": 0})
    assert ids_of(rx.wait_for(5, timeout=20))[4] == exhausted["id"]
    settle(rt, [ep["id"]])
    assert dead_letters(rt, ep["id"]) == [] and len(rx.requests) == 5
    redriven = [a for a in attempts(rt, ep["id"]) if a["status"] == "delivered"]  # a fresh attempt count
    assert sorted((a["eventId"], a["attempt"]) for a in redriven) == [(exhausted["id"], 1), (rejected["id"], 1)]


def test_a_paused_endpoint_buffers_and_gets_everything_on_resume(rt, scratch):
    rx, other = scratch.receiver(), scratch.receiver()
    ep = scratch.endpoint("paused", rx.url(), ["content.*"], secret=SECRET)
    running = scratch.endpoint("running", other.url(), ["content.*"], secret=SECRET)
    status, paused = admin(rt, "POST", f"/endpoints/{ep['id']}/pause")
    assert status == 200 and paused["active"] is False and paused["pausedReason"] == "manual"

    sent = [
        event(t, f"evt_pause_{i}")
        for i, t in enumerate(["content.submitted", "content.approved", "content.rejected"] * 2)
    ]
    for e in sent:
        assert ingest(rt, e)[0] == 202
    other.wait_for(len(sent), timeout=20)  # the other subscriber is not held up
    poll(lambda: stats(rt, ep["id"])["queueDepth"] == len(sent), timeout=10, what="six events buffered")
    with pytest.raises(AssertionError):
        rx.wait_for(1, timeout=2)  # longer than a poll: a paused endpoint's queue is not read
    assert stats(rt, ep["id"])["queueDepth"] == len(sent) and attempts(rt, ep["id"]) == []

    status, resumed = admin(rt, "POST", f"/endpoints/{ep['id']}/resume")
    assert status == 200 and resumed["active"] is True and resumed["pausedReason"] is None
    got = rx.wait_for(len(sent), timeout=20)
    settle(rt, [ep["id"], running["id"]])
    assert sorted(ids_of(got)) == sorted(e["id"] for e in sent) and len(rx.requests) == len(sent)


def test_a_repeated_id_is_a_duplicate_and_delivered_once(rt, scratch):
    rx = scratch.receiver()
    ep = scratch.endpoint("dedup", rx.url(), ["user.registered"], secret=SECRET)
    sent = event("user.registered", "evt_dup_1")
    assert ingest(rt, sent) == (
        202,
        {"id": sent["id"], "event": "user.registered", "duplicate": False, "version": 1, "deprecated": False},
    )
    assert ingest(rt, sent) == (
        200,
        {"id": sent["id"], "event": "user.registered", "duplicate": True, "version": 1, "deprecated": False},
    )
    status, body = call(rt, "POST", "/events/batch", {"events": [sent]}, {"x-api-key": rt.api_key})
    assert status == 200, body
    rx.wait_for(1, timeout=15)
    settle(rt, [ep["id"]])
    assert ids_of(rx.requests) == [sent["id"]]
    assert [a["eventId"] for a in attempts(rt, ep["id"])] == [sent["id"]]


def test_200_events_to_3_endpoints_with_30_percent_failures_all_end_delivered_or_dead(rt, scratch):
    subscriptions = [["*"], ["order.*", "product.purchased"], ["user.registered", "review.*", "content.*"]]
    scripts = []
    rxs = []
    for seed in range(len(subscriptions)):
        rng = random.Random(seed)
        script = [Reply(503) if rng.random() < 0.3 else Reply(200) for _ in range(2000)]
        scripts.append(script)
        rxs.append(scratch.receiver(*script))
    eps = [
        scratch.endpoint(f"load {n}", rx.url(), events, secret=SECRET, retryPolicy=FAST_RETRIES, maxConcurrency=10)
        for n, (rx, events) in enumerate(zip(rxs, subscriptions))
    ]
    published = [event(TYPES[i % len(TYPES)], f"evt_load_{i:03d}") for i in range(200)]
    for start in range(0, len(published), 20):
        status, body = call(
            rt, "POST", "/events/batch", {"events": published[start : start + 20]}, {"x-api-key": rt.api_key}
        )
        assert status == 202, body
    expected = [{e["id"] for e in published if subscribes(events, e["event"])} for events in subscriptions]

    def delivered(n: int) -> set[str]:
        rx = rxs[n]
        return {json.loads(q.body)["id"] for i, q in enumerate(list(rx.requests)) if scripts[n][i].status == 200}

    def finished() -> bool:
        return all(
            len(delivered(n)) + stats(rt, ep["id"])["deadLetterDepth"] == len(expected[n]) for n, ep in enumerate(eps)
        )

    poll(finished, timeout=90, what="every event delivered or dead-lettered", interval=0.5)
    settle(rt, [ep["id"] for ep in eps])
    for n, ep in enumerate(eps):
        dead = {d["id"] for d in dead_letters(rt, ep["id"])}
        ok = delivered(n)
        assert not ok & dead, "an event both delivered and dead-lettered"
        assert ok | dead == expected[n] and len(ok) + len(dead) == len(expected[n])
        assert all(d["reason"] == "retries_exhausted" for d in dead_letters(rt, ep["id"]))
        bodies: dict[str, set[bytes]] = defaultdict(set)
        for q in rxs[n].requests:
            event_id = json.loads(q.body)["id"]
            assert q.headers["webhook-id"] == event_id
            bodies[event_id].add(q.body)
        # Repeats (retries, at-least-once) carry the same id and the very same body: no event under two ids.
        assert set(bodies) == expected[n] and all(len(b) == 1 for b in bodies.values())
        twice = sum(1 for i, q in enumerate(rxs[n].requests) if scripts[n][i].status == 200) - len(ok)
        print(
            f"endpoint {n}: {len(expected[n])} events, {len(ok)} delivered, {len(dead)} dead-lettered, "
            f"{len(rxs[n].requests)} requests, {twice} repeated successes"
        )
