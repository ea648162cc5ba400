"""`dlq ...` and `replay`: getting failed and past events delivered again."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any, Callable

from litestore_webhooks.cli.context import Context
from litestore_webhooks.cli.output import CliError
from litestore_webhooks.cli.times import iso, parse_when

Add = Callable[..., argparse.ArgumentParser]
_DLQ_COLUMNS = [("id", "ID"), ("event", "EVENT"), ("reason", "REASON"), ("lastStatus", "LAST STATUS"),
                ("attempts", "ATTEMPTS"), ("firstAttemptAt", "FIRST"), ("lastAttemptAt", "LAST")]
_REDRIVE_BATCH = 10  # ids per request: one SQS batch
_SHOW_LIMIT = 100
_MAX_REPLAY_REQUESTS = 100
_MIN_REPLAY_SLICE = timedelta(hours=1)


def register(sub: argparse._SubParsersAction, add: Add) -> None:
    group = add(sub, "dlq", "inspect and redrive an endpoint's dead-letter queue")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = add(cmds, "list", "peek at dead letters (nothing is consumed)")
    p.add_argument("endpoint")
    p.add_argument("--limit", type=int)
    p.set_defaults(func=list_dead)

    p = add(cmds, "show", "one dead letter, with its last error")
    p.add_argument("endpoint")
    p.add_argument("id", metavar="ID", help="the dead letter's id (or messageId)")
    p.set_defaults(func=show)

    p = add(cmds, "redrive", "move dead letters back for delivery, with a fresh attempt count")
    p.add_argument("endpoint")
    p.add_argument("ids", nargs="*", metavar="ID", help="only these (default: all)")
    p.set_defaults(func=redrive)

    p = add(cmds, "purge", "permanently delete every dead letter of an endpoint")
    p.add_argument("endpoint")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(func=purge)

    p = add(sub, "replay", "deliver stored events from a time range again, to one endpoint only")
    p.add_argument("endpoint")
    p.add_argument("--since", type=parse_when, required=True, metavar="WHEN", help="ISO time or 24h, 7d, yesterday")
    p.add_argument("--until", type=parse_when, default="now", metavar="WHEN", help="default: now (e.g. today)")
    p.add_argument("--events", metavar="TYPES", help="only these types/patterns, comma-separated")
    p.set_defaults(func=replay)


def list_dead(ctx: Context) -> int:
    page = ctx.client.get(ctx.endpoint_path(ctx.args.endpoint, "/dead-letters"), limit=ctx.args.limit)
    if ctx.emit(page):
        return 0
    ctx.out.table(page.get("data", []), _DLQ_COLUMNS, empty="dead-letter queue is empty")
    if page.get("approximateCount") is not None:
        ctx.out.note(f"about {page['approximateCount']} message(s) in the dead-letter queue")
    return 0


def show(ctx: Context) -> int:
    page = ctx.client.get(ctx.endpoint_path(ctx.args.endpoint, "/dead-letters"), limit=_SHOW_LIMIT)
    item = next((d for d in page.get("data", []) if ctx.args.id in (d.get("id"), d.get("messageId"))), None)
    if item is None:
        raise CliError(f"dead letter {ctx.args.id} not found among the first {_SHOW_LIMIT} of {ctx.args.endpoint}")
    if not ctx.emit(item):
        keys = ("id", "messageId", "event", "reason", "lastStatus", "lastError", "attempts",
                "firstAttemptAt", "lastAttemptAt")
        ctx.out.fields([(key, item.get(key)) for key in keys])
        ctx.out.note(f"payload and every attempt: litestore-webhooks events attempts {item.get('id')}")
    return 0


def redrive(ctx: Context) -> int:
    """Ids go in SQS-sized batches; "all" repeats until the API reports nothing remaining, since a
    deployed API may move only part of a large queue per request (API Gateway's 29 s limit)."""
    path = ctx.endpoint_path(ctx.args.endpoint, "/dead-letters/redrive")
    ids = ctx.args.ids
    total = {"redriven": 0, "remaining": 0, "failed": 0}
    if ids:
        batches = [ids[i:i + _REDRIVE_BATCH] for i in range(0, len(ids), _REDRIVE_BATCH)]
        with ctx.out.progress(len(ids), "redriving") as bar:
            for batch in batches:
                _add(total, ctx.client.post(path, {"ids": batch}))
                bar.advance(len(batch))
    else:
        first = ctx.client.post(path, {})
        _add(total, first)
        goal = (first.get("redriven") or 0) + (first.get("remaining") or 0)
        with ctx.out.progress(goal, "redriving") as bar:
            bar.advance(first.get("redriven") or 0)
            last = first
            while last.get("remaining") and last.get("redriven") and total["redriven"] < goal:
                last = ctx.client.post(path, {})
                _add(total, last)
                bar.advance(last.get("redriven") or 0)
    if not ctx.emit(total):
        ctx.out.line(f"redriven {total['redriven']}, remaining {total['remaining']}, failed {_count(total['failed'])}")
    if _count(total["failed"]):
        raise CliError(f"{_count(total['failed'])} dead letter(s) could not be redriven", details=total["failed"])
    return 0


def _add(total: dict[str, Any], result: dict[str, Any]) -> None:
    """Sum counts across requests; ``failed`` may be a count or a list of ids."""
    total["redriven"] += result.get("redriven") or 0
    total["remaining"] = result.get("remaining") or 0
    failed = result.get("failed") or 0
    if isinstance(failed, list):
        total["failed"] = (total["failed"] or []) + failed
    else:
        total["failed"] += failed


def _count(failed: int | list[Any]) -> int:
    return len(failed) if isinstance(failed, list) else failed


def purge(ctx: Context) -> int:
    endpoint_id = ctx.endpoint_id(ctx.args.endpoint)
    ctx.out.confirm(f"permanently delete every dead letter of {endpoint_id}?", assume_yes=ctx.args.yes)
    result = ctx.client.delete(ctx.endpoint_path(endpoint_id, "/dead-letters"), confirm=True)
    if not ctx.emit(result):
        ctx.out.line(f"purged {(result or {}).get('purged', 0)} dead letter(s) of {endpoint_id}")
    return 0


def slices(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """The range cut into at most _MAX_REPLAY_REQUESTS pieces of at least an hour: small requests
    stay under the API's per-request bound and make progress visible."""
    step = max(_MIN_REPLAY_SLICE, (until - since) / _MAX_REPLAY_REQUESTS)
    cuts, start = [], since
    while start < until:
        cuts.append((start, min(start + step, until)))
        start += step
    return cuts


def replay(ctx: Context) -> int:
    a = ctx.args
    if a.since >= a.until:
        raise CliError(f"--since ({iso(a.since)}) must be before --until ({iso(a.until)})", exit_code=2)
    path = ctx.endpoint_path(a.endpoint, "/replay")
    types = [t.strip() for t in a.events.split(",") if t.strip()] if a.events else None
    queued, truncated = 0, []
    pieces = slices(a.since, a.until)
    with ctx.out.progress(len(pieces), "replaying") as bar:
        for start, end in pieces:
            body: dict[str, Any] = {"since": iso(start), "until": iso(end)}
            if types:
                body["events"] = types
            result = ctx.client.post(path, body)
            queued += result.get("queued") or 0
            if result.get("truncated"):
                truncated.append((start, end))
            bar.advance()
    if not ctx.emit({"queued": queued, "truncated": bool(truncated)}):
        ctx.out.line(f"queued {queued} event(s) from {iso(a.since)} to {iso(a.until)}")
    if truncated:
        start, end = truncated[0]
        raise CliError(f"the API capped {len(truncated)} piece(s) of the range; replay "
                       f"--since {iso(start)} --until {iso(end)} in smaller steps (receivers drop duplicates by id)")
    return 0
