"""`endpoints ...`, `attempts` and `stats`: managing endpoints and seeing how delivery to them goes."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable
from typing import Any

from litestore_webhooks.cli import apply
from litestore_webhooks.cli.context import Context
from litestore_webhooks.cli.output import CliError
from litestore_webhooks.cli.times import seconds, when

Add = Callable[..., argparse.ArgumentParser]

ENDPOINT_COLUMNS = [("id", "ID"), ("name", "NAME"), ("url", "URL"), ("events", "EVENTS"), ("status", "STATUS")]
ATTEMPT_COLUMNS = [
    ("at", "AT"),
    ("eventId", "EVENT"),
    ("eventType", "TYPE"),
    ("attempt", "#"),
    ("status", "STATUS"),
    ("httpStatus", "HTTP"),
    ("durationMs", "MS"),
    ("error", "ERROR"),
]
_RETRY_FLAGS = {
    "max_attempts": "maxAttempts",
    "backoff_multiplier": "backoffMultiplier",
    "initial_delay": "initialDelay",
    "max_delay": "maxDelay",
}
_PAUSED_BY = {"manual": "manual", "gone": "gone", "auto_disabled": "auto-disabled"}


def register(sub: argparse._SubParsersAction, add: Add) -> None:
    group = add(sub, "endpoints", "manage webhook endpoints")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = add(cmds, "list", "list endpoints (secrets are never listed)")
    p.add_argument("--limit", type=positive, help="at most this many (any number: pages are followed)")
    p.add_argument("--cursor")
    p.add_argument("--all", action="store_true", help="follow every page")
    p.set_defaults(func=list_endpoints)

    p = add(cmds, "show", "show one endpoint")
    p.add_argument("endpoint", help="endpoint id or exact name")
    p.set_defaults(func=show)

    p = add(cmds, "create", "register an endpoint; prints its secret once")
    p.add_argument("endpoint_url", metavar="URL", help="HTTPS URL that receives the webhooks")
    p.add_argument(
        "--events",
        action="append",
        required=True,
        metavar="TYPES",
        help='event types or patterns, comma-separated or repeated ("*", "order.*", "review.created")',
    )
    p.add_argument("--name")
    p.add_argument("--secret", help="your own signing secret (default: a generated whsec_ secret)")
    p.add_argument("--inactive", action="store_true", help="create it paused")
    _spec_flags(p)
    _header_flags(p, replacing="")
    p.set_defaults(func=create)

    p = add(cmds, "update", "change an endpoint in place")
    p.add_argument("endpoint")
    p.add_argument("--endpoint-url", metavar="URL", help="new delivery URL (--url selects the API)")
    p.add_argument("--events", action="append", metavar="TYPES")
    p.add_argument("--name")
    p.add_argument("--active", action=argparse.BooleanOptionalAction)
    _spec_flags(p)
    _header_flags(p, replacing=" (replaces all of them)")
    p.add_argument("--no-rate-limit", action="store_true", help="remove the rate limit")
    p.add_argument("--no-headers", action="store_true", help="remove the custom headers")
    p.add_argument("--no-sensitive-headers", action="store_true", help="remove the sensitive headers")
    p.set_defaults(func=update)

    p = add(cmds, "delete", "delete an endpoint, its queues and its dead letters (asks first)")
    p.add_argument("endpoint")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(func=delete)

    for name, helptext, func in (
        ("pause", "stop deliveries (events queue up)", pause),
        ("resume", "resume deliveries", resume),
        ("secret", "print the current signing secret", secret),
    ):
        p = add(cmds, name, helptext)
        p.add_argument("endpoint")
        p.set_defaults(func=func)

    p = add(cmds, "rotate-secret", "new secret; the old one keeps signing during the overlap")
    p.add_argument("endpoint")
    p.add_argument(
        "--overlap", type=seconds, metavar="SPAN", help="how long the old secret keeps signing (default 24h)"
    )
    p.add_argument("--secret", help="use this secret instead of a generated one")
    p.add_argument(
        "--revoke-previous",
        action="store_true",
        help="secrets from earlier rotations stop signing now (with --overlap 0: only the new one signs)",
    )
    p.set_defaults(func=rotate_secret)

    p = add(cmds, "test", "send the catalog's example event (marked test) through real delivery")
    p.add_argument("endpoint")
    p.add_argument("--event", required=True, metavar="TYPE")
    p.set_defaults(func=test)

    apply.register(cmds, add)

    p = add(sub, "attempts", "delivery attempts to an endpoint, newest first")
    p.add_argument("endpoint")
    p.add_argument(
        "--status",
        metavar="STATUS",
        help="failed (every unsuccessful attempt), delivered, retry_scheduled or dead_lettered",
    )
    p.add_argument("--event-type", metavar="TYPE", help='an event type or "namespace.*", e.g. order.*')
    p.add_argument("--since", type=when, metavar="WHEN", help="ISO time or 30m, 24h, 7d, yesterday")
    p.add_argument("--until", type=when, metavar="WHEN", help="only attempts before this time (same forms)")
    p.add_argument("--limit", type=positive, help="at most this many (any number: pages are followed)")
    p.add_argument("--cursor")
    p.add_argument("--all", action="store_true", help="follow every page")
    p.set_defaults(func=attempts)

    p = add(sub, "stats", "delivery rates, latency and queue depths for an endpoint")
    p.add_argument("endpoint")
    p.add_argument("--window", default="24h", help="e.g. 1h, 24h, 7d (default 24h)")
    p.set_defaults(func=stats)


def positive(text: str) -> int:
    """argparse ``type=`` for a count: a whole number above 0."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return int(text)


