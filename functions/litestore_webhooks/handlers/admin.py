"""Admin Lambda: who is calling (admin.access), then routing; each resource lives in `litestore_webhooks.admin.<resource>`.

The console's session mount (/console/api/...) is the same app: its prefix is cut and the
request is routed like any other, held to the session's scope.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from litestore_webhooks import api
from litestore_webhooks import resources as r
from litestore_webhooks.admin import (
    access,
    attempts,
    dead_letters,
    docs,
    endpoints,
    event_types,
    events,
    overview,
    replay,
    secrets,
    send_test,
    stats,
)
from litestore_webhooks.console import routes as console
from litestore_webhooks.core.errors import ApiError

logger = Logger()
app = api.resolver(docs.TITLE)
for module in (
    event_types,
    endpoints,
    send_test,
    secrets,
    attempts,
    events,
    dead_letters,
    replay,
    stats,
    overview,
    console,
):
    app.include_router(module.router)
docs.install(app)
_MOUNT = f"{r.CONSOLE_API_PREFIX}/{{proxy+}}"


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    method = (event.get("httpMethod") or "").upper()
    try:
        principal = access.principal_of(event)
        event = api.unmounted(event, _MOUNT, r.CONSOLE_API_PREFIX)
        rule, params = app.route_for(method, event.get("path") or "/")
        access.check(principal, method, rule, params)
    except ApiError as exc:
        return api.error_event(exc)
    with access.acting_as(principal):
        return app.resolve(event, context)
