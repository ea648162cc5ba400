"""SSRF: a blocked address is refused at create/update time wherever the URL itself says so, and
always at send time, whatever the URL or DNS says.

Three layers: generated spellings of every blocked range (hypothesis) against the URL rules and
the sender; then a local runtime WITHOUT allow_insecure, driven over HTTP: the admin API refuses
literals (400, common error shape), and hostnames resolving to blocked ranges, or rebinding from a
public answer to 127.0.0.1, are refused when sent. The resolver seam is `socket.getaddrinfo`
(core.sender resolves exactly once per attempt with it and connects to the vetted address);
`guarded_network` records every outgoing connect and refuses any off this machine, so nothing
leaves it and the tests can tell where the sender tried to go. Redirects are never followed: see
tests/test_reliability_receiver.py (3xx to another host and to the metadata address).
"""

from __future__ import annotations

import _socket
import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import trustme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.local_stack import attempts, create_endpoint, dead_letters, event, get, poll, settle
from tests.receivers import Receiver, ca_bundle
from tests.test_local_runtime import admin, ingest

from litestore_webhooks.core.sender import Sender
from litestore_webhooks.core.urls import BLOCKED_NETWORKS, UrlRejected, validate_url
from litestore_webhooks.local.runtime import LocalRuntime

LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
PUBLIC = "93.184.215.14"  # a public address; guarded_network refuses the connect, nothing leaves the host
TYPE = "order.updated"


# -- the network seams ------------------------------------------------------------------------------


@contextmanager
def guarded_network() -> Iterator[list[tuple[str, int]]]:
    """Record every socket connect of the process; refuse (ECONNREFUSED) any not to loopback."""
    seen: list[tuple[str, int]] = []
    real = _socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        host, port = address[0], address[1]
        seen.append((host, port))
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise ConnectionRefusedError(111, f"test guard: no connections off this machine ({host})")
        real(sock, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        del socket.socket.connect  # back to _socket.socket's


@contextmanager
def resolving(answers: dict[str, list[tuple[str, ...]]]) -> Iterator[list[str]]:
    """getaddrinfo for the names in `answers`: the n-th lookup of a name gets its n-th answer (the
    last one repeats); other names resolve for real. Yields the names looked up, in order."""
    looked_up: list[str] = []
    real = socket.getaddrinfo
    lock = threading.Lock()  # deliveries resolve from several threads at once

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in answers:
            return real(host, port, *args, **kwargs)
        with lock:
            looked_up.append(name)
            answer = answers[name][min(looked_up.count(name), len(answers[name])) - 1]
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in answer
        ]

    socket.getaddrinfo = fake
    try:
        yield looked_up
    finally:
        socket.getaddrinfo = real


# -- generated spellings of blocked addresses ---------------------------------------------------------

FULLWIDTH = str.maketrans("0123456789abcdefABCDEFxX.", "０１２３４５６７８９ａｂｃｄｅｆＡＢＣＤＥＦｘＸ．")


