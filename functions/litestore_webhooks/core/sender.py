"""The SSRF-safe HTTP client that POSTs webhooks.

Why not a plain ``requests.post``: a hostname that passed the create-time URL check can
resolve to a private or metadata address at send time (DNS rebinding), and a second lookup
inside the HTTP library could answer differently from the one we checked. So the host is
resolved once, every address is vetted with ``core.urls.check_address``, and the socket
connects to the vetted address while Host, TLS SNI and certificate verification still use
the hostname. Redirects are never followed. A response body is read only up to 4 KiB, and a
wall-clock deadline bounds the whole exchange, DNS lookup included (socket timeouts bound
each read, not a receiver that dribbles one byte at a time; getaddrinfo cannot be
interrupted at all, so it runs in a shared thread pool, at most 4 lookups per name, and we
stop waiting for it).

No AWS SDK here: the local runtime and the admin API's test send use it as is.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import certifi
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import Timeout

from litestore_webhooks.core.urls import IPAddress, UrlRejected, ascii_hostname, check_address, parse_host_ip

EXCERPT_BYTES = 4096
BLOCKED = "blocked_address"
MAX_POOLS = 64  # distinct (scheme, host, ip, port) kept warm; older pools are closed
DNS_TIMEOUT = "dns_failure: timeout"
MAX_LOOKUPS = 64  # getaddrinfo calls in flight in the process, the ones we stopped waiting for included
MAX_LOOKUPS_PER_HOST = 4  # ... for one name: a name whose lookups hang holds this many threads, no more


@dataclass(frozen=True)
class SendResult:
    """What one POST produced: an HTTP status, or an error code when no response arrived."""

    status: int | None
    error: str | None
    duration_ms: int
    excerpt: str = ""
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status <= 299

    @property
    def blocked(self) -> bool:
        return (self.error or "").startswith(BLOCKED)


class _Deadline:
    """Shuts the request's socket down when the wall-clock budget is spent."""

    def __init__(self, timeout_s: float) -> None:
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.fired:
                _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._sock is not None:
                _shutdown(self._sock)

    def cancel(self) -> bool:
        """Stop the timer; True if it had already fired (the connection is then unusable)."""
        with self._lock:
            self._timer.cancel()
            self._sock = None
            return self.fired


class _LookupTimeout(Exception):
    """No answer from the resolver within the attempt's budget; str() is the attempt's error."""


class _Resolver:
    """getaddrinfo in worker threads, so a hanging resolver costs a waiting thread, not the deadline.

    A lookup cannot be cancelled: one we stopped waiting for keeps its thread, and its slot, until
    the resolver answers. So each name gets at most ``per_host`` lookups in flight (one name that
    hangs can take no more threads than that, and cannot starve the others) and the process at
    most ``total`` (the threads all hanging names together can hold). A lookup waits for a slot
    within the attempt's budget. Shared by every Sender of the process.
    """

    def __init__(self, *, per_host: int, total: int) -> None:
        self.per_host, self.total = per_host, total
        self._pool = ThreadPoolExecutor(max_workers=total, thread_name_prefix="dns")
        self._slots = threading.Condition()
        self._in_flight: dict[str, int] = {}
        self._running = 0

    def resolve(self, host: str, port: int, timeout_s: float) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        with self._slots:
            if not self._slots.wait_for(lambda: self._has_slot(host), timeout_s):
                busy = self._in_flight.get(host, 0) >= self.per_host
                raise _LookupTimeout(
                    f"{DNS_TIMEOUT} ({self.per_host} earlier lookups of this host are still unanswered)"
                    if busy
                    else f"{DNS_TIMEOUT} ({self.total} lookups of other hosts are still unanswered)"
                )
            self._in_flight[host] = self._in_flight.get(host, 0) + 1
            self._running += 1
        lookup = self._pool.submit(self._lookup, host, port)  # a worker is free: running < total
        try:
            return lookup.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            raise _LookupTimeout(DNS_TIMEOUT) from None

    def _has_slot(self, host: str) -> bool:
        return self._in_flight.get(host, 0) < self.per_host and self._running < self.total

    def _lookup(self, host: str, port: int) -> list[Any]:
        try:
            return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        finally:
            with self._slots:
                self._running -= 1
                self._in_flight[host] -= 1
                if not self._in_flight[host]:
                    del self._in_flight[host]
                self._slots.notify_all()


