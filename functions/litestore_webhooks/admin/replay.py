"""Re-delivery of stored events to ONE endpoint: POST /endpoints/{id}/replay (and the helper resend uses).

Only the endpoint's own queue is written, so other subscribers never see a replay. Each
event's delivered marker for that endpoint is cleared first, or delivery would skip it.

Bounds: at most MAX_REPLAY events and REPLAY_BUDGET_S seconds per call (API Gateway gives
up at 29 s); the rest is reported as `truncated` with `nextSince` to continue from. Pacing:
message n is sent with DelaySeconds = n // REPLAY_RATE_PER_S, so a full replay reaches the
endpoint spread over ~500 s rather than at once, on top of the endpoint's maxConcurrency.
"""

from __future__ import annotations

import time
from datetime import timedelta
from itertools import islice
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body as BodyParam
from pydantic import Field

from litestore_webhooks.admin import common
from litestore_webhooks.api import json_response
from litestore_webhooks.aws import queues
from litestore_webhooks.aws.store import Store
from litestore_webhooks.core.endpoint import Endpoint, subscribes
from litestore_webhooks.core.errors import ValidationFailed
from litestore_webhooks.core.event_types.names import validate_patterns
from litestore_webhooks.provisioning import EndpointResources

router = Router()
MAX_REPLAY = 10_000
REPLAY_RATE_PER_S = 20
REPLAY_BUDGET_S = 20.0
_CHUNK = 100


class Replay(common.Body):
    since: common.IsoTime = Field(description="ISO-8601; events received at or after this time")
    until: common.IsoTime = Field(description="ISO-8601; events received before this time")
    events: list[str] | None = Field(None, description='Only these types/patterns ("order.*"), within the subscription')


def enqueue(
    st: Store, endpoint: Endpoint, res: EndpointResources, items: list[dict[str, Any]], *, first_index: int = 0
) -> int:
    """Clear the delivered markers of stored `items` for this endpoint and send them to its queue; returns failures."""
    st.clear_delivered_many(endpoint.id, (i["id"] for i in items))
    outgoing = [
        queues.OutgoingMessage(i["id"], i["body"], {queues.EVENT: i["event"]}, (first_index + n) // REPLAY_RATE_PER_S)
        for n, i in enumerate(items)
    ]
    return sum(1 for error in queues.send_batch(res.queue_url, outgoing).values() if error)


def replay(st: Store, endpoint_id: str, request: Replay) -> dict[str, Any]:
    endpoint, res = common.endpoint_or_404(st, endpoint_id)
    since, until = common.utc(request.since), common.utc(request.until)
    if since >= until:
        raise ValidationFailed([{"path": "until", "message": "must be after since"}])
    if request.events is not None:
        catalog = common.catalog()
        validate_patterns(request.events, catalog.names, catalog.deprecated)
    # Only the retention window can hold events: scanning the byDay index from year 1 (or up to
    # year 9999) would take one query per day and outlive the API's 29 s.
    now = common.now()
    scan_since = max(since, now - timedelta(days=st.settings.event_retention_days + 1))
    scan_until = min(until, now + timedelta(minutes=1))
    wanted = (
        i
        for i in (st.events_between(scan_since, scan_until) if scan_since < scan_until else ())
        if subscribes(endpoint.events, i["event"])
        and (request.events is None or subscribes(request.events, i["event"]))
    )
    deadline = time.monotonic() + REPLAY_BUDGET_S
    queued = failed = 0
    while (room := MAX_REPLAY - queued - failed) and time.monotonic() < deadline:
        chunk = list(islice(wanted, min(_CHUNK, room)))
        if not chunk:
            break
        errors = enqueue(st, endpoint, res, chunk, first_index=queued + failed)
        failed += errors
        queued += len(chunk) - errors
    rest = next(wanted, None)
    next_since = rest["receivedAt"] if rest else None
    return {"queued": queued, "failed": failed, "truncated": next_since is not None, "nextSince": next_since}


@router.post(
    "/endpoints/<endpoint_id>/replay", summary="Re-deliver stored events to this endpoint only", tags=["replay"]
)
def post_replay(endpoint_id: str, request: Annotated[Replay, BodyParam()]):  # noqa: ANN201 - not validated as body
    return json_response(200, replay(common.store(), endpoint_id, request))
