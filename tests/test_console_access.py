"""Console sessions against every admin route, through the local runtime's gateway (console
authorizer included) and the admin function: table-driven over admin/access.ACCESS, which a
test keeps equal to the routes the admin app serves.

A portal token must reach nothing it was not scoped for: forged, expired and key-rotated
tokens get 401 on every route; an unexchanged link is 403 everywhere but the exchange; a link
opens one session (a replay is 401); read-only sessions change nothing and see no secret;
a session limited to some endpoints gets 404 for any other and sees only its own in lists,
stats and event lookups; a cookie without the console's CSRF header is refused; and a session
token is no admin credential on the admin routes themselves. Refusals change nothing.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from tests.local_stack import event, rt  # noqa: F401 - rt: the module-scoped runtime
from tests.test_local_runtime import admin, ingest

from litestore_webhooks import config
from litestore_webhooks import resources as r
from litestore_webhooks.admin import access
from litestore_webhooks.aws import console_key
from litestore_webhooks.core import portal
from litestore_webhooks.handlers import admin as admin_handler

E = "/endpoints/<endpoint_id>"
# A valid body for each route that takes one, so an admitted request would get past validation.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/endpoints"): {"url": "http://127.0.0.1:9/x", "events": ["*"]},
    ("PATCH", E): {"timeout": 5000},
    ("POST", f"{E}/test"): {"event": "order.updated"},
    ("POST", f"{E}/secret/rotate"): {},
    ("POST", f"{E}/dead-letters/redrive"): {},
    ("POST", f"{E}/replay"): {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"},
    ("POST", "/events/<event_id>/resend"): {"endpointIds": ["<endpoint_id>"]},
    ("POST", "/portal/sessions"): {},
    ("POST", "/console/session"): {},
}
API_ROUTES = sorted(
    k
    for k, a in access.ACCESS.items()
    if a not in (access.Access.PUBLIC, access.Access.SESSION, access.Access.EXCHANGE)
)
WRITES = {
    access.Access.CREATE,
    access.Access.WRITE,
    access.Access.SECRET,
    access.Access.EVENT_WRITE,
    access.Access.ADMIN,
}


def http(rt, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        rt.base_url + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None, dict(exc.headers)


def key() -> bytes:
    return console_key.current(config.settings().console_key_secret)


def token(
    kind: str = portal.SESSION,
    *,
    read_only: bool = False,
    endpoint_ids: tuple[str, ...] | None = None,
    ttl: int = 3600,
    issued: int | None = None,
    signing_key: bytes | None = None,
) -> str:
    claims = portal.new_link(issued or int(time.time()), ttl, read_only=read_only, endpoint_ids=endpoint_ids)
    if kind == portal.SESSION:
        claims = portal.session_for(claims)
    return portal.sign(claims, signing_key or key())


def as_session(tok: str) -> dict[str, str]:
    return {portal.SESSION_HEADER: tok, portal.CSRF_HEADER: "1"}


@pytest.fixture(scope="module")
def world(rt):
    """Two endpoints (mine, other) subscribed to everything, and a stored event both received."""
    made = []
    for name in ("mine", "other"):
        status, body = admin(
            rt,
            "POST",
            "/endpoints",
            {"name": name, "url": "http://127.0.0.1:9/hook", "events": ["*"], "retryPolicy": {"maxAttempts": 1}},
        )
        assert status == 201, body
        made.append(body["id"])
    assert admin(rt, "POST", f"/endpoints/{made[1]}/pause")[0] == 200  # no deliveries while the matrix runs
    assert admin(rt, "POST", f"/endpoints/{made[0]}/pause")[0] == 200
    assert ingest(rt, event("order.updated", "evt_access_1"))[0] == 202
    return {"mine": made[0], "other": made[1], "event": "evt_access_1"}


def concrete(rule: str, endpoint_id: str, event_id: str) -> str:
    return (
        rule.replace("<endpoint_id>", endpoint_id).replace("<event_id>", event_id).replace("<name>", "order.completed")
    )


def body_for(route: tuple[str, str], endpoint_id: str) -> Any:
    body = BODIES.get(route)
    return json.loads(json.dumps(body).replace("<endpoint_id>", endpoint_id)) if body is not None else None


def snapshot(rt, world) -> Any:
    """What a refused request must not change: the endpoints, their secrets, the dead letters."""
    endpoints = admin(rt, "GET", "/endpoints")[1]
    secrets = [admin(rt, "GET", f"/endpoints/{world[k]}/secret")[1]["secret"] for k in ("mine", "other")]
    return endpoints, secrets


def test_every_admin_route_has_an_access_rule_that_matches_its_gateway_route():
    """access.ACCESS covers every route the admin app serves, and each is reached through the
    resources.py route of the matching kind: public ones anonymously, session ones through the
    console authorizer, the rest through the admin (IAM) routes and, for sessions, /console/api."""
    from litestore_webhooks.local import apigw

    served = {
        (route.method, route.path) for route in admin_handler.app._static_routes + admin_handler.app._dynamic_routes
    }
    assert served == set(access.ACCESS)
    for (method, rule), kind in access.ACCESS.items():
        path = (
            concrete(rule, "ep_" + "a" * 22, "evt_1")
            .replace("<asset>", "swagger-init.js")
            .replace("<version>/<name>", "v/app.js")
        )
        route, _ = apigw.resolve(path, method)
        expected = {
            access.Access.PUBLIC: apigw.PUBLIC,
            access.Access.SESSION: apigw.CONSOLE,
            access.Access.EXCHANGE: apigw.CONSOLE,
        }.get(kind, apigw.ADMIN)
        assert route is not None and route.auth == expected and route.function is r.ADMIN_FUNCTION, (method, rule)
        if expected == apigw.ADMIN:  # and mounted for sessions
            mounted, _ = apigw.resolve(r.CONSOLE_API_PREFIX + path, method)
            assert mounted is not None and mounted.auth == apigw.CONSOLE, (method, rule)


@pytest.mark.parametrize("case", ["missing", "forged", "expired", "rotated"])
def test_forged_expired_or_missing_tokens_get_401_on_every_route(rt, world, case):
    before = snapshot(rt, world)
    tok = {
        "missing": None,
        "forged": token(signing_key=b"not the stack's key"),
        "expired": token(issued=int(time.time()) - 7200, ttl=3600),
    }.get(case)
    if case == "rotated":
        tok = token()
        console_key.rotate(config.settings().console_key_secret)
    for route in API_ROUTES + [("GET", "/console/session"), ("POST", "/console/session")]:
        method, rule = route
        path = concrete(rule, world["mine"], world["event"])
        mount = path if rule.startswith("/console/") else r.CONSOLE_API_PREFIX + path
        status, body, _ = http(rt, method, mount, body_for(route, world["mine"]), as_session(tok) if tok else {})
        assert (status, body["error"]["code"]) == (401, "unauthorized"), (case, route, body)
    assert snapshot(rt, world) == before


def test_a_link_does_nothing_but_open_one_session(rt, world):
    link = token(portal.LINK)
    for route in API_ROUTES + [("GET", "/console/session")]:
        method, rule = route
        path = concrete(rule, world["mine"], world["event"])
        mount = path if rule.startswith("/console/") else r.CONSOLE_API_PREFIX + path
        status, body, _ = http(rt, method, mount, body_for(route, world["mine"]), as_session(link))
        assert status == 403 and body["error"]["code"] == "forbidden", (route, body)
    status, body, _ = http(rt, "POST", "/console/session", {"mode": "header"}, as_session(link))
    assert status == 200 and body["session"]["kind"] == "session", body
    session = body["token"]
    assert http(rt, "GET", f"{r.CONSOLE_API_PREFIX}/endpoints", None, as_session(session))[0] == 200
    status, body, _ = http(rt, "POST", "/console/session", {"mode": "header"}, as_session(link))  # replayed
    assert (status, body["error"]["code"]) == (401, "link_used")
    # A session is not a link: it cannot open another session.
    assert http(rt, "POST", "/console/session", {"mode": "header"}, as_session(session))[0] == 403


def test_read_only_sessions_change_nothing_and_see_no_secret(rt, world):
    before = snapshot(rt, world)
    tok = token(read_only=True)
    for route in API_ROUTES:
        method, rule = route
        path = r.CONSOLE_API_PREFIX + concrete(rule, world["mine"], world["event"])
        status, body, _ = http(rt, method, path, body_for(route, world["mine"]), as_session(tok))
        if access.ACCESS[route] in WRITES:
            assert status == 403 and body["error"]["code"] in ("read_only", "forbidden"), (route, body)
        else:
            assert status == 200, (route, body)
    assert snapshot(rt, world) == before


def test_scoped_sessions_cannot_reach_other_endpoints_and_see_only_their_own(rt, world):
    before = snapshot(rt, world)
    mine, other = world["mine"], world["other"]
    tok = token(endpoint_ids=(mine,))
    for route in API_ROUTES:
        method, rule = route
        if "<endpoint_id>" not in rule or access.ACCESS[route] is access.Access.ADMIN:
            continue  # admin-only routes are 403 to every session, whatever the endpoint (tested above)
        path = r.CONSOLE_API_PREFIX + concrete(rule, other, world["event"])
        status, body, _ = http(rt, method, path, body_for(route, other), as_session(tok))
        assert (status, body["error"]["code"]) == (404, "not_found"), (route, body)
        assert other not in json.dumps(body) or "does not exist" in body["error"]["message"]
    get = lambda path: http(rt, "GET", r.CONSOLE_API_PREFIX + path, None, as_session(tok))  # noqa: E731
    assert [e["id"] for e in get("/endpoints")[1]["data"]] == [mine]
    assert [e["id"] for e in get("/stats")[1]["endpoints"]] == [mine]
    assert {a["endpointId"] for a in get(f"/events/{world['event']}/attempts")[1]["data"]} <= {mine}
    assert get(f"/endpoints/{mine}")[0] == 200 and get(f"/endpoints/{mine}/secret")[0] == 200
    status, body, _ = http(
        rt, "POST", f"{r.CONSOLE_API_PREFIX}/events/{world['event']}/resend", {"endpointIds": [other]}, as_session(tok)
    )
    assert status == 400 and body["error"]["details"][0]["message"] == f"endpoint {other} does not exist"
    status, body, _ = http(
        rt, "POST", f"{r.CONSOLE_API_PREFIX}/endpoints", BODIES[("POST", "/endpoints")], as_session(tok)
    )
    assert status == 403, body
    assert snapshot(rt, world) == before


def test_a_scoped_session_sees_no_event_its_endpoints_do_not_subscribe_to(rt, world):
    status, created = admin(
        rt,
        "POST",
        "/endpoints",
        {"name": "reviews only", "url": "http://127.0.0.1:9/r", "events": ["review.*"], "active": False},
    )
    assert status == 201, created
    tok = token(endpoint_ids=(created["id"],))
    status, body, _ = http(rt, "GET", f"{r.CONSOLE_API_PREFIX}/events/{world['event']}", None, as_session(tok))
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert http(rt, "GET", f"{r.CONSOLE_API_PREFIX}/events/{world['event']}", None, as_session(token()))[0] == 200


def test_sessions_are_refused_on_admin_only_routes_and_on_the_admin_mount(rt, world):
    tok = token()
    for route in [k for k, a in access.ACCESS.items() if a is access.Access.ADMIN]:
        status, body, _ = http(
            rt, route[0], r.CONSOLE_API_PREFIX + route[1], body_for(route, world["mine"]), as_session(tok)
        )
        assert status == 403, (route, body)  # a session cannot mint sessions or rotate the key
    for route in API_ROUTES:  # the admin routes themselves take the admin's credential only
        method, rule = route
        status, body, _ = http(
            rt, method, concrete(rule, world["mine"], world["event"]), body_for(route, world["mine"]), as_session(tok)
        )
        assert (status, body["error"]["code"]) == (401, "unauthorized"), (route, body)


def test_a_cookie_session_needs_the_console_csrf_header(rt, world):
    tok = token()
    cookie = {"Cookie": f"{portal.COOKIE_NAME}={tok}"}
    assert http(rt, "GET", f"{r.CONSOLE_API_PREFIX}/endpoints", None, {**cookie, portal.CSRF_HEADER: "1"})[0] == 200
    before = snapshot(rt, world)
    status, body, _ = http(rt, "POST", f"{r.CONSOLE_API_PREFIX}/endpoints/{world['mine']}/resume", None, cookie)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert snapshot(rt, world) == before


def test_the_exchange_sets_an_httponly_strict_cookie_for_the_console_path(rt):
    link = token(portal.LINK, ttl=600)
    status, body, headers = http(rt, "POST", "/console/session", {}, as_session(link))
    assert status == 200 and "token" not in body
    cookie = headers["Set-Cookie"]
    parts = [p.strip() for p in cookie.split(";")]
    assert parts[0].startswith(f"{portal.COOKIE_NAME}=lsw1.")
    assert {"HttpOnly", "SameSite=Strict", "Path=/v1/console"} <= set(parts)
    assert 590 <= int(next(p for p in parts if p.startswith("Max-Age=")).split("=")[1]) <= 600
    assert "Secure" not in parts  # http://127.0.0.1: WebKit would drop a Secure cookie (docs/console.md)
    session = parts[0].split("=", 1)[1]
    status, body, headers = http(
        rt, "DELETE", "/console/session", None, {"Cookie": f"{portal.COOKIE_NAME}={session}", portal.CSRF_HEADER: "1"}
    )
    assert status == 204 and "Max-Age=0" in headers["Set-Cookie"]


def test_portal_sessions_are_minted_by_the_admin_only_with_a_valid_scope(rt, world):
    status, body = admin(rt, "POST", "/portal/sessions", {"ttl": 600, "readOnly": True, "endpointIds": [world["mine"]]})
    assert status == 201, body
    assert body["url"] == f"{rt.base_url}/console#token={body['token']}"
    assert (body["readOnly"], body["endpointIds"], body["kind"]) == (True, [world["mine"]], "link")
    claims = portal.verify(body["token"], key(), now=int(time.time()))
    assert 590 <= claims.expires_at - int(time.time()) <= 600
    for bad, path in (
        ({"ttl": 59}, "body.ttl"),
        ({"ttl": 7 * 86400 + 1}, "body.ttl"),
        ({"endpointIds": ["ep_" + "z" * 22]}, "endpointIds[0]"),
        ({"endpointIds": ["../x"]}, "endpointIds[0]"),
        ({"readOnly": "yes"}, "body.readOnly"),
        ({"scope": "all"}, "body.scope"),
    ):
        status, body = admin(rt, "POST", "/portal/sessions", bad)
        assert status == 400 and body["error"]["details"][0]["path"] == path, (bad, body)
    default = admin(rt, "POST", "/portal/sessions", {})[1]
    assert portal.verify(default["token"], key(), now=int(time.time())).expires_at - int(time.time()) in range(
        3590, 3601
    )


def test_rotating_the_key_revokes_every_link_and_session(rt):
    link, session = admin(rt, "POST", "/portal/sessions", {})[1]["token"], token()
    assert http(rt, "GET", f"{r.CONSOLE_API_PREFIX}/event-types", None, as_session(session))[0] == 200
    status, body = admin(rt, "POST", "/portal/key/rotate")
    assert status == 200 and body["rotatedAt"]
    assert http(rt, "GET", f"{r.CONSOLE_API_PREFIX}/event-types", None, as_session(session))[0] == 401
    assert http(rt, "POST", "/console/session", {}, as_session(link))[0] == 401
    assert (
        http(rt, "GET", f"{r.CONSOLE_API_PREFIX}/event-types", None, as_session(token()))[0] == 200
    )  # the new key works


def test_the_docs_and_console_files_are_public_and_nothing_else_is(rt):
    for path in ("/docs", "/openapi.json", "/docs/swagger-init.js", "/console"):
        status, _, headers = http(rt, "GET", path) if path.endswith(".json") else _raw(rt, path)
        assert status == 200, path
    assert http(rt, "GET", "/endpoints")[0] == 401
    assert http(rt, "GET", f"{r.CONSOLE_API_PREFIX}/endpoints")[0] == 401


def _raw(rt, path: str) -> tuple[int, bytes, dict]:
    with urllib.request.urlopen(rt.base_url + path, timeout=10) as resp:
        return resp.status, resp.read(), dict(resp.headers)


def test_the_admin_function_itself_fails_closed_without_a_gateway_identity():
    """Behind the gateway nothing reaches it unauthenticated; if something did (a route deployed
    without its authorization), the function still admits only public routes."""
    from admin_api import Context
    from admin_api import event as proxy_event

    def call(method: str, path: str, **changes: Any) -> int:
        request = proxy_event(method, path)
        request["requestContext"].pop("identity")
        request.update(changes)
        return admin_handler.handler(request, Context())["statusCode"]

    assert call("GET", "/endpoints") == 401
    assert call("POST", "/portal/sessions") == 401
    assert call("GET", "/openapi.json") == 200
    # A console route without its authorizer's context: nobody is admitted.
    assert call("GET", f"{r.CONSOLE_API_PREFIX}/endpoints", resource=f"{r.CONSOLE_API_PREFIX}/{{proxy+}}") == 401
    forged = {
        "authorizer": {"claims": '{"v":1,"kind":"session"}'},
        "requestId": "r",
        "stage": "prod",
        "path": "/prod/console/api/endpoints",
    }
    assert (
        call(
            "GET",
            f"{r.CONSOLE_API_PREFIX}/endpoints",
            resource=f"{r.CONSOLE_API_PREFIX}/{{proxy+}}",
            requestContext=forged,
        )
        == 401
    )
