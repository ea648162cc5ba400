"""Drive the admin Lambda handler with API Gateway REST proxy events (stage "prod")."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit


class Context:
    function_name = "admin"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:admin"
    aws_request_id = "req-1"


def event(method: str, target: str, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A REST proxy event for `target` (path plus optional ?query); dict/list bodies are sent as JSON."""
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True)) or None
    headers = {"Content-Type": "application/json", **(headers or {})} if body is not None else dict(headers or {})
    return {
        "resource": "/{proxy+}",
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": parts.path.lstrip("/")},
        "stageVariables": None,
        # As API Gateway passes an IAM-authorized caller (the admin routes' authorization).
        "requestContext": {
            "requestId": "req-1",
            "stage": "prod",
            "path": f"/prod{parts.path}",
            "httpMethod": method,
            "identity": {"userArn": "arn:aws:iam::123456789012:user/admin", "caller": "admin"},
        },
        "body": body if isinstance(body, str) or body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def call(
    method: str, target: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """(status, parsed JSON body or text, headers)."""
    from litestore_webhooks.handlers import admin

    resp = admin.handler(event(method, target, body, headers), Context())
    text = resp.get("body") or ""
    try:
        parsed: Any = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return (
        resp["statusCode"],
        parsed,
        {k: v for k, v in (resp.get("multiValueHeaders") or {}).items()} | (resp.get("headers") or {}),
    )
