"""What the admin API, the seed and imports do to event types, as pure functions over records.

Each returns the records to write (the type, and a SchemaVersion when the schema changed) or raises an
ApiError; none reads or writes a store, so the store adapter decides how a change lands (one
transaction: type + version, conditional on the version it read).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from litestore_webhooks.core.envelope import ID_PATTERN, format_timestamp
from litestore_webhooks.core.errors import ValidationFailed
from litestore_webhooks.core.event_types.compat import Compatibility, check_change
from litestore_webhooks.core.event_types.errors import (
    EventTypeExists,
    EventTypeInUse,
    IncompatibleSchemaChange,
    SystemEventType,
)
from litestore_webhooks.core.event_types.names import delete_blockers, name_problem
from litestore_webhooks.core.event_types.records import (
    MAX_EXAMPLE_BYTES,
    Deprecation,
    DeprecationDraft,
    EventType,
    EventTypeDraft,
    EventTypePatch,
    Origin,
    SchemaVersion,
    json_size,
    parse,
    problems_of,
)
from litestore_webhooks.core.event_types.schemas import DataValidator, Problem, check_schema, child_path
from litestore_webhooks.core.schema import parse_date_time

FIRST_SIGHT_SCHEMA: dict[str, Any] = {"type": "object"}
FIRST_SIGHT_DESCRIPTION = (
    "Accepted on first sight: the store published this type before anyone described it."
    " Describe its data (PATCH with a schema and mode enforce) to have it validated."
)
_ENVELOPE_KEYS = ("event", "id", "timestamp", "data")


@dataclass(frozen=True)
class Change:
    """The records one operation writes: the type, and the schema version it adds (None if the schema stayed)."""

    event_type: EventType
    version: SchemaVersion | None = None
    compatibility: Compatibility | None = None
    fields: tuple[str, ...] = ()


def _stamp(now: datetime) -> str:
    return format_timestamp(now)


def example_problems(
    name: str, examples: Sequence[Any], validator: DataValidator, base: str = "examples"
) -> list[Problem]:
    """Each example must be a full envelope of this type whose `data` the schema accepts."""
    problems: list[Problem] = []
    for index, example in enumerate(examples):
        where = f"{base}[{index}]"
        if not isinstance(example, dict):
            problems.append({"path": where, "message": "expected object (a full envelope: event, id, timestamp, data)"})
            continue
        if json_size(example) > MAX_EXAMPLE_BYTES:
            problems.append({"path": where, "message": f"must be at most {MAX_EXAMPLE_BYTES} bytes as JSON"})
            continue
        problems += [
            {"path": child_path(where, key), "message": "is required"} for key in _ENVELOPE_KEYS if key not in example
        ]
        problems += [
            {"path": child_path(where, key), "message": "unknown field"} for key in example if key not in _ENVELOPE_KEYS
        ]
        if "event" in example and example["event"] != name:
            problems.append({"path": f"{where}.event", "message": f"must be {name!r}, the type it is an example of"})
        event_id = example.get("id")
        if "id" in example and not (isinstance(event_id, str) and ID_PATTERN.fullmatch(event_id)):
            problems.append({"path": f"{where}.id", "message": "must be 1-128 characters of A-Z a-z 0-9 _ . : -"})
        timestamp = example.get("timestamp")
        if "timestamp" in example and not (isinstance(timestamp, str) and parse_date_time(timestamp)):
            problems.append({"path": f"{where}.timestamp", "message": "must be an ISO-8601 date-time"})
        if "data" in example:
            problems += validator.problems(example["data"], f"{where}.data")
    return problems


def _content_problems(name: str, content: Mapping[str, Any]) -> tuple[DataValidator | None, list[Problem]]:
    problems = check_schema(content["schema"], "schema")
    if problems:
        return None, problems
    validator = DataValidator(content["schema"])
    return validator, example_problems(name, content["examples"], validator)


def _replacement_problems(deprecation: DeprecationDraft | None, name: str, names: Collection[str]) -> list[Problem]:
    if deprecation is None or deprecation.replacement is None:
        return []
    if deprecation.replacement == name:
        return [{"path": "deprecation.replacement", "message": "must name another event type"}]
    if deprecation.replacement not in names:
        return [{"path": "deprecation.replacement", "message": f"no event type named {deprecation.replacement!r:.120}"}]
    return []


def new_event_type(
    draft: EventTypeDraft,
    *,
    existing: Collection[str],
    now: datetime,
    origin: Origin = "operator",
    seed_digest: str | None = None,
) -> Change:
    """A new type at version 1; ValidationFailed (every problem) or EventTypeExists otherwise."""
    problems: list[Problem] = []
    if (message := name_problem(draft.name, system=origin == "system")) is not None:
        problems.append({"path": "name", "message": message})
    _, found = _content_problems(draft.name, draft.content())
    problems += found + _replacement_problems(draft.deprecation, draft.name, existing)
    if problems:
        raise ValidationFailed(problems)
    if draft.name in existing:
        raise EventTypeExists(draft.name)
    stamp = _stamp(now)
    deprecation = None
    if draft.deprecation is not None:
        deprecation = Deprecation(
            at=stamp, message=draft.deprecation.message, replacement=draft.deprecation.replacement
        )
    event_type = EventType(
        name=draft.name,
        description=draft.description,
        data_schema=draft.data_schema,
        examples=draft.examples,
        group=draft.group,
        mode=draft.mode,
        deprecation=deprecation,
        origin=origin,
        version=1,
        created_at=stamp,
        updated_at=stamp,
        seed_digest=seed_digest,
    )
    version = SchemaVersion(
        name=draft.name, version=1, data_schema=draft.data_schema, created_at=stamp, change="created"
    )
    return Change(event_type, version, None, tuple(draft.content()))


def create(body: Any, *, existing: Collection[str], now: datetime) -> Change:
    """`POST /event-types`: an operator's new type."""
    return new_event_type(parse(EventTypeDraft, body), existing=existing, now=now)