def _spec_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--description")
    p.add_argument("--timeout", type=int, metavar="MS", help="delivery timeout in milliseconds")
    p.add_argument("--max-concurrency", type=int, metavar="N")
    p.add_argument("--max-attempts", type=int, metavar="N")
    p.add_argument("--backoff-multiplier", type=float, metavar="X")
    p.add_argument("--initial-delay", type=int, metavar="MS")
    p.add_argument("--max-delay", type=int, metavar="MS")


def _header_flags(p: argparse.ArgumentParser, *, replacing: str) -> None:
    p.add_argument("--rate-limit", type=float, metavar="PER_S", help="at most this many events per second")
    p.add_argument(
        "--header",
        action="append",
        metavar="NAME=VALUE",
        default=[],
        help=f"a custom header sent with every delivery; repeat for more{replacing}",
    )
    p.add_argument(
        "--sensitive-header",
        action="append",
        metavar="NAME[=VALUE]",
        default=[],
        help="a header whose value is stored encrypted and never shown, e.g. Authorization; "
        f"without =VALUE it is asked for (not echoed, not in shell history){replacing}",
    )


def _headers(values: list[str], *, sensitive: bool) -> dict[str, str]:
    """NAME=VALUE flags as a map; a sensitive NAME alone is asked for without echo."""
    headers: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep and sensitive:
            text = getpass.getpass(f"value of {name.strip()}: ")
        elif not sep:
            raise CliError(f"--header {value!r}: expected NAME=VALUE", exit_code=2)
        headers[name.strip()] = text
    return headers


def _events(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _retry(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, flag) for flag, key in _RETRY_FLAGS.items() if getattr(args, flag) is not None}


def _common_fields(args: argparse.Namespace) -> dict[str, Any]:
    body = {
        "description": args.description,
        "timeout": args.timeout,
        "maxConcurrency": args.max_concurrency,
        "rateLimit": args.rate_limit,
    }
    body = {key: value for key, value in body.items() if value is not None}
    for key, flag, sensitive in (("headers", "header", False), ("sensitiveHeaders", "sensitive_header", True)):
        if getattr(args, flag):
            body[key] = _headers(getattr(args, flag), sensitive=sensitive)
        elif getattr(args, f"no_{flag}s", False):
            body[key] = {}
    if getattr(args, "no_rate_limit", False):
        body["rateLimit"] = None
    return body


def _headers_text(e: dict[str, Any]) -> str:
    """Custom headers for people: plain ones with their values, sensitive ones redacted (as the API lists them)."""
    shown = {**(e.get("headers") or {}), **(e.get("sensitiveHeaders") or {})}
    return ", ".join(f"{name}: {value}" for name, value in shown.items()) or "-"


def status_of(endpoint: dict[str, Any]) -> str:
    """Either active, or paused and why: "paused (manual)", "paused (gone)" or "paused (auto-disabled)"."""
    if endpoint.get("active", True):
        return "active"
    reason = endpoint.get("pausedReason")
    return f"paused ({_PAUSED_BY.get(reason, reason)})" if reason else "paused"


