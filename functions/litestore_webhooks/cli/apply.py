"""`endpoints apply FILE`: make the registered endpoints match a config file.

Accepts the product document's ``webhooks`` array, a single ``webhookConfig`` object, or
``{"webhooks": [...]}``, as JSON or pasted straight from the document as a JavaScript
literal (``const webhooks = [...]`` with comments, bare keys and trailing commas).
Existing endpoints are matched by name (as the API compares names: case and spacing aside), then by URL. Fields missing from the file take the
API's defaults, except ``active`` and ``secret``, which are left as they are (so an
incident pause or a rotated secret is not undone by re-applying an old file). Secrets from
the file are sent but never printed: a plan only says that the secret changes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestore_webhooks.cli.client import seg
from litestore_webhooks.cli.context import Context
from litestore_webhooks.cli.output import CliError

if TYPE_CHECKING:
    from pydantic import ValidationError

_COMPARED = ("name", "url", "events", "retryPolicy", "description", "timeout", "maxConcurrency", "rateLimit", "headers")
_PLAN_COLUMNS = [("action", "ACTION"), ("name", "NAME"), ("id", "ID"), ("changes", "CHANGES")]


def register(cmds: argparse._SubParsersAction, add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add(cmds, "apply", "create/update (and with --prune delete) endpoints to match FILE")
    p.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        help='JSON (or the document\'s JS literal): a webhooks array, one webhookConfig, or {"webhooks": [...]}',
    )
    p.add_argument("--prune", action="store_true", help="also delete endpoints that are not in FILE")
    p.add_argument("--yes", action="store_true", help="apply without asking")
    p.add_argument(
        "--send-sensitive-headers",
        action="store_true",
        help="send the file's sensitiveHeaders even where their names match the stored ones "
        "(their values cannot be read back to compare)",
    )
    p.set_defaults(func=run)


@dataclass
class Step:
    action: str  # create | update | delete | unchanged
    name: str
    id: str | None = None
    changes: list[str] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)  # what is sent; may hold a secret, never shown
    new_secret: str | None = None

    def public(self) -> dict[str, Any]:
        return {"action": self.action, "name": self.name, "id": self.id, "changes": self.changes}


def run(ctx: Context) -> int:
    a = ctx.args
    entries, specs = load(a.file)
    existing = [e for page in ctx.client.pages("/endpoints") for e in page.get("data", [])]
    steps, unmanaged = plan(ctx, entries, specs, existing, prune=a.prune)
    pending = [s for s in steps if s.action != "unchanged"]
    if not ctx.out.as_json:
        ctx.out.table(
            [{**s.public(), "changes": ", ".join(s.changes)} for s in steps],
            _PLAN_COLUMNS,
            status_column="action",
            empty="no endpoints in the file",
        )
        counts = {kind: sum(s.action == kind for s in steps) for kind in ("create", "update", "delete", "unchanged")}
        ctx.out.line(
            "plan: " + ", ".join(f"{n} to {k}" if k != "unchanged" else f"{n} unchanged" for k, n in counts.items())
        )
        if unmanaged:
            ctx.out.note(f"{unmanaged} endpoint(s) not in {a.file} are left alone (--prune deletes them)")
    if pending:
        ctx.out.confirm(f"apply {len(pending)} change(s)?", assume_yes=a.yes)
        execute(ctx, pending)
    if ctx.out.as_json:
        ctx.out.json({"plan": [s.public() for s in steps], "applied": bool(pending)})
    elif not pending:
        ctx.out.line("nothing to do")
    else:
        ctx.out.line(f"applied {len(pending)} change(s)")
        for step in pending:
            if step.action == "create" and "secret" not in step.body:
                ctx.out.note(
                    f"{step.name} ({step.id}) got a generated secret: "
                    f"{ctx.command('endpoints', 'secret', str(step.id))}"
                )
    return 0


def load(path: Path) -> tuple[list[dict[str, Any]], list[Any]]:
    """The file's endpoint entries as written, and the same entries validated with defaults filled."""
    from pydantic import ValidationError  # only `apply` pays for importing pydantic

    from litestore_webhooks.core.endpoint import name_key, parse_endpoint_configs

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", exit_code=2) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        try:
            doc = json.loads(js_literal_to_json(text))
        except (json.JSONDecodeError, ValueError) as exc:
            raise CliError(f"{path}: neither JSON nor a JavaScript object/array literal ({exc})") from None
    raw = doc["webhooks"] if isinstance(doc, dict) and set(doc) == {"webhooks"} else doc
    entries = [raw] if isinstance(raw, dict) else raw
    try:
        # Local URLs are allowed here: the API applies the deployment's own URL rules.
        specs = parse_endpoint_configs(doc, allow_insecure=True)
    except ValidationError as exc:
        raise _invalid(path, exc, many=not isinstance(raw, dict)) from None
    first_named: dict[str, str] = {}  # name key -> the name as first written
    dupes: set[str] = set()
    for spec in specs:
        key = name_key(spec.name)
        if key in first_named:
            dupes.add(first_named[key])
        first_named.setdefault(key, spec.name)
    if dupes:
        raise CliError(
            f"{path}: endpoint names must be unique (case and spacing aside); repeated: {', '.join(sorted(dupes))}"
        )
    return entries, specs


def _invalid(path: Path, exc: ValidationError, *, many: bool) -> CliError:
    problems = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = f"webhooks[{loc.pop(0)}]" if many and loc and isinstance(loc[0], int) else ""
        where += "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
        problems.append({"path": where.lstrip("."), "message": err["msg"].removeprefix("Value error, ")})
    first = problems[0]
    extra = f" (and {len(problems) - 1} more; -v lists them)" if len(problems) > 1 else ""
    return CliError(f"{path}: {first['path'] or 'document'}: {first['message']}{extra}", details=problems)


