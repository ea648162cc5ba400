"""Faults at the receiver, through the local runtime (moto, the API and the poller in process),
driven over HTTP as a user would. Each fault must end as docs/architecture.md's failure rules
say, and the attempt log (GET /endpoints/{id}/attempts) and the dead letters must tell what
happened. The receivers are real servers on 127.0.0.1: `tests.receivers.Receiver` where
http.server can produce the fault, `RawServer` (a plain socket) where it cannot.

The scenarios run side by side in two groups (module fixtures `transport` and `answers`; one
endpoint each), so the suite waits for the slowest retry hop twice rather than once per scenario;
the tests then read each one's outcome. Each prints what it saw (pytest -s), for
docs/reliability.md.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import trustme
from tests.local_stack import attempts, create_endpoint, dead_letters, event, get, poll, settle, stats
from tests.receivers import Receiver, Reply, ca_bundle
from tests.test_local_runtime import ingest

from litestore_webhooks.core.sender import EXCERPT_BYTES
from litestore_webhooks.local.runtime import LocalRuntime

TYPE = "order.updated"  # every transport scenario gets one event of this type
# Short policies: the attempt log shows a retry, and SQS rounds each hop up to 1 s.
TWO_TRIES = {"maxAttempts": 2, "initialDelay": 100, "backoffMultiplier": 2.0, "maxDelay": 1000}
ONE_TRY = {**TWO_TRIES, "maxAttempts": 1}
FINAL = ("delivered", "dead_lettered")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def rt(ca, tmp_path_factory):
    """allow_insecure: http:// and loopback receivers; ca_bundle: HTTPS receivers with our test CA."""
    bundle = ca_bundle(ca, tmp_path_factory.mktemp("ca") / "ca.pem")
    with LocalRuntime(port=0, allow_insecure=True, ca_bundle=bundle, write_profile=False) as runtime:
        yield runtime


# -- a server for faults http.server cannot make -------------------------------------------------


def read_request(conn: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP request off `conn`: (head, body), using Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client closed before the end of the headers")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client closed mid-body")
        body += chunk
    return head, body


class RawServer:
    """A TCP (or, given an ssl context, TLS) server on 127.0.0.1: `serve(conn, n)` handles the n-th
    connection (from 1) in its own thread and returns a note, which lands in `notes` (an exception
    it raised lands there too). `wait_for(n)` blocks until n connections have been handled."""

    def __init__(self, serve: Callable[[socket.socket, int], Any], context: ssl.SSLContext | None = None) -> None:
        self._serve, self._context = serve, context
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.notes: list[Any] = []
        self._done = threading.Condition()
        self._count = 0
        threading.Thread(target=self._accept, daemon=True, name=f"raw:{self.port}").start()

    def url(self, path: str = "/hook") -> str:
        return f"{'https' if self._context else 'http'}://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._count += 1
            threading.Thread(target=self._handle, args=(conn, self._count), daemon=True).start()

    def _handle(self, conn: socket.socket, n: int) -> None:
        try:
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            note: Any = self._serve(conn, n)
        except Exception as exc:  # noqa: BLE001 - what the client did to us is the observation
            note = exc
        finally:
            conn.close()
        with self._done:
            self.notes.append(note)
            self._done.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        with self._done:
            if not self._done.wait_for(lambda: len(self.notes) >= count, timeout):
                raise AssertionError(f"{len(self.notes)} of {count} connections handled within {timeout} s")
            return list(self.notes)

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._sock.close()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


# -- running scenarios ------------------------------------------------------------------------------


@dataclass
class Outcome:
    endpoint_id: str
    log: list[dict[str, Any]]  # the attempt log, by event then attempt
    dead: list[dict[str, Any]]  # dead letters
    seconds: float  # from the first ingest to this endpoint's last final attempt being logged

    def steps(self) -> list[tuple[int, str, int | None, str | None]]:
        return [(a["attempt"], a["status"], a.get("httpStatus"), a.get("error")) for a in self.log]


