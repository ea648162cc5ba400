"""moto's server as the local AWS, with two pinned fixes to its SQS timing.

- The clock: moto 5.2.5's SQS models compute "now" through a datetime round trip on every
  visibility check, and every send/receive checks every message, so a receive costs ~0.5 ms
  per queued message (~550 ms at 1,000). Swapping those helpers for `time.time()` keeps the
  semantics (UTC epoch seconds/ms) at a fraction of the cost.
- The long-poll wake-up: a long poll sleeps until a send notifies it or 1 s passes, so a
  delayed message, or one whose visibility timeout ran out, was received up to 1 s late (a
  retry with a 1 s delay arrived after ~2 s). It now also wakes when the next queued message
  becomes receivable, as SQS does.

Both touch moto internals, so they are applied only to the exact version they were measured on.

One more, on any version: moto's DynamoDB handles requests concurrently but is not thread-safe
(a conditional write checks, then writes; a transaction copies its tables, and restores them
whole when it is cancelled, losing what other requests wrote meanwhile). DynamoDB's guarantees
hold locally by serving one DynamoDB request at a time (`serialize_dynamodb`).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from datetime import datetime
from importlib.metadata import version
from typing import Any

from moto.server import ThreadedMotoServer

log = logging.getLogger(__name__)

PATCHED_MOTO_VERSION = "5.2.5"
_patched = False


def _unix_time(dt: datetime | None = None) -> float:
    return time.time() if dt is None else _original_unix_time(dt)


def _unix_time_millis(dt: datetime | None = None) -> float:
    return time.time() * 1000.0 if dt is None else _original_unix_time(dt) * 1000.0


def _original_unix_time(dt: datetime) -> float:
    from moto.core.utils import unix_time

    return unix_time(dt)


def patch_sqs_clock() -> bool:
    """Make moto's SQS clock cheap; True if the fix is (now) active.

    Must run before the server handles SQS requests. On any moto other than
    PATCHED_MOTO_VERSION it warns and does nothing: stock moto is slow, not wrong.
    """
    global _patched
    if _patched:
        return True
    installed = version("moto")
    if installed != PATCHED_MOTO_VERSION:
        warnings.warn(
            f"moto {installed} is not {PATCHED_MOTO_VERSION}: SQS clock fix skipped; "
            "receives slow down with queue depth",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    import moto.sqs.models as sqs_models

    sqs_models.unix_time = _unix_time
    sqs_models.unix_time_millis = _unix_time_millis
    sqs_models.Queue.wait_for_messages = _wait_for_messages  # type: ignore[method-assign,assignment]  # the fix
    _patched = True
    return True


def _wait_for_messages(queue: Any, timeout: float) -> None:
    """moto's Queue.wait_for_messages, also woken when a delayed or in-flight message turns receivable."""
    with queue._messages_lock:
        now_ms = time.time() * 1000.0
        upcoming = [max(m.visible_at, m.delayed_until) for m in queue._messages]
        soonest = min((t for t in upcoming if t > now_ms), default=None)
        if soonest is not None:
            timeout = min(timeout, (soonest - now_ms) / 1000.0 + 0.002)
        queue._messages_lock.wait_for(lambda: queue.messages, timeout=timeout)


_dynamodb_lock = threading.RLock()


def serialize_dynamodb() -> None:
    """Serve moto's DynamoDB requests one at a time, so conditional writes and transactions are atomic."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "_serialized", False):
        return

    def call_action(self: Any) -> Any:
        with _dynamodb_lock:
            return original(self)

    call_action._serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


class MotoServer:
    """moto's threaded server on 127.0.0.1 (port 0 = any free port), SQS fix applied first."""

    def __init__(self, port: int = 0, *, patch_sqs: bool = True) -> None:
        if patch_sqs:
            patch_sqs_clock()
        serialize_dynamodb()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.url = ""

    def start(self) -> str:
        """Start serving; returns the endpoint URL to put in AWS_ENDPOINT_URL."""
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        log.debug("moto server listening on %s", self.url)
        return self.url

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def peek_messages(queue_name: str, *, account: str, region: str) -> list[dict[str, Any]]:
    """Every message still in a queue of this process's moto, including in-flight and delayed
    ones (ReceiveMessage cannot page through those), as {"Body", "MessageAttributes"}."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[account][region].queues.get(queue_name)
    if queue is None:
        return []
    return [
        {"Body": m.body, "MessageAttributes": {k: dict(v) for k, v in m.message_attributes.items()}}
        for m in list(queue._messages)
    ]
