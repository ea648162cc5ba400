"""Console session tokens: portal links and the sessions they open, signed with the stack's key.

A token is ``lsw1.<base64url(claims JSON)>.<base64url(HMAC-SHA256(key, "lsw1.<claims>"))>``.
One algorithm, fixed by the version prefix, so there is no ``alg`` header to confuse; the
standard library's hmac, so the Lambda bundle gains no dependency. Two kinds:

- ``link``: what ``POST /portal/sessions`` returns inside a URL fragment. It can do one thing,
  once: be exchanged at ``POST /console/session`` (its id is recorded, so a second use fails).
- ``session``: what the exchange hands back (an HttpOnly cookie, or a header the page keeps in
  memory); it carries the link's scope and expiry and is checked on every call.

Scope: ``read_only`` (no changes, no secrets) and ``endpoint_ids`` (None: every endpoint).
Rotating the key invalidates every token at once. Pure: no AWS SDK, no clock of its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

VERSION = "lsw1"
Kind = Literal["link", "session"]
LINK: Kind = "link"
SESSION: Kind = "session"
DEFAULT_TTL_S = 3600
MIN_TTL_S = 60
MAX_TTL_S = 7 * 24 * 3600
MAX_SCOPED_ENDPOINTS = 50  # keeps a token (and the authorizer's context) well under a few KB
MAX_TOKEN_CHARS = 4096
CLOCK_SKEW_S = 60
# How the browser carries a session: this cookie (HttpOnly, SameSite=Strict) or this header
# (a page in a cross-site iframe, where a SameSite=Strict cookie is never sent).
COOKIE_NAME = "lsw_console"
SESSION_HEADER = "X-Litestore-Session"
# Sent by the console's own code on every call; a cross-site form or image cannot send a custom
# header, so a cookie-carried session without it is refused (CSRF).
CSRF_HEADER = "X-Litestore-Console"
_ENDPOINT_ID = re.compile(r"^ep_[a-z0-9]{22}$")


class TokenError(Exception):
    """A token that must not be honoured; `reason` is one of malformed, bad_signature, expired."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Claims:
    kind: Kind
    id: str
    issued_at: int
    expires_at: int
    read_only: bool = False
    endpoint_ids: tuple[str, ...] | None = None  # None: every endpoint

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": 1,
                "kind": self.kind,
                "jti": self.id,
                "iat": self.issued_at,
                "exp": self.expires_at,
                "ro": self.read_only,
                "eps": list(self.endpoint_ids) if self.endpoint_ids is not None else None,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Claims:
        """Strict: every field present with its type, nothing else (the authorizer's context too)."""
        try:
            raw = json.loads(text)
        except ValueError:
            raise TokenError("malformed", "token claims are not JSON") from None
        fields = {"v", "kind", "jti", "iat", "exp", "ro", "eps"}
        if not isinstance(raw, dict) or set(raw) != fields or raw["v"] != 1:
            raise TokenError("malformed", "token claims have the wrong fields")
        eps = raw["eps"]
        valid = (
            raw["kind"] in (LINK, SESSION)
            and isinstance(raw["jti"], str)
            and 0 < len(raw["jti"]) <= 64
            and all(type(raw[k]) is int for k in ("iat", "exp"))
            and type(raw["ro"]) is bool
            and (
                eps is None
                or (
                    isinstance(eps, list)
                    and len(eps) <= MAX_SCOPED_ENDPOINTS
                    and all(isinstance(e, str) and _ENDPOINT_ID.match(e) for e in eps)
                )
            )
        )
        if not valid:
            raise TokenError("malformed", "token claims have the wrong types")
        return cls(raw["kind"], raw["jti"], raw["iat"], raw["exp"], raw["ro"], tuple(eps) if eps is not None else None)

    def sees(self, endpoint_id: str) -> bool:
        return self.endpoint_ids is None or endpoint_id in self.endpoint_ids


def new_link(
    now: int, ttl_s: int = DEFAULT_TTL_S, *, read_only: bool = False, endpoint_ids: tuple[str, ...] | None = None
) -> Claims:
    """Claims of a fresh single-use portal link (ttl already validated by the caller)."""
    return Claims(LINK, secrets.token_urlsafe(18), now, now + ttl_s, read_only, endpoint_ids)


def session_for(link: Claims) -> Claims:
    """The session a link opens: same scope and expiry, its own id."""
    return replace(link, kind=SESSION, id=secrets.token_urlsafe(18))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise TokenError("malformed", "token is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed", "token is not base64url") from None


def _mac(key: bytes, signed: str) -> bytes:
    return hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest()


def sign(claims: Claims, key: bytes) -> str:
    signed = f"{VERSION}.{_b64(claims.to_json().encode())}"
    return f"{signed}.{_b64(_mac(key, signed))}"


def verify(token: str, key: bytes, *, now: int) -> Claims:
    """The token's claims if `key` signed it and it has not expired; TokenError otherwise."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise TokenError("malformed", "not a console token")
    version, payload, mac = token.split(".")
    if version != VERSION:
        raise TokenError("malformed", "not a console token")
    if not hmac.compare_digest(_unb64(mac), _mac(key, f"{version}.{payload}")):
        raise TokenError("bad_signature", "token signature does not match (forged, or the key was rotated)")
    try:
        claims = Claims.from_json(_unb64(payload).decode("utf-8"))
    except UnicodeDecodeError:
        raise TokenError("malformed", "token claims are not UTF-8") from None
    if claims.expires_at <= now:
        raise TokenError("expired", "token has expired")
    if claims.issued_at > now + CLOCK_SKEW_S:
        raise TokenError("malformed", "token is issued in the future")
    return claims


def token_from_headers(headers: Mapping[str, str]) -> tuple[str | None, bool]:
    """(token, carried by cookie) from a request's headers: the session header wins over the cookie."""
    lowered = {k.lower(): v for k, v in headers.items()}
    given = lowered.get(SESSION_HEADER.lower())
    if given:
        return given.strip(), False
    for part in (lowered.get("cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE_NAME and value:
            return value.strip().strip('"'), True
    return None, False


def csrf_ok(headers: Mapping[str, str]) -> bool:
    """A cookie-carried call must come from the console's own code (it sends CSRF_HEADER: 1)."""
    return any(k.lower() == CSRF_HEADER.lower() and v.strip() == "1" for k, v in headers.items())
