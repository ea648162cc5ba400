"""Shared glue for our API Gateway handlers (ingest, admin): one resolver setup, one error shape.

Every non-2xx answer, including Powertools' own (route not found, request validation) and
unexpected exceptions, is `ApiError.body()` JSON; a known path with the wrong method is 405
with an Allow header. Bodies are read as raw bytes and parsed with the strict canonical
parser, so invalid UTF-8 or JavaScript-unsafe JSON is a 400, never a silent substitution.

The REST API declares binaryMediaTypes ["*/*"] (infra/api.py), so API Gateway hands every
body over base64-encoded, byte for byte. `raw_body` decodes it for both handlers: ingest
reads it directly (`json_body`), and the admin routes' Powertools validation reads it through
`_ProxyEvent.decoded_body`.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cached_property
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from litestore_webhooks.core.canonical import CanonicalJSONError, parse_json
from litestore_webhooks.core.errors import ApiError, ValidationFailed

JSON = "application/json"
logger = Logger(child=True)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        headers=headers,
    )


def error_response(exc: ApiError, headers: dict[str, str] | None = None) -> Response:
    return json_response(exc.status, exc.body(), headers)


def raw_body(event: dict[str, Any]) -> bytes:
    """The request body exactly as sent: base64-decoded when API Gateway encoded it.

    Text bodies are re-encoded with surrogatepass so any undecodable input survives as
    invalid UTF-8 and is refused by the parser instead of being silently repaired.
    """
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "invalid_body", "body is not valid base64") from None
    return body.encode("utf-8", "surrogatepass")


class _ProxyEvent(APIGatewayProxyEvent):
    """The REST proxy event with its body decoded by `raw_body`, strictly: what Powertools parses
    and validates for the admin routes (its own decoding would turn invalid UTF-8 into a 500)."""

    @cached_property
    def decoded_body(self) -> str | None:
        if not self.body:
            return self.body
        try:
            return raw_body(self.raw_event).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationFailed([{"path": "body", "message": f"not valid UTF-8 (byte {exc.start})"}]) from None

    @cached_property
    def json_body(self) -> Any:
        """The parsed body; a JSON null is refused: it is no object, and an optional body would
        otherwise take it for no body at all and apply its defaults."""
        parsed = super().json_body
        if parsed is None and (self.decoded_body or "").strip():
            raise ValidationFailed([{"path": "body", "message": "expected a JSON object, got null"}])
        return parsed


class Resolver(APIGatewayRestResolver):
    """Powertools' REST resolver with strict body decoding and `route_for` (the admin access check)."""

    def _to_proxy_event(self, event: dict) -> APIGatewayProxyEvent:
        return _ProxyEvent(event, self._json_body_deserializer)

    def route_for(self, method: str, path: str) -> tuple[str | None, dict[str, str]]:
        """The rule of the route that serves `method path` ("/endpoints/<endpoint_id>") and its
        path parameters, or (None, {}): what the router will pick, known before it runs."""
        for route in self._static_routes + self._dynamic_routes:
            if route.method == method.upper() and (match := route.rule.match(path)):
                return route.path, match.groupdict()
        return None, {}


def unmounted(event: dict[str, Any], resource: str, prefix: str) -> dict[str, Any]:
    """The event with `prefix` cut from its path when it came through the greedy `resource`
    mounted there (the console's /console/api/{proxy+}): the same routes serve both."""
    path = event.get("path") or "/"
    if event.get("resource") != resource or not path.startswith(prefix + "/"):
        return event
    return {**event, "path": path[len(prefix) :]}


def error_event(exc: ApiError, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """`exc` as a finished proxy response, for answers given before the resolver runs."""
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": JSON, **(headers or {})},
        "body": json.dumps(exc.body(), separators=(",", ":"), ensure_ascii=False),
        "isBase64Encoded": False,
    }


def _is_json(content_type: str) -> bool:
    media, *params = (part.strip() for part in content_type.split(";"))
    if media.lower() != JSON:
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in {"utf-8", "utf8"}:
            return False
    return True


def json_body(app: APIGatewayRestResolver, *, max_bytes: int) -> Any:
    """The current request's JSON body: 415 unless application/json (UTF-8), 413 over max_bytes, 400 if invalid."""
    content_type = app.current_event.headers.get("content-type") or ""
    if not _is_json(content_type):
        raise ApiError(
            415,
            "unsupported_media_type",
            "Content-Type must be application/json",
            [{"path": "Content-Type", "message": f"got {content_type[:100]!r}"}],
        )
    raw = raw_body(app.current_event.raw_event)
    if len(raw) > max_bytes:
        raise ApiError(
            413,
            "payload_too_large",
            f"body is {len(raw)} bytes; the limit is {max_bytes}",
            {"limit": max_bytes, "size": len(raw)},
        )
    try:
        return parse_json(raw)
    except CanonicalJSONError as exc:
        raise ApiError(400, "invalid_json", exc.message, [{"path": exc.path, "message": exc.message}]) from None


def resolver(title: str, *, validation: bool = True) -> Resolver:
    """An APIGatewayRestResolver with data validation, OpenAPI metadata and our error handlers.

    validation=False leaves out Powertools' request/response validation, and with it the
    import of pydantic (~60 ms of a cold start): for routes that declare no typed
    parameters and return `Response` objects (ingest), it validates nothing anyway.
    """
    app = Resolver(enable_validation=validation)
    app.configure_openapi(title=title, version="1.0.0")

    @app.exception_handler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    def _request_invalid(exc: RequestValidationError) -> Response:
        return error_response(
            ValidationFailed(
                [
                    {
                        "path": ".".join(map(str, e.get("loc", ()))),
                        "message": str(e.get("msg", e.get("type", "invalid"))).removeprefix("Value error, "),
                    }
                    for e in exc.errors()
                ]
            )
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_media_type(_: RequestUnsupportedContentType) -> Response:
        content_type = app.current_event.headers.get("content-type") or ""
        return error_response(
            ApiError(
                415,
                "unsupported_media_type",
                "Content-Type must be application/json",
                [{"path": "Content-Type", "message": f"got {content_type[:100]!r}"}],
            )
        )

    @app.not_found
    def _not_found(_: NotFoundError) -> Response:
        event = app.current_event
        allowed = sorted(
            {route.method for route in app._static_routes + app._dynamic_routes if route.rule.match(event.path)}
        )
        if allowed:
            return error_response(
                ApiError(
                    405,
                    "method_not_allowed",
                    f"{event.http_method} is not allowed on {event.path}",
                    {"allowed": allowed},
                ),
                {"Allow": ", ".join(allowed)},
            )
        return error_response(ApiError(404, "not_found", f"no route for {event.path}"))

    @app.exception_handler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        message = exc.msg if isinstance(exc.msg, str) else "request failed"
        return error_response(ApiError(int(exc.status_code), "request_failed", message))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(ApiError(500, "internal_error", "internal error; the request may be retried"))

    return app
