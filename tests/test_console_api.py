"""What the console screens read from the admin API, end to end on the local runtime:
GET /stats (per endpoint and in total, deliveries over time by outcome) and each attempt's
request headers (what the receiver really got, signatures redacted)."""

from __future__ import annotations

from datetime import datetime

import pytest
from tests.local_stack import FAST_RETRIES, attempts, dead_letters, event, get, poll, rt, scratch, settle  # noqa: F401
from tests.receivers import Reply
from tests.test_local_runtime import admin, ingest

from litestore_webhooks.admin.overview import bucket_size
from litestore_webhooks.core import signing


@pytest.mark.parametrize(
    "window_s, bucket",
    [(3600, 60), (6 * 3600, 900), (24 * 3600, 1800), (7 * 86400, 10_800), (14 * 86400, 21_600), (600, 60)],
)
def test_buckets_cut_a_window_into_at_most_about_60_bars(window_s, bucket):
    assert bucket_size(window_s) == bucket and window_s / bucket <= 60


def test_stats_count_outcomes_per_endpoint_and_over_time(rt, scratch):
    good = scratch.receiver()
    flaky = scratch.receiver(Reply(503), default=Reply(200))
    bad = scratch.receiver(default=Reply(400))
    ids = {
        "good": scratch.endpoint("stats good", good.url(), ["order.*"])["id"],
        "flaky": scratch.endpoint("stats flaky", flaky.url(), ["order.*"], retryPolicy=FAST_RETRIES)["id"],
        "bad": scratch.endpoint("stats bad", bad.url(), ["order.*"])["id"],
    }
    for n in range(3):
        assert ingest(rt, event("order.updated", f"evt_stats_{n}"))[0] == 202
    poll(lambda: len(dead_letters(rt, ids["bad"])) == 3, timeout=30, what="3 dead letters")
    settle(rt, ids.values())
    assert admin(rt, "POST", f"/endpoints/{ids['good']}/test", {"event": "order.updated"})[0] == 200  # not counted

    stats = get(rt, "/stats?window=1h")
    rows = {row["id"]: row for row in stats["endpoints"] if row["id"] in ids.values()}
    expect = {"good": (3, 3, 0, 0), "flaky": (4, 3, 1, 0), "bad": (3, 0, 0, 3)}
    for name, (attempts_n, delivered, retried, dead) in expect.items():
        row = rows[ids[name]]
        assert (row["attempts"], row["delivered"], row["retried"], row["deadLettered"]) == (
            attempts_n,
            delivered,
            retried,
            dead,
        ), name
        assert row["successRate"] == round(delivered / attempts_n, 4)
        assert row["state"] == ("failing" if name == "bad" else "active"), name  # no success since its failures
    assert rows[ids["bad"]]["deadLetterDepth"] == 3 and rows[ids["good"]]["deadLetterDepth"] == 0
    series = stats["series"]
    assert series["bucketSeconds"] == 60 and len(series["time"]) == len(series["delivered"]) >= 60
    assert sum(series["delivered"]) >= 6 and sum(series["retried"]) >= 1 and sum(series["deadLettered"]) >= 3
    assert (
        series["time"] == sorted(series["time"])
        and series["time"][-1] <= datetime.fromisoformat(stats["until"]).timestamp()
    )
    totals = stats["totals"]
    assert totals["attempts"] == sum(r["attempts"] for r in stats["endpoints"])
    assert totals["deadLetterDepth"] >= 3 and totals["latencyMs"]["p50"] is not None
    assert admin(rt, "GET", "/stats?window=15d")[0] == 400


def test_paused_and_failing_endpoints_show_their_state(rt, scratch):
    rx = scratch.receiver(default=Reply(503))
    failing = scratch.endpoint("stats failing", rx.url(), ["review.*"], retryPolicy=FAST_RETRIES)["id"]
    paused = scratch.endpoint("stats paused", rx.url(), ["review.*"], active=False)["id"]
    assert ingest(rt, event("review.created", "evt_stats_failing"))[0] == 202
    poll(lambda: get(rt, f"/endpoints/{failing}")["failingSince"], timeout=30, what="a failure streak")
    rows = {r["id"]: r for r in get(rt, "/stats?window=1h")["endpoints"]}
    assert rows[failing]["state"] == "failing" and rows[paused]["state"] == "paused (manual)"
    totals = get(rt, "/stats?window=1h")["totals"]
    assert totals["failing"] >= 1 and totals["paused"] >= 1


def test_an_attempts_request_headers_are_the_ones_the_receiver_got_minus_signatures(rt, scratch):
    rx = scratch.receiver()
    endpoint = scratch.endpoint("headers", rx.url(), ["content.*"], secret="headers-secret-123")
    assert ingest(rt, event("content.approved", "evt_headers_1"))[0] == 202
    (received,) = rx.wait_for(1)
    (attempt,) = poll(lambda: attempts(rt, endpoint["id"]), timeout=10, what="the attempt")
    shown = attempt["requestHeaders"]
    sent = {k: v for k, v in received.headers.items() if k in shown}
    assert set(shown) >= {
        "Content-Type",
        "User-Agent",
        "X-Litestore-Event",
        "X-Litestore-Event-Id",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "X-Litestore-Signature",
    }
    for name, value in shown.items():
        if name in signing.SIGNATURE_HEADERS:
            assert value == "(redacted)" and received.headers[name] != value
        else:
            assert sent[name] == value, name
    assert "headers-secret-123" not in str(attempt)
    test_send = admin(rt, "POST", f"/endpoints/{endpoint['id']}/test", {"event": "content.approved"})[1]
    assert test_send["test"] is True
    (test_attempt,) = [a for a in attempts(rt, endpoint["id"]) if a["test"]]
    assert (
        test_attempt["requestHeaders"][signing.TEST_HEADER] == "true" == rx.wait_for(2)[1].headers[signing.TEST_HEADER]
    )
