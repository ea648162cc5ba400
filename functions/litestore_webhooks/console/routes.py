"""Portal links (POST /portal/sessions), the session exchange (/console/session), the console page.

A portal link is `<API>/console#token=<link token>`: the token sits in the URL fragment, which
browsers never send, so it reaches no access log. The page posts it once to /console/session
(in the X-Litestore-Session header, checked by the console authorizer) and gets the session
back as an HttpOnly SameSite=Strict cookie or, for a page in a cross-site iframe where such a
cookie is never sent, as a token it keeps in memory. The link's id is recorded on first use,
so a link opens one session only (replays get 401).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver, Router
from aws_lambda_powertools.event_handler.openapi.params import Body as BodyParam
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import ConfigDict, Field

from litestore_webhooks.admin import access, common
from litestore_webhooks.api import json_response
from litestore_webhooks.aws import console_key
from litestore_webhooks.config import settings
from litestore_webhooks.console import links
from litestore_webhooks.core import portal
from litestore_webhooks.core.endpoint import ENDPOINT_ID_PATTERN
from litestore_webhooks.core.envelope import format_timestamp
from litestore_webhooks.core.errors import ApiError, ValidationFailed

router = Router()
logger = Logger(child=True)
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_ENDPOINT_ID = re.compile(ENDPOINT_ID_PATTERN)


class NewSession(common.Body):
    model_config = ConfigDict(extra="forbid", strict=True)  # "yes" is not a boolean here

    ttl: int = Field(
        portal.DEFAULT_TTL_S,
        ge=portal.MIN_TTL_S,
        le=portal.MAX_TTL_S,
        description="Seconds the link, and the session it opens, stay valid (default 1 h, at most 7 days)",
    )
    readOnly: bool = Field(False, description="The session changes nothing and sees no secret")
    endpointIds: list[str] | None = Field(
        None,
        min_length=1,
        max_length=portal.MAX_SCOPED_ENDPOINTS,
        description="Only these endpoints (default: every endpoint)",
    )


class Exchange(common.Body):
    mode: Literal["cookie", "header"] = Field(
        "cookie",
        description="cookie: an HttpOnly cookie; header: the session token in the answer, for a page "
        "that keeps it in memory (a cross-site iframe, where a SameSite=Strict cookie is never sent)",
    )


def _iso(epoch_s: int) -> str:
    return format_timestamp(datetime.fromtimestamp(epoch_s, UTC))


def _key() -> bytes:
    try:
        return console_key.current(settings().console_key_secret)
    except console_key.KeyUnavailable as exc:
        logger.error("console key unavailable", extra={"error": str(exc)})
        raise ApiError(503, "console_key_unavailable", "the console signing key cannot be read; retry") from None


def _event() -> APIGatewayProxyEvent:
    """The current request: the admin API is an API Gateway REST proxy resolver."""
    return cast(APIGatewayProxyEvent, router.current_event)


def _origin_and_base() -> tuple[str, str]:
    """('https://host', '/v1'): where this API answered, as the caller reached it."""
    event = _event()
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    host = event.request_context.domain_name or headers.get("host") or "localhost"
    scheme = (headers.get("x-forwarded-proto") or "https").split(",")[0].strip()
    resolver = router.api_resolver
    base = resolver._get_base_path() if isinstance(resolver, ApiGatewayResolver) else ""  # "/<stage>" if in the path
    return f"{scheme}://{host}", base


def console_url(token: str | None = None) -> str:
    origin, base = _origin_and_base()
    return links.url(origin + base, token)


def session_view(claims: portal.Claims) -> dict[str, Any]:
    return {
        "kind": claims.kind,
        "readOnly": claims.read_only,
        "endpointIds": list(claims.endpoint_ids) if claims.endpoint_ids is not None else None,
        "expiresAt": _iso(claims.expires_at),
    }


def mint(st: Any, request: NewSession, *, now: int) -> dict[str, Any]:
    """A single-use portal link for `request`'s scope (every endpoint id must exist)."""
    ids = tuple(dict.fromkeys(request.endpointIds)) if request.endpointIds is not None else None
    missing = [
        {"path": f"endpointIds[{n}]", "message": f"endpoint {e} does not exist"}
        for n, e in enumerate(ids or ())
        if not _ENDPOINT_ID.match(e) or st.get_endpoint_item(e) is None
    ]
    if missing:
        raise ValidationFailed(missing)
    claims = portal.new_link(now, request.ttl, read_only=request.readOnly, endpoint_ids=ids)
    token = portal.sign(claims, _key())
    logger.info(
        "portal link minted",
        extra={
            "linkId": claims.id,
            "readOnly": claims.read_only,
            "endpoints": len(ids) if ids is not None else "all",
            "caller": _event().request_context.identity.user_arn,
        },
    )
    return {"url": console_url(token), "token": token, **session_view(claims)}


