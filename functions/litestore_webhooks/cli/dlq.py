"""`dlq ...` and `replay`: getting failed and past events delivered again."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from litestore_webhooks.cli.context import Context
from litestore_webhooks.cli.endpoints import positive
from litestore_webhooks.cli.output import CliError
from litestore_webhooks.cli.times import iso, parse_when

Add = Callable[..., argparse.ArgumentParser]
_DLQ_COLUMNS = [
    ("id", "ID"),
    ("event", "EVENT"),
    ("reason", "REASON"),
    ("lastStatus", "LAST STATUS"),
    ("attempts", "ATTEMPTS"),
    ("firstAttemptAt", "FIRST"),
    ("lastAttemptAt", "LAST"),
]
_REDRIVE_BATCH = 100  # ids per request: each request scans the queue once
_PEEK_MAX = 1000  # the most dead letters one peek returns (admin/dead_letters.PEEK_MAX)
_PROGRESS_STEPS = 1000


def register(sub: argparse._SubParsersAction, add: Add) -> None:
    group = add(sub, "dlq", "inspect and redrive an endpoint's dead-letter queue")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = add(cmds, "list", "peek at dead letters (nothing is consumed)")
    p.add_argument("endpoint")
    choice = p.add_mutually_exclusive_group()
    choice.add_argument(
        "--limit", type=positive, help=f"at most this many (default 50; one peek shows up to {_PEEK_MAX:,})"
    )
    choice.add_argument("--all", action="store_true", help=f"every one (up to {_PEEK_MAX:,}, the most one peek shows)")
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
    """A dead-letter queue has no pages (a peek receives messages and puts them back, and SQS keeps
    no order to continue from), so one peek returns them all, up to _PEEK_MAX."""
    a = ctx.args
    limit = _PEEK_MAX if a.all else min(a.limit, _PEEK_MAX) if a.limit else None
    page = ctx.client.get(ctx.endpoint_path(a.endpoint, "/dead-letters"), limit=limit)
    if ctx.emit(page):
        return 0
    data = page.get("data", [])
    ctx.out.table(data, _DLQ_COLUMNS, empty="dead-letter queue is empty")
    count = page.get("approximateCount")
    if count is not None:
        ctx.out.note(f"about {count} message(s) in the dead-letter queue")
    if (a.all or (a.limit or 0) > _PEEK_MAX) and count and count > len(data):
        ctx.out.note(f"showing {len(data)}: one peek shows at most {_PEEK_MAX:,}; redrive or purge to get to the rest")
    return 0


def show(ctx: Context) -> int:
    page = ctx.client.get(ctx.endpoint_path(ctx.args.endpoint, "/dead-letters"), limit=_PEEK_MAX)
    item = next((d for d in page.get("data", []) if ctx.args.id in (d.get("id"), d.get("messageId"))), None)
    if item is None:
        raise CliError(f"dead letter {ctx.args.id} not found among the first {_PEEK_MAX:,} of {ctx.args.endpoint}")
    if not ctx.emit(item):
        keys = (
            "id",
            "messageId",
            "event",
            "reason",
            "lastStatus",
            "lastError",
            "attempts",
            "firstAttemptAt",
            "lastAttemptAt",
        )
        ctx.out.fields([(key, item.get(key)) for key in keys])
        ctx.out.note(f"payload and every attempt: {ctx.command('events', 'attempts', str(item.get('id')))}")
    return 0


def redrive(ctx: Context) -> int:
    """Ids go in batches; "all" repeats while the API reports some remaining and still moves
    some, because it stops scanning after a time budget (API Gateway gives up at 29 s)."""
    path = ctx.endpoint_path(ctx.args.endpoint, "/dead-letters/redrive")
    ids = ctx.args.ids
    total = {"redriven": 0, "remaining": 0, "failed": 0}
    if ids:
        batches = [ids[i : i + _REDRIVE_BATCH] for i in range(0, len(ids), _REDRIVE_BATCH)]
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
        ctx.out.line(f"redriven {total['redriven']}, remaining {total['remaining']}, failed {total['failed']}")
    if total["failed"]:
        raise CliError(f"{total['failed']} dead letter(s) could not be redriven; run redrive again")
    return 0


def _add(total: dict[str, int], result: dict[str, Any]) -> None:
    """Sum counts across requests; ``remaining`` is the queue's latest depth."""
    total["redriven"] += result.get("redriven") or 0
    total["failed"] += result.get("failed") or 0
    total["remaining"] = result.get("remaining") or 0


def purge(ctx: Context) -> int:
    endpoint_id = ctx.endpoint_id(ctx.args.endpoint)
    ctx.out.confirm(f"permanently delete every dead letter of {endpoint_id}?", assume_yes=ctx.args.yes)
    result = ctx.client.delete(ctx.endpoint_path(endpoint_id, "/dead-letters"), confirm=True)
    if not ctx.emit(result):
        ctx.out.line(f"purged {(result or {}).get('purged', 0)} dead letter(s) of {endpoint_id}")
    return 0


def replay(ctx: Context) -> int:
    """The API replays a bounded number of events per call and says where to continue
    (``truncated`` + ``nextSince``); follow it to the end, showing progress through the range."""
    a = ctx.args
    if a.since >= a.until:
        raise CliError(f"--since ({iso(a.since)}) must be before --until ({iso(a.until)})", exit_code=2)
    path = ctx.endpoint_path(a.endpoint, "/replay")
    types = [t.strip() for t in a.events.split(",") if t.strip()] if a.events else None
    total = {"queued": 0, "failed": 0, "truncated": False}
    span = (a.until - a.since).total_seconds()
    cursor = a.since
    with ctx.out.progress(_PROGRESS_STEPS, "replaying") as bar:
        while True:
            body: dict[str, Any] = {"since": iso(cursor), "until": iso(a.until)}
            if types:
                body["events"] = types
            result = ctx.client.post(path, body)
            total["queued"] += result.get("queued") or 0
            total["failed"] += result.get("failed") or 0
            if not (result.get("truncated") and result.get("nextSince")):
                break
            following = parse_when(result["nextSince"])
            if following <= cursor:
                raise CliError(f"replay stopped making progress at {iso(cursor)}; run it again from there")
            cursor = following
            bar.advance(int(_PROGRESS_STEPS * (cursor - a.since).total_seconds() / span) - bar.done)
        bar.advance(_PROGRESS_STEPS - bar.done)
    if not ctx.emit(total):
        ctx.out.line(f"queued {total['queued']} event(s) received from {iso(a.since)} to {iso(a.until)}")
    if total["failed"]:
        raise CliError(
            f"{total['failed']} event(s) could not be queued; run the same replay again "
            "(receivers drop duplicates by event id)"
        )
    return 0
