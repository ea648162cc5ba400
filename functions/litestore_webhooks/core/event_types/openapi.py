"""The catalog as an OpenAPI 3.1 document (its `webhooks` section), and such a document read back as drafts.

Export: one webhook per type, POSTed with the full envelope (`event` const, `id`, `timestamp`, `data` =
the type's schema under components/schemas/<name>), its examples, our signature headers, what each
response status makes us do (docs/architecture.md's failure rules), `deprecated`, and `x-litestore-*`
for mode, version, origin, group and deprecation. Receivers generate types and validators from it.

Import: our own export round-trips exactly; a generic 3.1 document's `$ref`s into components/schemas
are resolved locally (copied into the type's `$defs`), nothing is fetched, and whatever cannot be
imported is refused by path into the document.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from litestore_webhooks.core.envelope import format_timestamp
from litestore_webhooks.core.errors import ValidationFailed
from litestore_webhooks.core.event_types.lifecycle import example_problems
from litestore_webhooks.core.event_types.names import name_problem
from litestore_webhooks.core.event_types.records import MODES, EventType, EventTypeDraft, parse, problems_of
from litestore_webhooks.core.event_types.schemas import DataValidator, Problem, check_schema, map_subschemas
from litestore_webhooks.core.signing import SIGNATURE_HEADER

OPENAPI_VERSION = "3.1.0"
TITLE = "Litestore webhooks: event types"
SCHEMAS = "#/components/schemas/"
_JSON = "application/json"
_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")

HEADERS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "webhook-id",
        "The event id, the same on every attempt: store it to drop the rare duplicate (Standard Webhooks).",
        {"type": "string"},
    ),
    (
        "webhook-timestamp",
        (
            "Unix seconds when this attempt was signed: refuse a request far from your clock (5 minutes is usual),"
            " which stops replays."
        ),
        {"type": "string", "pattern": "^[0-9]+$"},
    ),
    (
        "webhook-signature",
        (
            "Space-separated `v1,<base64 HMAC-SHA256>` of `{webhook-id}.{webhook-timestamp}.{body}`, one per active"
            " secret (two while a secret is being rotated). Verify it before trusting the body (Standard Webhooks)."
        ),
        {"type": "string"},
    ),
    (
        SIGNATURE_HEADER,
        (
            "Hex HMAC-SHA256 of the body with the endpoint's secret: the product document's scheme. It carries no"
            " timestamp, so it does not stop replays; prefer webhook-signature."
        ),
        {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    ),
    ("X-Litestore-Event", "The event type, as in the body's `event`.", {"type": "string"}),
    ("X-Litestore-Event-Id", "The event id, as in the body's `id` and `webhook-id`.", {"type": "string"}),
    (
        "X-Litestore-Delivery-Attempt",
        "1 for the first attempt, then 2, 3, ... for each retry of the same event to this endpoint.",
        {"type": "string", "pattern": "^[1-9][0-9]*$"},
    ),
]

RESPONSES: dict[str, str] = {
    "2XX": "Delivered: the attempt is recorded and the event is not sent to this endpoint again.",
    "3XX": "Dead-lettered at once (reason `redirect`): redirects are never followed.",
    "408": "Retried with backoff, like a timeout.",
    "410": "Gone: dead-lettered (reason `gone`) and the endpoint is paused until an operator resumes it.",
    "429": "Retried with backoff; a longer Retry-After (seconds or an HTTP date, at most 24 h) is honoured.",
    "4XX": "Any other 4xx: dead-lettered at once (reason `rejected`), not retried.",
    "5XX": "Retried with backoff (Retry-After honoured on 503) until the retry policy's attempts run out.",
}


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if _PLAIN_KEY.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _unescape(part: str) -> str:
    return unquote(part).replace("~1", "/").replace("~0", "~")


def _rewrite_refs(node: Any, rewrite: Any) -> Any:
    """`node` with `rewrite(ref)` applied to every `$ref` of every subschema."""
    if not isinstance(node, dict):
        return node
    out = map_subschemas(node, lambda sub: _rewrite_refs(sub, rewrite))
    if isinstance(out.get("$ref"), str):
        out["$ref"] = rewrite(out["$ref"])
    return out


# --- export --------------------------------------------------------------------------------------------


def _envelope(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["event", "id", "timestamp", "data"],
        "additionalProperties": False,
        "properties": {
            "event": {"const": name, "description": "The event type."},
            "id": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_.:-]{1,128}$",
                "description": "Unique per event, the same on every attempt (also in webhook-id).",
            },
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "When the store says the event happened (UTC).",
            },
            "data": {"$ref": SCHEMAS + _escape(name)},
        },
    }


def _operation(event_type: EventType) -> dict[str, Any]:
    namespace = event_type.name.split(".", 1)[0]
    operation: dict[str, Any] = {
        "operationId": event_type.name,
        "summary": event_type.name,
        "description": event_type.description,
        "tags": [event_type.group or namespace],
    }
    if event_type.deprecated:
        operation["deprecated"] = True
    operation["parameters"] = [{"$ref": f"#/components/parameters/{header}"} for header, _, _ in HEADERS]
    content: dict[str, Any] = {"schema": _envelope(event_type.name)}
    if event_type.examples:
        content["examples"] = {
            f"example-{index + 1}": {"summary": str(example.get("id", index + 1)), "value": example}
            for index, example in enumerate(event_type.examples)
        }
    operation["requestBody"] = {"required": True, "description": "The event envelope.", "content": {_JSON: content}}
    operation["responses"] = {status: {"$ref": f"#/components/responses/{status}"} for status in RESPONSES}
    operation["x-litestore-mode"] = event_type.mode
    operation["x-litestore-version"] = event_type.version
    operation["x-litestore-origin"] = event_type.origin
    if event_type.group is not None:
        operation["x-litestore-group"] = event_type.group
    if event_type.deprecation is not None:
        operation["x-litestore-deprecation"] = event_type.deprecation.to_dict()
    return operation


def export_openapi(types: Iterable[EventType], *, title: str = TITLE) -> dict[str, Any]:
    """`GET /event-types/openapi.json`: the catalog, sorted by name; `info.version` changes with its content."""
    ordered = sorted(types, key=lambda t: t.name)
    digest = hashlib.sha256(json.dumps([t.to_dict() for t in ordered], sort_keys=True).encode("utf-8")).hexdigest()
    schemas = {}
    for event_type in ordered:
        base = SCHEMAS + _escape(event_type.name)
        schemas[event_type.name] = _rewrite_refs(copy.deepcopy(event_type.data_schema), lambda ref, b=base: b + ref[1:])
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": digest[:12],
            "description": (
                "Every event type this deployment delivers. Each webhook is POSTed to your endpoint as JSON,"
                " signed (see the header parameters); answer 2xx quickly and process afterwards."
            ),
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "webhooks": {t.name: {"post": _operation(t)} for t in ordered},
        "components": {
            "schemas": schemas,
            "parameters": {
                header: {"name": header, "in": "header", "required": True, "description": text, "schema": schema}
                for header, text, schema in HEADERS
            },
            "responses": {status: {"description": text} for status, text in RESPONSES.items()},
        },
    }


# --- import --------------------------------------------------------------------------------------------


class _Problems(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0]["message"] if problems else "")
        self.problems = problems


def _deref(document: dict[str, Any], node: Any, section: str, path: str) -> Any:
    """A Reference Object to `#/components/<section>/X` replaced by what it names (a few hops)."""
    for _ in range(8):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        ref = node["$ref"]
        prefix = f"#/components/{section}/"
        if not ref.startswith(prefix):
            raise _Problems([{"path": f"{path}.$ref", "message": f"must point into {prefix[2:]}: nothing is fetched"}])
        found = document.get("components", {}).get(section, {}).get(_unescape(ref[len(prefix) :]))
        if found is None:
            raise _Problems([{"path": f"{path}.$ref", "message": f"{ref!r:.120} names nothing in this document"}])
        node = found
    raise _Problems([{"path": path, "message": "references chain more than 8 deep"}])


def _localize(document: dict[str, Any], node: Any, path: str) -> dict[str, Any]:
    """A self-contained JSON Schema from `node`: components it refers to are copied into its `$defs`."""
    components = document.get("components", {}).get("schemas", {})
    problems: list[Problem] = []
    root_name = None
    if isinstance(node, dict) and list(node) == ["$ref"] and str(node["$ref"]).startswith(SCHEMAS):
        root_name = _unescape(node["$ref"][len(SCHEMAS) :])
        if root_name not in components:
            raise _Problems(
                [{"path": f"{path}.$ref", "message": f"{node['$ref']!r:.120} names nothing in this document"}]
            )
        node = components[root_name]
    assigned: dict[str, str] = {}
    queue: list[str] = []
    taken = set(node.get("$defs", {})) if isinstance(node, dict) else set()

    def rewrite(ref: str) -> str:
        if not ref.startswith("#"):
            problems.append({"path": path, "message": f"remote $ref {ref!r:.120}: nothing is fetched; inline it"})
            return ref
        if not ref.startswith(SCHEMAS):
            message = f"$ref {ref!r:.120} must point into components/schemas"
            problems.append({"path": path, "message": message})
            return ref
        name, _, tail = ref[len(SCHEMAS) :].partition("/")
        name = _unescape(name)
        tail = "/" + tail if tail else ""
        if name == root_name:
            return "#" + tail
        if name not in components:
            problems.append({"path": path, "message": f"{ref!r:.120} names nothing in this document"})
            return ref
        if name not in assigned:
            label, n = name, 2
            while label in taken:
                label, n = f"{name}_{n}", n + 1
            assigned[name] = label
            taken.add(label)
            queue.append(name)
        return f"#/$defs/{_escape(assigned[name])}{tail}"

    schema = _rewrite_refs(copy.deepcopy(node), rewrite)
    defs: dict[str, Any] = {}
    while queue:
        name = queue.pop(0)
        defs[assigned[name]] = _rewrite_refs(copy.deepcopy(components[name]), rewrite)
    if problems:
        raise _Problems(problems)
    if defs and isinstance(schema, dict):
        schema["$defs"] = {**schema.get("$defs", {}), **defs}
    if not isinstance(schema, dict):
        raise _Problems([{"path": path, "message": "expected a schema object"}])
    return schema


def _examples(
    document: dict[str, Any], media: dict[str, Any], name: str, path: str, now: datetime, envelope: bool
) -> list[Any]:
    values = []
    for key, example in (media.get("examples") or {}).items():
        example = _deref(document, example, "examples", _key(f"{path}.examples", key))
        if isinstance(example, dict) and "value" in example:
            values.append(example["value"])
    if "example" in media:
        values.append(media["example"])
    out = []
    for index, value in enumerate(values):
        if envelope and isinstance(value, dict) and "data" in value:
            out.append(value)
        else:
            stamp = format_timestamp(now)
            out.append(
                {"event": name, "id": f"evt_{name.replace('.', '_')}_{index + 1}", "timestamp": stamp, "data": value}
            )
    return out


def _draft(document: dict[str, Any], name: str, item: Any, now: datetime) -> EventTypeDraft:
    path = _key("webhooks", name)
    # webhooks.* passes here (an export lists the system's types); only a stored system type may have it
    if (message := name_problem(name, system=isinstance(name, str) and name.startswith("webhooks."))) is not None:
        raise _Problems([{"path": path, "message": f"cannot name an event type: {message}"}])
    item = _deref(document, item, "pathItems", path)
    post = item.get("post") if isinstance(item, dict) else None
    if not isinstance(post, dict):
        raise _Problems([{"path": path, "message": "has no post operation: a webhook is POSTed"}])
    path += ".post"
    body = _deref(document, post.get("requestBody"), "requestBodies", f"{path}.requestBody")
    media = body.get("content", {}).get(_JSON) if isinstance(body, dict) else None
    if not isinstance(media, dict) or "schema" not in media:
        raise _Problems([{"path": f"{path}.requestBody", "message": f"needs content {_JSON} with a schema"}])
    path += f'.requestBody.content["{_JSON}"]'
    body_schema = media["schema"]
    resolved = body_schema
    if isinstance(body_schema, dict) and str(body_schema.get("$ref", "")).startswith(SCHEMAS):
        resolved = document.get("components", {}).get("schemas", {}).get(_unescape(body_schema["$ref"][len(SCHEMAS) :]))
    fields = resolved.get("properties", {}) if isinstance(resolved, dict) else {}
    envelope = "data" in fields and ("event" in fields or "type" in fields)
    data_node, data_path = (
        (fields["data"], f"{path}.schema.properties.data") if envelope else (body_schema, f"{path}.schema")
    )
    schema = _localize(document, data_node, data_path)
    problems = check_schema(schema, data_path)
    if problems:
        raise _Problems(problems)
    ours = "x-litestore-version" in post
    group = post.get("x-litestore-group")
    if group is None and not ours and isinstance(post.get("tags"), list) and post["tags"]:
        group = post["tags"][0]
    mode = post.get("x-litestore-mode", "enforce")
    if mode not in MODES:
        raise _Problems(
            [
                {
                    "path": f"{_key('webhooks', name)}.post.x-litestore-mode",
                    "message": f"must be one of {', '.join(MODES)}",
                }
            ]
        )
    description = post.get("description") or post.get("summary") or item.get("description") or item.get("summary")
    deprecation = None
    if post.get("deprecated") is True:
        given = post.get("x-litestore-deprecation") or {}
        deprecation = {k: given[k] for k in ("message", "replacement") if given.get(k) is not None}
    fields_in = {
        "name": name,
        "description": description or f"{name} (imported: the document has no description)",
        "schema": schema,
        "examples": _examples(document, media, name, path, now, envelope),
        "mode": mode,
    }
    if group is not None:
        fields_in["group"] = group
    if deprecation is not None:
        fields_in["deprecation"] = deprecation
    try:
        draft = parse(EventTypeDraft, fields_in)
    except ValidationFailed as failed:
        raise _Problems([{**p, "path": f"{_key('webhooks', name)}.{p['path']}"} for p in problems_of(failed)]) from None
    examples = example_problems(name, draft.examples, DataValidator(schema), f"{path}.examples")
    if examples:
        raise _Problems(examples)
    return draft


def import_openapi(document: Any, *, now: datetime) -> list[EventTypeDraft]:
    """`POST /event-types/import`: one draft per webhook, or ValidationFailed with every problem by path."""
    if not isinstance(document, dict):
        raise ValidationFailed([{"path": "", "message": "expected an OpenAPI 3.1 document (a JSON object)"}])
    version = document.get("openapi")
    if not (isinstance(version, str) and version.startswith("3.1")):
        message = "must be 3.1.x: OpenAPI 3.1 is the first version with a webhooks section"
        raise ValidationFailed([{"path": "openapi", "message": message}])
    webhooks = document.get("webhooks")
    if not isinstance(webhooks, dict) or not webhooks:
        raise ValidationFailed([{"path": "webhooks", "message": "must describe at least one webhook"}])
    drafts: list[EventTypeDraft] = []
    problems: list[Problem] = []
    for name, item in webhooks.items():
        try:
            drafts.append(_draft(document, str(name), item, now))
        except _Problems as failed:
            problems += failed.problems
    if problems:
        raise ValidationFailed(problems)
    return drafts


def import_path(name: str) -> str:
    """Where in an imported document the draft for `name` came from (for plan_apply's `where`)."""
    return _key("webhooks", name)