def run(rt: LocalRuntime, scenarios: dict[str, dict[str, Any]], *, timeout: float = 30) -> dict[str, Outcome]:
    """Per scenario (name -> {"url", "policy", optional "timeout" ms, "type", "events"}) an endpoint
    subscribed to `type` (default TYPE); then `events` (default 1) events of each type. Returns when
    every endpoint has a final attempt for each event of its type and the queues are idle."""
    endpoints, per_type = {}, {}
    for name, s in scenarios.items():
        fields = {"retryPolicy": s["policy"], **({"timeout": s["timeout"]} if "timeout" in s else {})}
        endpoints[name] = create_endpoint(rt, f"rx {name}", s["url"], [s.get("type", TYPE)], **fields)["id"]
        per_type[s.get("type", TYPE)] = max(per_type.get(s.get("type", TYPE), 0), s.get("events", 1))
    started = time.monotonic()
    for event_type, count in per_type.items():
        for i in range(count):
            assert ingest(rt, event(event_type, f"evt_rx_{event_type}_{i}"))[0] == 202
    finished: dict[str, float] = {}

    def all_final() -> bool:
        for name, endpoint_id in endpoints.items():
            expected = per_type[scenarios[name].get("type", TYPE)]
            if name not in finished and sum(a["status"] in FINAL for a in attempts(rt, endpoint_id)) == expected:
                finished[name] = time.monotonic() - started
        return len(finished) == len(endpoints)

    poll(
        all_final,
        timeout=timeout,
        what=f"a final attempt for every event of {sorted(set(endpoints) - set(finished))}",
        interval=0.2,
    )
    settle(rt, endpoints.values())
    outcomes = {}
    for name, endpoint_id in endpoints.items():
        log = sorted(attempts(rt, endpoint_id), key=lambda a: (a["eventId"], a["attempt"]))
        outcomes[name] = Outcome(endpoint_id, log, dead_letters(rt, endpoint_id), finished[name])
        dead = [(d["reason"], d["lastStatus"], d["lastError"], d["attempts"]) for d in outcomes[name].dead]
        print(
            f"\n[{name}] steps={outcomes[name].steps()} dead={dead} "
            f"durationMs={[a['durationMs'] for a in log]} final after {finished[name]:.2f}s"
        )
    return outcomes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hang_up_twice(conn: socket.socket, n: int) -> str:
    """1st connection: reset after the first bytes of the request; 2nd: read it all, close without
    a word; then answer 200."""
    if n == 1:
        conn.recv(64)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        return "reset mid-request"
    head, body = read_request(conn)
    if n == 2:
        return "read it all, closed without answering"
    conn.sendall(OK_RESPONSE)
    return json.loads(body)["id"]


@pytest.fixture(scope="module")
def transport(rt, ca):
    """Connection-level faults, one event each: (servers, outcomes) by scenario name."""
    past = datetime.now(UTC) - timedelta(days=2)
    expired = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", not_before=past, not_after=past + timedelta(days=1)).configure_cert(expired)
    with ExitStack() as stack:
        rx = {
            "tls untrusted ca": stack.enter_context(Receiver(ca=trustme.CA())),  # a CA the runtime does not trust
            "tls wrong host": stack.enter_context(Receiver(ca=ca, hostnames=("other.example.test",))),
            "tls expired": stack.enter_context(RawServer(lambda conn, n: read_request(conn), context=expired)),
            "tls to a plain http port": stack.enter_context(Receiver()),  # HTTP where https:// says TLS
            "tls valid": stack.enter_context(Receiver(ca=ca)),  # control: our CA, the right name, in date
            "slow answer": stack.enter_context(Receiver(Reply(delay_s=5))),
            # One byte every 20 ms: every read succeeds well within any per-read timeout.
            "dribbled body": stack.enter_context(Receiver(Reply(200, body=b"x" * 500, chunk_delay_s=0.02))),
            "closed mid-request": stack.enter_context(RawServer(hang_up_twice)),
        }
        urls = {name: server.url() for name, server in rx.items()}
        urls["tls to a plain http port"] = urls["tls to a plain http port"].replace("http:", "https:")
        # .invalid never resolves (RFC 6761). With allow_insecure the sender still resolves the
        # name itself, once, in a thread bounded by the endpoint timeout, and vets every answer.
        urls["dns"] = "http://no-such-host.invalid:8080/hook"
        urls["refused"] = f"http://127.0.0.1:{free_port()}/hook"
        scenarios = {name: {"url": url, "policy": TWO_TRIES} for name, url in urls.items()}
        scenarios["slow answer"]["timeout"] = scenarios["dribbled body"]["timeout"] = 500
        scenarios["dns"]["timeout"] = 2000
        scenarios["closed mid-request"]["policy"] = {**TWO_TRIES, "maxAttempts": 3}
        yield rx, run(rt, scenarios)


