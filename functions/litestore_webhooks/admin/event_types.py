"""/event-types: the catalog the operator owns (docs/catalog.md): list, show, create, change, deprecate,
restore, delete, schema history, OpenAPI export and import.

The rules are the core's (core/event_types/lifecycle.py); this module reads the stored catalog, asks
the core what to write and writes it through aws/catalog.py, one transaction per type, conditional
on what it read. Every write rewrites the catalog's stamp, so the next ingest request sees it.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body as BodyParam
from aws_lambda_powertools.event_handler.openapi.params import Query

from litestore_webhooks.admin import access, common
from litestore_webhooks.api import json_response
from litestore_webhooks.aws.catalog import CatalogStore
from litestore_webhooks.core.envelope import format_timestamp
from litestore_webhooks.core.errors import ValidationFailed
from litestore_webhooks.core.event_types import lifecycle, openapi
from litestore_webhooks.core.event_types.errors import EventTypeNotFound
from litestore_webhooks.core.event_types.lifecycle import Change
from litestore_webhooks.core.event_types.names import check_name, subscribers
from litestore_webhooks.core.event_types.records import (
    DeprecationDraft,
    EventType,
    EventTypeDraft,
    EventTypePatch,
    parse,
)

router = Router()
_TAGS = ["event types"]
Force = Annotated[bool, Query(description="Apply a schema change that may refuse events the current version accepted")]


def _get(st: CatalogStore, name: str) -> EventType:
    check_name(name, system=name.startswith("webhooks."), path="name")
    found = st.get(name)
    if found is None:
        raise EventTypeNotFound(name)
    return found


def _endpoints() -> list[tuple[str, str, list[str]]]:
    return [(e["id"], e.get("name", ""), list(e.get("events", []))) for e in common.store().all_endpoint_items()]


def _visible(endpoints: list[tuple[str, str, list[str]]]) -> list[tuple[str, str, list[str]]]:
    """The endpoints this caller may know of (a scoped console session: its own)."""
    caller = access.current()
    return [e for e in endpoints if caller.sees(e[0])]


def _view(
    event_type: EventType,
    endpoints: list[tuple[str, str, list[str]]] | None = None,
    names: frozenset[str] | None = None,
) -> dict[str, Any]:
    """A type as answered; with endpoints, which of them receive it (and which hold it against a delete)."""
    body = event_type.to_dict()
    if endpoints is not None and names is not None:
        body["subscribers"] = [
            {"id": s.id, "name": s.name, "patterns": list(s.patterns), "holds": s.holds}
            for s in subscribers(event_type.name, endpoints, names)
        ]
    return body


def _written(st: CatalogStore, change: Change, expected: EventType | None) -> EventType:
    if change.fields or expected is None:
        st.write(change, expected)
    return change.event_type


@router.get("/event-types", summary="List event types (schemas, examples, versions, deprecation)", tags=_TAGS)
def get_event_types(  # noqa: ANN201 - a Response annotation would be validated as the body
    deprecated: Annotated[
        bool | None, Query(description="Only deprecated (true) or only current (false) types")
    ] = None,
    group: Annotated[str | None, Query(max_length=64, description="Only this group")] = None,
):
    types = common.catalog_store().types().values()
    data = [
        t.to_dict()
        for t in types
        if (deprecated is None or t.deprecated == deprecated) and (group is None or t.group == group)
    ]
    return json_response(200, common.page(data, None))


@router.get("/event-types/openapi.json", summary="The catalog as an OpenAPI 3.1 document (webhooks)", tags=_TAGS)
def get_openapi():  # noqa: ANN201 - a Response annotation would be validated as the body
    return json_response(200, openapi.export_openapi(common.catalog_store().types().values()))


@router.get("/event-types/<name>", summary="Show an event type and the endpoints that receive it", tags=_TAGS)
def get_event_type(name: str):  # noqa: ANN201 - a Response annotation would be validated as the body
    st = common.catalog_store()
    event_type = _get(st, name)
    return json_response(200, _view(event_type, _visible(_endpoints()), frozenset(st.types())))


@router.get("/event-types/<name>/versions", summary="An event type's schema history, oldest first", tags=_TAGS)
def get_versions(name: str):  # noqa: ANN201 - a Response annotation would be validated as the body
    st = common.catalog_store()
    _get(st, name)
    return json_response(200, common.page([v.to_dict() for v in st.versions(name)], None))


@router.post("/event-types", summary="Create an event type (version 1)", tags=_TAGS, status_code=201)
def post_event_type(draft: Annotated[EventTypeDraft, BodyParam()]):  # noqa: ANN201 - not the body
    st = common.catalog_store()
    change = lifecycle.new_event_type(draft, existing=st.types().keys(), now=common.now())
    return json_response(201, _written(st, change, None).to_dict())


@router.patch(
    "/event-types/<name>",
    tags=_TAGS,
    summary="Change an event type; a new schema is a new version (force: even if it may refuse events)",
)
def patch_event_type(name: str, patch: Annotated[EventTypePatch, BodyParam()], force: Force = False):  # noqa: ANN201
    st = common.catalog_store()
    current = _get(st, name)
    given = patch.model_dump(by_alias=True, exclude_unset=True)
    change = lifecycle.update(current, given, now=common.now(), force=force)
    return json_response(200, _written(st, change, current).to_dict())


@router.post(
    "/event-types/<name>/deprecate",
    tags=_TAGS,
    summary="Deprecate an event type: still accepted and delivered, flagged everywhere it shows",
)
def post_deprecate(name: str, body: Annotated[DeprecationDraft | None, BodyParam()] = None):  # noqa: ANN201
    st = common.catalog_store()
    current = _get(st, name)
    names = st.types().keys()
    change = lifecycle.deprecate(current, body.to_dict() if body else None, names=names, now=common.now())
    return json_response(200, _written(st, change, current).to_dict())


@router.post("/event-types/<name>/restore", summary="Undo a deprecation", tags=_TAGS)
def post_restore(name: str):  # noqa: ANN201 - a Response annotation would be validated as the body
    st = common.catalog_store()
    current = _get(st, name)
    return json_response(200, _written(st, lifecycle.restore(current, now=common.now()), current).to_dict())


@router.delete(
    "/event-types/<name>",
    status_code=204,
    tags=_TAGS,
    summary="Delete an event type no endpoint subscribes to by name (409 names those that do)",
)
def delete_event_type(name: str):  # noqa: ANN201 - a Response annotation would be validated as the body
    st = common.catalog_store()
    current = _get(st, name)
    lifecycle.check_delete(current, _endpoints(), frozenset(st.types()))
    st.delete(current, now=format_timestamp(common.now()))
    return Response(status_code=204)


def drafts_of(document: Any) -> tuple[list[EventTypeDraft], Any]:
    """The drafts an import or an apply brings, and where each came from: an OpenAPI 3.1 document
    (our export), or {"eventTypes": [draft, ...]}."""
    if isinstance(document, dict) and "eventTypes" in document and "openapi" not in document:
        unknown = sorted(set(document) - {"eventTypes"})
        entries = document["eventTypes"]
        if unknown or not isinstance(entries, list):
            raise ValidationFailed(
                [{"path": k, "message": "unknown field"} for k in unknown]
                or [{"path": "eventTypes", "message": "expected array"}]
            )
        drafts, problems = [], []
        for index, entry in enumerate(entries):
            try:
                drafts.append(parse(EventTypeDraft, entry, f"eventTypes[{index}]"))
            except ValidationFailed as failed:
                problems += failed.details if isinstance(failed.details, list) else []
        if problems:
            raise ValidationFailed(problems)
        return drafts, lambda index, draft: f"eventTypes[{index}]"
    return openapi.import_openapi(document, now=common.now()), lambda index, draft: openapi.import_path(draft.name)


@router.post(
    "/event-types/import",
    tags=_TAGS,
    summary="Create or change event types from an OpenAPI 3.1 webhooks document (or {eventTypes: [...]})",
)
def post_import(  # noqa: ANN201 - a Response annotation would be validated as the body
    document: Annotated[
        dict[str, Any],
        BodyParam(description='An OpenAPI 3.1 document with webhooks, or {"eventTypes": [EventTypeDraft, ...]}'),
    ],
    force: Force = False,
    dry_run: Annotated[bool, Query(alias="dryRun", description="Answer the plan, write nothing")] = False,
):
    st = common.catalog_store()
    stored = st.types()
    drafts, where = drafts_of(document)
    plan = lifecycle.plan_apply(stored, drafts, now=common.now(), force=force, where=where)
    if not dry_run:  # one transaction: the whole file or nothing
        st.write_all([(planned.change, stored.get(planned.change.event_type.name)) for planned in plan.writes])
    answer: dict[str, Any] = {"dryRun": dry_run, "created": [], "updated": [], "unchanged": [], "absent": plan.absent}
    for planned in plan.changes:
        entry: dict[str, Any] = {"name": planned.change.event_type.name, "fields": list(planned.change.fields)}
        if planned.change.version is not None and planned.action == "update":
            entry["version"] = planned.change.version.version
            entry["forced"] = planned.change.version.forced
        answer[{"create": "created", "update": "updated", "unchanged": "unchanged"}[planned.action]].append(entry)
    return json_response(200, answer)
