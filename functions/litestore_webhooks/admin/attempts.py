"""Attempt log: /endpoints/{id}/attempts (paged, newest first) and /events/{id}/attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from litestore_webhooks.admin import access, common
from litestore_webhooks.admin.common import Cursor, IsoTime, Limit
from litestore_webhooks.api import json_response
from litestore_webhooks.aws.store import ATTEMPT_READ_BUDGET, AttemptMatch, Store
from litestore_webhooks.core.endpoint import utc_iso
from litestore_webhooks.core.errors import ValidationFailed

router = Router()
_TAGS = ["attempts"]
# What ?status= means, as the stored statuses delivery writes (litestore_webhooks.delivery):
# "failed" is every unsuccessful attempt (a retry scheduled, a dead letter, a failed test send).
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "delivered": ("delivered",),
    "failed": ("retry_scheduled", "dead_lettered", "failed"),
    "retry_scheduled": ("retry_scheduled",),
    "dead_lettered": ("dead_lettered",),
}
# A literal, so a typo in ?status= is a 400 naming the choices, not an empty list.
AttemptStatus = Literal["delivered", "failed", "retry_scheduled", "dead_lettered"]
# An exact event type or "namespace.*" (or "*"). Not checked against the catalog: the attempt
# log keeps attempts of types that may have left it.
EVENT_TYPE_FILTER = r"^(\*|[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*(\.\*)?)$"
LISTING = f"""Newest first. `since` and `until` select the time range [since, until); `status`, `eventType`
are applied before paging: a page holds up to `limit` matching attempts. A filtered page reads at
most {ATTEMPT_READ_BUDGET:,} attempts of the range; when it has read them without finding `limit`
matches it returns the ones it found (possibly none) and a `nextCursor` to go on from. The listing
is complete when `nextCursor` is null."""


def for_endpoint(
    st: Store,
    endpoint_id: str,
    *,
    status: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    common.endpoint_or_404(st, endpoint_id)
    if since and until and since > until:
        raise ValidationFailed([{"path": "query.until", "message": "must not be before since"}])
    match = AttemptMatch(STATUS_FILTERS[status] if status else (), event_type)
    return common.attempts_page(
        st.attempts_for_endpoint(
            endpoint_id,
            since=_key(since),
            until=_key(until),
            match=match,
            limit=limit,
            cursor=cursor,
        )
    )


def _key(moment: datetime | None) -> str | None:
    return utc_iso(moment) if moment else None


def for_event(st: Store, event_id: str, principal: access.Principal = access.ADMIN) -> dict[str, Any]:
    """Every attempt for an event (that the caller may see), oldest first. No 404: test events are logged but never stored."""
    items = sorted(
        (i for i in st.attempts_for_event(event_id) if principal.sees(i["endpointId"])), key=lambda i: i["attemptKey"]
    )
    return {"data": [common.attempt_view(i) for i in items]}


@router.get(
    "/endpoints/<endpoint_id>/attempts",
    summary="An endpoint's delivery attempts, newest first",
    tags=_TAGS,
    description=LISTING,
)
def get_endpoint_attempts(  # noqa: ANN201 - a Response annotation would be validated as the body
    endpoint_id: str,
    status: Annotated[
        AttemptStatus | None,
        Query(
            description="delivered, retry_scheduled or dead_lettered exactly; failed: every unsuccessful attempt "
            "(retry_scheduled, dead_lettered and failed test sends)"
        ),
    ] = None,
    event_type: Annotated[
        str | None,
        Query(
            alias="eventType", max_length=100, pattern=EVENT_TYPE_FILTER, description='An event type, or "namespace.*"'
        ),
    ] = None,
    since: Annotated[IsoTime | None, Query(description="Only attempts at or after this ISO-8601 time")] = None,
    until: Annotated[IsoTime | None, Query(description="Only attempts before this ISO-8601 time")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    return json_response(
        200,
        for_endpoint(
            common.store(),
            endpoint_id,
            status=status,
            event_type=event_type,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        ),
    )


@router.get("/events/<event_id>/attempts", summary="Every delivery attempt of one event", tags=_TAGS)
def get_event_attempts(event_id: str):  # noqa: ANN201
    return json_response(200, for_event(common.store(), event_id, access.current()))
