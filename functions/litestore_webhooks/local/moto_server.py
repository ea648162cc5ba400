"""moto's server as the local AWS, with two pinned fixes to its SQS timing.

- The clock: moto 5.2.5's SQS models compute "now" through a datetime round trip on every
  visibility check, and every send/receive checks every message, so a receive costs ~0.5 ms
  per queued message (~550 ms at 1,000). Swapping those helpers for `time.time()` keeps the
  semantics (UTC epoch seconds/ms) at a fraction of the cost.
- The long-poll wake-up: a long poll sleeps until a send notifies it or 1 s passes, so a
  delayed message, or one whose visibility timeout ran out, was received up to 1 s late (a
  retry with a 1 s delay arrived after ~2 s). It now also wakes when the next queued message
  becomes receivable, as SQS does.

Both touch moto internals, so they are applied only to the exact version they were measured on.

One more, on any version: moto's DynamoDB handles requests concurrently but is not thread-safe
(a conditional write checks, then writes; a transaction copies its tables, and restores them
whole when it is cancelled, losing what other requests wrote meanwhile). DynamoDB's guarantees
hold locally by serving one DynamoDB request at a time (`serialize_dynamodb`).

Where it runs: `MotoProcess` (the local runtime's default) serves moto from a child
interpreter, fixes applied there, so moto's CPU is not under the runtime's GIL (the runtime
used ~1.07 of 2 cores with moto in process). The child exits when its parent does, however
the parent ends: it watches its stdin, a pipe only the parent holds, and exits at EOF or
when it is re-parented. `MotoServer` keeps moto in process
(`LSW_LOCAL_MOTO=thread`, or `moto="thread"`): what tests needing moto's objects use, and the
benchmark's baseline. Both serve `/_lsw/queue-messages` so anything reading a queue's whole
content (`peek_messages`) goes through HTTP, whichever the mode.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from typing import Any, Literal

log = logging.getLogger(__name__)

PATCHED_MOTO_VERSION = "5.2.5"
_patched = False


def _unix_time(dt: datetime | None = None) -> float:
    return time.time() if dt is None else _original_unix_time(dt)


def _unix_time_millis(dt: datetime | None = None) -> float:
    return time.time() * 1000.0 if dt is None else _original_unix_time(dt) * 1000.0


def _original_unix_time(dt: datetime) -> float:
    from moto.core.utils import unix_time

    return unix_time(dt)


def patch_sqs_clock() -> bool:
    """Make moto's SQS clock cheap; True if the fix is (now) active.

    Must run before the server handles SQS requests. On any moto other than
    PATCHED_MOTO_VERSION it warns and does nothing: stock moto is slow, not wrong.
    """
    global _patched
    if _patched:
        return True
    installed = version("moto")
    if installed != PATCHED_MOTO_VERSION:
        warnings.warn(
            f"moto {installed} is not {PATCHED_MOTO_VERSION}: SQS clock fix skipped; "
            "receives slow down with queue depth",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    import moto.sqs.models as sqs_models

    sqs_models.unix_time = _unix_time
    sqs_models.unix_time_millis = _unix_time_millis
    sqs_models.Queue.wait_for_messages = _wait_for_messages  # type: ignore[method-assign,assignment]  # the fix
    _patched = True
    return True


def _wait_for_messages(queue: Any, timeout: float) -> None:
    """moto's Queue.wait_for_messages, also woken when a delayed or in-flight message turns receivable."""
    with queue._messages_lock:
        now_ms = time.time() * 1000.0
        upcoming = [max(m.visible_at, m.delayed_until) for m in queue._messages]
        soonest = min((t for t in upcoming if t > now_ms), default=None)
        if soonest is not None:
            timeout = min(timeout, (soonest - now_ms) / 1000.0 + 0.002)
        queue._messages_lock.wait_for(lambda: queue.messages, timeout=timeout)


_dynamodb_lock = threading.RLock()


