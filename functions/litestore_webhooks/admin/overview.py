"""GET /stats: every endpoint's numbers over a window, the totals, and deliveries over time.

What the console's Overview and Endpoints screens show in one call: per endpoint the outcomes
(delivered / retried / dead-lettered, test sends excluded), success rate, latency percentiles,
queue and dead-letter depth and state; the same summed; and the attempts bucketed in time by
outcome for the chart. A console session limited to some endpoints sees only those.

Bounded: at most MAX_ATTEMPTS_PER_ENDPOINT attempts (newest first) per endpoint and BUDGET_S
seconds of reading; beyond either the answer says `truncated`. Endpoints are read side by
side (botocore clients are thread-safe).
"""

from __future__ import annotations

import contextvars
import time
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from litestore_webhooks.admin import access, common
from litestore_webhooks.admin.stats import parse_window, percentile
from litestore_webhooks.api import json_response
from litestore_webhooks.aws import queues
from litestore_webhooks.aws.store import Store
from litestore_webhooks.core.endpoint import Endpoint, utc_iso
from litestore_webhooks.provisioning import RESOURCES, EndpointResources, load_endpoint

router = Router()
MAX_ATTEMPTS_PER_ENDPOINT = 20_000
BUDGET_S = 15.0
WORKERS = 8
BUCKETS_S = (60, 300, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400)
# Attempt statuses (written by delivery) as the chart's series.
SERIES = {"delivered": "delivered", "retry_scheduled": "retried", "dead_lettered": "deadLettered"}


def bucket_size(window_s: float) -> int:
    """The smallest round bucket that cuts the window into at most ~60 bars."""
    return next((b for b in BUCKETS_S if b >= window_s / 60), BUCKETS_S[-1])


def _rate(delivered: int, attempts: int) -> float | None:
    return round(delivered / attempts, 4) if attempts else None


def _endpoints(st: Store, principal: access.Principal) -> list[tuple[Endpoint, EndpointResources]]:
    if principal.claims is not None and principal.claims.endpoint_ids is not None:
        found = (load_endpoint(st, endpoint_id) for endpoint_id in principal.claims.endpoint_ids)
        return sorted((f for f in found if f is not None), key=lambda f: f[0].createdAt)
    return [
        (Endpoint.from_item(item), EndpointResources.from_item(item.get(RESOURCES))) for item in st.all_endpoint_items()
    ]


def _state(endpoint: Endpoint) -> str:
    if not endpoint.active:
        return f"paused ({(endpoint.pausedReason or 'manual').replace('_', '-')})"
    return "failing" if endpoint.failingSince else "active"


def _one(st: Store, endpoint: Endpoint, res: EndpointResources, since: str, deadline: float) -> dict[str, Any]:
    attempts, truncated = (
        ([], True)
        if time.monotonic() > deadline
        else st.attempt_outcomes(endpoint.id, since=since, limit=MAX_ATTEMPTS_PER_ENDPOINT)
    )
    attempts = [a for a in attempts if not a.get("test")]
    counts = dict.fromkeys(SERIES.values(), 0)
    for a in attempts:
        if a.get("status") in SERIES:
            counts[SERIES[a["status"]]] += 1
    latencies = sorted(a["durationMs"] for a in attempts if isinstance(a.get("durationMs"), int))
    queue, dlq = queues.depth(res.queue_url), queues.depth(res.dlq_url)
    return {
        "id": endpoint.id,
        "name": endpoint.name,
        "url": endpoint.url,
        "state": _state(endpoint),
        "active": endpoint.active,
        "pausedReason": endpoint.pausedReason,
        "failingSince": endpoint.failingSince,
        "consecutiveFailures": endpoint.consecutiveFailures,
        "attempts": len(attempts),
        **counts,
        "successRate": _rate(counts["delivered"], len(attempts)),
        "latencyMs": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99)},
        "queueDepth": queue.visible + queue.delayed,
        "inFlight": queue.in_flight,
        "deadLetterDepth": dlq.visible + dlq.in_flight + dlq.delayed,
        "truncated": truncated,
        "_at": [(a["at"], SERIES.get(a.get("status") or "")) for a in attempts],
        "_latencies": latencies,
    }


def overview(st: Store, principal: access.Principal, window_text: str) -> dict[str, Any]:
    window = parse_window(window_text)
    until = common.now()
    since = until - window
    step = bucket_size(window.total_seconds())
    start = int(since.timestamp()) // step * step
    deadline = time.monotonic() + BUDGET_S
    endpoints = _endpoints(st, principal)
    from concurrent.futures import ThreadPoolExecutor  # this route's alone: not on the cold start

    contexts = [contextvars.copy_context() for _ in endpoints]  # the invocation's log keys (and caller) go along
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        rows = list(
            pool.map(lambda ctx, f: ctx.run(_one, st, f[0], f[1], utc_iso(since), deadline), contexts, endpoints)
        )
    n = (int(until.timestamp()) - start) // step + 1
    series: dict[str, list[int]] = {name: [0] * n for name in SERIES.values()}
    latencies: list[int] = []
    for row in rows:
        for at, name in row.pop("_at"):
            if name:
                i = (int(datetime.fromisoformat(at).timestamp()) - start) // step
                series[name][min(max(i, 0), n - 1)] += 1
        latencies += row.pop("_latencies")
    latencies.sort()
    total = {
        name: sum(r[name] for r in rows) for name in ("attempts", *SERIES.values(), "deadLetterDepth", "queueDepth")
    }
    return {
        "window": window_text,
        "since": utc_iso(since),
        "until": utc_iso(until),
        "totals": {
            **total,
            "successRate": _rate(total["delivered"], total["attempts"]),
            "latencyMs": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99)},
            "endpoints": len(rows),
            "active": sum(r["active"] for r in rows),
            "paused": sum(not r["active"] for r in rows),
            "failing": sum(bool(r["active"] and r["failingSince"]) for r in rows),
        },
        "series": {"bucketSeconds": step, "time": [start + i * step for i in range(n)], **series},
        "endpoints": rows,
        "truncated": any(r["truncated"] for r in rows),
    }


@router.get(
    "/stats", summary="Every endpoint's delivery numbers over a window, totals, deliveries over time", tags=["stats"]
)
def get_overview(  # noqa: ANN201 - a Response annotation would be validated as the body
    window: Annotated[str, Query(max_length=8, description="Nm, Nh or Nd, at most 14d")] = "24h",
):
    return json_response(200, overview(common.store(), access.current(), window))
