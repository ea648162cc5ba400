"""The event envelope a store posts and every subscriber receives: {event, id, timestamp, data}.

build_envelope is the single gate between untrusted input and the pipeline: it rejects typos and
out-of-range values with every problem at once, and fills in id/timestamp when the store omits them.
"""

from __future__ import annotations

import base64
import heapq
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from litestore_webhooks.core.canonical import canonical_bytes
from litestore_webhooks.core.errors import ValidationFailed, shown_key
from litestore_webhooks.core.event_types.names import name_problem, unknown_type_message
from litestore_webhooks.core.event_types.system import is_operational
from litestore_webhooks.core.schema import MAX_PROBLEMS, parse_date_time

if TYPE_CHECKING:
    from litestore_webhooks.core.event_types.snapshot import CatalogSnapshot

# Ids end up in storage keys, URLs and logs: no slashes, spaces or control characters, and at
# least one letter or digit so "." / ".." cannot pose as path segments.
ID_PATTERN = re.compile(r"(?=.*[A-Za-z0-9])[A-Za-z0-9_.:-]{1,128}")
_ID_RULE = "must be 1-128 characters of A-Z a-z 0-9 _ . : - including at least one letter or digit"

# UTC only ("Z" or "+00:00"); fraction capped at nanoseconds so a huge value cannot slip through.
_UTC_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|\+00:00)")
_TIMESTAMP_RULE = "must be an ISO-8601 UTC date-time such as 2024-01-15T10:30:00Z"

_FIELDS = ("event", "id", "timestamp", "data")


@dataclass(frozen=True)
class Envelope:
    event: str
    id: str
    timestamp: str
    data: dict[str, Any]
    # What the catalog said (not on the wire): the schema version used, a deprecated type, and an
    # unknown type accepted on first sight (the caller records it in the catalog).
    version: int | None = field(default=None, compare=False)
    deprecated: bool = field(default=False, compare=False)
    first_sight: bool = field(default=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Keys in the product document's order, which subscribers see on the wire."""
        return {"event": self.event, "id": self.id, "timestamp": self.timestamp, "data": self.data}

    def body(self) -> bytes:
        """The exact bytes that are signed and delivered, identical on every attempt."""
        return canonical_bytes(self.to_dict())


def new_event_id() -> str:
    """ "evt_" + 26 lowercase base32 chars (128 random bits): unguessable and ID_PATTERN-safe."""
    return "evt_" + base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()


def format_timestamp(moment: datetime) -> str:
    """An aware datetime as YYYY-MM-DDTHH:MM:SS.fffZ: event timestamps and every stored time."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def _problem(path: str, message: str) -> dict[str, str]:
    return {"path": path, "message": message}


def build_envelope(
    raw: Any,
    catalog: CatalogSnapshot,
    *,
    now: datetime | None = None,
    max_skew_future: timedelta = timedelta(hours=1),
    max_age: timedelta = timedelta(days=3650),
    system: bool = False,
) -> Envelope:
    """Validate a store's posted event against `catalog` and complete it; ValidationFailed lists
    every problem (the first MAX_PROBLEMS of them).

    max_age (10 years) refuses only nonsense such as 0001 or 1970: the store may send an old event,
    such as the document's own 2024 test event or a backfill, and retention, replay and TTLs all
    count from when we received it, not from its timestamp.
    `now` must be timezone-aware. The `webhooks.` namespace is the system's own (operational.py,
    `system=True`): a publisher's event in it is refused as reserved, and the system path takes nothing else.
    """
    if not isinstance(raw, dict):
        raise ValidationFailed([_problem("", "expected object")])
    now = now or datetime.now(UTC)
    problems: list[dict[str, str]] = []

    event = raw.get("event")
    if "event" not in raw:
        problems.append(_problem("event", "is required"))
    elif not isinstance(event, str):
        problems.append(_problem("event", "expected string"))
    elif is_operational(event) and not system:
        problems.append(
            _problem(
                "event",
                f"{event!r:.100} is in the webhooks.* namespace, reserved for the "
                "system's own operational events: publish under your own namespace",
            )
        )
    elif system and not is_operational(event):
        problems.append(_problem("event", f"{event!r:.100} is not an operational event type (webhooks.*)"))
    elif event not in catalog and (system or not catalog.accept_unknown):
        publishable = catalog.names if system else [n for n in catalog.names if not is_operational(n)]
        problems.append(_problem("event", unknown_type_message(event, publishable)))
    elif event not in catalog and (problem := name_problem(event)) is not None:
        problems.append(_problem("event", f"unknown event type, and no name for a new one: {problem}"))

    event_id = raw.get("id")
    if event_id is None:
        event_id = new_event_id()
    elif not isinstance(event_id, str):
        problems.append(_problem("id", "expected string"))
    elif not ID_PATTERN.fullmatch(event_id):
        problems.append(_problem("id", _ID_RULE))

    timestamp = raw.get("timestamp")
    if timestamp is None:
        timestamp = format_timestamp(now)
    elif not isinstance(timestamp, str):
        problems.append(_problem("timestamp", "expected string"))
    elif not _UTC_TIMESTAMP.fullmatch(timestamp) or (moment := parse_date_time(timestamp)) is None:
        problems.append(_problem("timestamp", _TIMESTAMP_RULE))
    elif moment > now + max_skew_future:
        problems.append(_problem("timestamp", f"{timestamp} is more than {_span(max_skew_future)} in the future"))
    elif moment < now - max_age:
        problems.append(_problem("timestamp", f"{timestamp} is more than {_span(max_age)} in the past"))
    elif timestamp.endswith("+00:00"):
        timestamp = timestamp[: -len("+00:00")] + "Z"

    data = raw.get("data")
    verdict = None
    if "data" not in raw:
        problems.append(_problem("data", "is required"))
    elif isinstance(event, str) and not any(p["path"] == "event" for p in problems):
        verdict = catalog.check(event, data)
        problems.extend(verdict.problems)
    elif not isinstance(data, dict):
        problems.append(_problem("data", "expected object"))

    # The first MAX_PROBLEMS unknown keys in sorted order, without sorting them all.
    unknown = heapq.nsmallest(MAX_PROBLEMS, (k for k in raw if k not in _FIELDS))
    problems.extend(_problem(shown_key(key), "unknown field") for key in unknown)

    if problems:
        raise ValidationFailed(problems[:MAX_PROBLEMS])
    assert verdict is not None
    return Envelope(  # no problems: event is a known type's name and data an object
        event=cast(str, event),
        id=event_id,
        timestamp=timestamp,
        data=cast("dict[str, Any]", data),
        version=verdict.version,
        deprecated=verdict.deprecated,
        first_sight=verdict.first_sight,
    )
