"""/events/{id}: a stored event, and POST /events/{id}/resend to chosen endpoints."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body as BodyParam
from pydantic import Field

from litestore_webhooks.admin import access, common
from litestore_webhooks.admin.replay import enqueue
from litestore_webhooks.api import json_response
from litestore_webhooks.aws.store import Store
from litestore_webhooks.core.endpoint import subscribes
from litestore_webhooks.core.envelope import ID_PATTERN
from litestore_webhooks.core.errors import ApiError, ValidationFailed
from litestore_webhooks.provisioning import load_endpoint

router = Router()
_TAGS = ["events"]


class Resend(common.Body):
    endpointIds: list[str] = Field(min_length=1, max_length=100)


def _stored(st: Store, event_id: str) -> dict[str, Any]:
    # An id ingest would refuse is never stored; DynamoDB would refuse an over-2 KB key with a 500.
    item = st.get_event_item(event_id) if ID_PATTERN.fullmatch(event_id) else None
    if item is None:
        raise _not_stored(event_id)
    return item


def _not_stored(event_id: str) -> ApiError:
    return ApiError(404, "not_found", f"event {event_id} is not stored (unknown, or older than the retention period)")


def _visible(st: Store, item: dict[str, Any], principal: access.Principal) -> dict[str, Any]:
    """A console session limited to some endpoints sees only events one of them subscribes to."""
    claims = principal.claims
    if claims is not None and claims.endpoint_ids is not None:
        subscribed = (found[0].events for found in (load_endpoint(st, e) for e in claims.endpoint_ids) if found)
        if not any(subscribes(events, item["event"]) for events in subscribed):
            raise _not_stored(item["id"])
    return item


def show(st: Store, event_id: str, principal: access.Principal = access.ADMIN) -> dict[str, Any]:
    item = _visible(st, _stored(st, event_id), principal)
    return {k: item[k] for k in ("id", "event", "timestamp", "receivedAt")} | {"payload": json.loads(item["body"])}


def resend(
    st: Store, event_id: str, endpoint_ids: list[str], principal: access.Principal = access.ADMIN
) -> dict[str, Any]:
    """Queue the stored event for each endpoint again; all endpoints are checked before any is sent."""
    item = _stored(st, event_id)
    targets, problems = [], []
    for n, endpoint_id in enumerate(dict.fromkeys(endpoint_ids)):
        found = load_endpoint(st, endpoint_id) if principal.sees(endpoint_id) else None
        if found is None:
            problems.append({"path": f"endpointIds[{n}]", "message": f"endpoint {endpoint_id} does not exist"})
        elif not subscribes(found[0].events, item["event"]):
            problems.append(
                {
                    "path": f"endpointIds[{n}]",
                    "message": f"endpoint {endpoint_id} does not subscribe to {item['event']}",
                }
            )
        else:
            targets.append(found)
    if problems:
        raise ValidationFailed(problems)
    failed = [endpoint.id for endpoint, res in targets if enqueue(st, endpoint, res, [item])]
    if failed:
        raise ApiError(
            503, "send_failed", "could not queue the event for some endpoints; retry them", {"failed": failed}
        )
    return {"queued": len(targets)}


@router.get("/events/<event_id>", summary="A stored event with its payload", tags=_TAGS)
def get_event(event_id: str):  # noqa: ANN201 - a Response annotation would be validated as the body
    return json_response(200, show(common.store(), event_id, access.current()))


@router.post("/events/<event_id>/resend", summary="Deliver a stored event again to chosen endpoints", tags=_TAGS)
def post_resend(event_id: str, request: Annotated[Resend, BodyParam()]):  # noqa: ANN201
    return json_response(200, resend(common.store(), event_id, request.endpointIds, access.current()))
