"""URL rules and SSRF ranges: literals, numeric tricks, embedded IPv4, and the insecure dev switch."""

from __future__ import annotations

import ipaddress

import pytest

from litestore_webhooks.core.urls import (
    BLOCKED_NETWORKS,
    LOOPBACK,
    MAX_URL_LENGTH,
    UrlRejected,
    blocked_reason,
    check_address,
    parse_host_ip,
    validate_url,
)

REFERENCE_RANGES = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
    "::/128", "::1/128", "fe80::/10", "fc00::/7", "2001:db8::/32", "3fff::/20", "100::/64", "2002::/16",
    "64:ff9b::/96", "64:ff9b:1::/48", "5f00::/16", "ff00::/8",
]


def reason_of(url: str, **kwargs: bool) -> str:
    with pytest.raises(UrlRejected) as caught:
        validate_url(url, **kwargs)
    assert str(caught.value)  # every rejection explains itself
    return caught.value.reason


def test_blocked_networks_are_exactly_the_reference_list_and_labelled() -> None:
    assert sorted(str(b.network) for b in BLOCKED_NETWORKS) == sorted(REFERENCE_RANGES)
    assert all(b.label for b in BLOCKED_NETWORKS)


@pytest.mark.parametrize("cidr", REFERENCE_RANGES)
def test_every_range_is_rejected_as_a_literal_at_both_ends(cidr: str) -> None:
    network = ipaddress.ip_network(cidr)
    for ip in (network[0], network[-1]):
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        assert reason_of(f"https://{host}/hook") == "blocked_address"
        assert blocked_reason(ip) is not None


@pytest.mark.parametrize(
    ("address", "label"),
    [
        ("127.0.0.1", LOOPBACK),
        ("::1", LOOPBACK),
        ("169.254.169.254", "link-local (incl. cloud metadata 169.254.169.254)"),
        ("fd00:ec2::254", "unique local (private; incl. AWS metadata fd00:ec2::254)"),
        ("10.1.2.3", "private (RFC 1918)"),
        ("100.64.0.1", "CGNAT (shared address space)"),
        ("198.18.0.1", "benchmarking"),
        ("::ffff:127.0.0.1", LOOPBACK),  # IPv4-mapped
        ("::ffff:a9fe:a9fe", "link-local (incl. cloud metadata 169.254.169.254)"),
        ("::7f00:1", LOOPBACK),  # IPv4-compatible
        ("::ffff:0:a00:1", "private (RFC 1918)"),  # IPv4-translated
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_blocked_reason_labels_and_unwraps(address: str, label: str | None) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == label


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7F.0.0x0.01", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("8.8.8.8.", "8.8.8.8"),
        ("[::1]", "::1"),
        ("::ffff:7f00:1", "::ffff:127.0.0.1"),
        ("[fe80::1%25eth0]", "fe80::1"),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_parse_host_ip_numeric_forms(host: str, expected: str) -> None:
    parsed = parse_host_ip(host)
    assert parsed is not None
    assert parsed == ipaddress.ip_address(expected)


@pytest.mark.parametrize("host", ["example.com", "api.service.com", "1password.com", "x.y1", "0x.example", "abc"])
def test_parse_host_ip_returns_none_for_hostnames(host: str) -> None:
    assert parse_host_ip(host) is None


@pytest.mark.parametrize("host", ["1.2.3.256", "08.0.0.1", "1.2.3.4.5", "4294967296", "example.0x1", "[::zz]"])
def test_parse_host_ip_rejects_numeric_looking_garbage(host: str) -> None:
    with pytest.raises(UrlRejected) as caught:
        parse_host_ip(host)
    assert caught.value.reason == "invalid"


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433/",
        "https://0x7f000001/",
        "https://017700000001/",
        "https://127.1/",
        "https://0x7f.1/",
        "https://0177.0.0.1/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:7f00:1]/",
        "https://[::1]/",
        "https://[fe80::1%25eth0]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/",
        "https://198.18.0.1/",
        "https://10.0.0.1:8443/",
        "https://[fd00:ec2::254]/",
    ],
)
def test_ssrf_literals_rejected(url: str) -> None:
    assert reason_of(url) == "blocked_address"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://your-app.com/webhooks/litestore", "https://your-app.com/webhooks/litestore"),  # document
        ("https://api.service.com/hooks/litestore", "https://api.service.com/hooks/litestore"),  # document
        ("  HTTPS://API.Example.COM:443/Hook?a=1&b=2 ", "https://api.example.com/Hook?a=1&b=2"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://134744072/x", "https://8.8.8.8/x"),
        ("https://[2606:4700:4700:0::1111]/", "https://[2606:4700:4700::1111]/"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://my_host.example.com/", "https://my_host.example.com/"),
    ],
)
def test_valid_urls_are_normalised(url: str, expected: str) -> None:
    assert validate_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://your-app.com/webhooks/litestore", "not_https"),  # document
        ("http://localhost:3000/webhooks", "not_https"),  # document
        ("https://localhost:3000/webhooks", "localhost"),
        ("https://LOCALHOST./x", "localhost"),
        ("https://api.localhost/x", "localhost"),
        ("ftp://example.com/", "not_https"),
        ("example.com/hook", "not_https"),
        ("https://user:pass@example.com/", "userinfo"),
        ("https://user@example.com/", "userinfo"),
        ("https://example.com/hook#frag", "fragment"),
        ("https:///hook", "missing_host"),
        ("https://:443/hook", "missing_host"),
        ("https://example.com:99999/", "invalid"),
        ("https://example.com:0/", "invalid"),
        ("https://exa mple.com/", "invalid"),
        ("https://example.com\\@evil.com/", "invalid"),
        ("https://%6c%6fcalhost/", "invalid"),
        ("https://-bad-.example/", "invalid"),
        ("https://a..b/", "invalid"),
        ("https://[::1/", "invalid"),
        ("", "invalid"),
        ("https://example.com/" + "a" * MAX_URL_LENGTH, "too_long"),
    ],
)
def test_invalid_urls_say_why(url: str, reason: str) -> None:
    assert reason_of(url) == reason