REDIRECTS = (301, 302, 307, 308)


def retry_at_a_date(conn: socket.socket, n: int) -> dict[str, float]:
    """429 with Retry-After as an HTTP date 3-4 s ahead (whole seconds, as the header has), then 200."""
    read_request(conn)
    now = time.time()
    if n > 1:
        conn.sendall(OK_RESPONSE)
        return {"at": now}
    retry_at = datetime.fromtimestamp(int(now) + 4, UTC)
    conn.sendall(
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: %s\r\nContent-Length: 0\r\n"
        b"Connection: close\r\n\r\n" % format_datetime(retry_at, usegmt=True).encode()
    )
    return {"at": now, "retry_at": retry_at.timestamp()}


ENDLESS = 1 << 30  # the huge body: 1 GiB promised, streamed until the client hangs up
PATTERN = b"0123456789abcdef" * 4096  # 64 KiB


def endless_body(conn: socket.socket, n: int) -> dict[str, Any]:
    read_request(conn)
    conn.sendall(
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % ENDLESS
    )
    sent = 0
    try:
        while sent < ENDLESS:
            sent += conn.send(PATTERN)
    except OSError as exc:
        return {"sent": sent, "stopped_by": type(exc).__name__}
    return {"sent": sent, "stopped_by": None}


@pytest.fixture(scope="module")
def answers(rt):
    """Faults in what the receiver answers; each scenario its own event type: (servers, outcomes)."""
    flapping = [Reply(status) for pair in zip((503, 502, 500, 504) * 4, (200,) * 16) for status in pair]
    with ExitStack() as stack:
        elsewhere = stack.enter_context(Receiver())
        metadata = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
        rx = {
            "5xx flapping": stack.enter_context(Receiver(*flapping)),
            "429 retry-after seconds": stack.enter_context(Receiver(Reply(429, {"Retry-After": "3"}))),
            "429 retry-after date": stack.enter_context(RawServer(retry_at_a_date)),
            "410 gone": stack.enter_context(Receiver(Reply(410, body=b"this hook was removed"))),
            "3xx": stack.enter_context(
                Receiver(
                    Reply(301, {"Location": elsewhere.url("/moved")}),
                    Reply(302, {"Location": metadata}),
                    Reply(307, {"Location": elsewhere.url("/temp")}),
                    Reply(308, {"Location": "https://example.com/"}),
                )
            ),
            "huge body": stack.enter_context(RawServer(endless_body)),
            "redirect target": elsewhere,
        }
        scenarios = {
            "5xx flapping": {"type": "commission.earned", "events": 4, "policy": {**TWO_TRIES, "maxAttempts": 5}},
            "429 retry-after seconds": {"type": "content.approved", "policy": TWO_TRIES},
            "429 retry-after date": {"type": "content.rejected", "policy": TWO_TRIES},
            "410 gone": {"type": "creator.registered", "policy": TWO_TRIES},
            "3xx": {"type": "order.completed", "events": len(REDIRECTS), "policy": TWO_TRIES},
            "huge body": {"type": "product.purchased", "policy": ONE_TRY},
        }
        for name, s in scenarios.items():
            s["url"] = rx[name].url()
        yield rx, run(rt, scenarios)


