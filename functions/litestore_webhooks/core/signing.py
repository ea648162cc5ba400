"""Webhook signing (sender) and verification (receiver helper).

Two schemes are sent on every delivery:

* legacy ``X-Litestore-Signature``: hex HMAC-SHA256 of the body keyed with the secret's UTF-8
  bytes, exactly what the product document's ``crypto.createHmac('sha256', secret)`` receiver
  checks.  It has no timestamp, so it gives NO replay protection; ``verify`` accepts it alone
  only when told to (``allow_replayable_legacy_signature=True``).
* Standard Webhooks (``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature``): signs
  ``"{id}.{timestamp}.{body}"`` so receivers can reject replays; carries one ``v1,`` signature
  per active secret so secrets can be rotated without downtime.

Stdlib only, so receivers can vendor it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from collections.abc import Mapping

__all__ = [
    "SIGNATURE_HEADER",
    "USER_AGENT",
    "WebhookVerificationError",
    "generate_secret",
    "legacy_signature",
    "secret_key",
    "signature_headers",
    "standard_signature",
    "validate_secret",
    "verify",
]

SIGNATURE_HEADER = "X-Litestore-Signature"
USER_AGENT = "Litestore-Webhook/1.0"
TEST_HEADER = "X-Litestore-Test"  # "true" on test sends only, so receivers can tell them from real ones
SIGNATURE_HEADERS = (SIGNATURE_HEADER, "webhook-signature")  # derived from secrets: never shown
SECRET_PREFIX = "whsec_"

_SECRET_RE = re.compile(r"[\x21-\x7e]{8,128}\Z")  # printable ASCII, no whitespace
_TIMESTAMP_RE = re.compile(r"[0-9]{1,15}\Z")


class WebhookVerificationError(Exception):
    """The request was not signed by the holder of the secret (or is stale / malformed)."""


def generate_secret() -> str:
    """A new Standard Webhooks style secret: 32 random bytes, base64, ``whsec_`` prefix."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """HMAC key for the Standard Webhooks scheme: decoded bytes for whsec_ secrets, else UTF-8."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode("utf-8")
    b64 = secret[len(SECRET_PREFIX) :]
    try:
        return base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
    except binascii.Error:
        raise ValueError("whsec_ secret is not valid base64") from None


def validate_secret(secret: str) -> None:
    """Raise ValueError unless `secret` is usable by both schemes and by common receivers."""
    if not isinstance(secret, str) or not _SECRET_RE.match(secret):
        raise ValueError("secret must be 8 to 128 printable ASCII characters without whitespace")
    if secret.startswith(SECRET_PREFIX):
        n = len(secret_key(secret))
        if not 24 <= n <= 64:
            raise ValueError(f"whsec_ secret must decode to 24..64 bytes, got {n}")


def legacy_signature(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 keyed with the secret's UTF-8 (even for whsec_), as the document's receiver does."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _standard_digest(msg_id: str, timestamp: int, body: bytes, key: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def standard_signature(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """Standard Webhooks ``v1,<base64>`` signature."""
    digest = _standard_digest(msg_id, timestamp, body, secret_key(secret))
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(
    *, body: bytes, event_id: str, event_type: str, attempt: int, secrets: list[str], timestamp: int
) -> dict[str, str]:
    """All delivery headers.  ``secrets[0]`` is current; the rest are still-valid rotated-out ones."""
    if not secrets:
        raise ValueError("at least one secret is required")
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: legacy_signature(body, secrets[0]),
        "X-Litestore-Event": event_type,
        "X-Litestore-Event-Id": event_id,
        "X-Litestore-Delivery-Attempt": str(attempt),
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(standard_signature(event_id, timestamp, body, s) for s in secrets),
    }


_STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    tolerance_s: int = 300,
    *,
    now: float | None = None,
    allow_replayable_legacy_signature: bool = False,
) -> None:
    """Raise WebhookVerificationError unless the request was signed with `secret` within `tolerance_s`.

    Requires the Standard Webhooks headers, whose signed timestamp is what stops a captured
    request from being replayed later. `allow_replayable_legacy_signature=True` also accepts a
    request carrying only ``X-Litestore-Signature`` (the product document's hex HMAC of the
    body): it has no timestamp, so with it you GIVE UP REPLAY PROTECTION (a request captured
    once verifies forever); only for receivers that cannot see the webhook-* headers. Even
    then a request that has any webhook-* header is checked by those alone, so stripping a
    timestamp cannot downgrade the check. `body` must be the raw request body.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    h = {k.lower(): v for k, v in headers.items()}
    if any(name in h for name in _STANDARD_HEADERS):
        missing = [name for name in _STANDARD_HEADERS if not h.get(name)]
        if missing:
            raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
        _verify_standard(raw, h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"], secret, tolerance_s, now)
        return
    legacy = h.get(SIGNATURE_HEADER.lower())
    if legacy is None:
        expected = f" or {SIGNATURE_HEADER}" if allow_replayable_legacy_signature else ""
        raise WebhookVerificationError(f"missing signature headers: expected {', '.join(_STANDARD_HEADERS)}{expected}")
    if not allow_replayable_legacy_signature:
        raise WebhookVerificationError(
            f"missing {', '.join(_STANDARD_HEADERS)}: every delivery sends them, so check that nothing in front "
            f"of your handler drops them; to accept the untimestamped {SIGNATURE_HEADER} alone (no replay "
            f"protection) pass allow_replayable_legacy_signature=True"
        )
    expected_hex = legacy_signature(raw, secret).encode("ascii")
    if not hmac.compare_digest(expected_hex, legacy.strip().encode("utf-8")):
        raise WebhookVerificationError(f"{SIGNATURE_HEADER} does not match")


def _verify_standard(
    raw: bytes, msg_id: str, ts_header: str, sig_header: str, secret: str, tolerance_s: int, now: float | None
) -> None:
    ts_header = ts_header.strip()
    if not _TIMESTAMP_RE.match(ts_header):
        raise WebhookVerificationError("webhook-timestamp is not an integer number of seconds")
    timestamp = int(ts_header)
    current = time.time() if now is None else now
    if timestamp < current - tolerance_s:
        raise WebhookVerificationError("timestamp too old")
    if timestamp > current + tolerance_s:
        raise WebhookVerificationError("timestamp in the future")
    expected = _standard_digest(msg_id, timestamp, raw, secret_key(secret))
    matched = False
    for token in sig_header.split():
        version, _, sig = token.partition(",")
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(sig, validate=True)
        except (binascii.Error, ValueError):
            continue
        # No early exit: the work done does not depend on which (if any) signature matched.
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookVerificationError("no matching webhook-signature")
