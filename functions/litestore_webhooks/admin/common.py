"""What every admin resource shares: service objects, the endpoint lookup, list paging, body models."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from litestore_webhooks.aws.catalog import CatalogStore
from litestore_webhooks.aws.kms import SecretBox
from litestore_webhooks.aws.store import Page, Store
from litestore_webhooks.config import settings
from litestore_webhooks.core.endpoint import Endpoint, SigningSecrets
from litestore_webhooks.core.errors import ApiError
from litestore_webhooks.core.signing import SIGNATURE_HEADERS, TEST_HEADER, signature_headers
from litestore_webhooks.provisioning import (
    EndpointResources,
    Provisioner,
    load_endpoint,
    load_endpoint_and_secrets,
    load_endpoint_item,
)

Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1..100)")]
Cursor = Annotated[str | None, Query(max_length=2048, description="nextCursor of the previous page")]


class Body(BaseModel):
    """Request bodies: unknown keys are refused, so a typo never passes as a default."""

    model_config = ConfigDict(extra="forbid")


def store() -> Store:
    """Per request: cheap (the boto3 client is shared) and always bound to the current Settings."""
    return Store(settings())


def catalog_store() -> CatalogStore:
    """The event-type catalog (aws/catalog.py), per request like the store."""
    return CatalogStore(settings().event_types_table)


def catalog():  # noqa: ANN201 - CatalogSnapshot, imported by the store module
    """The catalog as endpoint filters and replays check patterns against it (names, deprecated)."""
    return catalog_store().snapshot(accept_unknown=settings().accept_unknown_event_types)


def secret_box() -> SecretBox:
    """Per request, like the store: seals with the stack's key; opens with one KMS Decrypt per data key."""
    return SecretBox(settings().secrets_key_arn)


def provisioner() -> Provisioner:
    return Provisioner(settings(), store(), secrets=secret_box())


def _not_found(endpoint_id: str) -> ApiError:
    return ApiError(404, "not_found", f"endpoint {endpoint_id} does not exist")


def endpoint_or_404(st: Store, endpoint_id: str) -> tuple[Endpoint, EndpointResources]:
    found = load_endpoint(st, endpoint_id)
    if found is None:
        raise _not_found(endpoint_id)
    return found


def endpoint_item_or_404(st: Store, endpoint_id: str) -> dict[str, Any]:
    """The item as stored (sealed secrets included), for the routes that read or rotate secrets."""
    item = load_endpoint_item(st, endpoint_id)
    if item is None:
        raise _not_found(endpoint_id)
    return item


def endpoint_and_secrets_or_404(st: Store, box: SecretBox, endpoint_id: str) -> tuple[Endpoint, SigningSecrets]:
    found = load_endpoint_and_secrets(st, box, endpoint_id)
    if found is None:
        raise _not_found(endpoint_id)
    return found[0], found[2]


def page(items: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
    """The one list shape: {"data": [...], "nextCursor": str | null}."""
    return {"data": items, "nextCursor": cursor}


def attempt_view(item: dict[str, Any]) -> dict[str, Any]:
    """Every attempt field, null where the attempt had no value, so every answer has one shape;
    plus the request headers the POST carried."""
    return {k: item.get(k) for k in Store.ATTEMPT_FIELDS} | {"requestHeaders": request_headers(item)}


def request_headers(item: dict[str, Any]) -> dict[str, str] | None:
    """The headers an attempt's POST carried, its signatures redacted: rebuilt by the signer's
    own function from what the log keeps (delivery signs with the attempt's start second)."""
    try:
        timestamp = int(datetime.fromisoformat(item["at"]).timestamp())
        headers = signature_headers(
            body=b"",
            event_id=item["eventId"],
            event_type=item["eventType"],
            attempt=int(item["attempt"]),
            secrets=["redacted"],
            timestamp=timestamp,
        )
    except (KeyError, TypeError, ValueError):
        return None  # a record too old or too partial to tell
    headers.update(dict.fromkeys(SIGNATURE_HEADERS, "(redacted)"))
    if item.get("test"):
        headers[TEST_HEADER] = "true"
    return headers


def attempts_page(p: Page) -> dict[str, Any]:
    return page([attempt_view(i) for i in p.items], p.cursor)


def utc(moment: datetime) -> datetime:
    """Aware datetimes as UTC; naive ones are taken to be UTC (ISO strings without an offset)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


def _iso_only(value: Any) -> Any:
    """pydantic would read 1700000000, "1700000000" (or "2.2e-311") as Unix seconds: a time here is ISO-8601 text."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("expected an ISO-8601 time such as 2024-01-15T10:00:00Z")


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A point in time in a query or body: ISO-8601 only, as UTC (no offset means UTC).
IsoTime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(utc)]
