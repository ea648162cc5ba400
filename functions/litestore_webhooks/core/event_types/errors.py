"""The catalog's expected failures, each an ApiError so the admin API answers them in the one error shape."""

from __future__ import annotations

from collections.abc import Sequence

from litestore_webhooks.core.errors import ApiError
from litestore_webhooks.core.event_types.compat import Compatibility
from litestore_webhooks.core.event_types.names import Subscriber


class EventTypeNotFound(ApiError):
    def __init__(self, name: str) -> None:
        super().__init__(404, "event_type_not_found", f"no event type named {name!r:.120}; GET /event-types lists them")


class EventTypeExists(ApiError):
    def __init__(self, name: str) -> None:
        message = f"event type {name!r} already exists; change it with PATCH /event-types/{name}"
        super().__init__(409, "event_type_exists", message)


class EventTypeInUse(ApiError):
    """DELETE while endpoints still need the type: each is named, with the patterns that hold it."""

    def __init__(self, name: str, subscribers: Sequence[Subscriber]) -> None:
        shown = ", ".join(f"{s.name} ({s.id})" for s in subscribers[:5])
        more = f" and {len(subscribers) - 5} more" if len(subscribers) > 5 else ""
        message = (
            f"event type {name!r} is subscribed to by {shown}{more}; change their events first,"
            " or deprecate the type instead"
        )
        details = [
            {"path": f"endpoints[{index}]", "message": "subscribes to it", "endpointId": s.id, "endpointName": s.name}
            | {"patterns": list(s.patterns)}
            for index, s in enumerate(subscribers)
        ]
        super().__init__(409, "event_type_in_use", message, details)


class SystemEventType(ApiError):
    """The system's own operational types (`webhooks.*`) are changed by releases, not through the API."""

    def __init__(self, name: str, action: str) -> None:
        super().__init__(
            409, "system_event_type", f"{name!r} is one of the system's own event types: it cannot be {action}"
        )


class IncompatibleSchemaChange(ApiError):
    """The new schema may refuse events the current version accepted; `force` applies it anyway."""

    def __init__(self, name: str, version: int | None, compatibility: Compatibility) -> None:
        first = compatibility.reasons[:2] or [p for problems in compatibility.refused.values() for p in problems][:2]
        shown = "; ".join(f"{p['path']}: {p['message']}" for p in first)
        refused = len(compatibility.refused)
        evidence = f"; it refuses {refused} of the samples it was tried on" if refused else ""
        accepted = f"version {version}" if version is not None else "their current versions"
        message = (
            f"the new schema for {name} may refuse events {accepted} accepted ({shown}){evidence};"
            " pass force to apply it anyway"
        )
        super().__init__(409, "incompatible_schema_change", message, compatibility.details())
        self.compatibility = compatibility