def in_network(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy[Any]:
    return st.integers(0, network.num_addresses - 1).map(lambda i: network.network_address + i)


blocked_addresses = st.sampled_from(BLOCKED_NETWORKS).flatmap(lambda b: in_network(b.network))


@st.composite
def ipv4_spelling(draw: st.DrawFn, ip: ipaddress.IPv4Address) -> str:
    """What inet_aton and browsers read as `ip`: 1-4 parts (the last fills the remaining bytes),
    each decimal, octal (0-prefixed) or hex (0x, any case, leading zeros), optionally a trailing
    dot, ideographic dots or full-width characters (which IDNA maps back to ASCII)."""
    n, count = int(ip), draw(st.integers(1, 4))
    values = [(n >> (8 * (3 - i))) & 0xFF for i in range(count - 1)] + [n & ((1 << (8 * (5 - count))) - 1)]
    parts = []
    for v in values:
        base = draw(st.sampled_from(["dec", "oct", "hex"]))
        if base == "dec":
            parts.append(str(v))
        elif base == "oct":
            parts.append("0" * draw(st.integers(1, 3)) + format(v, "o"))
        else:
            digits = format(v, draw(st.sampled_from(["x", "X"])))
            parts.append(draw(st.sampled_from(["0x", "0X"])) + "0" * draw(st.integers(0, 2)) + digits)
    host = draw(st.sampled_from([".", "。", "｡"])).join(parts) + draw(st.sampled_from(["", "."]))
    return host.translate(FULLWIDTH) if draw(st.booleans()) else host


@st.composite
def ipv6_spelling(draw: st.DrawFn, ip: ipaddress.IPv6Address) -> str:
    """Compressed, exploded, upper-case, a dotted tail, a zone id."""
    n = int(ip)
    form = draw(st.sampled_from(["compressed", "exploded", "dotted"]))
    if form == "dotted":
        groups = ":".join(format((n >> (16 * (7 - i))) & 0xFFFF, "x") for i in range(6))
        text = f"{groups}:{ipaddress.IPv4Address(n & 0xFFFFFFFF)}"
    else:
        text = getattr(ip, form)
    text = text.upper() if draw(st.booleans()) else text
    return f"[{text}{draw(st.sampled_from(['', '%25eth0', '%251']))}]"


@st.composite
def blocked_host(draw: st.DrawFn) -> tuple[str, bool]:
    """(a URL host spelling a blocked address, whether allow_insecure lets it through: loopback only)."""
    ip = draw(blocked_addresses)
    if ip.version == 6:
        return draw(ipv6_spelling(ip)), ip == ipaddress.ip_address("::1")
    wrapper = draw(st.sampled_from(["none", "mapped", "mapped-hex", "compatible", "siit", "nat64", "6to4"]))
    hi, lo = int(ip) >> 16, int(ip) & 0xFFFF
    if wrapper == "none":
        return draw(ipv4_spelling(ip)), ip in LOOPBACK_V4
    host = {
        "mapped": f"::ffff:{ip}",
        "mapped-hex": f"::ffff:{hi:x}:{lo:x}",
        "compatible": f"::{ip}",
        "siit": f"::ffff:0:{ip}",
        "nat64": f"64:ff9b::{ip}",
        "6to4": f"2002:{hi:x}:{lo:x}::1",
    }[wrapper]
    # Wrappers that only carry the IPv4 address are judged by it; NAT64 and 6to4 are blocked ranges themselves.
    unwraps = wrapper in ("mapped", "mapped-hex", "compatible", "siit")
    return draw(ipv6_spelling(ipaddress.IPv6Address(host))), unwraps and ip in LOOPBACK_V4 or host == "::0.0.0.1"


def refusal(url: str, *, allow_insecure: bool = False) -> str | None:
    try:
        validate_url(url, allow_insecure=allow_insecure)
    except UrlRejected as exc:
        return exc.reason
    return None


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SENDER = Sender()  # the deployed rules (no allow_insecure); thread-safe, and its TLS context is costly to build


@FAST
@given(blocked_host(), st.sampled_from(["", ":8443"]))
def test_every_spelling_of_a_blocked_address_is_refused_at_create_time(host_and_loopback, port):
    host, loopback = host_and_loopback
    url = f"https://{host}{port}/hook"
    assert refusal(url) == "blocked_address", url
    assert refusal(url, allow_insecure=True) == (None if loopback else "blocked_address"), url


@FAST
@given(blocked_host())
def test_every_spelling_of_a_blocked_address_is_refused_at_send_time(host_and_loopback):
    host, _ = host_and_loopback
    with guarded_network() as connects:
        result = SENDER.post(f"https://{host}/hook", b"{}", {}, 2.0)
    assert result.blocked and result.status is None, (host, result)
    assert connects == []  # refused before any connection was attempted


answer_spellings = blocked_addresses.flatmap(
    lambda ip: st.sampled_from(
        [str(ip)] + ([f"::ffff:{ip}"] if ip.version == 4 else [f"{ip}%eth0"] if ip.is_link_local else [])
    )
)


@FAST
@given(st.lists(answer_spellings, min_size=1, max_size=3), st.lists(st.just(PUBLIC), max_size=2), st.randoms())
def test_a_name_resolving_to_any_blocked_address_is_refused_at_send_time(blocked, public, rnd):
    answer = blocked + public
    rnd.shuffle(answer)  # one bad answer among good ones is enough, wherever it is
    with guarded_network() as connects, resolving({"hooks.example.test": [tuple(answer)]}) as looked_up:
        result = SENDER.post("https://hooks.example.test/hook", b"{}", {}, 2.0)
    assert result.blocked and result.error.startswith("blocked_address: "), (answer, result)
    assert looked_up == ["hooks.example.test"] and connects == []


def test_idna_spellings_of_an_address_were_a_create_time_bypass():
    """Regression: these passed validate_url as *hostnames* and were stored as the address they spell."""
    for url in ("https://127。0。0。1/", "https://169.254.169.254。/", "https://0177．0．0．1/", "https://１０.0.0.1/"):
        assert refusal(url) == "blocked_address", url


# -- through the local runtime, no allow_insecure ---------------------------------------------------------

# Every blocked range, first address, written as the literal a user would paste.
LITERALS = [
    f"https://[{b.network[0]}]/hook" if b.network.version == 6 else f"https://{b.network[0]}/hook"
    for b in BLOCKED_NETWORKS
]
# The other spellings, of loopback and the metadata address, and the names that mean this machine.
SPELLINGS = [
    "https://2130706433/",
    "https://0x7f000001/",
    "https://017700000001/",
    "https://127.1/",
    "https://0x7f.1/",
    "https://0177.0.0.1/",
    "https://127。0。0。1/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::127.0.0.1]/",
    "https://[0:0:0:0:0:0:0:1]/",
    "https://2852039166/",
    "https://0xa9fea9fe/",
    "https://0251.0376.0251.0376/",
    "https://[::ffff:a9fe:a9fe]/",
    "https://[fd00:ec2::254]/",
    "https://[fe80::1%25eth0]/",
    "https://localhost/",
    "https://LOCALHOST./",
    "https://api.localhost/",
    "http://hooks.example.com/",  # not https: without allow_insecure, plain HTTP is refused too
]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def rt(ca, tmp_path_factory):
    """The deployed rules: https:// only, no loopback; our test CA trusted so a loopback HTTPS
    receiver WOULD get the request if the address check let it through."""
    bundle = ca_bundle(ca, tmp_path_factory.mktemp("ca") / "ca.pem")
    with LocalRuntime(port=0, allow_insecure=False, ca_bundle=bundle, write_profile=False) as runtime:
        yield runtime


def assert_refused(status: int, body: Any, url: str) -> None:
    assert status == 400, (url, status, body)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == "validation_failed" and body["error"]["message"], body
    assert [d["path"].rsplit(".", 1)[-1] for d in body["error"]["details"]] == ["url"], body


def test_create_and_update_refuse_blocked_urls_with_the_common_error_shape(rt):
    status, kept = admin(rt, "POST", "/endpoints", {"url": "https://hooks.example.test/hook", "events": [TYPE]})
    assert status == 201, kept
    for url in LITERALS + SPELLINGS:
        assert_refused(*admin(rt, "POST", "/endpoints", {"url": url, "events": [TYPE]}), url)
        assert_refused(*admin(rt, "PATCH", f"/endpoints/{kept['id']}", {"url": url}), url)
    assert [e["url"] for e in get(rt, "/endpoints")["data"]] == ["https://hooks.example.test/hook"]
    assert admin(rt, "DELETE", f"/endpoints/{kept['id']}")[0] == 204
    print(f"\n[ssrf create/update] {len(LITERALS + SPELLINGS)} URLs x (POST, PATCH): all 400 validation_failed")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocked_host())