def first_sight(name: str, *, now: datetime) -> Change:
    """An unknown type the stack accepts on first sight: `accept` mode, any object, marked as such."""
    draft = EventTypeDraft(
        name=name, description=FIRST_SIGHT_DESCRIPTION, data_schema=FIRST_SIGHT_SCHEMA, mode="accept"
    )
    return new_event_type(draft, existing=(), now=now, origin="first-sight")


def describe_schema_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """A line for the version history: which top-level fields were added, removed, changed, newly required."""
    before, after = old.get("properties", {}), new.get("properties", {})
    parts = []
    for label, keys in (
        ("added", [k for k in after if k not in before]),
        ("removed", [k for k in before if k not in after]),
        ("changed", [k for k in after if k in before and after[k] != before[k]]),
        ("now required", [k for k in new.get("required", []) if k not in old.get("required", [])]),
        ("no longer required", [k for k in old.get("required", []) if k not in new.get("required", [])]),
    ):
        if keys:
            parts.append(f"{label}: {', '.join(keys)}")
    rest = {k for k in old.keys() | new.keys() if k not in ("properties", "required") and old.get(k) != new.get(k)}
    if rest:
        parts.append(f"other keywords: {', '.join(sorted(rest))}")
    return "; ".join(parts) or "no change in meaning"


def change_content(
    current: EventType,
    given: Mapping[str, Any],
    *,
    now: datetime,
    force: bool = False,
    samples: Mapping[str, Any] | None = None,
) -> Change:
    """`current` with the content fields in `given` replaced (API spelling: description, schema, ...).

    A schema change adds a version. If the new schema may refuse what the current one accepted (its
    reasons, or any of the current examples and `samples` it refuses), IncompatibleSchemaChange unless
    `force`; a forced version records the reasons it was forced over.
    """
    if current.origin == "system":
        raise SystemEventType(current.name, "changed through the API")
    content = {**current.content(), **given}
    problems = check_schema(content["schema"], "schema")
    if problems:
        raise ValidationFailed(problems)
    validator = DataValidator(content["schema"])
    fields = tuple(key for key in given if given[key] != current.content()[key])
    stamp = _stamp(now)
    version = None
    compatibility = None
    new_schema = content["schema"]
    if new_schema != current.data_schema:
        evidence = {
            f"examples[{index}] ({example.get('id', '?')})": example.get("data")
            for index, example in enumerate(current.examples)
        }
        evidence.update(samples or {})
        compatibility = check_change(current.data_schema, new_schema, evidence, validator)
        if not compatibility.compatible and not force:
            raise IncompatibleSchemaChange(current.name, current.version, compatibility)
        version = SchemaVersion(
            name=current.name,
            version=current.version + 1,
            data_schema=new_schema,
            created_at=stamp,
            change=describe_schema_change(current.data_schema, new_schema),
            forced=not compatibility.compatible,
            reasons=compatibility.details(),
        )
    problems = example_problems(current.name, content["examples"], validator)
    if problems:  # after the compatibility answer: a forced change must bring examples that fit
        raise ValidationFailed(problems)
    if not fields:
        return Change(current)
    item = {**current.to_dict(), **content, "version": version.version if version else current.version}
    updated = EventType.from_dict({**item, "updatedAt": stamp})
    return Change(updated, version, compatibility, fields)


def update(
    current: EventType, body: Any, *, now: datetime, force: bool = False, samples: Mapping[str, Any] | None = None
) -> Change:
    """`PATCH /event-types/{name}`: the fields given replace the current ones (`"group": null` clears it)."""
    patch = parse(EventTypePatch, body)
    given = {key: value for key, value in patch.to_dict().items()}
    if isinstance(body, dict) and body.get("group", ...) is None:
        given["group"] = None
    return change_content(current, given, now=now, force=force, samples=samples)


