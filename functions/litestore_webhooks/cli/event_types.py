"""`event-types ...`: the catalog the operator owns (list, show, create, update, deprecate, restore,
delete, versions, export, apply FILE).

Everything goes through the admin API; `apply` is declarative like `endpoints apply`: it asks the
API for the plan (`POST /event-types/import?dryRun=true`), shows it, and applies it after --yes or a
"y". FILE is what `export` writes (an OpenAPI 3.1 document with webhooks) or {"eventTypes": [...]}.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from litestore_webhooks.cli.client import seg
from litestore_webhooks.cli.context import Context
from litestore_webhooks.cli.output import CliError

Add = Callable[..., argparse.ArgumentParser]
TYPE_COLUMNS = [
    ("name", "TYPE"),
    ("version", "V"),
    ("mode", "MODE"),
    ("status", "STATUS"),
    ("origin", "ORIGIN"),
    ("group", "GROUP"),
    ("description", "DESCRIPTION"),
]
VERSION_COLUMNS = [("version", "V"), ("createdAt", "CREATED"), ("forced", "FORCED"), ("change", "CHANGE")]
PLAN_COLUMNS = [("action", "ACTION"), ("name", "TYPE"), ("changes", "CHANGES")]


def register(sub: argparse._SubParsersAction, add: Add) -> None:
    group = add(sub, "event-types", "the event catalog: types, schemas, versions, deprecation")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = add(cmds, "list", "list event types")
    p.add_argument(
        "--deprecated", action=argparse.BooleanOptionalAction, help="only deprecated (or only current) types"
    )
    p.add_argument("--group")
    p.set_defaults(func=list_types)

    p = add(cmds, "show", "show one event type, its schema and the endpoints that receive it")
    p.add_argument("name", metavar="TYPE")
    p.set_defaults(func=show)

    p = add(cmds, "create", "create an event type")
    p.add_argument("name", metavar="TYPE", help="namespace.action, like order.shipped")
    p.add_argument("--description", required=True)
    _content_flags(p)
    p.set_defaults(func=create)

    p = add(cmds, "update", "change an event type; a new schema is a new version")
    p.add_argument("name", metavar="TYPE")
    p.add_argument("--description")
    _content_flags(p)
    p.add_argument(
        "--force", action="store_true", help="apply a schema change that may refuse events the current version accepted"
    )
    p.set_defaults(func=update)

    p = add(cmds, "deprecate", "deprecate an event type (still accepted and delivered, flagged)")
    p.add_argument("name", metavar="TYPE")
    p.add_argument("--message")
    p.add_argument("--replacement", metavar="TYPE")
    p.set_defaults(func=deprecate)

    p = add(cmds, "restore", "undo a deprecation")
    p.add_argument("name", metavar="TYPE")
    p.set_defaults(func=restore)

    p = add(cmds, "delete", "delete an event type no endpoint subscribes to by name (asks first)")
    p.add_argument("name", metavar="TYPE")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(func=delete)

    p = add(cmds, "versions", "an event type's schema history")
    p.add_argument("name", metavar="TYPE")
    p.set_defaults(func=versions)

    p = add(cmds, "export", "the catalog as an OpenAPI 3.1 document (webhooks), for receivers and for apply")
    p.add_argument("--output", "-o", type=Path, metavar="FILE", help="write it here (default: stdout)")
    p.set_defaults(func=export)

    p = add(cmds, "apply", "create/update event types to match FILE (shows the plan first)")
    p.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        help='an OpenAPI 3.1 document with webhooks (what export writes), or {"eventTypes": [...]}',
    )
    p.add_argument("--force", action="store_true", help="apply schema changes that may refuse events")
    p.add_argument("--yes", action="store_true", help="apply without asking")
    p.set_defaults(func=apply)


def _content_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--schema", metavar="JSON|@FILE", help="JSON Schema 2020-12 of the event's data")
    p.add_argument("--example", action="append", metavar="JSON|@FILE", help="a full example envelope; repeat for more")
    p.add_argument("--group")
    p.add_argument("--mode", choices=("enforce", "accept"))


def _json_arg(text: str, label: str) -> Any:
    try:
        if text.startswith("@"):
            text = sys.stdin.read() if text == "@-" else Path(text[1:]).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as exc:
        raise CliError(f"cannot read {text[1:]}: {exc.strerror}", exit_code=2) from None
    except json.JSONDecodeError as exc:
        raise CliError(f"{label} is not valid JSON: {exc}", exit_code=2) from None


def _content(a: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if a.description is not None:
        body["description"] = a.description
    if a.schema is not None:
        body["schema"] = _json_arg(a.schema, "--schema")
    if a.example:
        body["examples"] = [_json_arg(e, "--example") for e in a.example]
    if a.group is not None:
        body["group"] = a.group
    if a.mode is not None:
        body["mode"] = a.mode
    return body


def _path(name: str, suffix: str = "") -> str:
    return f"/event-types/{seg(name)}{suffix}"


def _row(t: dict[str, Any]) -> dict[str, Any]:
    return {**t, "status": "deprecated" if t.get("deprecated") else "active"}


def list_types(ctx: Context) -> int:
    a = ctx.args
    params = {
        k: v
        for k, v in (("deprecated", None if a.deprecated is None else str(a.deprecated).lower()), ("group", a.group))
        if v is not None
    }
    result = ctx.client.get("/event-types", **params)
    if not ctx.emit(result):
        ctx.out.table(
            [_row(t) for t in result.get("data", [])], TYPE_COLUMNS, status_column="status", empty="no event types"
        )
    return 0


def _show(ctx: Context, t: dict[str, Any]) -> None:
    deprecation = t.get("deprecation") or {}
    ctx.out.fields(
        [
            ("name", t.get("name")),
            ("description", t.get("description")),
            ("status", _row(t)["status"]),
            (
                "deprecation",
                " ".join(
                    filter(
                        None,
                        [
                            deprecation.get("message"),
                            deprecation.get("replacement") and f"(use {deprecation['replacement']})",
                        ],
                    )
                )
                or None,
            ),
            ("version", t.get("version")),
            ("mode", t.get("mode")),
            ("origin", t.get("origin")),
            ("group", t.get("group")),
            ("examples", len(t.get("examples", []))),
            ("subscribers", ", ".join(s["name"] for s in t["subscribers"]) if "subscribers" in t else None),
            ("createdAt", t.get("createdAt")),
            ("updatedAt", t.get("updatedAt")),
            ("schema", json.dumps(t.get("schema"), separators=(",", ":"))),
        ],
        status_key="status",
    )


def show(ctx: Context) -> int:
    result = ctx.client.get(_path(ctx.args.name))
    if not ctx.emit(result):
        _show(ctx, result)
    return 0


def create(ctx: Context) -> int:
    a = ctx.args
    body = {"name": a.name, **_content(a)}
    body.setdefault("schema", {"type": "object"})
    result = ctx.client.post("/event-types", body)
    if not ctx.emit(result):
        ctx.out.line(f"created {result['name']} (version {result['version']}, {result['mode']})")
    return 0


def update(ctx: Context) -> int:
    a = ctx.args
    body = _content(a)
    if not body:
        raise CliError("nothing to change: pass --description, --schema, --example, --group or --mode", exit_code=2)
    result = ctx.client.patch(_path(a.name), body, **({"force": "true"} if a.force else {}))
    if not ctx.emit(result):
        ctx.out.line(f"updated {result['name']} (version {result['version']})")
    return 0


def deprecate(ctx: Context) -> int:
    a = ctx.args
    body = {k: v for k, v in (("message", a.message), ("replacement", a.replacement)) if v is not None}
    result = ctx.client.post(_path(a.name, "/deprecate"), body)
    if not ctx.emit(result):
        ctx.out.line(f"deprecated {result['name']}: still accepted and delivered, flagged")
    return 0


def restore(ctx: Context) -> int:
    result = ctx.client.post(_path(ctx.args.name, "/restore"))
    if not ctx.emit(result):
        ctx.out.line(f"restored {result['name']}")
    return 0


def delete(ctx: Context) -> int:
    a = ctx.args
    ctx.out.confirm(f"delete event type {a.name} and its schema history?", assume_yes=a.yes)
    ctx.client.delete(_path(a.name))
    if not ctx.out.as_json:
        ctx.out.line(f"deleted {a.name}")
    return 0


def versions(ctx: Context) -> int:
    result = ctx.client.get(_path(ctx.args.name, "/versions"))
    if not ctx.emit(result):
        ctx.out.table(result.get("data", []), VERSION_COLUMNS, empty="no versions")
    return 0


def export(ctx: Context) -> int:
    document = ctx.client.get("/event-types/openapi.json")
    if ctx.args.output:
        ctx.args.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        ctx.out.note(f"wrote {len(document.get('webhooks', {}))} event types to {ctx.args.output}")
    else:
        ctx.out.json(document)
    return 0


def _plan_rows(plan: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for action, key in (("create", "created"), ("update", "updated"), ("unchanged", "unchanged")):
        for entry in plan.get(key, []):
            changes = ", ".join(entry.get("fields", []))
            if entry.get("version"):
                changes += f" (schema version {entry['version']}{', forced' if entry.get('forced') else ''})"
            rows.append({"action": action, "name": entry["name"], "changes": changes})
    return rows


def apply(ctx: Context) -> int:
    a = ctx.args
    document = _json_arg(f"@{a.file}", str(a.file))
    params = {"force": "true"} if a.force else {}
    plan = ctx.client.post("/event-types/import", document, dryRun="true", **params)
    rows = _plan_rows(plan)
    pending = [r for r in rows if r["action"] != "unchanged"]
    if not ctx.out.as_json:
        ctx.out.table(rows, PLAN_COLUMNS, status_column="action", empty="no event types in the file")
        counts = {k: sum(r["action"] == k for r in rows) for k in ("create", "update", "unchanged")}
        ctx.out.line(
            f"plan: {counts['create']} to create, {counts['update']} to update, {counts['unchanged']} unchanged"
        )
        if plan.get("absent"):
            ctx.out.note(f"{len(plan['absent'])} event type(s) not in {a.file} are left alone")
    applied = None
    if pending:
        ctx.out.confirm(f"apply {len(pending)} change(s)?", assume_yes=a.yes)
        applied = ctx.client.post("/event-types/import", document, **params)
    if ctx.out.as_json:
        ctx.out.json({"plan": plan, "applied": applied is not None})
    else:
        ctx.out.line(f"applied {len(pending)} change(s)" if pending else "nothing to do")
    return 0
