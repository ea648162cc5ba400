"""Retry rules: the one home for which responses are retried and how long to wait.

Classification follows the Standard Webhooks spec: 408, 429 and 5xx are transient; other 4xx
are the receiver rejecting the message; 3xx is a failure too and is NOT retried, because
redirects are never followed (SSRF) so a redirect is a configuration problem the same request
cannot fix. 410 Gone additionally means "disable this endpoint" (``is_gone``).
"""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

MAX_DELAY_MS = 86_400_000  # 24 h: no single wait is ever longer, Retry-After included
SQS_MAX_DELAY_S = 900  # SQS DelaySeconds ceiling; longer waits chain several hops
JITTER = 0.2

_rng = random.Random()
_SECONDS = re.compile(r"^-?\d+(\.\d+)?$")


class BackoffPolicy(Protocol):
    """What the schedule needs from endpoint.RetryPolicy (kept structural to avoid an import cycle)."""

    initialDelay: int
    backoffMultiplier: float
    maxDelay: int


def is_retryable_status(status: int) -> bool:
    """Whether a non-2xx response is worth another attempt (timeouts/connection errors always are)."""
    return status in (408, 429) or 500 <= status <= 599


def is_gone(status: int) -> bool:
    """410 Gone: the receiver asks us to stop; the endpoint is paused instead of retried."""
    return status == 410


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None if absent or garbage."""
    if value is None or not (value := value.strip()):
        return None
    if _SECONDS.match(value):
        return max(0.0, float(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_delay_ms(
    policy: BackoffPolicy,
    retry_number: int,
    *,
    rng: random.Random | None = None,
    retry_after_s: float | None = None,
) -> int:
    """Milliseconds to wait before attempt ``retry_number + 1`` (``retry_number`` is 1-based).

    min(initialDelay * multiplier^(n-1), maxDelay) with +-20% jitter so failing receivers are
    not hit in lockstep; a longer Retry-After wins. The result never exceeds 24 h.
    """
    if retry_number < 1:
        raise ValueError(f"retry_number is 1-based, got {retry_number}")
    try:
        nominal = min(policy.initialDelay * policy.backoffMultiplier ** (retry_number - 1), policy.maxDelay)
    except OverflowError:
        nominal = policy.maxDelay
    delay = nominal * (rng or _rng).uniform(1 - JITTER, 1 + JITTER)
    if retry_after_s is not None and math.isfinite(retry_after_s):
        delay = max(delay, retry_after_s * 1000)
    return max(0, min(round(delay), MAX_DELAY_MS))


def split_delay(total_ms: int) -> int:
    """DelaySeconds for the next SQS hop; re-enqueue with the remainder until none is left."""
    return max(0, min(math.ceil(total_ms / 1000), SQS_MAX_DELAY_S))