def test_generated_spellings_are_refused_by_the_admin_api(rt, host_and_loopback):
    url = f"https://{host_and_loopback[0]}/hook"
    assert_refused(*admin(rt, "POST", "/endpoints", {"url": url, "events": [TYPE]}), url)


# What DNS may say about a name that passed the create-time check, and the blocked address an
# attempt must then name: one answer per blocked range (first address + 1), and mixed answers.
SEND_TIME_ANSWERS = [
    ((str(b.network[1]),), str(b.network[1])) for b in BLOCKED_NETWORKS if b.network.num_addresses > 1
] + [
    (("255.255.255.255",), "255.255.255.255"),
    (("::",), "::"),
    (("::1",), "::1"),
    (("::ffff:127.0.0.1",), "::ffff:7f00:1"),
    (("fe80::1%eth0",), "fe80::1"),
    ((PUBLIC, "10.1.2.3"), "10.1.2.3"),
    (("2606:4700::1111", "169.254.169.254"), "169.254.169.254"),
]


def test_names_resolving_to_blocked_ranges_are_refused_at_send_time(rt, ca):
    with Receiver(ca=ca, hostnames=("hooks.example.test",)) as rx:
        url = f"https://hooks.example.test:{rx.port}/hook"  # if 127.0.0.1 got through, this receiver answers
        answers = {"hooks.example.test": [answer for answer, _ in SEND_TIME_ANSWERS]}
        with guarded_network() as connects, resolving(answers) as looked_up:
            ep = create_endpoint(rt, "resolves to blocked ranges", url, [TYPE])
            for i in range(len(SEND_TIME_ANSWERS)):
                assert ingest(rt, event(TYPE, f"evt_ssrf_resolve_{i}"))[0] == 202
            poll(
                lambda: len(attempts(rt, ep["id"])) >= len(SEND_TIME_ANSWERS),
                timeout=30,
                what="an attempt for every event",
            )
            settle(rt, [ep["id"]])
        log = attempts(rt, ep["id"])
        dead = dead_letters(rt, ep["id"])
        assert rx.requests == []
    assert len(log) == len(SEND_TIME_ANSWERS) == len(looked_up)  # one resolution per attempt, never two
    assert all((a["attempt"], a["status"], a.get("httpStatus")) == (1, "dead_lettered", None) for a in log)
    assert all(a["error"].startswith("blocked_address: ") and "public internet" in a["error"] for a in log)
    named = sorted(a["error"].removeprefix("blocked_address: ").split(" ", 1)[0] for a in log)
    assert named == sorted(ip for _, ip in SEND_TIME_ANSWERS)  # each attempt names the address DNS gave it
    assert {(d["reason"], d["attempts"]) for d in dead} == {("blocked_address", 1)} and len(dead) == len(log)
    assert [c for c in connects if c[1] == rx.port] == []  # not even a connect
    print(
        f"\n[ssrf send-time] {len(log)} answers: {len(log)} attempts dead_lettered blocked_address, "
        f"{len(looked_up)} lookups, 0 requests, 0 connects; durationMs max {max(a['durationMs'] for a in log)}"
    )


