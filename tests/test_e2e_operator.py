"""What an operator sees (issue 14 items 3, 8-11; issue 13 item 14): the `litestore-webhooks`
console script, run as a subprocess against real local runtimes, as a new user would type it.

Most tests target the module's in-process runtime through the environment; the profile tests
start their own `litestore-webhooks local` processes with a private XDG_CACHE_HOME, because
what they check is how separate runtime processes find (and do not trample) each other.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.local_stack import event, poll, rt, scratch  # noqa: F401 - rt, scratch: fixtures
from tests.receivers import Reply
from tests.test_local_runtime import admin, call

CLI = Path(sys.executable).with_name("litestore-webhooks")
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[Hdelivered \u202eko\x9b31m\x7f"  # OSC title, clear screen, bidi, C1 CSI, DEL
RAW_CONTROLS = ("\x1b", "\x07", "\u202e", "\x9b", "\x7f")


def cli(
    *args: str, env: dict[str, str], code: int | None = 0, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The console script with only `env`'s targeting (no LITESTORE_WEBHOOKS_* from the outer shell)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("LITESTORE_WEBHOOKS_")}
    proc = subprocess.run(
        [str(CLI), *args],
        env={**inherited, "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
    if code is not None:
        assert proc.returncode == code, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def target(rt) -> dict[str, str]:
    return {
        "LITESTORE_WEBHOOKS_URL": rt.base_url,
        "LITESTORE_WEBHOOKS_ADMIN_TOKEN": rt.admin_token,
        "LITESTORE_WEBHOOKS_API_KEY": rt.api_key,
    }


# -- runtimes as separate processes ----------------------------------------------------------------


@dataclass
class RuntimeProcess:
    """A `litestore-webhooks local` process; its stdout and stderr are drained as it runs (a full pipe
    would block its logging), the banner first."""

    proc: subprocess.Popen[str]
    base_url: str
    admin_token: str
    api_key: str
    banner: str
    out: list[str]
    err: list[str]
    readers: list[threading.Thread]
    banner_lines: int

    @property
    def port(self) -> int:
        return int(re.search(r":(\d+)/", self.base_url).group(1))

    def stop(self, sig: int = signal.SIGTERM) -> tuple[str, str]:
        """Signal it, wait for the exit; returns what it wrote to stdout after the banner, and to stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=60)  # a loaded 2-core machine can take a while to save state and stop moto
        except subprocess.TimeoutExpired:
            self.proc.kill()  # never leave a runtime behind; say what it was doing
            self.proc.wait(timeout=10)
            raise AssertionError(
                f"the runtime did not stop within 60 s of signal {sig}: {''.join(self.err)[-3000:]}"
            ) from None
        for reader in self.readers:
            reader.join(5)
        return "".join(self.out[self.banner_lines :]), "".join(self.err)


def _drain(stream, into: list[str], banner: threading.Event | None = None) -> None:
    for line in stream:
        into.append(line)
        if banner is not None and line.startswith("Ctrl-C"):  # the banner's last line
            banner.set()


def start_runtime(env: dict[str, str], *flags: str, timeout: float = 60) -> RuntimeProcess:
    """`litestore-webhooks local --port 0 ...`, returned once its banner is out."""
    proc = subprocess.Popen(
        [str(CLI), "local", "--port", "0", *flags],
        env={**os.environ, **env},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    out: list[str] = []
    err: list[str] = []
    banner = threading.Event()
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, out, banner), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    if not banner.wait(timeout):
        proc.kill()
        raise AssertionError(f"no banner within {timeout} s: {out} {''.join(err)[-3000:]}")
    lines = out[: next(i for i, line in enumerate(out) if line.startswith("Ctrl-C")) + 1]
    fields = {
        m.group(1): m.group(2) for m in (re.match(r"  (API|API key|Admin token)\s{2,}(\S+)", x) for x in lines) if m
    }
    return RuntimeProcess(
        proc, fields["API"], fields["Admin token"], fields["API key"], "".join(lines), out, err, readers, len(lines)
    )


