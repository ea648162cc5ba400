"""GET /openapi.json and GET /docs (Swagger UI): public, so they open in a browser.

They describe the API and disclose nothing secret (docs/architecture.md, "Who may call what").
The document is Powertools' own from the admin routes, with the ingest resolver's routes
merged in, the error shape the API really answers, and the security schemes: the admin
scheme (a bearer admin token on the local runtime, SigV4 when deployed), the ingest API key,
and the console session.

The page is Swagger UI as Powertools bundles it (swagger-ui-dist 5.31 in Powertools 3.37),
served from this function as separate files, gzip-compressed, under a CSP without inline
script: nothing is fetched from a CDN at run time. Built on request, so that a cold start
imports none of it: Powertools' OpenAPI models (~50 ms) and the ingest handler load with the
first docs request.
"""

from __future__ import annotations

import html
import json
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from litestore_webhooks import resources as r
from litestore_webhooks.config import settings
from litestore_webhooks.core import portal
from litestore_webhooks.core.event_types.names import NAME_PATTERN

TITLE = "Litestore webhooks admin API"
_DOCS_DIR = Path(__file__).with_name("docs_static")
# name -> (content type, where the file lives): Powertools' Swagger UI files and our init script.
_ASSETS = {
    "swagger-ui-bundle.js": ("text/javascript; charset=utf-8", None),
    "swagger-ui.css": ("text/css; charset=utf-8", None),
    "swagger-init.js": ("text/javascript; charset=utf-8", _DOCS_DIR / "swagger-init.js"),
}
_POWERTOOLS_FILES = {"swagger-ui-bundle.js": "swagger-ui-bundle.min.js", "swagger-ui.css": "swagger-ui.min.css"}
# Swagger UI draws its icons as data: images and styles through the CSSOM; no inline script, no eval.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# core.errors.ApiError.body(): every 4xx answer, request validation (400) included.
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": ["array", "object"]},
            },
        }
    },
}
_ADMIN_LOCAL = {
    "type": "http",
    "scheme": "bearer",
    "description": "Local runtime: the admin token `litestore-webhooks local` printed (Authorization: Bearer ...).",
}
# OpenAPI has no SigV4 type: an apiKey scheme on Authorization with AWS's own extension, as
# API Gateway's OpenAPI exports describe AWS_IAM routes.
_ADMIN_SIGV4 = {
    "type": "apiKey",
    "in": "header",
    "name": "Authorization",
    "x-amazon-apigateway-authtype": "awsSigv4",
    "description": "IAM (AWS Signature Version 4 for execute-api) on the deployed stack: callers need "
    "execute-api:Invoke on these routes. Swagger UI cannot sign requests; use "
    "`litestore-webhooks --stack NAME ...`, or any SigV4 client.",
}
_SCHEMES = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "The ingest API key (the stack's ApiKeyId output; `litestore-webhooks local` prints one).",
    },
    "consoleSession": {
        "type": "apiKey",
        "in": "header",
        "name": portal.SESSION_HEADER,
        "description": "A console session (POST /portal/sessions, then POST /console/session). The console calls "
        f"these same operations under {r.CONSOLE_API_PREFIX} (GET {r.CONSOLE_API_PREFIX}/endpoints, ...), "
        "held to the session's scope; the page may carry it as an HttpOnly cookie instead.",
    },
}
_SESSION_OPERATIONS = {"/console/session"}


def document(app: APIGatewayRestResolver) -> str:
    """The OpenAPI document (JSON) with the stage as its server, so "Try it out" works behind /<stage>."""
    from aws_lambda_powertools.event_handler.openapi.models import Server

    servers = [Server(url=app._get_base_path() or "/")]
    doc = json.loads(app.get_openapi_json_schema(title=TITLE, servers=servers))
    doc = _with_ingest(doc, servers)
    return json.dumps(_secured(_errors_as_served(doc)), separators=(",", ":"))