def serialize_dynamodb() -> None:
    """Serve moto's DynamoDB requests one at a time, so conditional writes and transactions are atomic."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "_serialized", False):
        return

    def call_action(self: Any) -> Any:
        with _dynamodb_lock:
            return original(self)

    call_action._serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


QUEUE_MESSAGES_PATH = "/_lsw/queue-messages"
MotoMode = Literal["process", "thread"]
MODES: tuple[MotoMode, ...] = ("process", "thread")


def mode_from_env() -> MotoMode:
    """`LSW_LOCAL_MOTO`: "process" (default) or "thread" (moto inside the runtime's process)."""
    value = os.environ.get("LSW_LOCAL_MOTO", "process").strip().lower() or "process"
    if value not in MODES:
        raise ValueError(f"LSW_LOCAL_MOTO={value!r}: use one of {', '.join(MODES)}")
    return value


def _queue_messages(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Every message of one queue of this moto, in-flight and delayed ones included, as JSON."""
    from moto.sqs.models import sqs_backends

    q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    account, region, name = (q.get(k, [""])[0] for k in ("account", "region", "queue"))
    queue = sqs_backends[account][region].queues.get(name) if account and region else None
    messages = (
        []
        if queue is None
        else [
            {"Body": m.body, "MessageAttributes": {k: dict(v) for k, v in m.message_attributes.items()}}
            for m in list(queue._messages)
        ]
    )
    body = json.dumps(messages).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _app(fast_dispatch: bool = False) -> Callable[..., Any]:
    """moto's WSGI app, plus the queue-content read that ReceiveMessage cannot do.

    `fast_dispatch` (moto's own process): moto picks the service of every request under one
    lock, listing its package directory (~200 isdir calls) and trying every service's URL
    regex each time; the answer depends on the host alone, so it is remembered per host.
    Profiled at 10 events/s to 3 endpoints, requests spent most of their time waiting on that
    lock. The in-process mode keeps moto's dispatch as it was (the benchmark's baseline).
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_app = DomainDispatcherApplication(create_backend_app)
    if fast_dispatch:
        lookup, known = moto_app.get_backend_for_host, {}

        def get_backend_for_host(host: str | None) -> Any:
            if host not in known:
                known[host] = lookup(host)  # only ever called under moto_app.lock
            return known[host]

        moto_app.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == QUEUE_MESSAGES_PATH:
            return _queue_messages(environ, start_response)
        return moto_app(environ, start_response)

    return app


def _make_server(port: int, tuned: bool = False) -> Any:
    """werkzeug's threaded server with moto's app. `tuned` (moto's own process): the dispatch
    cache (`_app`) and TCP_NODELAY: werkzeug sends a response's headers and body in separate
    writes, so with Nagle's algorithm the body waited for the client's delayed ACK of the
    headers (~40 ms on Linux loopback); profiled, ingest spent ~36 ms of each AWS call there."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    class NoDelayHandler(MotoRequestHandler):
        disable_nagle_algorithm = True  # socketserver.StreamRequestHandler sets TCP_NODELAY

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call
    handler = NoDelayHandler if tuned else MotoRequestHandler
    return make_server("127.0.0.1", port, _app(fast_dispatch=tuned), threaded=True, request_handler=handler)


def _prepare(patch_sqs: bool) -> None:
    if patch_sqs:
        patch_sqs_clock()
    serialize_dynamodb()


class MotoServer:
    """moto's threaded server in this process on 127.0.0.1 (port 0 = any free port), fixes applied first."""

    def __init__(self, port: int = 0, *, patch_sqs: bool = True) -> None:
        _prepare(patch_sqs)
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def spawn(self) -> None:
        self.start()

    def ready(self) -> str:
        return self.url

    def start(self) -> str:
        """Start serving; returns the endpoint URL to put in AWS_ENDPOINT_URL."""
        self._server = _make_server(self._port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="lsw-moto", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        log.debug("moto server listening on %s", self.url)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MotoProcess:
    """moto's server in a child interpreter (`python -m litestore_webhooks.local.moto_server`).

    The child never outlives this process: `stop()` ends it (EOF on its stdin, then SIGTERM,
    then SIGKILL), and if this process dies first the child sees EOF on its stdin, or that it
    was re-parented, and exits.
    """

    START_TIMEOUT_S = 60.0  # importing moto on a loaded 2-core machine takes seconds

    def __init__(self, port: int = 0, *, patch_sqs: bool = True) -> None:
        self._port = port
        self._patch_sqs = patch_sqs
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> str:
        """Start the child and wait until it serves; returns the endpoint URL."""
        self.spawn()
        return self.ready()

    def spawn(self) -> None:
        """Start the child without waiting (the caller can import while moto does)."""
        args = [sys.executable, "-m", "litestore_webhooks.local.moto_server", "--port", str(self._port)]
        if not self._patch_sqs:
            args.append("--no-sqs-fix")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        self._line: list[bytes] = []
        self._reader = threading.Thread(
            target=lambda: self._line.append(self.proc.stdout.readline()),  # type: ignore[union-attr]
            name="lsw-moto-start",
            daemon=True,
        )
        self._reader.start()

    def ready(self) -> str:
        """Wait until the spawned child serves; returns the endpoint URL (stops it and raises if it cannot)."""
        assert self.proc is not None, "spawn() first"
        self._reader.join(self.START_TIMEOUT_S)
        try:
            self.url = json.loads(self._line[0])["url"] if self._line and self._line[0] else ""
        except ValueError:
            self.url = ""
        if not self.url:
            code = self.proc.poll()
            self.stop()
            raise RuntimeError(f"moto's server process did not start (exit code {code}); see its stderr above")
        log.debug("moto server process %d listening on %s", self.proc.pid, self.url)
        return self.url

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self, timeout: float = 5.0) -> None:
        """End the child: EOF first (it exits at once), then SIGTERM, then SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for step in (lambda: self._close_stdin(proc), proc.terminate, proc.kill):
            step()
            try:
                proc.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        if proc.stdout:
            proc.stdout.close()

    @staticmethod
    def _close_stdin(proc: subprocess.Popen[bytes]) -> None:
        if proc.stdin and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def __enter__(self) -> MotoProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def moto_server(mode: MotoMode, port: int = 0) -> MotoServer | MotoProcess:
    """A moto server of the given mode, not started yet."""
    return MotoProcess(port) if mode == "process" else MotoServer(port)


def peek_messages(
    queue_name: str, *, account: str, region: str, endpoint_url: str | None = None
) -> list[dict[str, Any]]:
    """Every message still in a queue of the runtime's moto, including in-flight and delayed
    ones (ReceiveMessage cannot page through those), as {"Body", "MessageAttributes"}."""
    base = endpoint_url or os.environ["AWS_ENDPOINT_URL"]
    query = urllib.parse.urlencode({"account": account, "region": region, "queue": queue_name})
    with urllib.request.urlopen(f"{base}{QUEUE_MESSAGES_PATH}?{query}", timeout=30) as resp:  # noqa: S310 (moto's http URL)
        messages: list[dict[str, Any]] = json.loads(resp.read())
        return messages


def _exit_with_parent() -> None:
    """In the child: exit when the parent goes, even by SIGKILL: the kernel closes the parent's
    end of our stdin (EOF), and we are re-parented (checked each second, in case another
    process inherited that end). Not PR_SET_PDEATHSIG: it fires when the parent's *thread*
    that started us ends, and runtimes are started from any thread."""
    parent = os.getppid()

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    def watch_stdin() -> None:
        try:
            while sys.stdin.buffer.read(65536):
                pass
        except (OSError, ValueError):
            pass
        os._exit(0)

    threading.Thread(target=watch_stdin, name="lsw-moto-stdin", daemon=True).start()
    threading.Thread(target=watch_parent, name="lsw-moto-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    """The child: serve moto on 127.0.0.1, print {"url": ...} once serving, run until the parent goes."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-sqs-fix", action="store_true")
    args = ap.parse_args(argv)
    _exit_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    _prepare(not args.no_sqs_fix)
    server = _make_server(args.port, tuned=True)
    host, port = server.server_address[:2]
    sys.stdout.write(json.dumps({"url": f"http://{host}:{port}", "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    # Nobody reads the pipe after that line: anything moto printed would fill it and block a request.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    server.serve_forever()


if __name__ == "__main__":
    main()
