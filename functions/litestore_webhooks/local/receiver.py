"""Real HTTP(S) webhook receivers on 127.0.0.1: for `make demo`, the tests and trying things by hand.

A Receiver answers each request with the next scripted Reply (then `default`), records every
request, and lets a caller block until N requests have arrived (no sleeps). Given a `secret`
it checks each request's signature with the package's `verify`, as the document's receiver
does, and answers 401 to a bad one. With a trustme CA it serves HTTPS with a certificate for
the given hostnames; `ca_bundle(ca, path)` writes the CA file a client must trust.

    with Receiver(Reply(503), Reply(503), secret="whsec") as rx:
        ...  # deliver to rx.url()
        first, second, third = rx.wait_for(3)

By hand (prints one line per webhook; Ctrl-C stops):

    python -m litestore_webhooks.local.receiver --port 3000 --secret your-webhook-secret
"""

from __future__ import annotations

import argparse
import errno
import json
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestore_webhooks.core.signing import WebhookVerificationError, verify

if TYPE_CHECKING:
    import trustme

# What the document's Express handler answers to a bad signature.
INVALID_SIGNATURE_BODY = b'{"error":"Invalid signature"}'


@dataclass(frozen=True)
class Reply:
    """One scripted response. `delay_s` waits before answering; `chunk_delay_s` dribbles the body byte by byte."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names as sent; verify() lower-cases them itself
    body: bytes
    at: float  # time.time() when the body had been read
    peer: tuple[str, int]  # client address: the same port means a reused keep-alive connection
    verified: bool | None = None  # the signature check's verdict; None when the receiver has no secret
    problem: str | None = None  # why verification failed


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        receiver = self.server.receiver
        headers = dict(self.headers.items())
        verified, problem = receiver._check(body, headers)
        reply = receiver._record(
            Request(self.command, self.path, headers, body, time.time(), self.client_address, verified, problem)
        )
        if verified is False:
            reply = Reply(401, {"Content-Type": "application/json"}, INVALID_SIGNATURE_BODY)
        if reply.delay_s and receiver._closing.wait(reply.delay_s):
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if not reply.chunk_delay_s:
            self.wfile.write(reply.body)
            return
        for i in range(len(reply.body)):
            if receiver._closing.wait(reply.chunk_delay_s):
                return
            self.wfile.write(reply.body[i : i + 1])
            self.wfile.flush()

    do_PUT = do_PATCH = do_DELETE = do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the Receiver records instead
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 refuses connections under a burst of concurrent deliveries
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are expected


class Receiver:
    """A threaded receiver; use as a context manager or call close(). `default` may be reassigned."""

    def __init__(
        self,
        *script: Reply,
        default: Reply = Reply(200),
        ca: trustme.CA | None = None,
        hostnames: tuple[str, ...] = ("localhost", "127.0.0.1"),
        secret: str | None = None,
        port: int = 0,
        on_request: Any = None,
    ) -> None:
        self.requests: list[Request] = []
        self.default = default
        self.secret = secret
        self.on_request = on_request  # called with each Request after it is recorded
        self._script = list(script)
        self._changed = threading.Condition()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.receiver = self
        self.scheme = "http"
        if ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert(*hostnames).configure_cert(context)
            # Handshake in the handler thread, so a client that never completes one cannot stall accept().
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
            self.scheme = "https"
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name=f"receiver:{self.port}", daemon=True
        )  # short poll interval: close() waits for one poll
        self._thread.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def script(self, *replies: Reply) -> None:
        """Queue more replies for the next requests."""
        with self._changed:
            self._script.extend(replies)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """Block until `count` requests have arrived; returns the first `count`."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"receiver got {len(self.requests)} of {count} requests within {timeout} s")
            return self.requests[:count]

    def _check(self, body: bytes, headers: dict[str, str]) -> tuple[bool | None, str | None]:
        if self.secret is None:
            return None, None
        try:
            verify(body, headers, self.secret)
        except WebhookVerificationError as exc:
            return False, str(exc)
        return True, None

    def _record(self, request: Request) -> Reply:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()
            reply = self._script.pop(0) if self._script else self.default
        if self.on_request is not None:
            self.on_request(request, reply)
        return reply

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ca_bundle(ca: trustme.CA, path: Path) -> str:
    """Write the CA certificate a client must trust to reach HTTPS receivers; returns the path."""
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def describe(request: Request, reply: Reply) -> str:
    """One line about a received webhook: event, id, attempt, signature verdict, our answer."""
    h = {k.lower(): v for k, v in request.headers.items()}
    try:
        doc = json.loads(request.body)
    except ValueError:
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    verdict = {True: "signature ok", False: f"signature INVALID ({request.problem})", None: "signature not checked"}
    status = 401 if request.verified is False else reply.status
    return (
        f"{time.strftime('%H:%M:%S', time.localtime(request.at))} {request.method} {request.path} "
        f"{doc.get('event', '?')} {doc.get('id', '?')} attempt={h.get('x-litestore-delivery-attempt', '?')} "
        f"{verdict[request.verified]} -> {status}"
    )


def main(argv: list[str] | None = None) -> int:
    """Serve plain HTTP on 127.0.0.1 and print each webhook (for `litestore-webhooks local --allow-insecure-endpoints`)."""
    parser = argparse.ArgumentParser(prog="python -m litestore_webhooks.local.receiver", description=main.__doc__)
    parser.add_argument("--port", type=int, default=3000, help="port on 127.0.0.1 (default 3000; 0 picks a free one)")
    parser.add_argument("--secret", help="endpoint secret: verify each signature and answer 401 to bad ones")
    parser.add_argument("--status", type=int, default=200, help="status to answer with (default 200)")
    args = parser.parse_args(argv)
    printing = threading.Lock()

    def show(request: Request, reply: Reply) -> None:
        line = describe(request, reply) + "\n"
        with printing:  # one write per line: requests are handled in parallel threads
            sys.stdout.write(line)
            sys.stdout.flush()

    try:
        rx = Receiver(default=Reply(args.status), secret=args.secret, port=args.port, on_request=show)
    except OSError as exc:
        why = "the port is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {why}; pick a free one with --port", file=sys.stderr)
        return 1
    print(f"receiving webhooks at {rx.url('/webhooks/litestore')} (any path works); Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        rx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