def plan(
    ctx: Context, entries: list[dict[str, Any]], specs: list[Any], existing: list[dict[str, Any]], *, prune: bool
) -> tuple[list[Step], int]:
    """Steps in file order, then deletions; also how many existing endpoints are left unmanaged.

    Entries are matched to endpoints by name first (compared as the API compares names), all of
    them, then the rest by URL. So a URL match renames an endpoint only to a name no endpoint
    holds, and no step of the plan meets a name that is taken, in whatever order they run."""
    from litestore_webhooks.core.endpoint import name_key

    unmatched = {e["id"]: e for e in existing}
    by_key: dict[str, list[dict[str, Any]]] = {}
    for e in existing:
        by_key.setdefault(name_key(e.get("name") or ""), []).append(e)
    matched: list[dict[str, Any] | None] = []
    for spec in specs:
        named = by_key.get(name_key(spec.name), [])
        if len(named) > 1:
            raise CliError(
                f"{len(named)} existing endpoints are named {spec.name!r} "
                f"({', '.join(e['id'] for e in named)}); rename or delete all but one"
            )
        matched.append(unmatched.pop(named[0]["id"]) if named else None)
    for n, spec in enumerate(specs):
        if matched[n] is None:
            same_url = next((e for e in unmatched.values() if e.get("url") == spec.url), None)
            matched[n] = unmatched.pop(same_url["id"]) if same_url else None
    steps = [
        _diff(ctx, spec, current)
        if current
        else Step("create", spec.name, changes=["new"], body={**entry, "name": spec.name})
        for entry, spec, current in zip(entries, specs, matched)
    ]
    deletions = [Step("delete", e.get("name") or e["url"], e["id"], ["removed"]) for e in unmatched.values()]
    return steps + (deletions if prune else []), 0 if prune else len(deletions)


def _diff(ctx: Context, spec: Any, current: dict[str, Any]) -> Step:
    desired = spec.model_dump(mode="json")
    body = {}
    for key in _COMPARED:
        want, have = desired.get(key), current.get(key)
        if key == "events":
            same = set(want) == set(have or [])
        elif key == "headers":  # an API older than custom headers lists none
            same = want == (have or {})
        else:
            same = want == have
        if not same:
            body[key] = want
    if "active" in spec.model_fields_set and spec.active != current.get("active", True):
        body["active"] = spec.active
    # Sensitive values cannot be read back (the API shows them redacted): sent when the file's
    # names differ from the stored ones, or always with --send-sensitive-headers.
    if "sensitiveHeaders" in spec.model_fields_set and (
        ctx.args.send_sensitive_headers or set(spec.sensitiveHeaders) != set(current.get("sensitiveHeaders") or {})
    ):
        body["sensitiveHeaders"] = spec.sensitiveHeaders
    step = Step("update", spec.name, current["id"], list(body), body)
    if "secret" in spec.model_fields_set:
        stored = ctx.client.get(f"/endpoints/{seg(current['id'])}/secret").get("secret")
        if stored != spec.secret:
            step.new_secret = spec.secret
            step.changes.append("secret")
    if not step.changes:
        step.action = "unchanged"
    return step


def execute(ctx: Context, steps: list[Step]) -> None:
    """Carry out the steps in order; stop at the first failure, saying what was already done."""
    with ctx.out.progress(len(steps), "applying") as bar:
        for done, step in enumerate(steps):
            try:
                _run_step(ctx, step)
            except CliError as exc:
                exc.message = f"{step.action} {step.name}: {exc.message} ({done} of {len(steps)} change(s) done)"
                raise
            bar.advance()


def _run_step(ctx: Context, step: Step) -> None:
    client = ctx.client
    if step.action == "create":
        step.id = client.post("/endpoints", step.body).get("id")
        return
    if step.id is None:  # the plan names the endpoint of every update and delete
        raise ValueError(f"planned {step.action} of {step.name!r} has no endpoint id")
    path = f"/endpoints/{seg(step.id)}"
    if step.action == "delete":
        client.delete(path)
    else:
        if step.body:
            client.patch(path, step.body)
        if step.new_secret:
            # Rotation (not PATCH) so receivers get the usual overlap window with both secrets.
            client.post(f"{path}/secret/rotate", {"secret": step.new_secret})


def js_literal_to_json(text: str) -> str:
    """A JavaScript object/array literal as JSON: drops ``const x =``, ``;`` and comments,
    quotes bare keys, converts single-quoted strings and removes trailing commas."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c in "\"'":
            j, chars = i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    chars.append(text[j + 1] if text[j + 1] == "'" else text[j : j + 2])
                    j += 2
                    continue
                chars.append('\\"' if text[j] == '"' else text[j])
                j += 1
            if j >= n:
                raise ValueError("unterminated string")
            tokens.append('"' + "".join(chars) + '"')
            i = j + 1
        elif c.isalpha() or c in "_$":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_$"):
                j += 1
            tokens.append(text[i:j])
            i = j
        else:
            tokens.append(c)
            i += 1
    if len(tokens) >= 3 and tokens[0] in {"const", "let", "var"} and tokens[2] == "=":
        tokens = tokens[3:]
    while tokens and tokens[-1] == ";":
        tokens.pop()
    out: list[str] = []
    for k, tok in enumerate(tokens):
        nxt = tokens[k + 1] if k + 1 < len(tokens) else ""
        if tok == "," and nxt in {"}", "]"}:
            continue
        bare_key = (tok[0].isalpha() or tok[0] in "_$") and nxt == ":"
        out.append(f'"{tok}"' if bare_key else tok)
    return "".join(out)
