"""API Gateway emulation: HTTP request -> REST proxy event (v1) -> the same handlers.

Routes are `resources.ADMIN_ROUTES`/`INGEST_ROUTES`/`PUBLIC_ROUTES`/`CONSOLE_ROUTES`, the same
table `infra/api.py` deploys. Authentication stands in for the deployed gateway: ingest routes
need the API key in `x-api-key` (403 otherwise, as API Gateway answers), admin routes need
`Authorization: Bearer <admin token>` in place of IAM SigV4 (401), public routes need nothing,
and console routes run the console authorizer's handler on a REQUEST authorizer event, as API
Gateway does (401 when it raises "Unauthorized", 403 unless its policy allows the method ARN;
its context reaches the function as requestContext.authorizer). Every path is served at "/"
and under the "/v1" stage prefix. As the deployed API declares binaryMediaTypes ["*/*"], every
body reaches the handlers base64-encoded.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from litestore_webhooks import resources as r
from litestore_webhooks.core.errors import ApiError
from litestore_webhooks.local.invoke import LOCAL_ACCOUNT, LambdaContext, invoke, load_handler, region

log = logging.getLogger(__name__)

STAGE = "v1"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit


INGEST, ADMIN, PUBLIC, CONSOLE = "api_key", "admin", "public", "console"  # how a route authenticates


@dataclass(frozen=True)
class Route:
    resource: str
    method: str
    function: r.Function
    auth: str

    def match(self, segments: list[str]) -> dict[str, str] | None:
        """Path parameters if `segments` fit this resource template, else None."""
        template = [s for s in self.resource.split("/") if s]
        params: dict[str, str] = {}
        for i, part in enumerate(template):
            if part.endswith("+}"):
                if i >= len(segments):
                    return None
                params[part[1:-2]] = "/".join(segments[i:])
                return params
            if i >= len(segments):
                return None
            if part.startswith("{"):
                params[part[1:-1]] = segments[i]
            elif part != segments[i]:
                return None
        return params if len(template) == len(segments) else None

    @property
    def specificity(self) -> tuple[int, int]:
        """API Gateway prefers literal segments over variables, and greedy paths last."""
        parts = [s for s in self.resource.split("/") if s]
        return (sum(not p.startswith("{") for p in parts), -sum(p.endswith("+}") for p in parts))


ROUTES: tuple[Route, ...] = tuple(
    [Route(p, m, r.INGEST_FUNCTION, INGEST) for p, m in r.INGEST_ROUTES]
    + [Route(p, m, r.ADMIN_FUNCTION, ADMIN) for p, m in r.ADMIN_ROUTES]
    + [Route(p, m, r.ADMIN_FUNCTION, PUBLIC) for p, m in r.PUBLIC_ROUTES]
    + [Route(p, m, r.ADMIN_FUNCTION, CONSOLE) for p, m in r.CONSOLE_ROUTES]
)


def resolve(path: str, method: str) -> tuple[Route, dict[str, str]] | int:
    """The route for a request and its path parameters, or the status that refuses it (404/405)."""
    segments = [unquote(s) for s in path.split("/") if s]
    matched = [(route, params) for route in ROUTES if (params := route.match(segments)) is not None]
    if not matched:
        return 404
    allowed = [(route, params) for route, params in matched if route.method in (method, "ANY")]
    if not allowed:
        return 405
    return max(allowed, key=lambda rp: rp[0].specificity)


class ApiRefusal(Exception):
    """What the gateway answers instead of calling the function."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__(response.get("statusCode"))
        self.response = response


def _allows(policy: dict[str, Any], method_arn: str) -> bool:
    """IAM evaluation as API Gateway applies an authorizer's policy: an explicit Deny wins, then an Allow."""

    def matches(statement: dict[str, Any]) -> bool:
        resources = statement.get("Resource") or []
        for pattern in [resources] if isinstance(resources, str) else resources:
            if re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), method_arn):
                return True
        return False

    statements = policy.get("Statement") or []
    if any(st.get("Effect") == "Deny" and matches(st) for st in statements):
        return False
    return any(st.get("Effect") == "Allow" and matches(st) for st in statements)


