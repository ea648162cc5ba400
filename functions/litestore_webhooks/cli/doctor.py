"""`doctor`: check a target step by step, as the smoke test after a deploy (or when `--local` misbehaves).

Each step says what it found and, when it fails, what to do. Steps that need an earlier one
(admin access for the catalog and the test send) are skipped when it failed. The API key is
checked with a deliberately invalid event: ingest answers it 400 before anything is stored or
published, while a refused key gets API Gateway's 403. `--endpoint NAME` also sends the
catalog's example event, marked as a test, through real delivery to that endpoint.
Exit code 0 when every step passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from litestore_webhooks.cli.client import REGION_HINT, Client
from litestore_webhooks.cli.context import Context
from litestore_webhooks.cli.output import CliError

# Invalid on purpose (an unknown type, no data): ingest's validation refuses it with a 400.
PROBE_EVENT = {"event": "doctor.probe"}
OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    hint: str | None = None
    attempt: dict[str, Any] | None = None  # the test send's, as the API logged it

    @property
    def ok(self) -> bool:
        return self.status == OK


def register(sub: argparse._SubParsersAction, add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add(sub, "doctor", "check the target step by step: API, credentials, API key, catalog (and a test send)")
    p.add_argument("--endpoint", metavar="ENDPOINT", help="also send a test event to this endpoint (id or name)")
    p.add_argument(
        "--event", metavar="TYPE", help="the test event's type (default: the first the endpoint subscribes to)"
    )
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    checks = diagnose(ctx)
    ok = not any(c.status == FAILED for c in checks)  # a step is skipped only after one failed
    if ctx.out.as_json:
        ctx.out.json({"ok": ok, "checks": [{k: v for k, v in asdict(c).items() if v is not None} for c in checks]})
        return 0 if ok else 1
    out = ctx.out
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = {OK: out.paint("ok  ", "green"), FAILED: out.paint("FAIL", "red"), SKIPPED: out.paint("skip", "dim")}
        out.line(f"{mark[c.status]}  {c.name.ljust(width)}  {c.detail}")
        if c.hint:
            out.line(f"{' ' * (6 + width)}  {out.paint('hint: ' + c.hint, 'yellow')}")
    failed = sum(c.status == FAILED for c in checks)
    out.line("all checks passed" if ok else f"{failed} of {len(checks)} checks failed")
    return 0 if ok else 1


def diagnose(ctx: Context) -> list[Check]:
    """Every step in order; a step that cannot run says why it was skipped."""
    a = ctx.args
    checks: list[Check] = []
    try:
        client = ctx.client
    except CliError as exc:
        return [Check("target", FAILED, exc.message, _target_hint(a, exc.message))]
    checks.append(Check("target", OK, _describe_target(a, client)))
    reachable = _reachable(client)
    checks.append(reachable)
    if not reachable.ok:
        rest = ("admin access", "API key", "event catalog") + (("test send",) if a.endpoint else ())
        return checks + [Check(name, SKIPPED, "the API is not reachable") for name in rest]
    admin, _ = _step(
        "admin access",
        lambda: client.get("/endpoints", limit=1),
        lambda _: "an admin route answered (GET /endpoints)",
        _admin_hint(a),
    )
    checks += [admin, _api_key(client, a)]
    if not admin.ok:
        return checks + [
            Check(name, SKIPPED, "needs admin access")
            for name in ("event catalog",) + (("test send",) if a.endpoint else ())
        ]
    catalog, types = _step(
        "event catalog",
        lambda: client.get("/event-types"),
        lambda found: f"{len(found.get('data', []))} event types",
        None,
    )
    checks.append(catalog)
    if a.endpoint:
        checks.append(_test_send(ctx, types or {}))
    return checks


def _step(name: str, call: Callable[[], Any], describe: Callable[[Any], str], hint: str | None) -> tuple[Check, Any]:
    """A check of one API call, and what the call returned (None when it failed)."""
    try:
        found = call()
    except CliError as exc:
        return Check(name, FAILED, exc.message, hint), None
    return Check(name, OK, describe(found)), found


def _describe_target(a: argparse.Namespace, client: Client) -> str:
    if a.stack:
        return f"stack {a.stack}: {client.target.url} (region {client.target.sigv4_region})"
    return f"{'local runtime' if a.local else 'API'} at {client.target.url}"


def _target_hint(a: argparse.Namespace, message: str) -> str | None:
    if a.stack and "region" in message:
        return REGION_HINT
    if a.stack:
        return "check the stack name and that your AWS credentials can read it (cloudformation:DescribeStacks)"
    if a.local:
        return "start one: litestore-webhooks local"
    return None


def _reachable(client: Client) -> Check:
    started = time.monotonic()
    try:
        response = client.send("GET", "/openapi.json", auth=False)
    except CliError as exc:
        hint = "is `litestore-webhooks local` running?" if client.target.local else "check the URL and your network"
        return Check("API reachable", FAILED, exc.message, hint)
    ms = round((time.monotonic() - started) * 1000)
    return Check("API reachable", OK, f"HTTP {response.status_code} without credentials, in {ms} ms")


def _admin_hint(a: argparse.Namespace) -> str:
    if a.stack:
        return (
            "your AWS identity needs execute-api:Invoke on the stack's AdminApiArn output "
            '(docs/deploy.md, "Admin access")'
        )
    return "check --admin-token (or LITESTORE_WEBHOOKS_ADMIN_TOKEN)"


def _api_key(client: Client, a: argparse.Namespace) -> Check:
    """Accepted when the probe event gets ingest's own 400: the key passed the gateway and nothing was published."""
    try:
        response = client.send("POST", "/events", body=PROBE_EVENT, ingest=True)
    except CliError as exc:
        return Check("API key", FAILED, exc.message, "the stack's ApiKeyId output names it" if a.stack else None)
    if response.status_code == 400:
        return Check(
            "API key",
            OK,
            "accepted: ingest refused the deliberately invalid probe event (400), so nothing was published",
        )
    error = client.failure(response) if not response.ok else None
    hint = (
        "the key must belong to the stack's usage plan (ApiKeyId output)"
        if a.stack
        else "check --api-key (or LITESTORE_WEBHOOKS_API_KEY)"
    )
    detail = f"the probe event got HTTP {response.status_code}" + (f": {error.message}" if error else "")
    return Check("API key", FAILED, detail, hint if response.status_code in (401, 403) else None)


