"""`events ...`: publishing events (API key) and tracing one event's deliveries (the catalog: cli/event_types.py)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

from litestore_webhooks import resources as r
from litestore_webhooks.cli.client import seg
from litestore_webhooks.cli.context import Context
from litestore_webhooks.cli.endpoints import more, positive
from litestore_webhooks.cli.output import CliError

Add = Callable[..., argparse.ArgumentParser]
_EVENT_ATTEMPT_COLUMNS = [
    ("at", "AT"),
    ("endpointId", "ENDPOINT"),
    ("endpointName", "NAME"),
    ("attempt", "#"),
    ("status", "STATUS"),
    ("httpStatus", "HTTP"),
    ("durationMs", "MS"),
    ("error", "ERROR"),
]
_RESULT_COLUMNS = [("id", "ID"), ("event", "EVENT"), ("state", "STATE"), ("problem", "PROBLEM")]


def register(sub: argparse._SubParsersAction, add: Add) -> None:
    group = add(sub, "events", "publish events and trace their deliveries")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = add(cmds, "publish", "publish events through the ingest API (uses the API key)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help='one envelope {"event","id"?,"timestamp"?,"data"}, or {"events": [...]}; - reads stdin',
    )
    src.add_argument("--type", metavar="TYPE", help="event type, with --data")
    p.add_argument("--data", metavar="JSON", help="the event's data object (JSON, or @file)")
    p.add_argument("--id", help="event id, for idempotent retries (default: assigned by the API)")
    p.epilog = (
        f"A FILE may hold any number of events: they go out in batches of up to {r.MAX_BATCH_EVENTS} "
        f"events and {r.MAX_BATCH_BODY_BYTES:,} bytes, one after the other. Give every event an id "
        "so a failed run can simply be repeated: the API answers duplicates without publishing again. "
        "It prints the totals, then a row per rejected event (-v: a row per event)."
    )
    p.set_defaults(func=publish)

    p = add(cmds, "show", "a stored event and its payload")
    p.add_argument("event_id", metavar="EVENT_ID")
    p.set_defaults(func=show)

    p = add(cmds, "attempts", "every delivery attempt of one event, across endpoints")
    p.add_argument("event_id", metavar="EVENT_ID")
    p.add_argument("--limit", type=positive, help="at most this many (any number: pages are followed)")
    p.add_argument("--cursor")
    p.add_argument("--all", action="store_true", help="follow every page")
    p.set_defaults(func=attempts)

    p = add(cmds, "resend", "deliver a stored event again to chosen endpoints only")
    p.add_argument("event_id", metavar="EVENT_ID")
    p.add_argument(
        "--endpoint", action="append", required=True, metavar="ENDPOINT", help="endpoint id or name; repeat for several"
    )
    p.set_defaults(func=resend)


def _read_json(source: str, label: str, *, is_path: bool) -> Any:
    """JSON from a path (or "-" for stdin), or for --data inline text / "@path"."""
    path = source if is_path else source[1:] if source.startswith("@") else None
    try:
        if path == "-":
            text = sys.stdin.read()
        elif path is not None:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        else:
            text = source
        return json.loads(text)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", exit_code=2) from None
    except json.JSONDecodeError as exc:
        raise CliError(f"{label} is not valid JSON: {exc}", exit_code=2) from None


def _envelopes(a: argparse.Namespace) -> list[dict[str, Any]]:
    if a.type:
        if a.data is None:
            raise CliError("--type needs --data (use --data '{}' for an empty object)", exit_code=2)
        envelope = {"event": a.type, "data": _read_json(a.data, "--data", is_path=False)}
        return [{**envelope, "id": a.id} if a.id else envelope]
    if a.data is not None or a.id:
        raise CliError("--data and --id go with --type; a FILE carries its own", exit_code=2)
    doc = _read_json(a.file, a.file, is_path=True)
    if isinstance(doc, dict) and "events" in doc and "event" not in doc:
        doc = doc["events"]
    return doc if isinstance(doc, list) else [doc]


def publish(ctx: Context) -> int:
    events = _envelopes(ctx.args)
    if len(events) == 1:
        result = ctx.client.request("POST", "/events", body=events[0], ingest=True)
        if not ctx.emit(result):
            state = "duplicate of an already accepted event" if result.get("duplicate") else "accepted"
            ctx.out.line(ctx.out.status(state), f" {result.get('id')} ({result.get('event')})")
        return 0
    result = {"results": _publish_in_batches(ctx, events)}
    rows = [{**r, "state": _state(r), "problem": _problem(r)} for r in result["results"]]
    rejected = [r for r in rows if r["state"] == "rejected"]
    if not ctx.emit(result):
        counts = {state: sum(r["state"] == state for r in rows) for state in ("accepted", "duplicate", "rejected")}
        ctx.out.line(
            f"{len(rows)} events: {counts['accepted']} accepted, {counts['duplicate']} duplicates, "
            f"{counts['rejected']} rejected"
        )
        shown = rows if ctx.out.verbose else rejected
        if shown:
            ctx.out.table(shown, _RESULT_COLUMNS, status_column="state")
    if rejected:
        raise CliError(
            f"{len(rejected)} of {len(events)} event(s) rejected; first: {rejected[0]['problem']}",
            details=[r.get("error") for r in rejected],
        )
    return 0


def batches(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Consecutive runs of events that fit one /events/batch request (count and body size)."""
    chunk: list[dict[str, Any]] = []
    size = len('{"events": []}')
    for event in events:
        n = len(json.dumps(event).encode("utf-8")) + 2  # as requests serializes it, plus ", "
        if chunk and (len(chunk) == r.MAX_BATCH_EVENTS or size + n > r.MAX_BATCH_BODY_BYTES):
            yield chunk
            chunk, size = [], len('{"events": []}')
        chunk.append(event)
        size += n
    if chunk:
        yield chunk