def error_response(status: int, code: str, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(ApiError(status, code, message).body()),
    }


class ApiServer:
    """A threaded HTTP server on 127.0.0.1 that invokes the ingest/admin handlers."""

    def __init__(self, *, port: int, api_key: str, admin_token: str, prefix: str, host: str = "127.0.0.1") -> None:
        self.api_key = api_key
        self.admin_token = admin_token
        self.prefix = prefix
        self._httpd = ThreadingHTTPServer((host, port), _RequestHandler)
        self._httpd.daemon_threads = True
        self._httpd.api = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        # One invocation at a time per function, as in one Lambda execution environment: the
        # handlers keep per-request state on module-level objects (Powertools' resolver holds the
        # current event), and this server answers on threads.
        self._environments = {fn.suffix: threading.Lock() for fn in r.FUNCTIONS}

    @property
    def url(self) -> str:
        host, port = self._httpd.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.5}, name="lsw-api", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=2)

    # -- request -> event -> response ------------------------------------------------
    def authorize(self, route: Route, headers: dict[str, list[str]]) -> dict[str, Any] | None:
        """None if the caller may use `route` (console routes: see `run_authorizer`), else the error response."""
        if route.auth == INGEST:
            given = (headers.get("x-api-key") or [""])[-1]
            if not hmac.compare_digest(given.encode(), self.api_key.encode()):
                return error_response(403, "forbidden", "missing or invalid x-api-key header")
            return None
        if route.auth != ADMIN:
            return None
        scheme, _, token = (headers.get("authorization") or [""])[-1].partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.admin_token.encode()):
            response = error_response(401, "unauthorized", "admin routes need 'Authorization: Bearer <admin token>'")
            response["headers"]["WWW-Authenticate"] = "Bearer"
            return response
        return None

    def run_authorizer(self, event: dict[str, Any]) -> dict[str, Any]:
        """The console authorizer on the REQUEST authorizer event API Gateway would send for this
        proxy event: its context for requestContext.authorizer, or the error response (as ApiRefusal)."""
        method_arn = (
            f"arn:aws:execute-api:{region()}:{LOCAL_ACCOUNT}:local/{STAGE}/{event['httpMethod']}{event['path']}"
        )
        request = {
            k: event[k]
            for k in (
                "resource",
                "path",
                "httpMethod",
                "headers",
                "multiValueHeaders",
                "queryStringParameters",
                "multiValueQueryStringParameters",
                "pathParameters",
                "stageVariables",
                "requestContext",
            )
        }
        request.update(type="REQUEST", methodArn=method_arn)
        authorizer = load_handler(r.CONSOLE_AUTHORIZER_FUNCTION)
        assert authorizer is not None
        context = LambdaContext.for_function(r.CONSOLE_AUTHORIZER_FUNCTION, self.prefix)
        try:
            with self._environments[r.CONSOLE_AUTHORIZER_FUNCTION.suffix]:
                answer = invoke(authorizer, request, context)
        except Exception as exc:
            if str(exc) == "Unauthorized":
                raise ApiRefusal(
                    error_response(
                        401,
                        "unauthorized",
                        "console routes need a valid console session "
                        "(it is missing, expired, forged, or its key was rotated)",
                    )
                ) from None
            log.exception("console authorizer raised")
            raise ApiRefusal(error_response(500, "authorizer_failure", "the console authorizer failed")) from None
        if not _allows(answer.get("policyDocument") or {}, method_arn):
            raise ApiRefusal(error_response(403, "forbidden", "this console token may not call this route"))
        return {
            "principalId": answer.get("principalId"),
            **{k: str(v) for k, v in (answer.get("context") or {}).items()},
        }

    def handle(
        self, method: str, raw_path: str, header_pairs: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> dict[str, Any]:
        """One request as API Gateway would process it; returns a proxy response dict."""
        split = urlsplit(raw_path)
        path = split.path or "/"
        if path == f"/{STAGE}" or path.startswith(f"/{STAGE}/"):
            path = path[len(STAGE) + 1 :] or "/"
        found = resolve(path, method)
        if isinstance(found, int):
            code = "not_found" if found == 404 else "method_not_allowed"
            return error_response(found, code, f"no route for {method} {path}")
        route, params = found
        lowered: dict[str, list[str]] = {}
        for name, value in header_pairs:
            lowered.setdefault(name.lower(), []).append(value)
        denied = self.authorize(route, lowered)
        if denied:
            return denied
        if route.function is r.INGEST_FUNCTION and "content-type" not in lowered:
            # The deployed request validator requires the header before the function runs.
            return error_response(400, "bad_request", "missing required request header: Content-Type")
        handler = load_handler(route.function)
        if handler is None:
            return error_response(404, "not_found", f"{route.function.suffix} API is not available yet")
        event = self.proxy_event(method, path, route, params, header_pairs, split.query, body, source_ip)
        if route.auth == CONSOLE:
            try:
                event["requestContext"]["authorizer"] = self.run_authorizer(event)
            except ApiRefusal as refusal:
                return refusal.response
        context = LambdaContext.for_function(route.function, self.prefix)
        try:
            with self._environments[route.function.suffix]:
                return invoke(handler, event, context)
        except Exception:
            # API Gateway answers 502 when the integration itself fails.
            log.exception("%s handler raised", route.function.suffix)
            return error_response(502, "internal_error", "Internal server error")

    def proxy_event(
        self,
        method: str,
        path: str,
        route: Route,
        params: dict[str, str],
        header_pairs: list[tuple[str, str]],
        query: str,
        body: bytes,
        source_ip: str,
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        # API Gateway tells the function how the client connected; here always plain http.
        for name, value in [*header_pairs, ("X-Forwarded-Proto", "http")]:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            multi_query.setdefault(name, []).append(value)
        request_id = str(uuid.uuid4())
        now = time.time()
        ingest = route.function is r.INGEST_FUNCTION
        admin = route.auth == ADMIN
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": LOCAL_ACCOUNT,
                "apiId": "local",
                "domainName": headers.get("Host", "127.0.0.1"),
                "extendedRequestId": request_id,
                "httpMethod": method,
                "identity": {
                    "sourceIp": source_ip,
                    "apiKey": self.api_key if ingest else None,
                    "apiKeyId": "local" if ingest else None,
                    "userAgent": headers.get("User-Agent"),
                    # Admin calls are IAM-authorized when deployed; locally the token holder.
                    "userArn": f"arn:aws:iam::{LOCAL_ACCOUNT}:user/local-admin" if admin else None,
                    "caller": "local-admin" if admin else None,
                },
                "path": f"/{STAGE}{path}",
                "protocol": "HTTP/1.1",
                "requestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000),
                "resourceId": "local",
                "resourcePath": route.resource,
                "stage": STAGE,
            },
            "body": base64.b64encode(body).decode("ascii") if body else None,
            "isBase64Encoded": bool(body),
        }


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "litestore-webhooks-local"

    def _serve(self) -> None:
        api: ApiServer = self.server.api  # type: ignore[attr-defined]
        given = (self.headers.get("Content-Length") or "0").strip()
        if not given.isascii() or not given.isdigit():
            self.close_connection = True
            self._reply(error_response(400, "bad_request", "Content-Length must be a non-negative integer"))
            return
        length = int(given)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._reply(error_response(413, "payload_too_large", f"request body exceeds {MAX_BODY_BYTES} bytes"))
            return
        body = self.rfile.read(length) if length else b""
        self._reply(api.handle(self.command, self.path, list(self.headers.items()), body, self.client_address[0]))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (malformed request, unknown method) in our error shape, not
        its HTML page; an unknown method is 405 like a known path's wrong method, not 501."""
        status, error = (405, "method_not_allowed") if code == 501 else (code, "bad_request")
        self.close_connection = True
        self._reply(error_response(status, error, message or "bad request"))

    def _reply(self, response: dict[str, Any]) -> None:
        raw = response.get("body") or ""
        payload = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode("utf-8")
        self.send_response(int(response.get("statusCode", 200)))
        headers: dict[str, list[str]] = {k: [str(v)] for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = [str(v) for v in values]
        for name, values in headers.items():
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                for value in values:
                    self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's own signature
        log.debug("api %s " + format, self.client_address[0], *args)
