"""Who may call which admin route: the admin, a console session (held to its scope), anyone.

API Gateway authenticates; this module authorizes, inside the admin function, before a
request reaches its route (and before its body or query is even validated):

- **admin**: an IAM-signed caller (deployed) or the admin token's holder (local runtime),
  recognised by the caller identity API Gateway put in the request context. Everything.
- **session**: a console session the console authorizer verified (its claims arrive in the
  authorizer context of the /console routes). Only what `ACCESS` grants, within its scope:
  read-only sessions change nothing and see no secret; a session limited to some endpoints
  gets 404 for any other, as if it did not exist, and lists, stats and event lookups show
  only its own.
- **link**: a portal link being exchanged for a session: POST /console/session, nothing else.
- **anonymous**: the public routes (API description, console files), nothing else.

Every route the admin app serves has an entry in `ACCESS` (a test keeps them equal); a route
without one is the admin's alone. Routes that list or aggregate read `current()` to filter.
"""

from __future__ import annotations

import contextvars
import enum
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from litestore_webhooks import resources as r
from litestore_webhooks.core import portal
from litestore_webhooks.core.errors import ApiError


class Access(enum.Enum):
    PUBLIC = "anyone"
    ADMIN = "the admin only"
    CATALOG = "any session"
    LIST = "any session; filtered to its endpoints"
    CREATE = "unscoped sessions that are not read-only"
    READ = "sessions that see this endpoint"
    WRITE = "sessions that see this endpoint and are not read-only"
    SECRET = "sessions that see this endpoint and are not read-only"
    EVENT_READ = "any session; filtered to its endpoints"
    EVENT_WRITE = "sessions that are not read-only; only their endpoints"
    SESSION = "a console session (its own session)"
    EXCHANGE = "a portal link (exchanged once)"


E = "/endpoints/<endpoint_id>"
T = "/event-types/<name>"
ACCESS: dict[tuple[str, str], Access] = {
    ("GET", "/openapi.json"): Access.PUBLIC,
    ("GET", "/docs"): Access.PUBLIC,
    ("GET", "/docs/<asset>"): Access.PUBLIC,
    ("GET", "/console"): Access.PUBLIC,
    ("GET", "/console/assets/<version>/<name>"): Access.PUBLIC,
    ("POST", "/console/session"): Access.EXCHANGE,
    ("GET", "/console/session"): Access.SESSION,
    ("DELETE", "/console/session"): Access.SESSION,
    ("POST", "/portal/sessions"): Access.ADMIN,
    ("POST", "/portal/key/rotate"): Access.ADMIN,
    ("GET", "/event-types"): Access.CATALOG,
    ("GET", "/event-types/openapi.json"): Access.CATALOG,
    ("GET", T): Access.CATALOG,
    ("GET", f"{T}/versions"): Access.CATALOG,
    # The catalog is the deployment's, not an endpoint's: only the admin changes it.
    ("POST", "/event-types"): Access.ADMIN,
    ("PATCH", T): Access.ADMIN,
    ("DELETE", T): Access.ADMIN,
    ("POST", f"{T}/deprecate"): Access.ADMIN,
    ("POST", f"{T}/restore"): Access.ADMIN,
    ("POST", "/event-types/import"): Access.ADMIN,
    ("GET", "/stats"): Access.LIST,
    ("GET", "/endpoints"): Access.LIST,
    ("POST", "/endpoints"): Access.CREATE,
    ("GET", E): Access.READ,
    ("PATCH", E): Access.WRITE,
    ("DELETE", E): Access.WRITE,
    ("POST", f"{E}/pause"): Access.WRITE,
    ("POST", f"{E}/resume"): Access.WRITE,
    ("POST", f"{E}/test"): Access.WRITE,
    ("GET", f"{E}/secret"): Access.SECRET,
    ("POST", f"{E}/secret/rotate"): Access.WRITE,
    ("POST", f"{E}/reconcile"): Access.ADMIN,  # repairs AWS resources: an operator's call
    ("GET", f"{E}/attempts"): Access.READ,
    ("GET", f"{E}/stats"): Access.READ,
    ("GET", f"{E}/dead-letters"): Access.READ,
    ("POST", f"{E}/dead-letters/redrive"): Access.WRITE,
    ("DELETE", f"{E}/dead-letters"): Access.WRITE,
    ("POST", f"{E}/replay"): Access.WRITE,
    ("GET", "/events/<event_id>"): Access.EVENT_READ,
    ("GET", "/events/<event_id>/attempts"): Access.EVENT_READ,
    ("POST", "/events/<event_id>/resend"): Access.EVENT_WRITE,
}
_CHANGES = {Access.CREATE, Access.WRITE, Access.SECRET, Access.EVENT_WRITE}
_SESSION_MAY = {
    Access.PUBLIC,
    Access.CATALOG,
    Access.LIST,
    Access.CREATE,
    Access.READ,
    Access.WRITE,
    Access.SECRET,
    Access.EVENT_READ,
    Access.EVENT_WRITE,
    Access.SESSION,
}
_PUBLIC_RESOURCES = {path for path, _ in r.PUBLIC_ROUTES}
_CONSOLE_RESOURCES = {path for path, _ in r.CONSOLE_ROUTES}


