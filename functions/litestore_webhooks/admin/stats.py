"""GET /endpoints/{id}/stats: outcomes over a window from the attempt log (test sends excluded), plus live queue depths."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from litestore_webhooks.admin import common
from litestore_webhooks.api import json_response
from litestore_webhooks.aws import queues
from litestore_webhooks.aws.store import Store
from litestore_webhooks.core.endpoint import utc_iso
from litestore_webhooks.core.errors import ValidationFailed

router = Router()
MAX_WINDOW = timedelta(days=14)
MAX_ATTEMPTS_READ = 100_000  # beyond this the numbers cover the newest attempts only ("truncated")
_WINDOW = re.compile(r"([1-9][0-9]{0,5})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
# Attempt-record fields written by delivery.
STATUS_CODE = "httpStatus"
DURATION_MS = "durationMs"


def parse_window(text: str) -> timedelta:
    match = _WINDOW.fullmatch(text)
    window = timedelta(**{_UNITS[match[2]]: int(match[1])}) if match else None
    if window is None or window > MAX_WINDOW:
        raise ValidationFailed([{"path": "query.window", "message": "must be Nm, Nh or Nd (N >= 1), at most 14d"}])
    return window


def status_class(code: int | None) -> str:
    return f"{code // 100}xx" if code and 200 <= code <= 599 else "network"


def percentile(sorted_values: list[int], p: float) -> int | None:
    """Nearest-rank percentile; None when there is nothing to rank."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil
    return sorted_values[int(rank) - 1]


def stats(st: Store, endpoint_id: str, window_text: str) -> dict[str, Any]:
    window = parse_window(window_text)
    endpoint, res = common.endpoint_or_404(st, endpoint_id)
    since = utc_iso(common.now() - window)
    classes = dict.fromkeys(("2xx", "3xx", "4xx", "5xx", "network"), 0)
    latencies: list[int] = []
    cursor, read = None, 0
    while read < MAX_ATTEMPTS_READ:
        p = st.attempts_for_endpoint(endpoint_id, since=since, limit=1000, cursor=cursor)
        for item in (i for i in p.items if not i.get("test")):  # test sends are not deliveries
            classes[status_class(item.get(STATUS_CODE))] += 1
            if isinstance(item.get(DURATION_MS), int):
                latencies.append(item[DURATION_MS])
        read += len(p.items)
        cursor = p.cursor
        if not cursor:
            break
    latencies.sort()
    queue, dlq = queues.depth(res.queue_url), queues.depth(res.dlq_url)
    attempts = sum(classes.values())
    return {
        "window": window_text,
        "attempts": attempts,
        "delivered": classes["2xx"],
        "failed": attempts - classes["2xx"],
        "byStatusClass": classes,
        "latencyMs": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99)},
        "queueDepth": queue.visible + queue.delayed,
        "inFlight": queue.in_flight,
        "deadLetterDepth": dlq.visible + dlq.in_flight + dlq.delayed,
        "active": endpoint.active,
        "pausedReason": endpoint.pausedReason,
        "truncated": cursor is not None,
    }


@router.get(
    "/endpoints/<endpoint_id>/stats", summary="Delivery numbers over a window, queue depths, state", tags=["stats"]
)
def get_stats(  # noqa: ANN201 - a Response annotation would be validated as the body
    endpoint_id: str, window: Annotated[str, Query(max_length=8, description="Nm, Nh or Nd, at most 14d")] = "24h"
):
    return json_response(200, stats(common.store(), endpoint_id, window))
