"""Auth and secrets (issue 7, "Auth"; docs/reliability.md "Auth and secrets").

Through a LocalRuntime over HTTP: ingest without or with a wrong API key is 403, admin without
or with a wrong token is 401, both in the one error shape and with no side effect. A scenario
creates endpoints with given and generated secrets, rotates them, delivers, fails, dead-letters
and test-sends, capturing everything our code logs (every line the Powertools and stdlib
loggers format, at DEBUG, plus the process's stdout/stderr) and every admin API answer: no
secret, API key or admin token appears anywhere except the three answers whose job is to show
a secret. Signature and credential comparisons go through hmac.compare_digest.
"""

from __future__ import annotations

import base64
import hmac
import io
import json
import logging
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from tests.receivers import Receiver, Reply

from litestore_webhooks import resources as r
from litestore_webhooks import verify
from litestore_webhooks.aws import clients
from litestore_webhooks.core import signing
from litestore_webhooks.core.signing import generate_secret, signature_headers
from litestore_webhooks.local import apigw
from litestore_webhooks.local.runtime import LocalRuntime, example_event

T = TypeVar("T")
FAST_RETRIES = {"maxAttempts": 2, "initialDelay": 100, "backoffMultiplier": 2.0, "maxDelay": 1000}


def http(
    rt: LocalRuntime, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    """(status, headers, raw text) of one request; nothing parsed, so the scan sees what a client sees."""
    data = (body if isinstance(body, bytes) else json.dumps(body).encode()) if body is not None else None
    req = urllib.request.Request(
        rt.base_url + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, dict(resp.headers.items()), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read().decode()


def as_admin(rt: LocalRuntime) -> dict[str, str]:
    return {"Authorization": f"Bearer {rt.admin_token}"}


def poll(probe: Callable[[], T], *, timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)
    return value


def error_code(text: str) -> str:
    body = json.loads(text)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]["code"]


@pytest.fixture(scope="module")
def rt() -> Iterator[LocalRuntime]:
    with LocalRuntime(port=0, allow_insecure=True, write_profile=False) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def create(rt: LocalRuntime, url: str, **fields: Any) -> dict[str, Any]:
    """An endpoint named after its URL unless given a name (names are unique; the default is the host)."""
    fields.setdefault("name", url[:100])
    status, _, text = http(rt, "POST", "/endpoints", {"url": url, "events": ["*"], **fields}, as_admin(rt))
    assert status == 201, text
    return json.loads(text)


# -- refused without the right credential ------------------------------------------------------


INGEST_CREDENTIALS: dict[str, Callable[[LocalRuntime], dict[str, str]]] = {
    "none": lambda rt: {},
    "empty": lambda rt: {"x-api-key": ""},
    "wrong": lambda rt: {"x-api-key": "lsw_" + secrets.token_urlsafe(24)},
    "one character off": lambda rt: {"x-api-key": rt.api_key[:-1] + ("A" if rt.api_key[-1] != "A" else "B")},
    "prefix only": lambda rt: {"x-api-key": rt.api_key[:10]},
    "with a suffix": lambda rt: {"x-api-key": rt.api_key + "x"},
    "upper-cased": lambda rt: {"x-api-key": rt.api_key.upper()},
    "as a bearer token": lambda rt: {"Authorization": f"Bearer {rt.api_key}"},
    "the admin token": lambda rt: {"x-api-key": rt.admin_token},
}


def test_ingest_without_the_right_api_key_is_403_and_nothing_is_accepted(rt):
    for i, (label, credentials) in enumerate(INGEST_CREDENTIALS.items()):
        event = example_event() | {"id": f"evt_auth_{i}"}
        for path, body in (("/events", event), ("/events/batch", {"events": [event]})):
            status, _, text = http(rt, "POST", path, body, credentials(rt))
            assert (status, error_code(text)) == (403, "forbidden"), label
            assert rt.api_key not in text
        status, _, text = http(rt, "GET", f"/events/evt_auth_{i}", headers=as_admin(rt))
        assert (status, error_code(text)) == (404, "not_found"), label  # never stored
    control = example_event() | {"id": "evt_auth_ok"}
    assert http(rt, "POST", "/events", control, {"x-api-key": rt.api_key})[0] == 202
    assert http(rt, "GET", "/events/evt_auth_ok", headers=as_admin(rt))[0] == 200


ADMIN_CREDENTIALS: dict[str, Callable[[LocalRuntime], dict[str, str]]] = {
    "none": lambda rt: {},
    "empty": lambda rt: {"Authorization": ""},
    "scheme only": lambda rt: {"Authorization": "Bearer"},
    "wrong token": lambda rt: {"Authorization": "Bearer lsw_admin_" + secrets.token_urlsafe(24)},
    "one character off": lambda rt: {"Authorization": "Bearer " + rt.admin_token[:-1] + "!"},
    "token without scheme": lambda rt: {"Authorization": rt.admin_token},
    "Basic scheme": lambda rt: {
        "Authorization": "Basic " + base64.b64encode(f"admin:{rt.admin_token}".encode()).decode()
    },
    "token as API key": lambda rt: {"x-api-key": rt.admin_token},
    "the API key": lambda rt: {"Authorization": f"Bearer {rt.api_key}"},
}


def test_admin_without_the_right_token_is_401_and_changes_nothing(rt, receiver):
    endpoint = create(rt, receiver.url("/auth"))
    eid, secret = endpoint["id"], endpoint["secret"]
    routes = [
        ("GET", "/endpoints", None),
        ("POST", "/endpoints", {"url": receiver.url("/x"), "events": ["*"]}),
        ("GET", f"/endpoints/{eid}", None),
        ("PATCH", f"/endpoints/{eid}", {"timeout": 5000}),
        ("GET", f"/endpoints/{eid}/secret", None),
        ("POST", f"/endpoints/{eid}/secret/rotate", {}),
        ("POST", f"/endpoints/{eid}/pause", None),
        ("POST", f"/endpoints/{eid}/test", None),
        ("GET", f"/endpoints/{eid}/attempts", None),
        ("GET", f"/endpoints/{eid}/dead-letters", None),
        ("DELETE", f"/endpoints/{eid}/dead-letters?confirm=true", None),
        ("DELETE", f"/endpoints/{eid}", None),
        ("GET", "/event-types", None),
        ("GET", "/events/evt_x", None),
        ("GET", "/stats", None),
        ("POST", "/portal/sessions", {}),
        ("POST", "/portal/key/rotate", None),
    ]  # /openapi.json and /docs are public: they describe the API and disclose nothing secret
    before = http(rt, "GET", "/endpoints", headers=as_admin(rt))[2]
    for label, credentials in ADMIN_CREDENTIALS.items():
        for method, path, body in routes:
            status, headers, text = http(rt, method, path, body, credentials(rt))
            assert (status, error_code(text)) == (401, "unauthorized"), (label, method, path)
            assert headers.get("WWW-Authenticate") == "Bearer"
            assert secret not in text and rt.admin_token not in text
    assert http(rt, "GET", "/endpoints", headers=as_admin(rt))[2] == before  # nothing created, changed or deleted
    assert json.loads(http(rt, "GET", f"/endpoints/{eid}/secret", headers=as_admin(rt))[2])["secret"] == secret
    assert receiver.requests == []  # no test send went out


# -- secrets never leak -----------------------------------------------------------------------


class LogTap:
    """Every record our loggers emit, at DEBUG, for the duration of a `with`: the Lambda code's through
    Powertools' own JSON formatter (extra fields and tracebacks included), the local runtime's and
    anything reaching the root logger (AWS SDK, moto: at their usual levels) as plain text."""

    OURS = ("litestore-webhooks", "litestore_webhooks")  # Powertools' service logger and its children; stdlib ones

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self._handlers: list[tuple[logging.Logger, logging.Handler]] = []
        self._levels: dict[logging.Logger, int] = {}

    def _tap(self, logger: logging.Logger, formatter: logging.Formatter) -> None:
        handler = logging.StreamHandler(self.buffer)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        self._handlers.append((logger, handler))

    def __enter__(self) -> LogTap:
        from litestore_webhooks.handlers import admin, delivery, ingest  # noqa: F401 - their loggers exist from here on

        powertools = logging.getLogger(self.OURS[0])
        self._tap(powertools, next(h.formatter for h in powertools.handlers if h.formatter))
        plain = logging.Formatter("%(levelname)s %(name)s %(message)s")
        self._tap(logging.getLogger(self.OURS[1]), plain)
        self._tap(logging.getLogger(), plain)
        for name in [*self.OURS, *logging.root.manager.loggerDict]:
            if name.startswith(self.OURS):
                logger = logging.getLogger(name)
                self._levels[logger] = logger.level
                logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        for logger, handler in self._handlers:
            logger.removeHandler(handler)
        for logger, level in self._levels.items():
            logger.setLevel(level)

    @property
    def text(self) -> str:
        return self.buffer.getvalue()


def plain_forms(secret: str) -> list[str]:
    """A secret as given, and for whsec_ ones the base64 key alone."""
    found = [secret]
    if secret.startswith("whsec_"):
        found.append(secret.removeprefix("whsec_").rstrip("="))
    return found


def forms(secret: str) -> list[str]:
    """The ways a secret could show up: its plain forms, and inside any base64 text (a request body as
    API Gateway passes it on) the part of its encoding that is the same at each of the three byte
    alignments, for secrets long enough to give a telling part."""
    found = plain_forms(secret)
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret.encode())[4 if shift else 0 : -4].decode()
        if len(encoded) >= 12:
            found.append(encoded)
    return found