@dataclass(frozen=True)
class Principal:
    kind: Literal["admin", "session", "link", "anonymous"]
    claims: portal.Claims | None = None

    @property
    def scoped(self) -> bool:
        return self.claims is not None and self.claims.endpoint_ids is not None

    def sees(self, endpoint_id: str) -> bool:
        """Whether this caller may know endpoint `endpoint_id` exists."""
        return self.kind == "admin" or (self.claims is not None and self.claims.sees(endpoint_id))


ADMIN = Principal("admin")
ANONYMOUS = Principal("anonymous")
_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal", default=ANONYMOUS)


def principal_of(event: dict[str, Any]) -> Principal:
    """Who sent this proxy event, from what API Gateway (or the local emulator) put in it."""
    context = event.get("requestContext") or {}
    resource = event.get("resource") or ""
    if resource in _CONSOLE_RESOURCES:
        claims_json = (context.get("authorizer") or {}).get("claims")
        if not isinstance(claims_json, str):  # a console route without its authorizer: admit nobody
            raise ApiError(401, "unauthorized", "console routes need a console session")
        try:
            claims = portal.Claims.from_json(claims_json)
        except portal.TokenError:
            raise ApiError(401, "unauthorized", "console routes need a console session") from None
        return Principal("link" if claims.kind == portal.LINK else "session", claims)
    if resource not in _PUBLIC_RESOURCES and (context.get("identity") or {}).get("userArn"):
        return ADMIN  # IAM authenticated the caller (the local emulator: the admin token)
    return ANONYMOUS


def check(principal: Principal, method: str, rule: str | None, params: dict[str, str]) -> None:
    """Raise the ApiError this caller gets for `method rule`, or return if it may go on."""
    access = ACCESS.get((method, rule)) if rule else None
    if rule is None or access is Access.PUBLIC:
        return  # a public route, or no route at all (the router's own 404/405)
    if principal.kind == "admin":
        if access in (Access.SESSION, Access.EXCHANGE):
            raise ApiError(403, "forbidden", "this route is for console sessions")
        return
    if principal.kind == "anonymous":
        raise ApiError(401, "unauthorized", "this route needs the admin's credentials or a console session")
    if principal.kind == "link":
        if access is not Access.EXCHANGE:
            raise ApiError(403, "forbidden", "a portal link must first be exchanged at POST /console/session")
        return
    claims = principal.claims
    assert claims is not None
    if access not in _SESSION_MAY:
        raise ApiError(403, "forbidden", "console sessions cannot use this route")
    endpoint_id = params.get("endpoint_id")
    if endpoint_id is not None and not claims.sees(endpoint_id):
        raise ApiError(404, "not_found", f"endpoint {endpoint_id} does not exist")
    if claims.read_only and access in _CHANGES:
        raise ApiError(403, "read_only", "this console session is read-only")
    if access is Access.CREATE and claims.endpoint_ids is not None:
        raise ApiError(403, "forbidden", "a session limited to some endpoints cannot create endpoints")


def current() -> Principal:
    """The caller of the request being served (ANONYMOUS outside one)."""
    return _current.get()


@contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    token = _current.set(principal)
    try:
        yield
    finally:
        _current.reset(token)
