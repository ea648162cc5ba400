"""Console authorizer: API Gateway's REQUEST authorizer on the console routes.

Admits a request only with a console token the stack's key signed and that has not expired,
carried in the X-Litestore-Session header or, with the console's CSRF header, the session
cookie. A link token may only be exchanged (POST /console/session); a session token may do
anything but that. The verified claims go to the admin function in the authorizer context,
which holds the session to its scope (read-only, endpoints). Caching is off (TTL 0), so every
call is checked and a rotated key takes effect at once.

Raising "Unauthorized" is how an authorizer makes API Gateway answer 401; a Deny policy is a 403.
Imports nothing heavy: this runs before every console call.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger

from litestore_webhooks.aws import console_key
from litestore_webhooks.config import settings
from litestore_webhooks.core import portal

logger = Logger()
EXCHANGE = ("/console/session", "POST")


def policy(principal: str, effect: str, method_arn: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn},
            ],
        },
    }
    if context:
        answer["context"] = context
    return answer


def decide(event: dict[str, Any], key: bytes, now: int) -> dict[str, Any]:
    """The authorizer's answer for one REQUEST event; raises Exception("Unauthorized") for 401."""
    headers = event.get("headers") or {}
    token, via_cookie = portal.token_from_headers(headers)
    if not token:
        raise Exception("Unauthorized")  # noqa: TRY002 - the exact message API Gateway maps to 401
    try:
        claims = portal.verify(token, key, now=now)
    except portal.TokenError as exc:
        logger.info("console token refused", extra={"reason": exc.reason})
        raise Exception("Unauthorized") from None  # noqa: TRY002
    arn = event.get("methodArn", "")
    exchange = (event.get("resource"), (event.get("httpMethod") or "").upper()) == EXCHANGE
    allowed = (claims.kind == portal.LINK) == exchange and (not via_cookie or portal.csrf_ok(headers))
    if not allowed:
        logger.info(
            "console token denied", extra={"kind": claims.kind, "resource": event.get("resource"), "cookie": via_cookie}
        )
        return policy(f"console:{claims.id}", "Deny", arn)
    return policy(
        f"console:{claims.id}", "Allow", arn, {"claims": claims.to_json(), "via": "cookie" if via_cookie else "header"}
    )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # An unreadable key raises KeyUnavailable: API Gateway answers 500 and lets nobody in.
    return decide(event, console_key.current(settings().console_key_secret), int(time.time()))
