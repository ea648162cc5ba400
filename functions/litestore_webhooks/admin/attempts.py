"""Attempt log: /endpoints/{id}/attempts (paged, newest first) and /events/{id}/attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from litestore_webhooks.admin import access, common
from litestore_webhooks.admin.common import Cursor, Limit
from litestore_webhooks.api import json_response
from litestore_webhooks.aws.store import Store
from litestore_webhooks.core.endpoint import utc_iso

router = Router()
_TAGS = ["attempts"]
# The statuses delivery writes (litestore_webhooks.delivery), so a typo in ?status= is a 400, not an empty list.
AttemptStatus = Literal["delivered", "retry_scheduled", "dead_lettered", "failed"]


def for_endpoint(
    st: Store, endpoint_id: str, *, status: str | None, since: datetime | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    common.endpoint_or_404(st, endpoint_id)
    since_key = utc_iso(common.utc(since)) if since else None
    return common.attempts_page(
        st.attempts_for_endpoint(endpoint_id, since=since_key, status=status, limit=limit, cursor=cursor)
    )


def for_event(st: Store, event_id: str, principal: access.Principal = access.ADMIN) -> dict[str, Any]:
    """Every attempt for an event (that the caller may see), oldest first. No 404: test events are logged but never stored."""
    items = sorted((i for i in st.attempts_for_event(event_id) if principal.sees(i["endpointId"])),
                   key=lambda i: i["attemptKey"])
    return {"data": [common.attempt_view(i) for i in items]}


@router.get("/endpoints/<endpoint_id>/attempts", summary="An endpoint's delivery attempts, newest first", tags=_TAGS)
def get_endpoint_attempts(  # noqa: ANN201 - a Response annotation would be validated as the body
    endpoint_id: str,
    status: Annotated[AttemptStatus | None, Query(description="Only attempts with this status")] = None,
    since: Annotated[common.Moment | None, Query(description="Only attempts at or after this ISO-8601 time")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    return json_response(200, for_endpoint(common.store(), endpoint_id, status=status, since=since, limit=limit, cursor=cursor))


@router.get("/events/<event_id>/attempts", summary="Every delivery attempt of one event", tags=_TAGS)
def get_event_attempts(event_id: str):  # noqa: ANN201
    return json_response(200, for_event(common.store(), event_id, access.current()))
