"""Times typed by people: ISO-8601 or relative ("90m", "24h", "7d", "now", "today", "yesterday")."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """An aware UTC datetime; naive ISO input is taken as UTC. "24h" means 24 hours ago;
    "today"/"yesterday" are UTC midnights, so ``--since yesterday --until today`` is one day."""
    now = now or datetime.now(UTC)
    word = text.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if word == "now":
        return now
    if word == "today":
        return midnight
    if word == "yesterday":
        return midnight - timedelta(days=1)
    match = _RELATIVE.match(word)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: use ISO-8601 (2024-01-15T10:00:00Z) or 30m, 24h, 7d, today, yesterday"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """The API's timestamp format: UTC with a Z suffix."""
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def when(text: str) -> str:
    """argparse ``type=``: the ISO string the API expects."""
    return iso(parse_when(text))


def seconds(text: str) -> int:
    """argparse ``type=`` for a span: plain seconds ("3600") or with a unit ("90m", "24h", "7d")."""
    word = text.strip().lower()
    if word.isdigit():
        return int(word)
    match = _RELATIVE.match(word)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use seconds or 30m, 24h, 7d")
    return int(timedelta(**{_UNITS[match.group(2)]: int(match.group(1))}).total_seconds())
