"""`make demo` and the quick start it prints, run as a user would: as subprocesses, over real HTTP."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import seed_catalog as catalog
from litestore_webhooks.cli import profile
from litestore_webhooks.core.endpoint import subscribes
from litestore_webhooks.demo import ENDPOINTS_FILE, quick_start

BIN = Path(sys.executable).parent


def test_demo_tour_ends_by_itself_with_every_delivery_accounted_for():
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "litestore_webhooks.demo", "--json"], capture_output=True, text=True, timeout=120
    )
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert took < 120
    lines = proc.stdout.splitlines()
    summary = json.loads(lines[-1])

    # The numbers follow from the document's endpoints and examples, not from the demo's code.
    endpoints = json.loads(ENDPOINTS_FILE.read_text())
    assert [e["name"] for e in endpoints] == ["Order Processing", "Email Service", "Analytics"]
    examples = sum(subscribes(e["events"], name) for e in endpoints for name in catalog.CATALOG)
    retried = sum(subscribes(e["events"], "product.purchased") for e in endpoints)  # one fails twice first
    rejected = sum(subscribes(e["events"], "user.registered") for e in endpoints)  # one answers 400 first
    deliveries = examples + retried + rejected
    assert (examples, deliveries) == (15, 19)
    assert {k: v for k, v in summary.items() if k != "seconds"} == {
        "eventsPublished": len(catalog.CATALOG) + 2,
        "deliveries": deliveries,
        "attempts": deliveries + 3,
        "retries": 2,
        "deadLettered": 1,
        "redriven": 1,
        "verified": deliveries + 3,
        "badSignatures": 0,
    }
    assert summary["seconds"] < took

    out = proc.stdout
    assert "all 15 deliveries arrived exactly once, signatures verified" in out
    attempts = [line.split() for line in lines if line.lstrip().startswith("attempt ")]
    statuses = [(words[1], words[5], words[6].rstrip(",")) for words in attempts]
    assert statuses == [
        ("1", "503", "retry_scheduled"),
        ("2", "503", "retry_scheduled"),
        ("3", "200", "delivered"),
        ("1", "400", "dead_lettered"),
        ("1", "200", "delivered"),
    ]
    assert "reason=rejected lastStatus=400 attempts=1" in out
    assert "redriven 1, remaining 0" in out and "dead letters left: 0" in out
    assert not [line for line in lines if '"level"' in line or '"_aws"' in line]  # runtime logs stay out of the tour
    assert "\x1b[" not in out  # not a terminal: no colour, no redrawing
    print(f"demo took {took:.1f} s (its own clock: {summary['seconds']} s)")


class Lines:
    """A subprocess's stdout lines, read in the background so waits can have deadlines."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.seen, self._q = proc, [], queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, match: Callable[[str], bool], timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if match(line):
                return line
        raise AssertionError(f"no matching line within {timeout} s; got: {self.seen}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(text: str, receiver_port: int) -> list[str]:
    words = shlex.split(text.replace("3000", str(receiver_port)))
    if words[0] == "litestore-webhooks":
        words[0] = str(BIN / "litestore-webhooks")
    elif words[0] == "python":
        words[0] = sys.executable
    return words


def test_the_printed_quick_start_delivers_the_documents_example_event_signed():
    api_port, rx_port = _free_port(), _free_port()
    local_cmd, receiver_cmd, register, publish, listing = [_command(c, rx_port) for c in quick_start(api_port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    local = subprocess.Popen(local_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    receiver = subprocess.Popen(receiver_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        Lines(local).wait_for(lambda line: line.startswith("Ctrl-C stops"))
        rx = Lines(receiver)
        rx.wait_for(lambda line: line.startswith("receiving webhooks at"))
        (written,) = [p for p in profile.running_local_profiles() if p.port == api_port]
        assert (written.url, written.api_key, written.admin_token, written.pid) == (
            f"http://127.0.0.1:{api_port}/v1",
            "local-key",
            "local-admin",
            local.pid,
        )

        created = json.loads(subprocess.run(register, capture_output=True, text=True, check=True).stdout)
        assert created["url"] == f"http://127.0.0.1:{rx_port}/webhooks/litestore"
        accepted = json.loads(subprocess.run(publish, capture_output=True, text=True, check=True).stdout)
        assert accepted["event"] == "content.submitted" and accepted["duplicate"] is False
        line = rx.wait_for(lambda line: accepted["id"] in line)
        assert "content.submitted" in line and "attempt=1 signature ok -> 200" in line

        listed = subprocess.run(listing, capture_output=True, text=True, timeout=30)
        assert listed.returncode == 0 and "My receiver" in listed.stdout and created["id"] in listed.stdout
    finally:
        receiver.terminate()
        local.send_signal(signal.SIGINT)
        assert local.wait(timeout=10) == 0
        receiver.wait(timeout=10)
    assert not (profile.profile_dir() / f"{api_port}.json").exists()  # the runtime removed the profile it wrote


def test_demo_receivers_answer_401_to_a_bad_signature_as_the_documents_handler_does():
    import urllib.error
    import urllib.request

    from litestore_webhooks.core.signing import signature_headers
    from litestore_webhooks.local.receiver import INVALID_SIGNATURE_BODY, Receiver

    body = b'{"event":"user.registered","id":"evt_1","timestamp":"2024-01-15T08:30:00Z","data":{}}'
    with Receiver(secret="email-secret-456") as rx:
        answers = []
        for secret in ("email-secret-456", "wrong-secret"):
            headers = signature_headers(
                body=body,
                event_id="evt_1",
                event_type="user.registered",
                attempt=1,
                secrets=[secret],
                timestamp=int(time.time()),
            )
            try:
                with urllib.request.urlopen(urllib.request.Request(rx.url(), body, headers), timeout=5) as resp:
                    answers.append((resp.status, resp.read()))
            except urllib.error.HTTPError as exc:
                answers.append((exc.code, exc.read()))
        assert answers == [(200, b""), (401, INVALID_SIGNATURE_BODY)]
        assert [r.verified for r in rx.wait_for(2)] == [True, False]
        assert "signature" in (rx.requests[1].problem or "")
