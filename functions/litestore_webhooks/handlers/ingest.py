"""Ingest Lambda: POST /events and POST /events/batch (routing only; the work is in `ingest`).

Routes carry no return annotation: Powertools would try to validate a Response as a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from litestore_webhooks import api, ingest
from litestore_webhooks import resources as r
from litestore_webhooks.aws.store import Store
from litestore_webhooks.config import settings
from litestore_webhooks.tracing import Tracer

if TYPE_CHECKING:  # a typing-only import: the module pulls in pydantic, which ingest's cold start avoids
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

logger = Logger()
metrics = Metrics()
tracer = Tracer()
app = api.resolver("Litestore webhooks ingest", validation=False)  # no typed parameters to validate

_ERRORS: dict[int, OpenAPIResponse] = {
    400: {"description": "Invalid JSON or envelope (details list every problem)"},
    413: {"description": f"An event over {r.MAX_EVENT_BYTES} bytes, or a batch body over {r.MAX_BATCH_BODY_BYTES}"},
    415: {"description": "Content-Type is not application/json"},
    503: {"description": "Nothing accepted; retry"},
}


def _answer(outcome: ingest.Outcome) -> Response:
    metrics.add_metric(name="Published", unit=MetricUnit.Count, value=outcome.published)
    return api.json_response(outcome.status, outcome.body)


@app.post(
    "/events",
    summary="Publish one event",
    responses={
        202: {"description": "Accepted"},
        200: {"description": "Duplicate id: already accepted"},
        **_ERRORS,
    },
)
@tracer.capture_method
def post_event():  # noqa: ANN201
    cfg = settings()
    return _answer(ingest.accept_event(cfg, Store(cfg), api.json_body(app, max_bytes=r.MAX_EVENT_BYTES)))


@app.post(
    "/events/batch",
    summary=f"Publish 1-{r.MAX_BATCH_EVENTS} events",
    responses={
        202: {"description": "All accepted"},
        207: {"description": "Some accepted; one result per event"},
        **_ERRORS,
    },
)
@tracer.capture_method
def post_batch():  # noqa: ANN201
    cfg = settings()
    return _answer(ingest.accept_batch(cfg, Store(cfg), api.json_body(app, max_bytes=r.MAX_BATCH_BODY_BYTES)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
