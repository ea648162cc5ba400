"""Endpoint URL rules and SSRF ranges: the single home for both.

Checked twice: on the literal URL when an endpoint is registered (``validate_url``)
and on every resolved address right before a delivery is sent (``check_address``),
because a public hostname can resolve to a private address (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048
LOOPBACK = "loopback"


class UrlRejected(ValueError):
    """A URL (or resolved address) that must not receive webhooks.

    ``reason`` is a stable short code for programs; ``str(exc)`` says why and what to do.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BlockedNetwork(NamedTuple):
    network: IPNetwork
    label: str


def _blocked(*pairs: tuple[str, str]) -> tuple[BlockedNetwork, ...]:
    return tuple(BlockedNetwork(ipaddress.ip_network(cidr), label) for cidr, label in pairs)


_PRIVATE = "private (RFC 1918)"
_DOCS = "documentation"

# Svix's list (see docs reference) plus IPv6 multicast, 2001::/23 and site-local. Beyond the list,
# every address the standard library does not call global is refused too (``blocked_reason``);
# the list states our intent in one place and holds the same on every Python (3.11.7 and 3.12.1
# call nothing in 2001::/23 global, 3.13.0 calls six of its blocks global). The first match
# labels a refusal: Teredo sits inside 2001::/23 and comes first for its own label.
BLOCKED_NETWORKS: tuple[BlockedNetwork, ...] = _blocked(
    ("0.0.0.0/8", "unspecified (this network)"),
    ("10.0.0.0/8", _PRIVATE),
    ("100.64.0.0/10", "CGNAT (shared address space)"),
    ("127.0.0.0/8", LOOPBACK),
    ("169.254.0.0/16", "link-local (incl. cloud metadata 169.254.169.254)"),
    ("172.16.0.0/12", _PRIVATE),
    ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
    ("192.0.2.0/24", _DOCS),
    ("192.88.99.0/24", "reserved (6to4 relay anycast)"),
    ("192.168.0.0/16", _PRIVATE),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", _DOCS),
    ("203.0.113.0/24", _DOCS),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", LOOPBACK),
    ("fe80::/10", "link-local"),
    ("fc00::/7", "unique local (private; incl. AWS metadata fd00:ec2::254)"),
    ("fec0::/10", "site-local (deprecated, still routed inside some networks)"),
    ("2001::/32", "Teredo (embeds an IPv4 address)"),
    # IETF protocol assignments. IANA marks some of its blocks globally reachable (PCP and TURN
    # anycast, AMT, AS112, ORCHIDv2, drone ids); none is where an HTTPS receiver lives, so all go.
    ("2001::/23", "reserved (IETF protocol assignments)"),
    ("2001:db8::/32", _DOCS),
    ("3fff::/20", _DOCS),
    ("100::/64", "discard-only"),
    ("2002::/16", "6to4 (embeds an IPv4 address)"),
    ("64:ff9b::/96", "NAT64 (embeds an IPv4 address)"),
    ("64:ff9b:1::/48", "NAT64 local-use (embeds an IPv4 address)"),
    ("5f00::/16", "reserved (SRv6 SIDs)"),
    ("ff00::/8", "multicast"),
)

_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT ::ffff:0:a.b.c.d


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a v6 address stands for, if it is one of the forms that just wrap it."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


NOT_GLOBAL = "not globally reachable (IANA special-purpose)"


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not receive webhooks, or None for a public address.

    The label of the blocked range it falls in, else (after unwrapping IPv4 carried in IPv6)
    NOT_GLOBAL when the standard library does not call it global: that catches ranges IANA
    adds before our list does, in whichever Python the function runs on.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ipaddress.IPv6Address(int(ip))  # drop any zone id
    for blocked in BLOCKED_NETWORKS:
        if ip.version == blocked.network.version and ip in blocked.network:
            return blocked.label
    if isinstance(ip, ipaddress.IPv6Address) and (v4 := _embedded_ipv4(ip)) is not None:
        return blocked_reason(v4)
    return None if ip.is_global else NOT_GLOBAL


def check_address(ip: IPAddress, *, allow_insecure: bool) -> None:
    """Send-time check of a resolved address; ``allow_insecure`` (local dev) permits loopback only."""
    label = blocked_reason(ip)
    if label is None or (allow_insecure and label == LOOPBACK):
        return
    raise UrlRejected(
        "blocked_address",
        f"{ip} is a {label} address; webhooks are only delivered to public internet addresses. "
        "Use a publicly reachable HTTPS URL.",
    )


_IPV4_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")
_ENDS_IN_NUMBER = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


def _invalid(host: str) -> UrlRejected:
    return UrlRejected("invalid", f"host {host!r} is not a valid hostname or IP address.")