_RESOLVER = _Resolver(per_host=MAX_LOOKUPS_PER_HOST, total=MAX_LOOKUPS)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# The deadline of the request the current thread is making; the pinned connections report
# their socket to it, because urllib3 does not hand the connection of a request to the caller.
_current = threading.local()


class _Pinned:
    """Mixin: connect to the vetted IP instead of resolving ``host`` again."""

    pinned_ip: str
    _raw_sock: socket.socket | None = None

    def _new_conn(self) -> socket.socket:
        ip = ipaddress.ip_address(self.pinned_ip)
        sock = socket.socket(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, socket.SOCK_STREAM)
        deadline: _Deadline | None = getattr(_current, "deadline", None)
        if deadline is not None:
            deadline.attach(sock)
        try:
            sock.settimeout(self.timeout)  # type: ignore[attr-defined]
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect((self.pinned_ip, self.port))  # type: ignore[attr-defined]
        except TimeoutError as exc:
            sock.close()
            raise ConnectTimeoutError(self, f"connect to {self.pinned_ip} timed out") from exc
        except OSError as exc:
            sock.close()
            raise NewConnectionError(self, f"connect to {self.pinned_ip} failed: {exc}") from exc  # type: ignore[arg-type]
        self._raw_sock = sock
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline: _Deadline | None = getattr(_current, "deadline", None)
        if deadline is not None and self._raw_sock is not None:
            deadline.attach(self._raw_sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _PinnedHTTPConnection(_Pinned, HTTPConnection):
    def __init__(self, *args: Any, pinned_ip: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pinned_ip = pinned_ip


class _PinnedHTTPSConnection(_Pinned, HTTPSConnection):
    def __init__(self, *args: Any, pinned_ip: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pinned_ip = pinned_ip


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


# What the receiver did to the connection, by the exception it caused (first match wins). Fixed
# phrases, not exception text: urllib3's messages can quote the URL, whose query may hold a token.
_CONNECTION_FAULTS: tuple[tuple[type[BaseException], str], ...] = (
    (http.client.RemoteDisconnected, "closed by the receiver before a response"),
    (ConnectionResetError, "reset by the receiver"),
    (BrokenPipeError, "closed by the receiver while the request was being sent"),
    (http.client.IncompleteRead, "response cut short"),
    (http.client.HTTPException, "malformed response"),
)


def _error_code(exc: BaseException, *, deadline_fired: bool) -> str:
    """Stable short code for a failed exchange, from anywhere in urllib3's exception chain,
    with what went wrong after a colon where the code alone would not say (TLS, broken connections)."""
    if deadline_fired:
        return "timeout"
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        e = todo.pop()
        if e in seen:
            continue
        seen.append(e)
        todo += [x for x in (e.__cause__, e.__context__, *e.args) if isinstance(x, BaseException)]
    if any(isinstance(e, ConnectionRefusedError) for e in seen):
        return "connection_refused"
    for e in seen:
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"tls_error: {e.verify_message}"  # e.g. "certificate has expired", "Hostname mismatch, ..."
    for e in seen:
        if isinstance(e, ssl.SSLError):
            return f"tls_error: {e.reason or 'handshake failed'}"  # e.g. WRONG_VERSION_NUMBER (not TLS)
    # NewConnectionError subclasses urllib3's ConnectTimeoutError for historical reasons.
    if any(isinstance(e, TimeoutError | Urllib3Timeout) and not isinstance(e, NewConnectionError) for e in seen):
        return "timeout"
    for kind, phrase in _CONNECTION_FAULTS:
        if any(isinstance(e, kind) for e in seen):
            return f"connection_error: {phrase}"
    return "connection_error"


class Sender:
    """One per process: thread-safe, with keep-alive pools per (scheme, host, vetted ip, port)."""

    def __init__(self, *, allow_insecure: bool = False, ca_bundle: str | None = None, pool_size: int = 10) -> None:
        self.allow_insecure = allow_insecure
        self.pool_size = pool_size
        self._ssl = ssl.create_default_context(cafile=certifi.where())
        if ca_bundle:
            self._ssl.load_verify_locations(ca_bundle)
        self._pools: OrderedDict[tuple[str, str, str, int], HTTPConnectionPool] = OrderedDict()
        self._lock = threading.Lock()

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> SendResult:
        """POST once; never raises for anything the receiver or the network does."""
        started = time.monotonic()

        def result(status: int | None = None, error: str | None = None, **kw: Any) -> SendResult:
            return SendResult(status, error, round((time.monotonic() - started) * 1000), **kw)

        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme != "https" and not (scheme == "http" and self.allow_insecure):
            return result(error=f"{BLOCKED}: {scheme}:// is not allowed, use https://")
        port = parts.port or (443 if scheme == "https" else 80)
        try:
            # The A-label validate_url approved, for the lookup, Host and SNI alike: handed a
            # non-ASCII name, getaddrinfo would encode it with IDNA 2003 (faß.de -> fass.de).
            host = ascii_hostname(parts.hostname or "")
            ip = self._vetted_ip(host, port, timeout_s)
        except _LookupTimeout as exc:
            return result(error=str(exc))
        except UrlRejected as exc:
            return result(error=f"{BLOCKED}: {exc}" if exc.reason == BLOCKED else f"dns_failure: {exc}")
        except OSError as exc:  # socket.gaierror and friends
            return result(error=f"dns_failure: {exc.strerror or type(exc).__name__}")  # "Name or service not known"
        except UnicodeError:  # getaddrinfo's IDNA encoding: an empty or over-long label
            return result(error="dns_failure: not a valid hostname")

        remaining_s = timeout_s - (time.monotonic() - started)  # the lookup spent part of the budget
        if remaining_s <= 0:
            return result(error="timeout")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        pool = self._pool(scheme, host, ip, port)
        deadline = _Deadline(remaining_s)
        _current.deadline = deadline
        response = None
        try:
            response = pool.urlopen(
                "POST",
                target,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                timeout=Timeout(total=remaining_s),
                preload_content=False,
                decode_content=False,
                release_conn=False,
                assert_same_host=False,
            )
            data = response.read(EXCERPT_BYTES + 1)
        except Exception as exc:  # noqa: BLE001 - every transport failure becomes an error code
            fired = deadline.cancel()
            if response is not None:
                response.close()
                response.release_conn()
            return result(error=_error_code(exc, deadline_fired=fired))
        finally:
            _current.deadline = None
        fired = deadline.cancel()
        if fired or len(data) > EXCERPT_BYTES:
            response.close()  # unread body or broken socket: do not reuse the connection
        response.release_conn()
        if fired:
            return result(error="timeout")
        return result(
            response.status,
            excerpt=data[:EXCERPT_BYTES].decode("utf-8", "replace"),
            retry_after=response.headers.get("Retry-After"),
        )

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()

    def _vetted_ip(self, host: str, port: int, timeout_s: float) -> str:
        """The address to connect to, after ONE resolution whose every answer passed the check.

        Raises _LookupTimeout when the lookup takes longer than `timeout_s`.
        """
        literal = parse_host_ip(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            infos = _RESOLVER.resolve(host, port, timeout_s)
            addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
            if not addresses:
                raise UrlRejected("dns_failure", "no addresses")
        for address in addresses:
            check_address(address, allow_insecure=self.allow_insecure)
        # Prefer IPv4: Lambda functions outside a VPC have no IPv6 egress.
        return str(min(addresses, key=lambda a: a.version))

    def _pool(self, scheme: str, host: str, ip: str, port: int) -> HTTPConnectionPool:
        key = (scheme, host, ip, port)
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None:
                self._pools.move_to_end(key)
                return pool
            if scheme == "https":
                pool = _PinnedHTTPSPool(
                    host,
                    port,
                    maxsize=self.pool_size,
                    ssl_context=self._ssl,
                    pinned_ip=ip,
                )
            else:
                pool = _PinnedHTTPPool(host, port, maxsize=self.pool_size, pinned_ip=ip)
            self._pools[key] = pool
            while len(self._pools) > MAX_POOLS:
                self._pools.popitem(last=False)[1].close()
            return pool
