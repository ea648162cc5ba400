"""Custom delivery headers: what an operator may add to every POST of an endpoint.

A receiver may require a header of its own (an ``Authorization``, an API key, a tenant id).
The sender owns everything that frames the request (Host, Content-Length, Transfer-Encoding,
Content-Type, hop-by-hop headers) and everything that says where it came from (User-Agent,
our signature, id and ``webhook-*`` headers): an operator's value there would break the
request or forge its proof, so those names are refused. Values marked sensitive live with
the endpoint's secrets (sealed, aws/kms.py) and are shown only as ``REDACTED``. Problems
name the header, never its value: a value may be a credential.
"""

from __future__ import annotations

import re

from litestore_webhooks.core.signing import SIGNATURE_HEADER, TEST_HEADER

MAX_HEADERS = 10  # plain and sensitive together
MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 1024
MAX_TOTAL_CHARS = 4096  # names + values of one endpoint
REDACTED = "[redacted]"  # what listings show for a sensitive value; refused as a value

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 7230 3.2.6 token
_VALUE = re.compile(r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")  # visible ASCII, inner spaces; no CR, LF, NUL
_SENDER_OWNED = frozenset(
    name.lower()
    for name in (
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "Content-Type",
        "Content-Encoding",
        "Expect",
        "User-Agent",
        # hop-by-hop (RFC 7230 6.1, RFC 2616 13.5.1) and their proxy cousins
        "Connection",
        "Keep-Alive",
        "Proxy-Connection",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Upgrade",
        SIGNATURE_HEADER,
        TEST_HEADER,
    )
)
_SENDER_OWNED_PREFIXES = ("webhook-", "x-litestore-")


def header_problem(name: str) -> str | None:
    """Why `name` cannot be a custom header, or None if it can."""
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        return f"a header name has 1 to {MAX_NAME_CHARS} characters"
    if not _TOKEN.match(name):
        return "not a header name: use letters, digits and !#$%&'*+-.^_`|~ only (RFC 7230 token)"
    lower = name.lower()
    if lower in _SENDER_OWNED or lower.startswith(_SENDER_OWNED_PREFIXES):
        return (
            "set by the sender, so it cannot be a custom header (nor can Host, Content-Length, Content-Type, "
            "User-Agent, hop-by-hop headers, webhook-* and X-Litestore-* headers)"
        )
    return None


def value_problem(value: str, *, sensitive: bool) -> str | None:
    """Why `value` cannot be sent as a header value, or None. Never quotes the value."""
    if not 1 <= len(value) <= MAX_VALUE_CHARS:
        return f"a header value has 1 to {MAX_VALUE_CHARS} characters"
    if not _VALUE.match(value):
        return "a header value is printable ASCII with no line breaks and no leading or trailing white space"
    if sensitive and value == REDACTED:
        return (
            f"{REDACTED!r} is how listings hide a sensitive value, not a value: send the real value, "
            "or leave sensitiveHeaders out to keep the stored ones"
        )
    return None


def map_problems(headers: dict[str, str], *, sensitive: bool) -> list[str]:
    """One header map's problems, each naming its header (never quoting a value)."""
    problems = []
    for name, value in headers.items():
        why = header_problem(name) or value_problem(value, sensitive=sensitive)
        if why:
            problems.append(f"{name}: {why}")
    return problems


def check_together(plain: dict[str, str], sensitive: dict[str, str], *, sizes: bool = True) -> list[str]:
    """What is wrong with an endpoint's two header maps taken together: a name twice, too many, too big."""
    problems: list[str] = []
    names = [name for headers in (plain, sensitive) for name in headers]
    twice = sorted({name for name in names if sum(n.lower() == name.lower() for n in names) > 1})
    if twice:
        problems.append(
            f"{', '.join(twice)}: the same header more than once (names are case-insensitive, "
            "and one name is in headers or in sensitiveHeaders, not both)"
        )
    if len(names) > MAX_HEADERS:
        problems.append(f"{len(names)} custom headers; at most {MAX_HEADERS} (headers and sensitiveHeaders together)")
    size = sum(len(k) + len(v) for h in (plain, sensitive) for k, v in h.items())
    if sizes and size > MAX_TOTAL_CHARS:
        problems.append(f"custom headers take {size} characters; at most {MAX_TOTAL_CHARS} (names and values together)")
    return problems


def redacted(sensitive: dict[str, str]) -> dict[str, str]:
    """The names of sensitive headers with their values hidden, for the stored endpoint and listings."""
    return dict.fromkeys(sensitive, REDACTED)
