"""POST /endpoints/{id}/test: the stored catalog's example for a type, sent once through the real delivery path."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body as BodyParam
from pydantic import Field

from litestore_webhooks.admin import common
from litestore_webhooks.api import json_response
from litestore_webhooks.aws.store import Store
from litestore_webhooks.core.canonical import canonical_bytes
from litestore_webhooks.core.envelope import format_timestamp, new_event_id
from litestore_webhooks.core.errors import ApiError, ValidationFailed
from litestore_webhooks.core.event_types.names import unknown_type_message

router = Router()


class TestEvent(common.Body):
    event: str = Field(description="An event type from GET /event-types")


def send_test(st: Store, endpoint_id: str, event_type: str) -> dict[str, Any]:
    """A fresh id ("evt_test_...") and timestamp on the example, so receivers' dedupe does not swallow it.

    Test events are not stored and not published: only this endpoint receives them.
    """
    # Imported here: the delivery path (sender, signing, metrics, tracer) is this route's alone,
    # so the admin function's cold start does not pay for it.
    from litestore_webhooks import delivery

    endpoint, secrets = common.endpoint_and_secrets_or_404(st, common.secret_box(), endpoint_id)
    catalog = common.catalog_store()
    stored = catalog.get(event_type)
    if stored is None:
        names = {doc["name"] for doc in catalog.type_docs()}
        raise ValidationFailed([{"path": "event", "message": unknown_type_message(event_type, names)}])
    if not stored.examples:
        raise ApiError(
            409,
            "no_example",
            f"event type {event_type!r} has no example to send; add one with "
            f"PATCH /event-types/{event_type} (examples)",
        )
    example = stored.examples[0]
    event_id = "evt_test_" + new_event_id().removeprefix("evt_")
    envelope = {**example, "id": event_id, "timestamp": format_timestamp(common.now())}
    return delivery.deliver_now(
        endpoint, secrets, canonical_bytes(envelope), event_id, event_type, attempt=1, test=True
    )


@router.post("/endpoints/<endpoint_id>/test", summary="Send a test event now; returns the attempt", tags=["endpoints"])
def post_test(endpoint_id: str, request: Annotated[TestEvent, BodyParam()]):  # noqa: ANN201 - not the body
    return json_response(200, send_test(common.store(), endpoint_id, request.event))