# -- connection-level faults ----------------------------------------------------------------------


def test_connection_refused_and_dns_failure_are_retried_then_dead_lettered(transport):
    rx, out = transport
    # The resolver's words vary by platform ("Name or service not known" here); the kind does not.
    dns_error = out["dns"].log[0]["error"]
    assert dns_error.startswith("dns_failure: "), dns_error
    for name, error in (("refused", "connection_refused"), ("dns", dns_error)):
        assert out[name].steps() == [(1, "retry_scheduled", None, error), (2, "dead_lettered", None, error)]
        assert [(d["reason"], d["lastStatus"], d["lastError"], d["attempts"]) for d in out[name].dead] == [
            ("retries_exhausted", None, error, 2)
        ]


def test_tls_failures_are_retried_say_why_and_send_nothing(transport):
    rx, out = transport
    assert out["tls valid"].steps() == [(1, "delivered", 200, None)] and len(rx["tls valid"].requests) == 1
    for name, error in (
        ("tls untrusted ca", "tls_error: unable to get local issuer certificate"),
        ("tls wrong host", "tls_error: IP address mismatch, certificate is not valid for '127.0.0.1'."),
        ("tls expired", "tls_error: certificate has expired"),
        ("tls to a plain http port", "tls_error: WRONG_VERSION_NUMBER"),
    ):
        assert out[name].steps() == [(1, "retry_scheduled", None, error), (2, "dead_lettered", None, error)]
        assert [(d["reason"], d["lastError"], d["attempts"]) for d in out[name].dead] == [
            ("retries_exhausted", error, 2)
        ]
    # The handshake failed, so no request was made: nothing was sent in clear or to the wrong host.
    assert [rx[name].requests for name in ("tls untrusted ca", "tls wrong host", "tls to a plain http port")] == [
        [],
        [],
        [],
    ]
    assert all(isinstance(note, ssl.SSLError) for note in rx["tls expired"].wait_for(2))


def test_slow_answer_and_dribbled_body_hit_the_wall_clock_timeout(transport):
    rx, out = transport
    for name in ("slow answer", "dribbled body"):
        assert out[name].steps() == [(1, "retry_scheduled", None, "timeout"), (2, "delivered", 200, None)]
        assert 500 <= out[name].log[0]["durationMs"] < 1500, out[name].log[0]  # the timeout, not 5 s / 10 s
        requests = rx[name].requests
        assert len(requests) == 2  # the late answer was a real receipt: the retry is a duplicate POST ...
        assert len({q.headers["webhook-id"] for q in requests}) == 1  # ... with the same event id


def test_receiver_closing_the_connection_mid_request_is_retried(transport):
    rx, out = transport
    o = out["closed mid-request"]
    # A reset reaches the client as ECONNRESET or, if it lost the race with the client's read, as end of stream.
    assert o.log[0]["error"] in (
        "connection_error: reset by the receiver",
        "connection_error: closed by the receiver before a response",
    ), o.log[0]
    assert o.steps()[1:] == [
        (2, "retry_scheduled", None, "connection_error: closed by the receiver before a response"),
        (3, "delivered", 200, None),
    ]
    assert rx["closed mid-request"].wait_for(3) == [
        "reset mid-request",
        "read it all, closed without answering",
        o.log[0]["eventId"],
    ]


# -- faults in the answer ------------------------------------------------------------------------------