def _retry_text(policy: dict[str, Any] | None) -> str:
    if not policy:
        return "-"
    return (
        f"{policy.get('maxAttempts')} attempts, x{policy.get('backoffMultiplier')} from "
        f"{policy.get('initialDelay')} ms, max {policy.get('maxDelay')} ms"
    )


def show_endpoint(ctx: Context, e: dict[str, Any]) -> None:
    ctx.out.fields(
        [
            ("id", e.get("id")),
            ("name", e.get("name")),
            ("url", e.get("url")),
            ("events", e.get("events")),
            ("status", status_of(e)),
            ("description", e.get("description")),
            ("retry", _retry_text(e.get("retryPolicy"))),
            ("timeout", f"{e.get('timeout')} ms"),
            ("maxConcurrency", e.get("maxConcurrency")),
            ("rateLimit", f"{e['rateLimit']:g}/s" if e.get("rateLimit") is not None else "-"),
            ("headers", _headers_text(e)),
            ("failingSince", e.get("failingSince")),
            ("consecutiveFailures", e.get("consecutiveFailures")),
            ("createdAt", e.get("createdAt")),
            ("updatedAt", e.get("updatedAt")),
        ],
        status_key="status",
    )


def list_endpoints(ctx: Context) -> int:
    a = ctx.args
    page = ctx.client.collect("/endpoints", all_pages=a.all, limit=a.limit, cursor=a.cursor)
    if ctx.emit(page):
        return 0
    rows = [{**e, "status": status_of(e)} for e in page.get("data", [])]
    ctx.out.table(rows, ENDPOINT_COLUMNS, status_column="status", empty="no endpoints")
    more(ctx, page)
    return 0


def more(ctx: Context, page: dict[str, Any]) -> None:
    if page.get("nextCursor"):
        ctx.out.note(f"more results: add --all, or --cursor {page['nextCursor']}")


def show(ctx: Context) -> int:
    endpoint = ctx.client.get(ctx.endpoint_path(ctx.args.endpoint))
    if not ctx.emit(endpoint):
        show_endpoint(ctx, endpoint)
    return 0


def create(ctx: Context) -> int:
    a = ctx.args
    body: dict[str, Any] = {"url": a.endpoint_url, "events": _events(a.events)}
    if a.name:
        body["name"] = a.name
    if a.secret:
        body["secret"] = a.secret
    if a.inactive:
        body["active"] = False
    body.update(_common_fields(a))
    if _retry(a):
        body["retryPolicy"] = _retry(a)
    created = ctx.client.post("/endpoints", body)
    if ctx.emit(created):
        return 0
    show_endpoint(ctx, created)
    ctx.out.line(ctx.out.paint("secret", "bold"), "  ", created.get("secret") or "")
    ctx.out.note("the secret is shown once here; later use `endpoints secret` (needs admin access)")
    return 0


def update(ctx: Context) -> int:
    a = ctx.args
    path = ctx.endpoint_path(a.endpoint)
    body: dict[str, Any] = _common_fields(a)
    for key, value in (("url", a.endpoint_url), ("name", a.name), ("active", a.active)):
        if value is not None:
            body[key] = value
    if a.events:
        body["events"] = _events(a.events)
    if _retry(a):
        # Send the whole policy so the result is the same whether PATCH merges or replaces it.
        body["retryPolicy"] = {**(ctx.client.get(path).get("retryPolicy") or {}), **_retry(a)}
    if not body:
        raise CliError("nothing to update: give at least one of the change flags (see --help)", exit_code=2)
    updated = ctx.client.patch(path, body)
    if not ctx.emit(updated):
        show_endpoint(ctx, updated)
    return 0


def delete(ctx: Context) -> int:
    endpoint_id = ctx.endpoint_id(ctx.args.endpoint)
    ctx.out.confirm(f"delete endpoint {endpoint_id}, its queues and its dead letters?", assume_yes=ctx.args.yes)
    ctx.client.delete(ctx.endpoint_path(endpoint_id))
    if not ctx.out.as_json:
        ctx.out.line(f"deleted {endpoint_id}")
    return 0


def pause(ctx: Context) -> int:
    return _toggle(ctx, "pause", "paused")


def resume(ctx: Context) -> int:
    return _toggle(ctx, "resume", "resumed")