@dataclass
class Scenario:
    """What `exercise` did: every secret and credential it made or used, and every answer it saw."""

    made: list[str] = field(default_factory=list)  # secrets, API key, admin token: none may leak
    valid: list[str] = field(default_factory=list)  # the secrets the showing answers must show
    answers: list[tuple[str, str]] = field(default_factory=list)  # (what, raw text): must not show a secret
    showing: list[str] = field(default_factory=list)  # the answers whose job is to show a secret
    received: list[str] = field(default_factory=list)  # every request a receiver got
    sensitive: list[str] = field(default_factory=list)  # sensitive header values: for receivers only
    event_ids: list[str] = field(default_factory=list)
    failed_attempts: list[dict[str, Any]] = field(default_factory=list)


def stored_endpoint_items(rt: LocalRuntime) -> str:
    """The endpoints table as DynamoDB holds it (what table read access or a backup shows), as text."""
    pages = clients.client("dynamodb").get_paginator("scan").paginate(TableName=r.ENDPOINTS_TABLE.name(rt.prefix))
    return json.dumps([item for page in pages for item in page["Items"]])


def test_stored_endpoint_items_hold_no_plaintext_secret(rt, receiver):
    own = "own-secret-" + secrets.token_hex(12)
    endpoint = create(rt, receiver.url("/at-rest"), secret=own)
    status, _, text = http(
        rt, "POST", f"/endpoints/{endpoint['id']}/secret/rotate", {"overlapSeconds": 3600}, as_admin(rt)
    )
    assert status == 200, text
    rotated = json.loads(text)["secret"]
    stored = stored_endpoint_items(rt)
    assert endpoint["id"] in stored  # the scan reads the right table
    assert [form[:12] + "..." for secret in (own, rotated) for form in forms(secret) if form in stored] == []
    # Still the secrets the API shows and delivery signs with.
    shown = json.loads(http(rt, "GET", f"/endpoints/{endpoint['id']}/secret", headers=as_admin(rt))[2])
    assert shown["secret"] == rotated and len(shown["previousSecrets"]) == 1


