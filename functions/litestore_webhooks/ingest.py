"""Ingest: validate -> claim the id -> store -> publish -> confirm, for one event or a batch.

Each step only runs for the events that passed the previous one; an event whose store or
publish step fails has its claim released, so the store's retry is not taken for a duplicate.
A claim is this request's own (a random token per request), so a botocore retry of an
applied claim is still ours, and only our own claim is ever released. While another
request holds a pending claim on the same id, the answer is 503 `event_in_progress`, never
`200 duplicate`: that request may still fail to publish. The overall status tells the store
whether to retry: 5xx only when nothing was accepted.
"""

from __future__ import annotations

import heapq
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from litestore_webhooks import resources as r
from litestore_webhooks.aws import bus
from litestore_webhooks.aws.catalog import CatalogStore
from litestore_webhooks.aws.store import CLAIMED, IN_PROGRESS, Store
from litestore_webhooks.config import Settings
from litestore_webhooks.core.envelope import ID_PATTERN, Envelope, build_envelope
from litestore_webhooks.core.errors import ApiError, ValidationFailed, shown_key
from litestore_webhooks.core.event_types.snapshot import CatalogSnapshot
from litestore_webhooks.core.event_types.system import SYSTEM_TYPES
from litestore_webhooks.core.schema import MAX_PROBLEMS

logger = Logger(child=True)
_AWS_ERRORS = (ClientError, BotoCoreError)
# How long a pending claim is honoured: longer than the ingest function can run, so a
# request that still holds it is alive; after that it died, and a retry takes the id over.
CLAIM_LEASE_S = 2 * r.INGEST_FUNCTION.timeout_s


@dataclass
class Item:
    """One event's way through the pipeline; `status` is 202 until a step says otherwise."""

    index: int
    id: str | None
    event: str | None
    envelope: Envelope | None = None
    body: bytes = b""
    status: int = 202
    duplicate: bool = False
    error: ApiError | None = field(default=None, repr=False)

    def valid_id(self) -> str:
        """The id of an item that passed validation (its envelope gave it one)."""
        if self.id is None:
            raise ValueError(f"event {self.index} has no id: it did not pass validation")
        return self.id

    def valid_event(self) -> str:
        """The type of an item that passed validation."""
        if self.event is None:
            raise ValueError(f"event {self.index} has no type: it did not pass validation")
        return self.event

    def fail(self, error: ApiError) -> None:
        self.status, self.error = error.status, error

    def catalog_says(self) -> dict[str, Any]:
        """The schema version the event was checked against, and whether its type is deprecated."""
        envelope = self.envelope
        return {"version": envelope.version if envelope else None, "deprecated": bool(envelope and envelope.deprecated)}

    def result(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "id": self.id,
            "event": self.event,
            "status": self.status,
            "duplicate": self.duplicate,
            **self.catalog_says(),
            "error": self.error.body()["error"] if self.error else None,
        }


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    published: int  # events accepted and published by this request (the Published metric)


def _unavailable(code: str, message: str) -> ApiError:
    return ApiError(503, code, message, {"retryable": True})


def _validated(index: int, raw: Any, catalog: CatalogSnapshot, *, system: bool = False) -> Item:
    given = raw if isinstance(raw, dict) else {}
    # Echo an invalid item's id and type only when well-formed: a batch result must stay small.
    given_id, given_event = given.get("id"), given.get("event")
    item = Item(
        index,
        given_id if isinstance(given_id, str) and ID_PATTERN.fullmatch(given_id) else None,
        given_event if isinstance(given_event, str) and given_event in catalog else None,
    )
    try:
        envelope = build_envelope(raw, catalog, system=system)
    except ValidationFailed as exc:
        item.fail(exc)
        return item
    item.id, item.event, item.envelope, item.body = envelope.id, envelope.event, envelope, envelope.body()
    if len(item.body) > r.MAX_EVENT_BYTES:
        item.fail(
            ApiError(
                413,
                "payload_too_large",
                f"event is {len(item.body)} bytes as canonical JSON; the limit is {r.MAX_EVENT_BYTES}",
                {"limit": r.MAX_EVENT_BYTES, "size": len(item.body)},
            )
        )
    return item