def _toggle(ctx: Context, action: str, done: str) -> int:
    endpoint_id = ctx.endpoint_id(ctx.args.endpoint)
    result = ctx.client.post(ctx.endpoint_path(endpoint_id, f"/{action}"))
    if not ctx.emit(result):
        ctx.out.line(f"{done} {endpoint_id}")
    return 0


def secret(ctx: Context) -> int:
    result = ctx.client.get(ctx.endpoint_path(ctx.args.endpoint, "/secret"))
    if ctx.emit(result):
        return 0
    ctx.out.line(result.get("secret", ""))
    for previous in result.get("previousSecrets") or []:
        ctx.out.note(f"a previous secret also signs until {previous.get('expiresAt')}")
    return 0


def rotate_secret(ctx: Context) -> int:
    a = ctx.args
    endpoint_id = ctx.endpoint_id(a.endpoint)
    body = {key: value for key, value in (("overlapSeconds", a.overlap), ("secret", a.secret)) if value is not None}
    if a.revoke_previous:
        body["revokePrevious"] = True
    result = ctx.client.post(ctx.endpoint_path(endpoint_id, "/secret/rotate"), body)
    if ctx.emit(result):
        return 0
    ctx.out.line(
        f"rotated the secret of {endpoint_id}; the previous one keeps signing until "
        f"{result.get('previousSecretExpiresAt')}"
    )
    ctx.out.note(f"print the new secret with: {ctx.command('endpoints', 'secret', endpoint_id)}")
    return 0


def show_attempt(ctx: Context, attempt: dict[str, Any]) -> None:
    keys = (
        "endpointId",
        "eventId",
        "eventType",
        "attempt",
        "at",
        "status",
        "httpStatus",
        "durationMs",
        "error",
        "responseExcerpt",
        "nextRetryAt",
        "test",
    )
    ctx.out.fields([(key, attempt.get(key)) for key in keys], status_key="status")


def delivered(attempt: dict[str, Any]) -> bool:
    status = attempt.get("httpStatus")
    return attempt.get("status") == "delivered" or (isinstance(status, int) and 200 <= status < 300)


def test(ctx: Context) -> int:
    endpoint_id = ctx.endpoint_id(ctx.args.endpoint)
    attempt = ctx.client.post(ctx.endpoint_path(endpoint_id, "/test"), {"event": ctx.args.event})
    if not ctx.emit(attempt):
        show_attempt(ctx, attempt)
    if delivered(attempt):
        return 0
    reason = attempt.get("error") or f"HTTP {attempt.get('httpStatus')}"
    raise CliError(f"test delivery to {endpoint_id} failed: {reason}")


def attempts(ctx: Context) -> int:
    """A filtered API page may stop short at its read budget: `collect` follows its cursor until the
    page has `--limit` (default 50) attempts, so a filter over a long log shows its matches."""
    a = ctx.args
    path = ctx.endpoint_path(a.endpoint, "/attempts")
    filters = {"status": a.status, "eventType": a.event_type, "since": a.since, "until": a.until}
    page = ctx.client.collect(path, all_pages=a.all, limit=a.limit or 50, cursor=a.cursor, **filters)
    if ctx.emit(page):
        return 0
    ctx.out.table(page.get("data", []), ATTEMPT_COLUMNS, status_column="status", empty="no attempts")
    more(ctx, page)
    return 0


def stats(ctx: Context) -> int:
    s = ctx.client.get(ctx.endpoint_path(ctx.args.endpoint, "/stats"), window=ctx.args.window)
    if ctx.emit(s):
        return 0
    latency = s.get("latencyMs") or {}
    p50, p99 = latency.get("p50"), latency.get("p99")
    classes = s.get("byStatusClass") or {}
    ctx.out.fields(
        [
            ("window", s.get("window")),
            ("attempts", s.get("attempts")),
            ("delivered", s.get("delivered")),
            ("failed", s.get("failed")),
            ("byStatusClass", ", ".join(f"{k}: {v}" for k, v in classes.items()) or None),
            (
                "latency p50/p99",
                "no deliveries yet"
                if p50 is None and p99 is None and not s.get("attempts")
                else f"{'–' if p50 is None else p50} / {'–' if p99 is None else p99} ms",
            ),
            ("queueDepth", s.get("queueDepth")),
            ("inFlight", s.get("inFlight")),
            ("deadLetterDepth", s.get("deadLetterDepth")),
            ("status", status_of(s)),
        ],
        status_key="status",
    )
    return 0