def _with_ingest(doc: dict[str, Any], servers: list[Any]) -> dict[str, Any]:
    """The ingest resolver's own operations (POST /events, /events/batch), with their bodies."""
    from litestore_webhooks.handlers import ingest

    ingest_doc = json.loads(ingest.app.get_openapi_json_schema(title=TITLE, servers=servers))
    envelope = {"$ref": "#/components/schemas/Envelope"}
    bodies = {
        "/events": envelope,
        "/events/batch": {
            "type": "object",
            "required": ["events"],
            "additionalProperties": False,
            "properties": {
                "events": {"type": "array", "minItems": 1, "maxItems": r.MAX_BATCH_EVENTS, "items": envelope}
            },
        },
    }
    # The examples are the seed's (the product document's): the stored catalog is the deployment's own
    # and is served, with every schema, at GET /event-types/openapi.json.
    from litestore_webhooks.core.event_types.seed import seed_drafts

    seeded = [draft.examples[0] for draft, _ in seed_drafts()]
    examples = {"/events": seeded[0], "/events/batch": {"events": seeded[:2]}}
    for path, operations in ingest_doc.get("paths", {}).items():
        for operation in operations.values():
            operation["tags"] = ["ingest"]
            operation["security"] = [{"apiKey": []}]
            if path in bodies:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": bodies[path], "example": examples[path]}},
                }
        doc.setdefault("paths", {})[path] = {**doc.get("paths", {}).get(path, {}), **operations}
    doc.setdefault("components", {}).setdefault("schemas", {})["Envelope"] = _envelope_schema()
    return doc


def _envelope_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["event", "data"],
        "description": "An event as the store sends it; `data` must match the event type's schema (GET /event-types).",
        "properties": {
            "event": {
                "type": "string",
                "pattern": f"^{NAME_PATTERN.pattern}$",
                "maxLength": 100,
                "description": "An event type of the catalog (GET /event-types)",
            },
            "id": {"type": "string", "description": "Your id (kept for deduplication); generated when omitted"},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": {"type": "object"},
        },
    }


def _errors_as_served(doc: dict[str, Any]) -> dict[str, Any]:
    """Powertools documents a 422 HTTPValidationError no route ever answers: invalid requests
    get a 400, and every 4xx (404, 409, 413, 415, ...) the one error shape. Say so; a 204 has no body."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    schemas["Error"] = _ERROR
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            responses = operation["responses"]
            responses.pop("422", None)
            if "204" in responses:
                responses["204"] = {"description": "No Content"}
            responses["4XX"] = {
                "description": "Refused, in the one error shape",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
    return doc


def _secured(doc: dict[str, Any]) -> dict[str, Any]:
    """Security schemes (Swagger UI's Authorize button): admin by default, API key on ingest, session on /console/session."""
    admin = _ADMIN_LOCAL if settings().local_runtime else _ADMIN_SIGV4
    doc.setdefault("components", {})["securitySchemes"] = {"admin": admin, **_SCHEMES}
    doc["security"] = [{"admin": []}]
    for path in _SESSION_OPERATIONS & set(doc.get("paths", {})):
        for operation in doc["paths"][path].values():
            operation["security"] = [{"consoleSession": []}]
    return doc


@cache
def _asset_bytes(name: str) -> bytes:
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    _, path = _ASSETS[name]
    return (path or Path(swagger_ui.__file__).with_name(_POWERTOOLS_FILES[name])).read_bytes()


def page(base: str) -> str:
    """The Swagger UI page: files by URL, the document's URL in a data attribute, no inline script."""
    base = html.escape(base, quote=True)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(TITLE)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{base}/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec-url="{base}/openapi.json">Loading the API description...</div>
<script src="{base}/docs/swagger-ui-bundle.js"></script>
<script src="{base}/docs/swagger-init.js"></script>
</body>
</html>
"""


def install(app: APIGatewayRestResolver) -> None:
    # Routes carry no Response annotation: it would be validated as the body.
    @app.get("/openapi.json", include_in_schema=False)
    def openapi_json():  # noqa: ANN201
        return Response(200, "application/json", document(app), compress=True)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui():  # noqa: ANN201
        headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
        return Response(200, "text/html; charset=utf-8", page(app._get_base_path()), headers=headers, compress=True)

    @app.get("/docs/<asset>", include_in_schema=False)
    def swagger_asset(asset: str):  # noqa: ANN201
        if asset not in _ASSETS:
            from litestore_webhooks.core.errors import ApiError

            raise ApiError(404, "not_found", f"no docs file {asset}")
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=3600"}
        return Response(200, _ASSETS[asset][0], _asset_bytes(asset), headers=headers, compress=True)