@contextmanager
def runtime_process(env: dict[str, str], *flags: str) -> Iterator[RuntimeProcess]:
    runtime = start_runtime(env, *flags)
    try:
        yield runtime
    finally:
        runtime.stop()


@pytest.fixture
def cache(tmp_path) -> dict[str, str]:
    """A private XDG_CACHE_HOME: where `litestore-webhooks local` leaves its profiles."""
    return {"XDG_CACHE_HOME": str(tmp_path / "cache")}


def profiles(cache: dict[str, str]) -> dict[int, dict]:
    folder = Path(cache["XDG_CACHE_HOME"]) / "litestore-webhooks" / "local"
    return {int(p.stem): json.loads(p.read_text()) for p in folder.glob("*.json")} if folder.is_dir() else {}


def names_listed(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [e["name"] for e in json.loads(proc.stdout)["data"]]


# -- issue 14.3: two local runtimes ----------------------------------------------------------------


def test_stopping_a_second_local_runtime_leaves_the_first_reachable_with_local(cache):
    with runtime_process(cache) as first:
        status, _ = call(
            first,
            "POST",
            "/endpoints",
            {"name": "on the first", "url": "https://first.example/hook", "events": ["*"]},
            {"Authorization": f"Bearer {first.admin_token}"},
        )
        assert status == 201
        with runtime_process(cache):
            pass  # a second runtime starts and is stopped (Ctrl-C) again
        listed = cli("--local", "--json", "endpoints", "list", env=cache)
        assert names_listed(listed) == ["on the first"]
        assert list(profiles(cache)) == [first.port]


def test_with_two_runtimes_up_local_names_both_and_local_port_picks_one(cache):
    with runtime_process(cache) as first, runtime_process(cache) as second:
        status, _ = call(
            first,
            "POST",
            "/endpoints",
            {"name": "on the first", "url": "https://first.example/hook", "events": ["*"]},
            {"Authorization": f"Bearer {first.admin_token}"},
        )
        assert status == 201
        found = profiles(cache)
        assert sorted(found) == sorted([first.port, second.port])
        for port, profile in found.items():
            path = Path(cache["XDG_CACHE_HOME"]) / "litestore-webhooks" / "local" / f"{port}.json"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert profile["pid"] in (first.proc.pid, second.proc.pid)

        ambiguous = cli("--local", "endpoints", "list", env=cache, code=2)
        assert ambiguous.stdout == "" and len(ambiguous.stderr.splitlines()) == 1
        assert f"{first.port}" in ambiguous.stderr and f"{second.port}" in ambiguous.stderr
        assert "--local PORT" in ambiguous.stderr
        assert names_listed(cli("--local", str(first.port), "--json", "endpoints", "list", env=cache)) == [
            "on the first"
        ]
        assert names_listed(cli("--json", "endpoints", "list", "--local", str(second.port), env=cache)) == []
        missing = cli("--local", "1", "endpoints", "list", env=cache, code=1)
        assert "no local runtime on port 1" in missing.stderr and str(first.port) in missing.stderr

        # A runtime that dies without cleaning up (kill -9) leaves a profile naming a dead pid:
        # --local skips it, removes it, and finds the one still up.
        second.stop(signal.SIGKILL)
        assert second.port in profiles(cache)
        assert names_listed(cli("--local", "--json", "endpoints", "list", env=cache)) == ["on the first"]
        assert list(profiles(cache)) == [first.port]
    gone = cli("--local", "endpoints", "list", env=cache, code=1)
    assert "no local runtime is running" in gone.stderr and "litestore-webhooks local" in gone.stderr


# -- issue 14.10: port in use, --version -------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_in_use_is_named_with_what_to_do(cache, busy_port):
    proc = subprocess.run(
        [str(CLI), "local", "--port", str(busy_port)],
        env={**os.environ, **cache},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines()[-1] == (
        f"error: cannot start: port {busy_port} on 127.0.0.1 is already in use "
        "(another `litestore-webhooks local`?); pick a free one with --port"
    )
    receiver = subprocess.run(
        [sys.executable, "-m", "litestore_webhooks.local.receiver", "--port", str(busy_port)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert receiver.returncode == 1 and "Traceback" not in receiver.stderr
    assert receiver.stderr == (
        f"error: cannot listen on 127.0.0.1:{busy_port}: the port is already in use; pick a free one with --port\n"
    )


def test_version():
    from importlib.metadata import version

    proc = cli("--version", env={})
    assert proc.stdout == f"litestore-webhooks {version('litestore-webhooks')}\n"


# -- issue 14.11: http:// on a local runtime without --allow-insecure-endpoints ------------------------


def test_a_local_runtime_says_which_flag_allows_http_and_loopback_urls(cache):
    with runtime_process(cache) as strict:
        bearer = {"Authorization": f"Bearer {strict.admin_token}"}
        for url in ("http://127.0.0.1:3000/webhooks/litestore", "https://localhost/hook", "https://127.0.0.1/hook"):
            status, body = call(strict, "POST", "/endpoints", {"url": url, "events": ["*"]}, bearer)
            assert status == 400, body
            (detail,) = body["error"]["details"]
            assert "--allow-insecure-endpoints" in detail["message"], detail
        status, created = call(
            strict, "POST", "/endpoints", {"url": "https://example.com/hook", "events": ["*"]}, bearer
        )
        assert status == 201
        status, body = call(strict, "PATCH", f"/endpoints/{created['id']}", {"url": "http://127.0.0.1:3000/h"}, bearer)
        assert status == 400 and "--allow-insecure-endpoints" in json.dumps(body)
        failed = cli("--local", "endpoints", "create", "http://127.0.0.1:3000/hook", "--events", "*", env=cache, code=1)
        assert "--allow-insecure-endpoints" in failed.stderr


# -- issue 14.8: pipes -----------------------------------------------------------------------------------


def test_piping_a_long_listing_into_head_exits_quietly(rt, tmp_path):
    """A table is written line by line, so the CLI meets the closed pipe and must exit as git and ls do
    (141, nothing on stderr). --json goes out in one write, which the kernel cuts short without an
    error once the reader is gone: 0 or 141, and quiet either way."""
    events = [{**event("review.created", f"evt_pipe_{i:05d}")} for i in range(2000)]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    for flags, codes in ((["-v"], {141}), (["--json"], {0, 141})):
        producer = subprocess.Popen(
            [str(CLI), *flags, "events", "publish", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **target(rt), "NO_COLOR": "1"},
        )
        head = subprocess.Popen(["head", "-1"], stdin=producer.stdout, stdout=subprocess.PIPE, text=True)
        producer.stdout.close()  # head alone holds the read end now
        first_line, _ = head.communicate(timeout=60)
        err = producer.stderr.read().decode()
        producer.stderr.close()
        assert producer.wait(timeout=60) in codes, (flags, err)
        assert err == "" and first_line.strip(), (flags, err)


# -- issue 14.9: readable ------------------------------------------------------------------------------


def test_paused_endpoints_say_paused_and_why(rt, scratch):
    env = target(rt)
    manual = scratch.endpoint("Paused by hand", "https://paused.example/hook", ["*"])
    rx = scratch.receiver(default=Reply(410))
    gone = scratch.endpoint("Receiver gone", rx.url(), ["review.created"])
    cli("endpoints", "pause", "Paused by hand", env=env)
    assert call(rt, "POST", "/events", event("review.created", "evt_paused_1"), {"x-api-key": rt.api_key})[0] == 202
    poll(
        lambda: admin(rt, "GET", f"/endpoints/{gone['id']}")[1]["pausedReason"] == "gone",
        timeout=20,
        what="the 410 endpoint paused",
    )
    rows = {line.split()[0]: line for line in cli("endpoints", "list", env=env).stdout.splitlines()[1:]}
    assert rows[manual["id"]].endswith("paused (manual)") and rows[gone["id"]].endswith("paused (gone)")
    assert re.search(r"^status\s+paused \(manual\)$", cli("endpoints", "show", manual["id"], env=env).stdout, re.M)
    assert re.search(r"^status\s+paused \(gone\)$", cli("stats", gone["id"], env=env).stdout, re.M)


def test_stats_of_an_endpoint_without_deliveries_says_so(rt, scratch):
    fresh = scratch.endpoint("Fresh", "https://fresh.example/hook", ["*"])
    out = cli("stats", fresh["id"], env=target(rt)).stdout
    assert "None" not in out
    assert re.search(r"^latency p50/p99\s+no deliveries yet$", out, re.M), out


def test_event_attempts_name_the_endpoints(rt, scratch):
    rx = scratch.receiver()
    named = scratch.endpoint("Review mirror", rx.url(), ["review.created"])
    assert call(rt, "POST", "/events", event("review.created", "evt_named_1"), {"x-api-key": rt.api_key})[0] == 202
    rx.wait_for(1, timeout=15)

    def listed() -> str | None:
        out = cli("events", "attempts", "evt_named_1", env=target(rt)).stdout
        return out if named["id"] in out else None

    out = poll(listed, timeout=10, what="the attempt logged")
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["AT", "ENDPOINT", "NAME"]
    (row,) = rows
    assert row.split()[1:4] == [named["id"], "Review", "mirror"]


def test_publishing_many_events_prints_totals_first_and_rows_only_for_failures(rt, tmp_path):
    events = [event("review.created", f"evt_totals_{i:03d}") for i in range(250)]
    events[7] = {**events[7], "event": "no.such.type"}
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    quiet = cli("events", "publish", str(path), env=target(rt), code=1)
    lines = quiet.stdout.splitlines()
    assert lines[0] == "250 events: 249 accepted, 0 duplicates, 1 rejected"
    assert len(lines) == 3 and "evt_totals_007" in lines[2] and "rejected" in lines[2]  # header + the one failure
    assert quiet.stderr.startswith("error: 1 of 250 event(s) rejected")
    verbose = cli("-v", "events", "publish", str(path), env=target(rt), code=1)
    lines = verbose.stdout.splitlines()
    assert lines[0] == "250 events: 0 accepted, 249 duplicates, 1 rejected" and len(lines) == 2 + 250


def test_the_sample_receiver_prints_whole_lines_under_load():
    proc = subprocess.Popen(
        [sys.executable, "-m", "litestore_webhooks.local.receiver", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(re.search(r"127\.0\.0\.1:(\d+)", proc.stdout.readline()).group(1))
        senders, per_sender = 16, 25
        connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(senders)]
        start = threading.Barrier(senders)

        def send(n: int, sock: socket.socket) -> None:
            start.wait()
            for i in range(per_sender):
                body = json.dumps({"event": "order.updated", "id": f"evt_{n:02d}_{i:02d}"}).encode()
                sock.sendall(
                    b"POST /webhooks/litestore HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")

        threads = [threading.Thread(target=send, args=(n, c)) for n, c in enumerate(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for c in connections:
            c.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    lines = out.splitlines()
    pattern = re.compile(
        r"\d\d:\d\d:\d\d POST /webhooks/litestore order\.updated evt_\d\d_\d\d attempt=\? "
        r"signature not checked -> 200"
    )
    assert [line for line in lines if not pattern.fullmatch(line)] == []
    assert len(lines) == senders * per_sender


# -- issue 14.10: consistent ------------------------------------------------------------------------------


def test_rotate_secret_suggests_the_follow_up_with_the_same_target_and_no_token(rt, scratch):
    made = scratch.endpoint("Rotating", "https://rotating.example/hook", ["*"])
    flags = ["--url", rt.base_url, "--admin-token", rt.admin_token]
    out = cli(*flags, "endpoints", "rotate-secret", "Rotating", "--overlap", "1h", env={})
    hint = f"litestore-webhooks --url {rt.base_url} endpoints secret {made['id']}"
    assert hint in out.stderr and rt.admin_token not in out.stdout + out.stderr
    assert "LITESTORE_WEBHOOKS_ADMIN_TOKEN" in out.stderr  # where the token for that command comes from
    from_env = cli("endpoints", "rotate-secret", made["id"], env=target(rt))
    assert f"litestore-webhooks endpoints secret {made['id']}" in from_env.stderr  # the environment still targets it


def test_endpoints_delete_asks_like_purge_and_apply_do(rt, scratch):
    made = scratch.endpoint("Doomed", "https://doomed.example/hook", ["*"])
    refused = cli("endpoints", "delete", "Doomed", env=target(rt), code=2)
    assert refused.stderr == "error: stdin is not a terminal; pass --yes to confirm\n"
    assert admin(rt, "GET", f"/endpoints/{made['id']}")[0] == 200
    assert cli("endpoints", "delete", "Doomed", "--yes", env=target(rt)).stdout == f"deleted {made['id']}\n"
    assert admin(rt, "GET", f"/endpoints/{made['id']}")[0] == 404


def test_listings_page_for_the_user_beyond_the_apis_page_size(rt, scratch):
    rx = scratch.receiver(default=Reply(400))
    failing = scratch.endpoint("Refuses all", rx.url(), ["order.updated"])
    events = [event("order.updated", f"evt_many_dlq_{i:03d}") for i in range(130)]
    for i in range(0, len(events), 100):
        assert call(rt, "POST", "/events/batch", {"events": events[i : i + 100]}, {"x-api-key": rt.api_key})[0] == 202
    poll(
        lambda: admin(rt, "GET", f"/endpoints/{failing['id']}/stats")[1]["deadLetterDepth"] >= 130,
        timeout=60,
        what="130 dead letters",
    )
    env = target(rt)
    listed = cli("--json", "dlq", "list", "Refuses all", "--limit", "120", env=env)
    assert len(json.loads(listed.stdout)["data"]) == 120
    every = json.loads(cli("--json", "dlq", "list", "Refuses all", "--all", env=env).stdout)["data"]
    assert sorted(d["id"] for d in every) == sorted(e["id"] for e in events)
    table = cli("dlq", "list", "Refuses all", "--all", env=env).stdout.splitlines()
    assert len(table) == 1 + 130
    attempts = json.loads(cli("--json", "attempts", "Refuses all", "--limit", "125", env=env).stdout)
    assert len(attempts["data"]) == 125 and attempts["nextCursor"]
    assert len(cli("attempts", "Refuses all", "--limit", "101", env=env).stdout.splitlines()) == 1 + 101


# -- issue 13.14: what a receiver answers cannot drive the terminal ---------------------------------------


def test_receiver_answers_are_printed_escaped_and_json_stays_exact(rt, scratch):
    rx = scratch.receiver(default=Reply(500, body=HOSTILE.encode()))
    hostile = scratch.endpoint("Hostile", rx.url(), ["order.updated"], retryPolicy={"maxAttempts": 1})
    env = target(rt)
    sent = cli("endpoints", "test", "Hostile", "--event", "order.updated", env=env, code=1)
    printed = sent.stdout + sent.stderr
    assert [c for c in RAW_CONTROLS if c in printed] == []
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[Hdelivered \\u202eko\\x9b31m\\x7f" in sent.stdout
    listed = cli("-v", "attempts", "Hostile", env=env)
    assert [c for c in RAW_CONTROLS if c in listed.stdout + listed.stderr] == [] and "failed" in listed.stdout
    as_json = cli("--json", "attempts", "Hostile", env=env).stdout
    assert [c for c in RAW_CONTROLS if c in as_json] == []
    status, api_answer = admin(rt, "GET", f"/endpoints/{hostile['id']}/attempts")
    assert json.loads(as_json) == api_answer and api_answer["data"][0]["responseExcerpt"] == HOSTILE