def test_max_length_is_inclusive() -> None:
    base = "https://example.com/"
    assert validate_url(base + "a" * (MAX_URL_LENGTH - len(base)))


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:3000/webhooks", "http://127.0.0.1:8080/", "http://[::1]/", "https://127.1/",
        "http://x.localhost/",
    ],
)
def test_allow_insecure_lifts_http_and_loopback(url: str) -> None:
    assert validate_url(url, allow_insecure=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/", "http://10.0.0.1/", "https://192.168.1.1/", "http://[fd00:ec2::254]/",
        "http://0.0.0.0/",
    ],
)
def test_allow_insecure_never_lifts_other_ranges(url: str) -> None:
    assert reason_of(url, allow_insecure=True) == "blocked_address"


def test_allow_insecure_still_rejects_userinfo_and_other_schemes() -> None:
    assert reason_of("http://u:p@localhost/", allow_insecure=True) == "userinfo"
    assert reason_of("ftp://localhost/", allow_insecure=True) == "not_https"


def test_check_address_send_time() -> None:
    check_address(ipaddress.ip_address("93.184.216.34"), allow_insecure=False)
    check_address(ipaddress.ip_address("127.0.0.1"), allow_insecure=True)
    check_address(ipaddress.ip_address("::ffff:127.0.0.1"), allow_insecure=True)
    for address in ("127.0.0.1", "::1"):
        with pytest.raises(UrlRejected) as caught:
            check_address(ipaddress.ip_address(address), allow_insecure=False)
        assert caught.value.reason == "blocked_address"
        assert "loopback" in str(caught.value)
    with pytest.raises(UrlRejected, match="169.254.169.254"):
        check_address(ipaddress.ip_address("169.254.169.254"), allow_insecure=True)


def test_url_rejected_is_a_value_error() -> None:
    assert issubclass(UrlRejected, ValueError)