def deprecate(current: EventType, body: Any, *, names: Collection[str], now: datetime) -> Change:
    """`POST /event-types/{name}/deprecate`: still accepted and delivered, flagged everywhere it shows.

    Deprecating again replaces the message and replacement and keeps the original date.
    """
    draft = parse(DeprecationDraft, {} if body is None else body)
    problems = _replacement_problems(draft, current.name, names)
    if problems:
        raise ValidationFailed([{**p, "path": p["path"].removeprefix("deprecation.")} for p in problems])
    at = current.deprecation.at if current.deprecation else _stamp(now)
    deprecation = Deprecation(at=at, message=draft.message, replacement=draft.replacement)
    if deprecation == current.deprecation:
        return Change(current)
    updated = current.model_copy(update={"deprecation": deprecation, "updated_at": _stamp(now)})
    return Change(EventType.model_validate(updated.model_dump()), fields=("deprecation",))


def restore(current: EventType, *, now: datetime) -> Change:
    """Undo a deprecation."""
    if current.deprecation is None:
        return Change(current)
    updated = current.model_copy(update={"deprecation": None, "updated_at": _stamp(now)})
    return Change(EventType.model_validate(updated.model_dump()), fields=("deprecation",))


def check_delete(
    current: EventType, endpoints: Sequence[tuple[str, str, Sequence[str]]], names: Collection[str]
) -> None:
    """`DELETE /event-types/{name}` may go ahead; EventTypeInUse naming the endpoints that hold it otherwise."""
    if current.origin == "system":
        raise SystemEventType(current.name, "deleted")
    blockers = delete_blockers(current.name, endpoints, names)
    if blockers:
        raise EventTypeInUse(current.name, blockers)


# --- declarative apply (CLI `event-types apply FILE`, `POST /event-types/import`) -------------------------


@dataclass(frozen=True)
class PlannedChange:
    action: Literal["create", "update", "unchanged"]
    change: Change


@dataclass(frozen=True)
class ApplyPlan:
    """What applying a set of drafts does; `absent` are stored types the drafts do not mention (left alone)."""

    changes: list[PlannedChange] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)

    @property
    def writes(self) -> list[PlannedChange]:
        return [planned for planned in self.changes if planned.action != "unchanged"]


def plan_apply(
    stored: Mapping[str, EventType],
    drafts: Sequence[EventTypeDraft],
    *,
    now: datetime,
    force: bool = False,
    samples: Mapping[str, Mapping[str, Any]] | None = None,
    where: Callable[[int, EventTypeDraft], str] = lambda index, draft: f"types[{index}]",
) -> ApplyPlan:
    """Create or update each draft's type so the catalog matches; every problem of every draft at once.

    `samples` maps a type name to its recent events' data (label -> data) for the evidence check.
    Incompatible schema changes without `force` are gathered into one IncompatibleSchemaChange.
    """
    problems: list[Problem] = []
    incompatible: list[dict[str, str]] = []
    refused_names: list[str] = []
    changes: list[PlannedChange] = []
    names = set(stored) | {draft.name for draft in drafts}
    seen: set[str] = set()
    for index, draft in enumerate(drafts):
        prefix = where(index, draft)
        if draft.name in seen:
            problems.append({"path": child_path(prefix, "name"), "message": f"{draft.name!r} appears twice"})
            continue
        seen.add(draft.name)
        try:
            planned = _plan_one(stored.get(draft.name), draft, names, now, force, (samples or {}).get(draft.name))
        except ValidationFailed as failed:
            problems += [
                {**p, "path": child_path(prefix, p["path"]) if p["path"] else prefix} for p in problems_of(failed)
            ]
            continue
        except IncompatibleSchemaChange as refused:
            incompatible += [{**p, "path": child_path(prefix, p["path"])} for p in refused.compatibility.details()]
            refused_names.append(draft.name)
            continue
        changes.append(planned)
    if problems:
        raise ValidationFailed(problems)
    if incompatible:
        raise IncompatibleSchemaChange(", ".join(refused_names), None, Compatibility(reasons=incompatible))
    absent = sorted(name for name in stored if name not in seen)
    return ApplyPlan(changes, absent)


def _plan_one(
    current: EventType | None,
    draft: EventTypeDraft,
    names: Collection[str],
    now: datetime,
    force: bool,
    samples: Mapping[str, Any] | None,
) -> PlannedChange:
    if current is None:
        return PlannedChange("create", new_event_type(draft, existing=set(names) - {draft.name}, now=now))
    if current.origin == "system":  # an export lists them: taking it back in changes nothing, or is refused
        stored = current.content()
        if (
            any(value != stored[key] for key, value in draft.content().items())
            or draft.deprecation != current.draft().deprecation
        ):
            raise SystemEventType(current.name, "changed through the API")
        return PlannedChange("unchanged", Change(current))
    problems = _replacement_problems(draft.deprecation, draft.name, names)
    if problems:
        raise ValidationFailed(problems)
    change = change_content(current, draft.content(), now=now, force=force, samples=samples)
    result = change.event_type
    wanted = draft.deprecation
    had = current.draft().deprecation
    if wanted != had:
        if wanted is None:
            result = restore(result, now=now).event_type
        else:
            body = wanted.model_dump(exclude_none=True)
            result = deprecate(result, body, names=names, now=now).event_type
        change = Change(result, change.version, change.compatibility, (*change.fields, "deprecation"))
    return PlannedChange("update" if change.fields else "unchanged", change)