def test_dns_rebinding_cannot_redirect_the_connection_to_loopback(rt, ca):
    """First answer public, every later one 127.0.0.1: attempt 1 connects to the public address it
    vetted (never resolving again at connect time), attempt 2 vets again and refuses."""
    with Receiver(ca=ca, hostnames=("rebind.example.test",)) as rx:
        url = f"https://rebind.example.test:{rx.port}/hook"
        with (
            guarded_network() as connects,
            resolving({"rebind.example.test": [(PUBLIC,), ("127.0.0.1",)]}) as looked_up,
        ):
            ep = create_endpoint(
                rt,
                "rebinding",
                url,
                ["order.completed"],
                timeout=2000,
                retryPolicy={"maxAttempts": 3, "initialDelay": 100, "maxDelay": 1000},
            )
            assert ingest(rt, event("order.completed", "evt_ssrf_rebind"))[0] == 202
            poll(
                lambda: any(a["status"] == "dead_lettered" for a in attempts(rt, ep["id"])),
                timeout=20,
                what="the rebinding attempt dead-lettered",
            )
            settle(rt, [ep["id"]])
        log = sorted(attempts(rt, ep["id"]), key=lambda a: a["attempt"])
        assert rx.requests == []
    steps = [(a["attempt"], a["status"], a.get("error", "").split(" is ")[0]) for a in log]
    print(f"\n[ssrf rebinding] {steps}, lookups={len(looked_up)}, connects={[c for c in connects if c[1] == rx.port]}")
    assert steps == [(1, "retry_scheduled", "connection_refused"), (2, "dead_lettered", "blocked_address: 127.0.0.1")]
    assert looked_up == ["rebind.example.test"] * 2  # one lookup per attempt
    assert [c for c in connects if c[1] == rx.port] == [(PUBLIC, rx.port)]  # the vetted address, only
    assert [d["reason"] for d in dead_letters(rt, ep["id"])] == ["blocked_address"]


def test_the_admin_test_send_is_checked_at_send_time_too(rt, ca):
    with guarded_network() as connects, resolving({"metadata.example.test": [("169.254.169.254",)]}) as looked_up:
        ep = create_endpoint(rt, "test send", "https://metadata.example.test/latest/meta-data/", ["user.registered"])
        status, attempt = admin(rt, "POST", f"/endpoints/{ep['id']}/test", {"event": "user.registered"})
    assert status == 200, attempt
    assert (attempt["status"], attempt["httpStatus"]) == ("failed", None)
    assert attempt["error"].startswith("blocked_address: 169.254.169.254 is a link-local"), attempt
    assert looked_up == ["metadata.example.test"] and [c for c in connects if c[0] == "169.254.169.254"] == []


# Regression (issue 13 item 13): Teredo, the rest of 2001::/23 and site-local fec0::/10 were let through.
MISSED_RANGES = [
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:1::1",
    "2001:2::1",
    "2001:3::1",
    "2001:4:112::1",
    "2001:10::1",
    "2001:20::1",
    "2001:30::1",
    "2001:1ff::1",
    "fec0::1",
    "feff::1",
]


@pytest.mark.parametrize("address", MISSED_RANGES)
def test_teredo_2001_23_and_site_local_answers_are_refused_at_send_time(address):
    with guarded_network() as connects, resolving({"v6.example.test": [(address,)]}) as looked_up:
        result = SENDER.post("https://v6.example.test/hook", b"{}", {}, 2.0)
        literal = SENDER.post(f"https://[{address}]/hook", b"{}", {}, 2.0)
    assert result.blocked and result.error.startswith(f"blocked_address: {address} is a"), result
    assert literal.blocked, literal
    assert looked_up == ["v6.example.test"] and connects == []
