"""The system's own event types (operational events): what the pipeline publishes about itself.

Data, not code: each entry is an `EventTypeDraft` in the API's spelling (name, description,
schema, examples, group). They live in the reserved `webhooks.` namespace, which only origin
`system` may use; the catalog seeds them (docs/catalog.md) and `operational.py` publishes them
through ingest's own store-and-publish path (docs/architecture.md, "Operational events").

An endpoint subscribes to them by name or with `webhooks.*`; `*` means every type outside this
namespace, so a store's receivers never get them unasked. Optional fields are absent, never
null, when there is nothing to say (no HTTP status when the connection failed).
"""

from __future__ import annotations

from typing import Any

from litestore_webhooks.core.event_types.names import SYSTEM_NAMESPACE as NAMESPACE

GROUP = "Operational events"
ENDPOINT_CREATED = "webhooks.endpoint.created"
ENDPOINT_UPDATED = "webhooks.endpoint.updated"
ENDPOINT_DELETED = "webhooks.endpoint.deleted"
ENDPOINT_PAUSED = "webhooks.endpoint.paused"
ENDPOINT_RESUMED = "webhooks.endpoint.resumed"
ENDPOINT_FAILING = "webhooks.endpoint.failing"
ENDPOINT_RECOVERED = "webhooks.endpoint.recovered"
DELIVERY_DEAD_LETTERED = "webhooks.delivery.dead_lettered"
SECRET_ROTATED = "webhooks.secret.rotated"
PAUSE_REASONS = ["manual", "gone", "auto_disabled"]
DEAD_LETTER_REASONS = ["retries_exhausted", "gone", "rejected", "redirect", "blocked_address"]

_TEXT = {"type": "string", "minLength": 1, "maxLength": 2048}
_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_TIME = {"type": "string", "format": "date-time"}
_STATUS = {"type": "integer", "minimum": 100, "maximum": 599}
# Every operational event names the endpoint it is about, as an operator knows it.
_ENDPOINT = {
    "endpointId": _ID,
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "url": {"type": "string", "format": "uri"},
}
_EXAMPLE_ENDPOINT = {
    "endpointId": "ep_5mmrbxdj2bqu4q3oz2ecmvdp6a",
    "name": "orders-crm",
    "url": "https://crm.example.com/hooks/litestore",
}


def _type(
    name: str, description: str, properties: dict[str, Any], required: list[str], example: dict[str, Any]
) -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": [*_ENDPOINT, *required],
        "properties": {**_ENDPOINT, **properties},
        "additionalProperties": False,
    }
    envelope = {
        "event": name,
        "id": f"evt_{name.replace('.', '_')}_1",
        "timestamp": "2026-12-02T13:00:00.000Z",
        "data": {**_EXAMPLE_ENDPOINT, **example},
    }
    return {
        "name": name,
        "description": description,
        "schema": schema,
        "examples": [envelope],
        "group": GROUP,
        "mode": "enforce",
    }


_SUBSCRIPTION = {
    "events": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 100}},
    "active": {"type": "boolean"},
}

SYSTEM_TYPES: list[dict[str, Any]] = [
    _type(
        ENDPOINT_CREATED,
        "An endpoint was created through the admin API.",
        _SUBSCRIPTION,
        ["events", "active"],
        {"events": ["order.*"], "active": True},
    ),
    _type(
        ENDPOINT_UPDATED,
        "An endpoint's settings were changed through the admin API; `changed` names the fields.",
        {**_SUBSCRIPTION, "changed": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 64}}},
        ["events", "active", "changed"],
        {"events": ["order.*", "review.*"], "active": True, "changed": ["events"]},
    ),
    _type(ENDPOINT_DELETED, "An endpoint was deleted, with its queues and subscription.", {}, [], {}),
    _type(
        ENDPOINT_PAUSED,
        "Deliveries to an endpoint stopped: an operator paused it (`manual`), it answered 410 Gone (`gone`), or it "
        "failed for too long (`auto_disabled`). Events keep buffering until it is resumed.",
        {
            "reason": {"type": "string", "enum": PAUSE_REASONS},
            "lastStatus": _STATUS,
            "lastError": _TEXT,
            "consecutiveFailures": {"type": "integer", "minimum": 0},
            "failingSince": _TIME,
        },
        ["reason"],
        {
            "reason": "auto_disabled",
            "lastStatus": 503,
            "consecutiveFailures": 42,
            "failingSince": "2026-12-01T13:00:00.000Z",
        },
    ),
    _type(ENDPOINT_RESUMED, "An operator resumed a paused endpoint: its buffered events are delivered.", {}, [], {}),
    _type(
        ENDPOINT_FAILING,
        "An endpoint's first failed delivery after a success: a failure streak starts.",
        {"failingSince": _TIME, "lastStatus": _STATUS, "lastError": _TEXT},
        ["failingSince"],
        {"failingSince": "2026-12-02T12:59:58.120Z", "lastStatus": 500},
    ),
    _type(
        ENDPOINT_RECOVERED,
        "An endpoint answered 2xx again after a failure streak.",
        {"failingSince": _TIME, "failures": {"type": "integer", "minimum": 1}},
        ["failures"],
        {"failingSince": "2026-12-02T12:59:58.120Z", "failures": 7},
    ),
    _type(
        DELIVERY_DEAD_LETTERED,
        "An event will not be retried to an endpoint: it is in the endpoint's dead-letter queue (redrive it there).",
        {
            "eventId": _ID,
            "eventType": {"type": "string", "minLength": 1, "maxLength": 100},
            "reason": {"type": "string", "enum": DEAD_LETTER_REASONS},
            "attempts": {"type": "integer", "minimum": 1},
            "lastStatus": _STATUS,
            "lastError": _TEXT,
        },
        ["eventId", "eventType", "reason", "attempts"],
        {
            "eventId": "evt_order_completed_127",
            "eventType": "order.completed",
            "reason": "retries_exhausted",
            "attempts": 8,
            "lastStatus": 503,
        },
    ),
    _type(
        SECRET_ROTATED,
        "An endpoint's signing secret was rotated (the secret itself is never in an event). Until "
        "`previousSecretExpiresAt` deliveries carry a signature with the old secret too.",
        {"previousSecretExpiresAt": _TIME},
        [],
        {"previousSecretExpiresAt": "2026-12-03T13:00:00.000Z"},
    ),
]

PREFIX = NAMESPACE + "."


def is_operational(name: object) -> bool:
    """Whether `name` is in the system's reserved namespace (publishers cannot send such a type)."""
    return isinstance(name, str) and name.startswith(PREFIX)