def catalog_of(settings: Settings, store: Store) -> tuple[CatalogStore, CatalogSnapshot]:
    """The catalog this request checks its events against: one consistent read of the catalog's stamp
    (the types themselves only when it moved), so a change the admin API answered applies here."""
    catalog = CatalogStore(settings.event_types_table, store.ddb)
    try:
        return catalog, catalog.snapshot(accept_unknown=settings.accept_unknown_event_types)
    except _AWS_ERRORS:
        logger.exception("reading the event-type catalog failed")
        raise _unavailable("catalog_unavailable", "could not read the event-type catalog; retry") from None


def _first_sight(catalog: CatalogStore, items: list[Item]) -> None:
    """Record the unknown types this request accepted (accept mode), once each; a type someone else
    recorded meanwhile is theirs. A failed write is logged: the next event of the type tries again."""
    from litestore_webhooks.core.event_types import lifecycle
    from litestore_webhooks.core.event_types.errors import EventTypeExists

    for name in dict.fromkeys(i.event for i in items if not i.error and i.envelope and i.envelope.first_sight):
        try:
            catalog.write(lifecycle.first_sight(str(name), now=datetime.now(UTC)), None)
            logger.info("event type accepted on first sight", extra={"event_type": name})
        except EventTypeExists:
            pass
        except _AWS_ERRORS:
            logger.exception("recording a first-sight event type failed", extra={"event_type": name})


def _accept(settings: Settings, store: Store, items: list[Item], catalog: CatalogStore | None = None) -> int:
    """Claim, store and publish every still-valid item in place; returns how many were published."""
    if catalog is not None:
        _first_sight(catalog, items)
    token = secrets.token_urlsafe(16)
    first: dict[str, Item] = {}
    repeats: list[tuple[Item, Item]] = []
    claimed: list[Item] = []
    for item in items:
        if item.error:
            continue
        event_id = item.valid_id()
        if event_id in first:  # same id twice in one request: the later one shares the first's fate
            repeats.append((item, first[event_id]))
            continue
        first[event_id] = item
        try:
            claim = store.claim_event_id(event_id, token=token, lease_s=CLAIM_LEASE_S)
        except _AWS_ERRORS:
            logger.exception("claiming event id failed", extra={"event_id": item.id})
            # The put may have been applied before the error: free it, or retries wait out the lease.
            _release(store, [item], token, _unavailable("claim_failed", "could not record the event id; retry"))
            continue
        if claim == CLAIMED:
            claimed.append(item)
        elif claim == IN_PROGRESS:
            item.fail(_unavailable("event_in_progress", "another request is publishing this event id; retry"))
        else:
            item.status, item.duplicate = 200, True

    claimed = _store_and_publish(settings, store, claimed, token)
    published = claimed
    if published:
        try:
            store.confirm_event_ids(i.id for i in published)  # type: ignore[misc]
        except (*_AWS_ERRORS, RuntimeError):
            # Published all the same; the pending claims keep repeats out until their lease
            # ends, after which a repeat is published again (same id: receivers drop it).
            logger.exception("confirming event ids failed", extra={"event_ids": [i.id for i in published]})
    for item in published:
        logger.info("event accepted", extra={"event_id": item.id, "event_type": item.event})

    for repeat, original in repeats:
        if original.error:
            repeat.fail(original.error)
        else:
            repeat.status, repeat.duplicate = 200, True
    return len(published)