def _cookie(value: str, max_age: int) -> str:
    """The session cookie. Secure wherever the page came over https (always on AWS); not over
    http://127.0.0.1, where WebKit browsers drop Secure cookies (Chromium and Firefox keep them)."""
    origin, base = _origin_and_base()
    secure = (
        "" if origin.startswith("http://") and origin.split("//", 1)[1].rsplit(":", 1)[0] in _LOOPBACK else "; Secure"
    )
    return f"{portal.COOKIE_NAME}={value}; Path={base}/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"


@router.post(
    "/portal/sessions",
    summary="Mint a portal link: a console session for embedding, single use",
    tags=["console"],
    status_code=201,
)
def post_portal_session(request: Annotated[NewSession, BodyParam()] = NewSession()):  # noqa: ANN201 - not the body
    return json_response(201, mint(common.store(), request, now=int(time.time())))


@router.post(
    "/portal/key/rotate",
    summary="Rotate the console signing key: every portal link and session stops working",
    tags=["console"],
)
def post_rotate_key():  # noqa: ANN201
    try:
        console_key.rotate(settings().console_key_secret)
    except console_key.KeyUnavailable as exc:
        raise ApiError(503, "console_key_unavailable", str(exc)) from None
    logger.info("console key rotated", extra={"caller": _event().request_context.identity.user_arn})
    return json_response(200, {"rotatedAt": format_timestamp(datetime.now(UTC))})


@router.post("/console/session", summary="Exchange a portal link for a console session (once)", tags=["console"])
def post_console_session(request: Annotated[Exchange, BodyParam()] = Exchange()):  # noqa: ANN201
    link = access.current().claims
    assert link is not None  # access.check admitted only a link
    if not common.store().claim_link(link.id, expires_at=link.expires_at):
        raise ApiError(401, "link_used", "this console link was already used; ask for a new one")
    session = portal.session_for(link)
    token = portal.sign(session, _key())
    logger.info("console session opened", extra={"linkId": link.id, "sessionId": session.id, "mode": request.mode})
    body: dict[str, Any] = {"session": session_view(session)}
    if request.mode == "header":
        return json_response(200, {**body, "token": token})
    max_age = max(0, session.expires_at - int(time.time()))
    return json_response(200, body, {"Set-Cookie": _cookie(token, max_age), "Cache-Control": "no-store"})


@router.get("/console/session", summary="The calling console session's scope", tags=["console"])
def get_console_session():  # noqa: ANN201
    claims = access.current().claims
    assert claims is not None
    return json_response(200, {"session": session_view(claims)})


@router.delete("/console/session", summary="Sign out: forget the session cookie", tags=["console"], status_code=204)
def delete_console_session():  # noqa: ANN201
    return Response(status_code=204, headers={"Set-Cookie": _cookie("", 0), "Cache-Control": "no-store"})


@router.get("/console", include_in_schema=False)
def get_console():  # noqa: ANN201
    from litestore_webhooks.console import assets

    origin, base = _origin_and_base()
    return assets.page(origin, base)


@router.get("/console/assets/<version>/<name>", include_in_schema=False)
def get_console_asset(version: str, name: str):  # noqa: ANN201
    from litestore_webhooks.console import assets

    headers = {k.lower(): v for k, v in (router.current_event.headers or {}).items()}
    return assets.asset(version, name, headers.get("accept-encoding", ""))
