"""The SSRF-safe sender against real local receivers (HTTP and HTTPS with a throwaway CA)."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import trustme

from litestore_webhooks.core.sender import EXCERPT_BYTES, MAX_LOOKUPS, MAX_LOOKUPS_PER_HOST, Sender
from receivers import Receiver, Reply, ca_bundle

HOST = "hooks.example.test"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def resolve(monkeypatch):
    """Answer DNS for HOST: the n-th lookup gets the n-th answer (a str or a tuple of addresses).

    Returns the list of names looked up, so tests can count resolutions.
    """
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def install(*answers: str | tuple[str, ...]):
        def fake(host, port, *args, **kwargs):
            if host != HOST:
                return real(host, port, *args, **kwargs)
            looked_up.append(host)
            answer = answers[min(len(looked_up), len(answers)) - 1]
            addresses = (answer,) if isinstance(answer, str) else answer
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses
            ]

        monkeypatch.setattr(socket, "getaddrinfo", fake)
        return looked_up

    return install


def post(sender: Sender, url: str, timeout_s: float = 5.0, body: bytes = b'{"a":1}'):
    return sender.post(url, body, {"Content-Type": "application/json"}, timeout_s)


def test_posts_body_and_headers_and_reuses_the_connection():
    sender = Sender(allow_insecure=True)
    with Receiver() as rx:
        first, second = post(sender, rx.url("/hook?x=1")), post(sender, rx.url("/hook?x=1"))
        a, b = rx.wait_for(2)
    assert (first.status, first.error, second.status) == (200, None, 200)
    assert (a.method, a.path, a.body, a.headers["Host"]) == ("POST", "/hook?x=1", b'{"a":1}', f"127.0.0.1:{rx.port}")
    assert a.peer == b.peer  # keep-alive: the second POST rode the first connection


def test_https_connects_to_the_vetted_ip_but_verifies_the_hostname(ca, tmp_path, resolve):
    looked_up = resolve("127.0.0.1", "10.0.0.1")  # a rebinding resolver: the second answer is private
    sender = Sender(allow_insecure=True, ca_bundle=ca_bundle(ca, tmp_path / "ca.pem"))
    with Receiver(ca=ca, hostnames=(HOST,)) as rx:
        result = post(sender, rx.url(host=HOST))
        (request,) = rx.wait_for(1)
    assert (result.status, result.error) == (200, None)
    assert request.headers["Host"] == f"{HOST}:{rx.port}"
    assert looked_up == [HOST]  # one resolution: nothing could re-resolve between check and connect


def test_https_certificate_for_another_name_is_a_tls_error(ca, tmp_path, resolve):
    resolve("127.0.0.1")
    sender = Sender(allow_insecure=True, ca_bundle=ca_bundle(ca, tmp_path / "ca.pem"))
    with Receiver(ca=ca, hostnames=("other.example.test",)) as rx:
        result = post(sender, rx.url(host=HOST))
    assert (result.status, rx.requests) == (None, []) and result.error.startswith("tls_error: Hostname mismatch")


def test_untrusted_ca_is_a_tls_error(ca):
    with Receiver(ca=ca) as rx:
        result = post(Sender(allow_insecure=True), rx.url())
    assert result.error == "tls_error: unable to get local issuer certificate"


@pytest.mark.parametrize("answer", ["127.0.0.1", "169.254.169.254", ("93.184.215.14", "10.1.2.3"), "::1"])
def test_hostname_resolving_to_a_blocked_address_is_refused(resolve, answer):
    resolve(answer)
    with Receiver() as rx:
        result = post(Sender(), f"https://{HOST}:{rx.port}/hook")
    assert rx.requests == []
    assert result.status is None and result.blocked and result.error.startswith("blocked_address: ")


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1/", "https://[::ffff:169.254.169.254]/", "https://2130706433/", "http://example.com/"]
)
def test_literals_and_plain_http_are_refused_without_allow_insecure(url):
    result = post(Sender(), url)
    assert result.blocked, result


def test_allow_insecure_still_blocks_metadata_and_private_ranges():
    assert post(Sender(allow_insecure=True), "http://169.254.169.254/latest/meta-data").blocked
    assert post(Sender(allow_insecure=True), "http://10.0.0.1/").blocked


def test_redirect_is_returned_not_followed():
    with Receiver(Reply(302, {"Location": "http://127.0.0.1:1/elsewhere"})) as rx:
        result = post(Sender(allow_insecure=True), rx.url())
        rx.wait_for(1)
    assert (result.status, len(rx.requests)) == (302, 1)


def test_huge_body_is_cut_to_an_excerpt_and_the_connection_replaced():
    sender = Sender(allow_insecure=True)
    with Receiver(Reply(500, body="é".encode() * 500_000)) as rx:
        big, after = post(sender, rx.url()), post(sender, rx.url())
        a, b = rx.wait_for(2)
    assert big.status == 500 and len(big.excerpt.encode()) <= EXCERPT_BYTES + 3  # lossy decode of a cut char
    assert big.excerpt.startswith("éé")
    assert after.status == 200 and a.peer != b.peer


def test_retry_after_is_reported():
    with Receiver(Reply(429, {"Retry-After": "120"})) as rx:
        result = post(Sender(allow_insecure=True), rx.url())
    assert (result.status, result.retry_after) == (429, "120")


def test_slow_response_times_out():
    with Receiver(Reply(delay_s=5)) as rx:
        result = post(Sender(allow_insecure=True), rx.url(), timeout_s=0.3)
    assert (result.status, result.error) == (None, "timeout")
    assert 250 <= result.duration_ms < 1500


def test_dribbling_body_cannot_outlast_the_total_timeout():
    # Each byte comes well within any per-read timeout; only the wall-clock deadline stops it.
    with Receiver(Reply(200, body=b"x" * 200, chunk_delay_s=0.02)) as rx:
        started = time.monotonic()
        result = post(Sender(allow_insecure=True), rx.url(), timeout_s=0.5)
        elapsed = time.monotonic() - started
    assert (result.status, result.error) == (None, "timeout")
    assert elapsed < 1.5


def test_connection_refused_and_dns_failure(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert post(Sender(allow_insecure=True), f"http://127.0.0.1:{port}/").error == "connection_refused"

    # getaddrinfo IDNA-encodes the name first; a label it cannot encode is a failure, not an exception.
    assert post(Sender(), f"https://{'a' * 64}.example.test/").error == "dns_failure: not a valid hostname"

    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    assert post(Sender(), "https://no-such-host.example.test/").error == "dns_failure: Name or service not known"


def test_a_hanging_resolver_cannot_outlast_the_timeout(monkeypatch):
    release = threading.Event()
    calls: list[str] = []

    def hanging(host, *args, **kwargs):
        calls.append(host)
        release.wait(10)  # getaddrinfo cannot be interrupted: it returns when the resolver does
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    try:
        started = time.monotonic()
        result = post(Sender(), f"https://{HOST}/", timeout_s=0.3)
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert (result.status, result.error) == (None, "dns_failure: timeout")
    assert calls == [HOST] and elapsed < 1.0 and 250 <= result.duration_ms < 1000


def test_time_spent_resolving_counts_against_the_total_timeout(resolve, monkeypatch):
    looked_up = resolve("127.0.0.1")
    fast = socket.getaddrinfo

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return fast(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    with Receiver(Reply(delay_s=5)) as rx:
        started = time.monotonic()
        result = post(Sender(allow_insecure=True), f"http://{HOST}:{rx.port}/", timeout_s=0.5)
        elapsed = time.monotonic() - started
    assert (result.status, result.error, looked_up) == (None, "timeout", [HOST])
    assert elapsed < 0.75  # 0.3 s resolving + what was left of 0.5 s, not 0.3 + 0.5


def test_an_internationalised_host_is_resolved_and_named_by_the_a_label_validation_approved(ca, tmp_path, monkeypatch):
    """Regression (issue 13 item 12): socket.getaddrinfo encodes a non-ASCII host with IDNA 2003, so
    `faß.de` was looked up as `fass.de` (another domain, whose address was vetted and connected
    to) while urllib3 named `xn--fa-hia.de` in Host and SNI. The certificate is for the IDNA 2008
    A-label only, so the TLS check also proves SNI and the hostname check used it."""
    a_label = "xn--fa-hia.de"  # what validate_url stores for https://faß.de/
    looked_up: list[str] = []

    def resolver(host, port, *args, **kwargs):
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    sender = Sender(allow_insecure=True, ca_bundle=ca_bundle(ca, tmp_path / "ca.pem"))
    with Receiver(ca=ca, hostnames=(a_label,)) as rx:
        result = post(sender, f"https://faß.de:{rx.port}/hook")
        requests = list(rx.requests)
    assert (result.status, result.error) == (200, None), result
    assert looked_up == [a_label]
    assert [r.headers["Host"] for r in requests] == [f"{a_label}:{rx.port}"]


class HangingResolver:
    """A resolver stand-in for the DNS-starvation tests: socket.getaddrinfo, monkeypatched, hangs
    for the `bad` names until `release` is set, answers 127.0.0.1 for HOST, resolves the rest.

    Monkeypatched because the system resolver cannot be made to hang for one name from a test:
    its nameservers come from /etc/resolv.conf, shared with the whole machine, and glibc takes no
    per-process override."""

    def __init__(self, monkeypatch, bad: list[str]) -> None:
        self.bad = set(bad)
        self.release = threading.Event()
        self.begun = 0  # lookups of bad names that have begun (and hang)
        self._changed = threading.Condition()
        self._real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host, port, *args, **kwargs):
        if host == HOST:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        if host not in self.bad:
            return self._real(host, port, *args, **kwargs)
        with self._changed:
            self.begun += 1
            self._changed.notify_all()
        self.release.wait(30)  # getaddrinfo cannot be interrupted: it returns when the resolver does
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    def wait_begun(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.begun >= count, timeout=5), self.begun


def test_one_hosts_hanging_lookups_do_not_starve_another_hosts(monkeypatch):
    """Regression (issue 13 item 16): 16 hanging lookups of one name took the process's whole
    resolver pool, and a healthy endpoint then failed with `dns_failure: timeout`. 20 attempts
    of the hanging name are in flight while the healthy host is sent to."""
    bad = "hangs.example.test"
    dns = HangingResolver(monkeypatch, [bad])
    sender = Sender(allow_insecure=True)
    hanging = ThreadPoolExecutor(max_workers=20)
    try:
        with Receiver() as rx:
            stuck = [hanging.submit(post, sender, f"http://{bad}:{rx.port}/", 10.0) for _ in range(20)]
            dns.wait_begun(MAX_LOOKUPS_PER_HOST)
            result = post(sender, f"http://{HOST}:{rx.port}/", timeout_s=2.0)
            lookups_of_bad = dns.begun
            assert not any(f.done() for f in stuck)  # all 20 attempts of the bad host still waiting
            dns.release.set()
            outcomes = [f.result(timeout=15) for f in stuck]
    finally:
        dns.release.set()
        hanging.shutdown(wait=True)
    assert (result.status, result.error) == (200, None), result
    assert lookups_of_bad == MAX_LOOKUPS_PER_HOST < 16  # the other attempts waited for one of its slots
    assert all(o.error.startswith("dns_failure: ") for o in outcomes), outcomes


def test_the_process_holds_at_most_max_lookups_hung_and_says_so_when_they_are_all_taken(monkeypatch):
    """The total bound: threads stuck in getaddrinfo cannot be cancelled, so at most MAX_LOOKUPS
    (64) are held by names that hang (16 names x 4 here); a lookup that finds none free within its
    attempt's budget fails saying why, and resolves again once the resolver answers."""
    bad = [f"hangs-{i}.example.test" for i in range(MAX_LOOKUPS // MAX_LOOKUPS_PER_HOST)]
    dns = HangingResolver(monkeypatch, bad)
    sender = Sender(allow_insecure=True)
    try:
        with ThreadPoolExecutor(max_workers=MAX_LOOKUPS) as pool, Receiver() as rx:
            gave_up = list(pool.map(lambda name: post(sender, f"http://{name}/", 0.3), bad * MAX_LOOKUPS_PER_HOST))
            dns.wait_begun(MAX_LOOKUPS)
            starved = post(sender, f"http://{HOST}:{rx.port}/", timeout_s=0.3)
            dns.release.set()
            after = post(sender, f"http://{HOST}:{rx.port}/", timeout_s=5.0)
    finally:
        dns.release.set()
    assert dns.begun == MAX_LOOKUPS
    assert {r.error for r in gave_up} == {"dns_failure: timeout"}
    assert starved.error == "dns_failure: timeout (64 lookups of other hosts are still unanswered)", starved
    assert (after.status, after.error) == (200, None), after