def _publish_in_batches(ctx: Context, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every event's result, in file order (`index` counts from the file's first event). A batch
    the API refuses whole (400: none valid; 503: none accepted) still yields its per-event
    results, and the next batch is sent; any other failure stops, saying what was accepted."""
    chunks = list(batches(events))
    client = ctx.client  # a target that cannot be resolved is not a failure of the first batch
    results: list[dict[str, Any]] = []
    with ctx.out.progress(len(events), "publishing") as bar:
        for chunk in chunks:
            first = len(results)
            try:
                answer = client.request("POST", "/events/batch", body={"events": chunk}, ingest=True)
                items = answer.get("results", [])
            except CliError as exc:
                refused_whole = isinstance(exc.details, list) and len(exc.details) == len(chunk)
                if len(chunks) == 1:
                    raise
                if not refused_whole:
                    accepted = sum(1 for x in results if _state(x) != "rejected")
                    exc.message = (
                        f"{exc.message}; stopped at event {first} of {len(events)} "
                        f"({accepted} accepted before it; publishing again with ids is safe)"
                    )
                    raise
                items = exc.details
            results += [{**item, "index": first + int(item.get("index", n))} for n, item in enumerate(items)]
            bar.advance(len(chunk))
    return results


def _state(result: dict[str, Any]) -> str:
    status = result.get("status")
    if result.get("error") or (isinstance(status, int) and status >= 400):
        return "rejected"
    return "duplicate" if result.get("duplicate") else "accepted"


def _problem(result: dict[str, Any]) -> str | None:
    error = result.get("error")
    if isinstance(error, dict):
        return f"{error.get('message')} ({error.get('code')})"
    return error


def show(ctx: Context) -> int:
    event = ctx.client.get(f"/events/{seg(ctx.args.event_id)}")
    if ctx.emit(event):
        return 0
    ctx.out.fields([(key, event.get(key)) for key in ("id", "event", "timestamp", "receivedAt")])
    ctx.out.line(json.dumps(event.get("payload"), indent=2, ensure_ascii=False))
    return 0


def attempts(ctx: Context) -> int:
    a = ctx.args
    page = ctx.client.collect(f"/events/{seg(a.event_id)}/attempts", all_pages=a.all, limit=a.limit, cursor=a.cursor)
    if ctx.emit(page):
        return 0
    rows = page.get("data", [])
    names = ctx.endpoint_names() if rows else {}
    ctx.out.table(
        [{**row, "endpointName": names.get(row.get("endpointId"), "(deleted)")} for row in rows],
        _EVENT_ATTEMPT_COLUMNS,
        status_column="status",
        empty="no attempts yet",
    )
    more(ctx, page)
    return 0


def resend(ctx: Context) -> int:
    ids = [ctx.endpoint_id(ref) for ref in ctx.args.endpoint]
    result = ctx.client.post(f"/events/{seg(ctx.args.event_id)}/resend", {"endpointIds": ids})
    if not ctx.emit(result):
        ctx.out.line(f"queued {result.get('queued')} delivery(ies) of {ctx.args.event_id}")
    return 0
