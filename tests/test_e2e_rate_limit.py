"""Issue 19 item 2 end to end through the local runtime, over HTTP: an endpoint's rateLimit holds
over more than 20 s of backlog (received rate at most 10% above it) while another endpoint on the
same events is not slowed; the endpoint's custom headers arrive with every delivery."""

from __future__ import annotations

import time

from tests.local_stack import (
    event,
    rt,  # noqa: F401 - the module-scoped runtime fixture
    scratch,  # noqa: F401 - per-test receivers and endpoints, removed afterwards
)
from tests.test_local_runtime import admin, call

RATE = 5.0  # events per second
EVENTS = 125  # at RATE: about 25 s


def busiest_window(times: list[float], width_s: float) -> int:
    """The most arrivals in any `width_s`-long window."""
    return max(sum(1 for u in times if t <= u < t + width_s) for t in times)


def test_rate_limited_endpoint_holds_its_rate_and_another_endpoint_is_not_slowed(rt, scratch):
    limited_rx, free_rx = scratch.receiver(), scratch.receiver()
    limited = scratch.endpoint(
        "rate limited",
        limited_rx.url(),
        ["order.completed"],
        rateLimit=RATE,
        maxConcurrency=2,
        headers={"X-Tenant": "acme"},
        sensitiveHeaders={"Authorization": "Bearer e2e-token"},
    )
    assert limited["rateLimit"] == RATE
    assert limited["sensitiveHeaders"] == {"Authorization": "[redacted]"}
    scratch.endpoint("not limited", free_rx.url(), ["order.completed"])
    started = time.time()
    events = [event("order.completed", f"evt_rate_{n}") for n in range(EVENTS)]
    for i in range(0, EVENTS, 25):  # the backlog at once: batches of 25
        status, _ = call(rt, "POST", "/events/batch", {"events": events[i : i + 25]}, {"x-api-key": rt.api_key})
        assert status == 202
    published = time.time()

    free = free_rx.wait_for(EVENTS, timeout=60)
    got = limited_rx.wait_for(EVENTS, timeout=90)
    times = sorted(q.at for q in got)
    span = times[-1] - times[0]
    rate = (len(times) - 1) / span
    print(
        f"published {EVENTS} in {published - started:.1f} s; limited endpoint: {rate:.2f}/s over {span:.1f} s, "
        f"busiest 5 s: {busiest_window(times, 5)}; free endpoint done {max(q.at for q in free) - started:.1f} s "
        "after the first publish"
    )
    assert span >= 20
    assert rate <= RATE * 1.1
    assert busiest_window(times, 5.0) <= RATE * 5 * 1.1
    assert rate >= RATE * 0.7  # paced, not starved
    # The free endpoint had everything while the limited one was still far from done.
    assert max(q.at for q in free) < times[len(times) // 2]
    assert all(
        q.headers.get("X-Tenant") == "acme" and q.headers.get("Authorization") == "Bearer e2e-token" for q in got
    )
    status, listed = admin(rt, "GET", f"/endpoints/{limited['id']}")
    assert status == 200 and listed["sensitiveHeaders"] == {"Authorization": "[redacted]"}
    assert "e2e-token" not in str(admin(rt, "GET", "/endpoints")[1])
