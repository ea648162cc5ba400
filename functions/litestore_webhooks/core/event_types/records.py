"""Typed records of the catalog: an event type, its schema versions, and the bodies operators send.

Field names are the API's and the store's (camelCase); `to_dict()` is the one JSON form. Parsing an
operator's body (`parse_draft`, `parse_patch`, `parse_deprecation`) is strict (no coercion, no unknown
fields) and fails with every problem at once, by path, in the project's one error shape.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from litestore_webhooks.core.errors import ValidationFailed
from litestore_webhooks.core.event_types.schemas import Problem, child_path

Mode = Literal["enforce", "accept"]
Origin = Literal["document", "derived", "operator", "system", "first-sight"]
MODES: tuple[Mode, ...] = ("enforce", "accept")
ORIGINS: tuple[Origin, ...] = ("document", "derived", "operator", "system", "first-sight")

MAX_DESCRIPTION = 1000
MAX_GROUP = 64
MAX_EXAMPLES = 10
MAX_EXAMPLE_BYTES = 64 * 1024
MAX_MESSAGE = 500


class _Record(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Deprecation(_Record):
    """Still accepted and delivered; flagged in listings, in the answer to publishers and in the console."""

    at: StrictStr
    message: StrictStr | None = Field(default=None, max_length=MAX_MESSAGE)
    replacement: StrictStr | None = None


class SchemaVersion(_Record):
    """One entry of a type's schema history: what `data` had to look like from `createdAt` on."""

    name: StrictStr
    version: StrictInt = Field(ge=1)
    data_schema: dict[str, Any] = Field(alias="schema")
    created_at: StrictStr = Field(alias="createdAt")
    change: StrictStr
    forced: StrictBool = False
    reasons: list[dict[str, str]] = Field(default_factory=list)


class EventType(_Record):
    """A catalog entry. `version` is the current schema's; `seedDigest` is set while it equals its seed."""

    name: StrictStr
    description: StrictStr
    data_schema: dict[str, Any] = Field(alias="schema")
    examples: list[dict[str, Any]] = Field(default_factory=list)
    group: StrictStr | None = None
    mode: Mode = "enforce"
    deprecation: Deprecation | None = None
    origin: Origin
    version: StrictInt = Field(ge=1)
    created_at: StrictStr = Field(alias="createdAt")
    updated_at: StrictStr = Field(alias="updatedAt")
    seed_digest: StrictStr | None = Field(default=None, alias="seedDigest")

    @property
    def deprecated(self) -> bool:
        return self.deprecation is not None

    def to_dict(self) -> dict[str, Any]:
        """The API and store form, with `deprecated` spelled out for listings and filters."""
        return {**super().to_dict(), "deprecated": self.deprecated}

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> EventType:
        """A stored item back as a record (`deprecated` is derived, so it is dropped)."""
        return cls.model_validate({k: v for k, v in item.items() if k != "deprecated"})

    def content(self) -> dict[str, Any]:
        return _content(self)

    def draft(self) -> EventTypeDraft:
        deprecation = None
        if self.deprecation is not None:
            deprecation = DeprecationDraft(message=self.deprecation.message, replacement=self.deprecation.replacement)
        return EventTypeDraft(name=self.name, **self.content(), deprecation=deprecation)


class DeprecationDraft(_Record):
    """`POST /event-types/{name}/deprecate`'s body: why, and which type to use instead."""

    message: StrictStr | None = Field(default=None, max_length=MAX_MESSAGE)
    replacement: StrictStr | None = None


class EventTypeDraft(_Record):
    """`POST /event-types`'s body, and what an OpenAPI import or a declarative file yields per type."""

    name: StrictStr
    description: StrictStr = Field(min_length=1, max_length=MAX_DESCRIPTION)
    data_schema: dict[str, Any] = Field(alias="schema")
    examples: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_EXAMPLES)
    group: StrictStr | None = Field(default=None, min_length=1, max_length=MAX_GROUP)
    mode: Mode = "enforce"
    deprecation: DeprecationDraft | None = None

    def content(self) -> dict[str, Any]:
        return _content(self)


def _content(record: EventType | EventTypeDraft) -> dict[str, Any]:
    """What an operator sets on a type (everything a seed or an import compares), in the API's spelling."""
    return {
        "description": record.description,
        "schema": record.data_schema,
        "examples": record.examples,
        "group": record.group,
        "mode": record.mode,
    }


class EventTypePatch(_Record):
    """`PATCH /event-types/{name}`'s body: each field given replaces the current one (null clears group)."""

    description: StrictStr | None = Field(default=None, min_length=1, max_length=MAX_DESCRIPTION)
    data_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    examples: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_EXAMPLES)
    group: StrictStr | None = Field(default=None, min_length=1, max_length=MAX_GROUP)
    mode: Mode | None = None


# --- parsing operator bodies ---------------------------------------------------------------------------

_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "string_type": "expected string",
    "int_type": "expected integer",
    "bool_type": "expected boolean",
    "dict_type": "expected object",
    "model_type": "expected object",
    "model_attributes_type": "expected object",
    "list_type": "expected array",
    "literal_error": None,  # built from the allowed values
    "string_too_short": "must not be empty",
}

_Model = TypeVar("_Model", bound=_Record)


def _pydantic_problems(error: ValidationError, base: str) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        path = base
        for part in item["loc"]:
            path = child_path(path, part if isinstance(part, int) else str(part))
        kind = item["type"]
        message = _MESSAGES.get(kind) or str(item["msg"])
        if kind == "literal_error":
            message = f"must be one of {item.get('ctx', {}).get('expected', '')}".replace("'", '"')
        elif kind == "string_too_long":
            message = f"must be at most {item['ctx']['max_length']} characters"
        elif kind == "too_long":
            message = f"must have at most {item['ctx']['max_length']} items"
        elif kind == "greater_than_equal":
            message = f"must be >= {item['ctx']['ge']}"
        problems.append({"path": path, "message": message})
    return problems


def problems_of(failed: ValidationFailed) -> list[Problem]:
    """The {"path", "message"} problems a ValidationFailed carries."""
    details = failed.details
    return [p for p in details if isinstance(p, dict)] if isinstance(details, list) else []


def parse(model: type[_Model], body: Any, base: str = "") -> _Model:
    """`body` as a `model` record; ValidationFailed listing every problem by path otherwise."""
    if not isinstance(body, dict):
        raise ValidationFailed([{"path": base, "message": "expected object"}])
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise ValidationFailed(_pydantic_problems(error, base)) from None


def json_size(value: Any) -> int:
    """Bytes of `value` as compact JSON: how examples and schemas are bounded."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
