"""Per-endpoint rate limit without a shared counter: each invocation paces its own share.

An endpoint's event source mapping never runs more than ``maxConcurrency`` deliveries of it
at once (ScalingConfig.MaximumConcurrency on AWS, the local poller's bound here). So if each
of them starts its POSTs at least ``maxConcurrency / rateLimit`` seconds apart, and does not
return before one such interval has passed after its last POST, the endpoint as a whole
never receives more than ``rateLimit`` events per second: no DynamoDB counter, no
coordination, nothing per request. An invocation paces at most ``PACE_WINDOW_S`` seconds;
what does not fit goes back to the queue unattempted (delivery.py), which is why one
interval must fit in that window (``min_rate_limit``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

PACE_WINDOW_S = 20.0  # longest an invocation spends starting POSTs; + 30 s endpoint timeout < 60 s function timeout
MAX_RATE_LIMIT = 1000.0


def interval_s(rate_limit: float, max_concurrency: int) -> float:
    """Seconds between two POSTs of one invocation, so that all of them together stay under the limit."""
    return max_concurrency / rate_limit


def min_rate_limit(max_concurrency: int) -> float:
    """The lowest rateLimit whose per-invocation interval fits the pacing window."""
    return max_concurrency / PACE_WINDOW_S


def max_concurrency_for(rate_limit: float) -> int:
    """The highest maxConcurrency a rateLimit admits (see min_rate_limit)."""
    return math.floor(rate_limit * PACE_WINDOW_S + 1e-9)


class Pacer:
    """Hands out start times ``interval`` apart within one invocation; thread-safe.

    ``take()`` blocks until the next slot and returns True, or returns False at once when the
    slot would end outside the window (the caller then puts the message back unattempted).
    ``finish()`` waits out the interval after the last slot taken, so the next invocation on
    this concurrency slot cannot start a POST sooner than ``interval`` after it.
    """

    def __init__(
        self,
        interval: float,
        *,
        window_s: float = PACE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval, self.window_s, self._clock, self._sleep = interval, window_s, clock, sleep
        self._next = self._end = 0.0  # set by the first take: the window opens with the first POST
        self._lock = threading.Lock()
        self.taken = 0

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            if not self.taken:
                self._next, self._end = now, now + self.window_s
            slot = max(self._next, now)
            if slot + self.interval > self._end + 1e-9:
                return False
            self._next = slot + self.interval
            self.taken += 1
        self._wait_until(slot)
        return True

    def finish(self) -> None:
        if self.taken:
            self._wait_until(self._next)

    def _wait_until(self, moment: float) -> None:
        while (left := moment - self._clock()) > 0:
            self._sleep(left)