def test_flapping_5xx_receiver_gets_everything_through_retries(answers):
    rx, out = answers
    o = out["5xx flapping"]
    finals = [a for a in o.log if a["status"] != "retry_scheduled"]
    retries = [a for a in o.log if a["status"] == "retry_scheduled"]
    assert [(a["status"], a["httpStatus"]) for a in finals] == [("delivered", 200)] * 4 and o.dead == []
    assert retries and all(a["httpStatus"] in (500, 502, 503, 504) and a["nextRetryAt"] for a in retries)
    assert len(rx["5xx flapping"].requests) == len(o.log)  # one logged attempt per POST, no more, no less
    print(f"[5xx flapping] {len(o.log)} POSTs for 4 events, {len(retries)} retried")


def test_429_retry_after_in_seconds_and_as_a_date_sets_the_next_attempt(answers):
    # The policy alone would retry after ~100 ms (1 s after SQS rounding); Retry-After asks for more.
    rx, out = answers
    for name in ("429 retry-after seconds", "429 retry-after date"):
        assert out[name].steps() == [(1, "retry_scheduled", 429, None), (2, "delivered", 200, None)]
    first, second = rx["429 retry-after seconds"].requests
    print(f"[429 retry-after seconds] second POST {second.at - first.at:.2f}s after the first")
    assert 3.0 <= second.at - first.at < 6.0
    first, second = rx["429 retry-after date"].wait_for(2)
    print(
        f"[429 retry-after date] second POST {second['at'] - first['at']:.2f}s after the first, "
        f"{second['at'] - first['retry_at']:.2f}s after the date"
    )
    assert first["retry_at"] - first["at"] >= 2.0  # the date was well ahead when it was sent ...
    assert second["at"] >= first["retry_at"] - 0.05 and second["at"] - first["at"] < 6.0  # ... and was kept


def test_410_dead_letters_and_pauses_the_endpoint_which_then_buffers(rt, answers):
    rx, out = answers
    o = out["410 gone"]
    assert o.steps() == [(1, "dead_lettered", 410, None)]
    assert o.log[0]["responseExcerpt"] == "this hook was removed"
    assert [(d["reason"], d["lastStatus"], d["attempts"]) for d in o.dead] == [("gone", 410, 1)]
    endpoint = get(rt, f"/endpoints/{o.endpoint_id}")
    assert (endpoint["active"], endpoint["pausedReason"]) == (False, "gone")
    assert ingest(rt, event("creator.registered", "evt_rx_after_gone"))[0] == 202
    poll(lambda: stats(rt, o.endpoint_id)["queueDepth"] == 1, timeout=10, what="the next event buffered")
    assert len(rx["410 gone"].requests) == 1  # nothing more POSTed to a receiver that said Gone


def test_redirects_to_another_host_are_not_followed_and_dead_letter(answers):
    rx, out = answers
    o = out["3xx"]
    assert sorted(o.steps(), key=lambda s: s[2]) == [(1, "dead_lettered", status, None) for status in REDIRECTS]
    assert sorted((d["reason"], d["lastStatus"], d["attempts"]) for d in o.dead) == [
        ("redirect", status, 1) for status in REDIRECTS
    ]
    assert len(rx["3xx"].requests) == 4 and rx["redirect target"].requests == []


def test_huge_response_body_is_read_only_up_to_the_excerpt(answers):
    rx, out = answers
    o = out["huge body"]
    (note,) = rx["huge body"].wait_for(1)
    print(
        f"[huge body] server sent {note['sent']:,} of {ENDLESS:,} bytes before the client hung up "
        f"({note['stopped_by']})"
    )
    assert o.steps() == [(1, "dead_lettered", 500, None)]
    assert o.log[0]["responseExcerpt"] == PATTERN[:EXCERPT_BYTES].decode()
    assert note["stopped_by"] in ("BrokenPipeError", "ConnectionResetError")  # the client closed early
    assert note["sent"] < 32 << 20  # what socket buffers hold at most, never the whole body
    assert o.log[0]["durationMs"] < 2000
