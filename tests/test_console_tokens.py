"""Console session tokens (core/portal.py) and the console authorizer's decisions, without AWS."""

from __future__ import annotations

import base64
import json

import pytest

from litestore_webhooks.core import portal
from litestore_webhooks.handlers.console_authorizer import decide

KEY = b"k" * 48
NOW = 1_800_000_000
EP = "ep_" + "a" * 22


def link(**kw) -> portal.Claims:
    return portal.new_link(NOW, kw.pop("ttl", 3600), **kw)


def test_a_signed_token_verifies_to_its_claims():
    claims = link(read_only=True, endpoint_ids=(EP,))
    assert portal.verify(portal.sign(claims, KEY), KEY, now=NOW + 10) == claims
    session = portal.session_for(claims)
    assert (session.kind, session.expires_at, session.read_only, session.endpoint_ids) == (
        "session",
        claims.expires_at,
        True,
        (EP,),
    )
    assert session.id != claims.id


@pytest.mark.parametrize(
    "mangle, reason",
    [
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "bad_signature"),  # signature changed
        (lambda t: portal.sign(link(), b"another key"), "bad_signature"),  # forged: signed with another key
        (lambda t: "lsw2" + t[4:], "malformed"),
        (lambda t: t.replace(".", "", 1), "malformed"),
        (lambda t: "lsw1.!!!.xx", "bad_signature"),  # the signature is checked before the claims are read
        (lambda t: t + "." + t, "malformed"),
        (lambda t: "x" * 5000, "malformed"),
    ],
)
def test_tampered_or_forged_tokens_are_refused(mangle, reason):
    token = portal.sign(link(), KEY)
    with pytest.raises(portal.TokenError) as err:
        portal.verify(mangle(token), KEY, now=NOW)
    assert err.value.reason == reason


def test_claims_changed_under_a_valid_signature_scheme_are_refused():
    """Widening the scope (read-only off, endpoints removed) breaks the signature."""
    token = portal.sign(link(read_only=True, endpoint_ids=(EP,)), KEY)
    version, payload, mac = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims.update(ro=False, eps=None)
    wider = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(portal.TokenError) as err:
        portal.verify(f"{version}.{wider}.{mac}", KEY, now=NOW)
    assert err.value.reason == "bad_signature"


def test_expired_and_future_tokens_are_refused():
    token = portal.sign(link(ttl=60), KEY)
    assert portal.verify(token, KEY, now=NOW + 59)
    with pytest.raises(portal.TokenError, match="expired"):
        portal.verify(token, KEY, now=NOW + 60)
    future = portal.sign(portal.new_link(NOW + 3600, 60), KEY)
    with pytest.raises(portal.TokenError, match="future"):
        portal.verify(future, KEY, now=NOW)


@pytest.mark.parametrize(
    "claims",
    [
        {"v": 1, "kind": "admin", "jti": "x", "iat": NOW, "exp": NOW + 60, "ro": False, "eps": None},
        {"v": 1, "kind": "link", "jti": "x", "iat": NOW, "exp": "soon", "ro": False, "eps": None},
        {"v": 1, "kind": "link", "jti": "x", "iat": NOW, "exp": NOW + 60, "ro": 0, "eps": None},
        {"v": 1, "kind": "link", "jti": "x", "iat": NOW, "exp": NOW + 60, "ro": False, "eps": ["../etc"]},
        {"v": 1, "kind": "link", "jti": "x", "iat": NOW, "exp": NOW + 60, "ro": False, "eps": None, "admin": True},
    ],
)
def test_claims_of_the_wrong_shape_are_refused_even_when_signed(claims):
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    signed = f"lsw1.{payload}"
    token = f"{signed}.{portal._b64(portal._mac(KEY, signed))}"
    with pytest.raises(portal.TokenError) as err:
        portal.verify(token, KEY, now=NOW)
    assert err.value.reason == "malformed"


def test_the_header_wins_over_the_cookie_and_the_csrf_header_is_recognised():
    assert portal.token_from_headers({"Cookie": "a=1; lsw_console=tok; b=2"}) == ("tok", True)
    assert portal.token_from_headers({"x-litestore-session": "hdr", "cookie": "lsw_console=tok"}) == ("hdr", False)
    assert portal.token_from_headers({"Cookie": "lsw_consoleX=tok"}) == (None, False)
    assert portal.csrf_ok({"X-Litestore-Console": "1"}) and not portal.csrf_ok({"X-Litestore-Console": "yes"})


def event(
    token: str | None = None,
    *,
    cookie: bool = False,
    csrf: bool = True,
    resource: str = "/console/api/{proxy+}",
    method: str = "GET",
) -> dict:
    headers = {}
    if token and cookie:
        headers["Cookie"] = f"lsw_console={token}"
    elif token:
        headers["X-Litestore-Session"] = token
    if csrf:
        headers["X-Litestore-Console"] = "1"
    return {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:1:api/v1/GET/x",
        "resource": resource,
        "httpMethod": method,
        "headers": headers,
    }


def effect(answer: dict) -> str:
    return answer["policyDocument"]["Statement"][0]["Effect"]


def test_authorizer_admits_sessions_and_passes_their_claims_on():
    session = portal.session_for(link(read_only=True))
    answer = decide(event(portal.sign(session, KEY)), KEY, NOW)
    assert effect(answer) == "Allow" and answer["policyDocument"]["Statement"][0]["Resource"].endswith("/GET/x")
    assert portal.Claims.from_json(answer["context"]["claims"]) == session
    assert answer["context"]["via"] == "header"


@pytest.mark.parametrize(
    "request_event",
    [
        event(None),
        event(portal.sign(link(), b"forged")),
        event(portal.sign(portal.new_link(NOW - 7200, 3600), KEY)),  # expired an hour ago
        event("lsw1.garbage.garbage"),
    ],
)
def test_authorizer_answers_401_to_missing_forged_expired_or_malformed_tokens(request_event):
    with pytest.raises(Exception, match="^Unauthorized$"):
        decide(request_event, KEY, NOW)


def test_authorizer_lets_a_link_do_nothing_but_be_exchanged():
    token = portal.sign(link(), KEY)
    assert effect(decide(event(token, resource="/console/session", method="POST"), KEY, NOW)) == "Allow"
    assert effect(decide(event(token), KEY, NOW)) == "Deny"  # not the admin API
    assert effect(decide(event(token, resource="/console/session", method="GET"), KEY, NOW)) == "Deny"
    session = portal.sign(portal.session_for(link()), KEY)
    assert effect(decide(event(session, resource="/console/session", method="POST"), KEY, NOW)) == "Deny"


def test_authorizer_refuses_a_cookie_session_without_the_csrf_header():
    token = portal.sign(portal.session_for(link()), KEY)
    assert effect(decide(event(token, cookie=True), KEY, NOW)) == "Allow"
    assert effect(decide(event(token, cookie=True, csrf=False), KEY, NOW)) == "Deny"
    assert (
        effect(decide(event(token, cookie=False, csrf=False), KEY, NOW)) == "Allow"
    )  # a header cannot be forged cross-site