def exercise(rt: Any) -> Scenario:
    """Create endpoints with given and generated secrets, rotate, deliver, fail, dead-letter, test-send and
    read everything back, over HTTP only (`rt` is anything with base_url, api_key and admin_token)."""
    s = Scenario()

    def admin_call(method: str, path: str, body: Any = None, *, shows_secret: bool = False) -> Any:
        status, headers, text = http(rt, method, path, body, as_admin(rt))
        assert status < 500 and (status < 400 or path.startswith("/endpoints/ep_nope") or "secret" in str(body)), (
            method,
            path,
            text,
        )
        if shows_secret:
            s.showing.append(text)
        else:
            s.answers.append((f"{method} {path} -> {status}", text + json.dumps(headers)))
        return json.loads(text) if text and headers.get("Content-Type") == "application/json" else text

    own = "own-secret-" + secrets.token_hex(12)
    own_whsec = generate_secret()
    rotated_own = "rotated-own-" + secrets.token_hex(12)
    s.made += [own, own_whsec, rotated_own, rt.api_key, rt.admin_token]

    with (
        Receiver() as good,
        Receiver(default=Reply(500, body=b"nope")) as failing,
        Receiver(default=Reply(400)) as rejecting,
    ):
        header_value = "Bearer hdr-" + secrets.token_hex(12)
        s.sensitive.append(header_value)
        ok = admin_call(
            "POST",
            "/endpoints",
            {
                "name": "good",
                "url": good.url(),
                "events": ["order.*"],
                "secret": own,
                "sensitiveHeaders": {"Authorization": header_value},
            },
            shows_secret=True,
        )
        bad = admin_call(
            "POST",
            "/endpoints",
            {
                "name": "failing",
                "url": failing.url(),
                "events": ["order.*"],
                "secret": own_whsec,
                "retryPolicy": FAST_RETRIES,
            },
            shows_secret=True,
        )
        rej = admin_call(
            "POST", "/endpoints", {"name": "rejecting", "url": rejecting.url(), "events": ["*"]}, shows_secret=True
        )
        s.made.append(rej["secret"])  # generated
        assert (ok["secret"], bad["secret"]) == (own, own_whsec)

        rotated = admin_call(
            "POST", f"/endpoints/{ok['id']}/secret/rotate", {"overlapSeconds": 3600}, shows_secret=True
        )
        s.made.append(rotated["secret"])  # generated; `own` keeps signing for the overlap
        admin_call(
            "POST",
            f"/endpoints/{bad['id']}/secret/rotate",
            {"secret": rotated_own, "overlapSeconds": 60},
            shows_secret=True,
        )
        shown = admin_call("GET", f"/endpoints/{ok['id']}/secret", shows_secret=True)
        assert shown["secret"] == rotated["secret"] and len(shown["previousSecrets"]) == 1

        # Refused inputs that carry a would-be secret: the answer must not repeat it.
        for i, body in enumerate(
            [
                {"secret": "has spaces " + secrets.token_hex(8)},
                {"secret": "sh0rt"},
                {"secret": "tab\tsecret-" + secrets.token_hex(8)},
            ]
        ):
            s.made.append(body["secret"])
            admin_call("POST", "/endpoints", {"name": f"x{i}", "url": good.url(), "events": ["*"], **body})
            admin_call("POST", f"/endpoints/{ok['id']}/secret/rotate", body)
            admin_call("PATCH", f"/endpoints/{ok['id']}", body)
        # ... and inputs that carry a would-be sensitive header value.
        for i, headers in enumerate(
            [
                {"Host": "hdr-host-" + secrets.token_hex(8)},
                {"X-Key": "line\nbreak-" + secrets.token_hex(8)},
                {"X-Key": "[redacted]", "X-Other": "hdr-next-" + secrets.token_hex(8)},
            ]
        ):
            s.sensitive += list(headers.values())[-1:]
            for method, path in (("POST", "/endpoints"), ("PATCH", f"/endpoints/{ok['id']}")):
                body = {"name": f"h{i}", "url": good.url(), "events": ["*"]} if method == "POST" else {}
                status, headers_seen, text = http(rt, method, path, {**body, "sensitiveHeaders": headers}, as_admin(rt))
                assert status == 400, text
                s.answers.append((f"{method} {path} -> {status}", text + json.dumps(headers_seen)))
        status, _, text = http(rt, "GET", "/endpoints", headers={"Authorization": f"Bearer {own}"})  # as a token
        s.answers.append(("GET /endpoints with a secret as the token", text))

        # Deliveries: delivered, retried then dead-lettered, rejected; and test sends.
        s.event_ids = [f"evt_secret_{i}" for i in range(3)]
        for event_id in s.event_ids:
            event = example_event() | {
                "event": "order.updated",
                "id": event_id,
                "data": {"orderId": "o-1", "status": "shipped", "updatedAt": "2024-01-15T11:00:00Z"},
            }
            status, _, text = http(rt, "POST", "/events", event, {"x-api-key": rt.api_key})
            assert status == 202, text
            s.answers.append(("POST /events", text))
        for endpoint in (ok, bad, rej):
            sent = admin_call("POST", f"/endpoints/{endpoint['id']}/test", {"event": "order.updated"})
            assert sent["status"] in ("delivered", "failed"), sent
        poll(
            lambda: len(admin_call("GET", f"/endpoints/{bad['id']}/dead-letters")["data"]) >= 3,
            timeout=30,
            what="the failing endpoint's events dead-lettered",
        )
        poll(
            lambda: len(admin_call("GET", f"/endpoints/{rej['id']}/dead-letters")["data"]) >= 3,
            timeout=30,
            what="the rejecting endpoint's events dead-lettered",
        )
        delivered = good.wait_for(4, timeout=30)  # 3 events + 1 test send

        # Every read the API offers.
        s.failed_attempts = admin_call("GET", f"/endpoints/{bad['id']}/attempts?limit=100")["data"]
        for endpoint in (ok, bad, rej):
            eid = endpoint["id"]
            for path in (
                f"/endpoints/{eid}",
                f"/endpoints/{eid}/attempts?limit=100",
                f"/endpoints/{eid}/dead-letters",
                f"/endpoints/{eid}/stats",
            ):
                admin_call("GET", path)
            admin_call("PATCH", f"/endpoints/{eid}", {"timeout": 5000})
            admin_call("POST", f"/endpoints/{eid}/pause")
            admin_call("POST", f"/endpoints/{eid}/resume")
        for event_id in s.event_ids:
            admin_call("GET", f"/events/{event_id}")
            admin_call("GET", f"/events/{event_id}/attempts")
        for path in (
            "/endpoints",
            "/endpoints?limit=1",
            "/event-types",
            "/openapi.json",
            "/docs",
            "/endpoints/ep_nope",
            "/endpoints/ep_nope/secret",
        ):
            admin_call("GET", path)
        admin_call("POST", f"/endpoints/{bad['id']}/dead-letters/redrive", {})
        admin_call("DELETE", f"/endpoints/{rej['id']}")
        s.received = [
            json.dumps({"headers": r.headers, "body": r.body.decode()})
            for rx in (good, failing, rejecting)
            for r in rx.requests
        ]

    # The deliveries were signed with the current secret and, during the overlap, the rotated-out one too,
    # and carried the endpoint's sensitive header.
    for request in delivered:
        assert request.headers["Authorization"] == header_value
        verify(request.body, request.headers, rotated["secret"])
        verify(request.body, request.headers, own)
    s.valid = [own, own_whsec, rotated_own, rej["secret"], rotated["secret"]]
    return s