def _parse_ipv4(host: str) -> ipaddress.IPv4Address:
    """inet_aton/WHATWG IPv4: 1-4 parts, each decimal, 0x-hex or 0-octal; the last fills the rest."""
    parts = host.split(".")
    if len(parts) > 4 or not all(_IPV4_PART.match(p) for p in parts):
        raise _invalid(host)
    values = [int(p[2:] or "0", 16) if p[:2].lower() == "0x" else int(p, 8 if p[0] == "0" else 10) for p in parts]
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise _invalid(host)
    number = last
    for i, v in enumerate(head):
        number += v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def parse_host_ip(host: str) -> IPAddress | None:
    """The IP address a URL host denotes, or None for a real hostname.

    Accepts everything resolvers and browsers treat as an address: ``2130706433``, ``0x7f000001``,
    ``017700000001``, ``127.1``, ``0x7f.1``, ``0177.0.0.1``, ``[::1]``, ``[fe80::1%25eth0]``.
    A host whose last label is numeric but is no valid IPv4 (``1.2.3.256``, ``08.1``) raises
    UrlRejected("invalid"): it is not a hostname either, and guessing would open a bypass.
    """
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        address = host.split("%", 1)[0]  # zone id ("%25eth0" in URLs) only scopes link-local
        try:
            return ipaddress.IPv6Address(address)
        except ValueError:
            raise _invalid(host) from None
    # What the resolver is handed: full-width digits and dots such as "127。0。0。1" become
    # "127.0.0.1", an address, not a name.
    host = ascii_hostname(host)
    labels = host.removesuffix(".").split(".")
    if not _ENDS_IN_NUMBER.match(labels[-1]):
        return None
    return _parse_ipv4(".".join(labels))


_HOST_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def ascii_hostname(host: str) -> str:
    """The lower-case ASCII form of a hostname: A-labels by UTS #46, non-transitional (IDNA 2008).

    That is what browsers resolve. Python's "idna" codec, which socket.getaddrinfo applies to a
    non-ASCII str, is IDNA 2003: it maps ``faß.de`` to ``fass.de``, someone else's domain. So
    the URL is stored with these A-labels and the sender hands the resolver, Host and SNI only
    them. ASCII labels pass as they are (``_`` included: DNS carries it, IDNA would refuse it).
    """
    if host.isascii():
        return host.lower()
    import idna  # here, not at the top: ~8 ms to import, and only non-ASCII hosts need it

    try:
        mapped = idna.uts46_remap(host, std3_rules=False)  # case, width, dots; ß, ς, ZWJ/ZWNJ kept
        labels = [label if label.isascii() else idna.alabel(label).decode("ascii") for label in mapped.split(".")]
    except UnicodeError as exc:  # idna.IDNAError and its InvalidCodepoint are UnicodeErrors
        raise UrlRejected(
            "invalid",
            f"host {host!r} has no IDNA 2008 form ({exc}); if the name is registered, use its xn-- (punycode) form.",
        ) from None
    return ".".join(labels)


def _normalise_hostname(host: str) -> str:
    """Lower-case ASCII (IDNA 2008) hostname, or UrlRejected for anything DNS cannot carry."""
    ascii_host = ascii_hostname(host)
    labels = ascii_host.removesuffix(".").split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise _invalid(host)
    return ascii_host


def _is_localhost(host: str) -> bool:
    name = host.removesuffix(".")
    return name == "localhost" or name.endswith(".localhost")


def validate_url(url: str, *, allow_insecure: bool = False) -> str:
    """Check an endpoint URL and return it normalised; raise UrlRejected saying why otherwise.

    Normalised: surrounding whitespace stripped, scheme and host lower-cased, IDNA host in
    punycode (IDNA 2008, as browsers: ``ascii_hostname``), IP literals in canonical form,
    default port dropped, empty path -> "/".
    Fragments are rejected: they are never sent over HTTP, so one signals a copy-paste mistake.
    ``allow_insecure`` (local development only) lifts exactly two rules: http:// and loopback
    targets. Private, link-local/metadata and every other blocked range stay blocked.
    """
    if not isinstance(url, str):
        raise UrlRejected("invalid", "the URL must be a string.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise UrlRejected("too_long", f"the URL is {len(url)} characters; the maximum is {MAX_URL_LENGTH}.")
    if not url or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        raise UrlRejected(
            "invalid", "the URL is empty or contains spaces, control characters or backslashes; percent-encode them."
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise UrlRejected("invalid", "the URL cannot be parsed; check the [IPv6] brackets.") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_insecure):
        raise UrlRejected("not_https", f"the URL must use https:// (got {scheme or 'no'} scheme).")
    if "#" in url:
        raise UrlRejected("fragment", "remove the #fragment: it is never sent to the server.")
    if "@" in parts.netloc:
        raise UrlRejected(
            "userinfo",
            "credentials in the URL (user:pass@host) are not allowed; webhooks are authenticated by signature.",
        )
    if not parts.hostname:
        raise UrlRejected("missing_host", "the URL has no host; use https://host/path.")
    try:
        port = parts.port
    except ValueError:
        raise UrlRejected("invalid", f"the port in {parts.netloc!r} is not a number between 0 and 65535.") from None
    if port == 0:
        raise UrlRejected("invalid", "port 0 cannot receive connections; use a real port or omit it.")

    ip = parse_host_ip(parts.hostname)
    if ip is not None:
        check_address(ip, allow_insecure=allow_insecure)
        host = f"[{ipaddress.IPv6Address(int(ip))}]" if ip.version == 6 else str(ip)
    else:
        host = _normalise_hostname(parts.hostname)
        if _is_localhost(host) and not allow_insecure:
            raise UrlRejected("localhost", "localhost is not reachable from Litestore; use a public HTTPS URL.")

    default_port = 443 if scheme == "https" else 80
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path or '/'}{query}"
