"""Admin Lambda: routing only; each resource lives in `litestore_webhooks.admin.<resource>`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from litestore_webhooks import api
from litestore_webhooks.admin import attempts, dead_letters, docs, endpoints, event_types, events, replay, secrets, send_test, stats

logger = Logger()
app = api.resolver(docs.TITLE)
for module in (event_types, endpoints, send_test, secrets, attempts, events, dead_letters, replay, stats):
    app.include_router(module.router)
docs.install(app)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