def leaks(s: Scenario, places: dict[str, str]) -> list[tuple[str, str]]:
    """(secret's first characters, where) for every secret found where it must not be."""
    places = {
        **places,
        **{f"answer {what}": text for what, text in s.answers},
        **{f"request to a receiver #{i}": text for i, text in enumerate(s.received)},
    }
    found = [
        (form[:12] + "...", where)
        for secret in s.made
        for form in forms(secret)
        for where, text in places.items()
        if form in text
    ]
    # A sensitive header value goes to its receiver, nowhere else: not even where a secret is shown.
    places = {
        **{k: v for k, v in places.items() if not k.startswith("request to a receiver")},
        **{f"answer showing a secret #{i}": text for i, text in enumerate(s.showing)},
    }
    return found + [
        (form[:12] + "...", where)
        for value in s.sensitive
        for form in forms(value)
        for where, text in places.items()
        if form in text
    ]


def check_the_scan_saw_it_all(s: Scenario, logs: str) -> None:
    """The scan works: the logs saw our pipeline, the answers carry the attempt log, and the same scan
    finds every valid secret where it is meant to be shown."""
    assert all(event_id in logs for event_id in s.event_ids) and "dead-lettered" in logs and "delivery attempt" in logs
    assert {a["status"] for a in s.failed_attempts} >= {"retry_scheduled", "dead_lettered", "failed"}, s.failed_attempts
    assert all(any(form in text for text in s.showing) for secret in s.valid for form in plain_forms(secret))
    assert len(s.answers) > 60 and len(logs) > 5000, (len(s.answers), len(logs))


