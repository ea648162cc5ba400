"""Operational events: the system's own events (core/event_types/system.py), published through
ingest's store-and-publish path, so they are stored, signed, retried and dead-lettered like any
other event and reach the endpoints that subscribe to `webhooks.*` or their names.

Publishing one never fails what caused it: an operator's request or a delivery has already
happened, so a failure here is logged and counted (metric `OperationalEventsFailed`), never raised.

No loops: delivery's own reports (failing, recovered, dead-lettered, auto-pause) are not made
about an endpoint that receives only operational events, nor about the delivery of an
operational event, so an operational event cannot cause another one about itself.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from litestore_webhooks import ingest
from litestore_webhooks import resources as r
from litestore_webhooks.aws.store import Store
from litestore_webhooks.config import Settings
from litestore_webhooks.core.endpoint import Endpoint
from litestore_webhooks.core.event_types import system

logger = Logger(child=True)
FAILED_METRIC = "OperationalEventsFailed"


def about(endpoint: Endpoint) -> dict[str, Any]:
    """The fields every operational event carries: which endpoint it is about."""
    return {"endpointId": endpoint.id, "name": endpoint.name, "url": endpoint.url}


def subscription(endpoint: Endpoint) -> dict[str, Any]:
    return {**about(endpoint), "events": endpoint.events, "active": endpoint.active}


def receives_only_operational(endpoint: Endpoint) -> bool:
    """Whether every pattern of the endpoint selects operational types only (`webhooks.*`, names)."""
    return all(system.is_operational(p) for p in endpoint.events)


def reports_on(endpoint: Endpoint, event_type: str | None = None) -> bool:
    """Whether delivery reports on this endpoint (and on delivering `event_type`): not when that
    report could be about delivering operational events (the loop rule above)."""
    return not receives_only_operational(endpoint) and not system.is_operational(event_type)


def publish(settings: Settings, store: Store, event_type: str, data: dict[str, Any]) -> bool:
    """Publish one operational event; False (logged, counted) when it could not be. Never raises."""
    error: Exception | None
    try:
        item = ingest.publish_operational(settings, store, {"event": event_type, "data": _present(data)})
        error = item.error
    except Exception as exc:  # noqa: BLE001 - whatever it is, the caller's work stands
        error = exc
    if error is None:
        logger.info("operational event published", extra={"event_id": item.id, "event_type": event_type})
        return True
    logger.error(
        "operational event not published",
        extra={"event_type": event_type, "error": str(error), "endpointId": data.get("endpointId")},
    )
    try:
        with single_metric(name=FAILED_METRIC, unit=MetricUnit.Count, value=1, namespace=r.METRICS_NAMESPACE) as m:
            m.add_dimension(name="event", value=event_type)
    except Exception:  # noqa: BLE001 - a metric must not fail the caller either
        logger.exception("operational event metric failed")
    return False


def _present(data: dict[str, Any]) -> dict[str, Any]:
    """Optional fields are absent, not null (the system types' schemas); an error text is cut to the
    schema's 2,048 characters rather than refused."""
    return {k: v[:2048] if k == "lastError" and isinstance(v, str) else v for k, v in data.items() if v is not None}
