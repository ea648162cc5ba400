"""/event-types: the catalog, with each type's data schema and a full example envelope."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from litestore_webhooks.api import json_response
from litestore_webhooks.core import catalog

router = Router()


@router.get("/event-types", summary="List event types with schemas and examples", tags=["event types"])
def get_event_types():  # noqa: ANN201 - a Response annotation would be validated as the body
    data = [
        {"name": t.name, "description": t.description, "schema": t.schema, "example": t.example}
        for t in catalog.CATALOG.values()
    ]
    return json_response(200, {"data": data})