def test_secrets_never_appear_in_logs_listings_attempts_or_errors(rt, capfd):
    with LogTap() as tap:
        s = exercise(rt)
    captured = capfd.readouterr()
    check_the_scan_saw_it_all(s, tap.text)
    found = leaks(
        s,
        {
            "log lines (DEBUG)": tap.text,
            "stdout": captured.out,
            "stderr": captured.err,
            "stored endpoint items": stored_endpoint_items(rt),
        },
    )
    assert found == [], found
    print(
        f"scanned for {len(s.made)} secrets/credentials: {len(s.answers)} answers, {len(s.received)} receiver "
        f"requests, {len(tap.text)} characters of log lines, {len(captured.out) + len(captured.err)} of stdout/stderr"
    )


@pytest.mark.parametrize("flags", [["--pretty"], []], ids=["pretty", "json"])
def test_secrets_never_appear_in_a_local_runtimes_output_at_debug(flags, tmp_path):
    """The same scenario against `litestore-webhooks local --log-level debug` as a user runs it (its own
    process, so Powertools reads the environment as it imports): stderr holds every log line, stdout
    only the banner. `--pretty` lines are readable text, not JSON, and come
    without Powertools' development mode (event dumps, "Middleware Stack", its UserWarning)."""
    from tests.test_e2e_operator import start_runtime

    runtime = start_runtime(
        {"XDG_CACHE_HOME": str(tmp_path)}, "--allow-insecure-endpoints", "--log-level", "debug", *flags
    )
    try:
        s = exercise(runtime)
    finally:
        rest, logs = runtime.stop()
    found = leaks(s, {"the runtime's stderr (DEBUG)": logs, "the runtime's stdout after its banner": rest})
    assert found == [], found
    for noise in ("Middleware Stack", "UserWarning", "POWERTOOLS_DEV", "Traceback"):
        assert noise not in logs + rest, noise
    assert rest == "", rest[:2000]  # nothing but the banner on stdout: every log line on stderr
    check_the_scan_saw_it_all(s, logs)
    assert [line for line in logs.splitlines() if "DEBUG" in line], "--log-level debug logged nothing at DEBUG"
    if flags:
        assert not [line for line in logs.splitlines() if line.startswith("{")]
        assert re.search(r"^\d\d:\d\d:\d\d\.\d{3} INFO +delivery +delivery attempt .*eventId=evt_secret_0", logs, re.M)
    print(f"{flags or 'json'}: scanned {len(logs)} characters of the runtime's stderr for {len(s.made)} secrets")