def _test_send(ctx: Context, catalog: dict[str, Any]) -> Check:
    from litestore_webhooks.core.event_types.names import matches  # light: no pydantic

    try:
        endpoint = ctx.client.get(ctx.endpoint_path(ctx.args.endpoint))
        types = [
            t["name"] for t in catalog.get("data", []) if any(matches(p, t["name"]) for p in endpoint.get("events", []))
        ]
        event = ctx.args.event or (types[0] if types else None)
        if event is None:
            return Check(
                "test send",
                FAILED,
                f"{endpoint['name']} subscribes to no event type in the catalog",
                "pass --event TYPE",
            )
        attempt = ctx.client.post(ctx.endpoint_path(endpoint["id"], "/test"), {"event": event})
    except CliError as exc:
        return Check("test send", FAILED, exc.message)
    what = f"{event} to {endpoint['name']} ({endpoint['url']})"
    if attempt.get("status") == "delivered":
        return Check(
            "test send",
            OK,
            f"{what}: delivered, HTTP {attempt.get('httpStatus')} in {attempt.get('durationMs')} ms",
            attempt=attempt,
        )
    reason = attempt.get("error") or f"HTTP {attempt.get('httpStatus')}"
    return Check(
        "test send",
        FAILED,
        f"{what}: {reason} after {attempt.get('durationMs')} ms",
        f"litestore-webhooks attempts {endpoint['id']} --status failed",
        attempt=attempt,
    )