def _store_and_publish(settings: Settings, store: Store, items: list[Item], token: str | None) -> list[Item]:
    """Store the events, then publish them; returns those published. A failed step fails its items
    and, with a claim `token`, releases their claims so the store's retry is accepted."""
    if not items:
        return []
    try:
        store.put_event_items([store.event_item(i.envelope.to_dict(), i.body) for i in items])  # type: ignore[union-attr]
    except (*_AWS_ERRORS, RuntimeError):
        logger.exception("storing events failed", extra={"event_ids": [i.id for i in items]})
        _release(store, items, token, _unavailable("store_failed", "could not store the event; retry"))
        return []
    errors = bus.publish_batch(
        settings.topic_arn, [(i.valid_id(), i.body.decode("utf-8"), i.valid_event()) for i in items]
    )
    failed = [i for i in items if errors.get(i.valid_id())]
    for item in failed:
        logger.error("publish failed", extra={"event_id": item.id, "reason": errors[item.valid_id()]})
    _release(store, failed, token, _unavailable("publish_failed", "could not publish the event; retry"))
    return [i for i in items if not i.error]


@cache
def system_types() -> CatalogSnapshot:
    """The system's own types as the seed writes them (core/event_types/system.py, origin `system`, version 1).
    The API can neither change nor delete them, so this is what the stored catalog holds, and the admin
    and delivery functions check their operational events without reading it (delivery never does)."""
    return CatalogSnapshot([{**t, "version": 1} for t in SYSTEM_TYPES])


def publish_operational(settings: Settings, store: Store, raw: dict[str, Any]) -> Item:
    """The system's own event (operational.py): validated against its system type, then stored and
    published as a store's event is, with no claim (its id is new, so it has no duplicate to detect)."""
    item = _validated(0, raw, system_types(), system=True)
    if not item.error:
        _store_and_publish(settings, store, [item], None)
    return item


def _release(store: Store, items: list[Item], token: str | None, error: ApiError) -> None:
    """Free our claims on events that were not published, so the store's retry is accepted."""
    for item in items:
        item.fail(error)
        if token is None:  # nothing claimed
            continue
        try:
            store.release_event_id(item.id or "", token=token)
        except _AWS_ERRORS:  # the pending claim's lease runs out; retries until then are told to retry
            logger.exception("releasing event id failed", extra={"event_id": item.id})


def accept_event(settings: Settings, store: Store, raw: Any) -> Outcome:
    """POST /events: 202 accepted, 200 duplicate, otherwise the item's error."""
    catalog, snapshot = catalog_of(settings, store)
    item = _validated(0, raw, snapshot)
    published = _accept(settings, store, [item], catalog)
    if item.error:
        raise item.error
    body = {"id": item.id, "event": item.event, "duplicate": item.duplicate, **item.catalog_says()}
    return Outcome(item.status, body, published)


def accept_batch(settings: Settings, store: Store, raw: Any) -> Outcome:
    """POST /events/batch: 202 all accepted, 207 mixed, 400/503 when none was (results in details)."""
    events = raw.get("events") if isinstance(raw, dict) else None
    problems = []
    if not isinstance(raw, dict):
        problems.append({"path": "", "message": "expected object"})
    elif not isinstance(events, list):
        problems.append({"path": "events", "message": "expected array"})
    elif not 1 <= len(events) <= r.MAX_BATCH_EVENTS:
        problems.append({"path": "events", "message": f"must hold 1 to {r.MAX_BATCH_EVENTS} events, got {len(events)}"})
    if isinstance(raw, dict):  # then unknown keys, capped as build_envelope caps its own (473,928 once answered 20 MB)
        unknown = heapq.nsmallest(MAX_PROBLEMS - len(problems), (k for k in raw if k != "events"))
        problems.extend({"path": shown_key(k), "message": "unknown field"} for k in unknown)
    if problems:
        raise ValidationFailed(problems)

    catalog, snapshot = catalog_of(settings, store)
    items = [_validated(i, event, snapshot) for i, event in enumerate(cast(list, events))]  # a list: checked above
    published = _accept(settings, store, items, catalog)
    results = [item.result() for item in items]
    failures = [item for item in items if item.error]
    if not failures:
        status = 200 if all(item.duplicate for item in items) else 202
        return Outcome(status, {"results": results}, published)
    if len(failures) < len(items):
        return Outcome(207, {"results": results}, published)
    if any(item.status >= 500 for item in failures):
        raise ApiError(503, "unavailable", "no event was accepted; retry the batch", results)
    raise ApiError(400, "validation_failed", "no event in the batch is valid", results)