def test_the_scan_would_see_a_leak(rt):
    """Control for the scan above: a secret that is logged is found in the tap."""
    leaked = "own-secret-" + secrets.token_hex(12)
    with LogTap() as tap:
        logging.getLogger("litestore-webhooks.litestore_webhooks.delivery").debug("oops %s", leaked)
    assert leaked in tap.text


# -- constant-time comparisons ----------------------------------------------------------------


class CompareSpy:
    def __init__(self, answer: bool | None = None) -> None:
        self.calls: list[tuple[bytes, bytes]] = []
        self.answer = answer

    def __call__(self, a: Any, b: Any) -> bool:
        self.calls.append((a, b))
        return hmac.compare_digest(a, b) if self.answer is None else self.answer


def test_verify_compares_signatures_with_compare_digest_and_without_an_early_exit(monkeypatch):
    spy = CompareSpy()
    monkeypatch.setattr(signing, "hmac", SimpleNamespace(new=hmac.new, compare_digest=spy))
    body, now = b'{"id":"evt_1"}', 1_700_000_000
    secret, other = generate_secret(), generate_secret()
    headers = signature_headers(
        body=body,
        event_id="evt_1",
        event_type="order.updated",
        attempt=1,
        secrets=[secret, other, generate_secret()],
        timestamp=now,
    )
    for key in (secret, other):  # the match is first, then second: the same three comparisons either way
        spy.calls.clear()
        verify(body, headers, key, now=now)
        assert len(spy.calls) == 3 and all(len(a) == len(b) == 32 for a, b in spy.calls)
    spy.calls.clear()
    with pytest.raises(signing.WebhookVerificationError):
        verify(body, headers, generate_secret(), now=now)
    assert len(spy.calls) == 3
    spy.calls.clear()
    verify(
        body,
        {signing.SIGNATURE_HEADER: headers[signing.SIGNATURE_HEADER]},
        secret,
        allow_replayable_legacy_signature=True,
    )  # legacy header
    assert len(spy.calls) == 1
    # The verdict is compare_digest's: told "no match", a correctly signed request is refused.
    spy.answer = False
    with pytest.raises(signing.WebhookVerificationError):
        verify(body, headers, secret, now=now)
    with pytest.raises(signing.WebhookVerificationError):
        verify(
            body,
            {signing.SIGNATURE_HEADER: headers[signing.SIGNATURE_HEADER]},
            secret,
            allow_replayable_legacy_signature=True,
        )


def test_the_local_api_compares_credentials_with_compare_digest(monkeypatch):
    spy = CompareSpy()
    monkeypatch.setattr(apigw, "hmac", SimpleNamespace(compare_digest=spy))
    server = SimpleNamespace(api_key="k" * 20, admin_token="t" * 20)  # what authorize() reads of an ApiServer
    ingest_route, _ = apigw.resolve("/events", "POST")
    admin_route, _ = apigw.resolve("/endpoints", "GET")
    assert apigw.ApiServer.authorize(server, ingest_route, {"x-api-key": ["k" * 20]}) is None
    assert apigw.ApiServer.authorize(server, admin_route, {"authorization": ["Bearer " + "t" * 20]}) is None
    assert spy.calls == [(b"k" * 20, b"k" * 20), (b"t" * 20, b"t" * 20)]
    spy.answer = False
    assert apigw.ApiServer.authorize(server, ingest_route, {"x-api-key": ["k" * 20]})["statusCode"] == 403
    assert (
        apigw.ApiServer.authorize(server, admin_route, {"authorization": ["Bearer " + "t" * 20]})["statusCode"] == 401
    )
