"""DynamoDB access: the only module that knows the tables' item layouts.

Tables and keys come from `litestore_webhooks.resources`. Items are written with the
low-level client and boto3's type (de)serializers (ported: aws/ddb_types.py); no floats, so no
Decimal juggling leaks out. Cursors are opaque base64url JSON of DynamoDB's
LastEvaluatedKey.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from litestore_webhooks.aws import clients
from litestore_webhooks.aws.ddb_types import TypeDeserializer, TypeSerializer
from litestore_webhooks.config import Settings
from litestore_webhooks.core.envelope import format_timestamp
from litestore_webhooks.core.errors import ApiError
from litestore_webhooks.resources import ENDPOINT_ID_PREFIX

_ser = TypeSerializer()
_de = TypeDeserializer()
BATCH_WRITE_MAX = 25
BATCH_GET_MAX = 100
# byDay's partition key is "<UTC day>#<shard>": one partition per day would cap ingest at its
# 1,000 WRU/s (docs/scaling.md); 16 shards by event id spread a day's writes 16 ways.
DAY_SHARDS = 16
# Outcomes of Store.claim_event_id, and the states an event id's claim goes through.
CLAIMED, DUPLICATE, IN_PROGRESS = "claimed", "duplicate", "in_progress"
CLAIM_PENDING, CLAIM_ACCEPTED = "pending", "accepted"


def to_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in item.items() if v is not None}


def from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    out = {k: _de.deserialize(v) for k, v in item.items()}
    # DynamoDB numbers come back as Decimal; everything we store as a number is integral.
    return {k: (int(v) if type(v).__name__ == "Decimal" else v) for k, v in out.items()}


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    raw = json.dumps(from_ddb(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
        if not isinstance(key, dict):
            raise ValueError
        return to_ddb(key)
    except (ValueError, TypeError, ArithmeticError) as exc:  # ArithmeticError: a number DynamoDB cannot hold
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned; start without it") from exc


def _is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


# Items one endpoints page reads at most: two per endpoint (the endpoint and its name claim).
ENDPOINT_READ_BUDGET = 1_000
NAME_CLAIM_PREFIX = "name#"
_MAX_CLAIM_KEY_BYTES = 1_024  # DynamoDB keys stop at 2,048 bytes; longer name keys are hashed


def _claim_id(name_key: str) -> str:
    raw = name_key.encode("utf-8")
    return NAME_CLAIM_PREFIX + (
        name_key if len(raw) <= _MAX_CLAIM_KEY_BYTES else "sha256:" + hashlib.sha256(raw).hexdigest()
    )


class NameTaken(Exception):
    """Another endpoint holds this name."""

    def __init__(self, endpoint_id: str, name: str) -> None:
        super().__init__(f"the name {name!r} is taken by {endpoint_id}")
        self.endpoint_id, self.name = endpoint_id, name


class _Cancelled(Exception):
    """A TransactWriteItems cancellation: each item's reason code ("None" where it was fine)."""

    def __init__(self, error: ClientError, reasons: list[str]) -> None:
        super().__init__(str(reasons))
        self.error, self.reasons = error, reasons


# Attempts one filtered attempts page reads at most (about 0.5 KB each: ~1 MB, ~128 read units).
ATTEMPT_READ_BUDGET = 2_000


@dataclass(frozen=True)
class AttemptMatch:
    """Which attempts a listing keeps: any of `statuses` (stored values) and an event type,
    exact or "namespace.*" ("*" or None: any)."""

    statuses: tuple[str, ...] = ()
    event_type: str | None = None

    @property
    def everything(self) -> bool:
        return not self.statuses and self.event_type in (None, "*")

    def expression(self, names: dict[str, str], values: dict[str, Any]) -> str:
        """The FilterExpression, adding its placeholders to `names` and `values`."""
        parts = []
        if self.statuses:
            names["#s"] = "status"
            keys = [f":s{i}" for i in range(len(self.statuses))]
            values.update(zip(keys, self.statuses))
            parts.append(f"#s IN ({', '.join(keys)})")
        if self.event_type not in (None, "*"):
            names["#t"] = "eventType"
            if self.event_type.endswith(".*"):
                values[":t"] = self.event_type[:-1]  # "order.*" -> "order."
                parts.append("begins_with(#t, :t)")
            else:
                values[":t"] = self.event_type
                parts.append("#t = :t")
        return " AND ".join(parts)


@dataclass
class Page:
    items: list[dict[str, Any]]
    cursor: str | None = None


@dataclass
class Store:
    """Typed access to the four tables for one stack (names from Settings)."""

    settings: Settings
    ddb: Any = field(default=None)

    def __post_init__(self) -> None:
        if self.ddb is None:
            self.ddb = clients.client("dynamodb")

    # -- endpoints ---------------------------------------------------------------------
    def get_endpoint_item(self, endpoint_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.settings.endpoints_table, Key=to_ddb({"id": endpoint_id}), ConsistentRead=True
        )
        return from_ddb(resp["Item"]) if "Item" in resp else None

    def put_endpoint_item(self, item: dict[str, Any], *, must_exist: bool | None = None) -> None:
        """Write a whole endpoint item; `must_exist` True/False adds the matching condition."""
        kwargs: dict[str, Any] = {"TableName": self.settings.endpoints_table, "Item": to_ddb(item)}
        if must_exist is True:
            kwargs["ConditionExpression"] = "attribute_exists(id)"
        elif must_exist is False:
            kwargs["ConditionExpression"] = "attribute_not_exists(id)"
        try:
            self.ddb.put_item(**kwargs)
        except ClientError as exc:
            if _is_conditional_failure(exc):
                code, msg = (
                    ("not_found", f"endpoint {item['id']} does not exist")
                    if must_exist
                    else ("conflict", f"endpoint {item['id']} already exists")
                )
                raise ApiError(404 if must_exist else 409, code, msg) from exc
            raise

    def update_endpoint_fields(self, endpoint_id: str, fields: dict[str, Any]) -> None:
        """SET (or REMOVE, for None values) a few attributes of an existing endpoint."""
        self._update_endpoint(endpoint_id, fields, {})

    def update_endpoint_fields_if(self, endpoint_id: str, fields: dict[str, Any], expected: dict[str, Any]) -> None:
        """Like update_endpoint_fields, only while each `expected` attribute still has its value (else 409)."""
        self._update_endpoint(endpoint_id, fields, expected)

    def _update_endpoint(self, endpoint_id: str, fields: dict[str, Any], expected: dict[str, Any]) -> None:
        try:
            self.ddb.update_item(**self._update_request(endpoint_id, fields, expected))
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            if expected and self.get_endpoint_item(endpoint_id) is not None:
                raise ApiError(409, "conflict", f"endpoint {endpoint_id} changed meanwhile; retry") from exc
            raise ApiError(404, "not_found", f"endpoint {endpoint_id} does not exist") from exc

    def _update_request(self, endpoint_id: str, fields: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
        """UpdateItem arguments (also a transaction's Update): SET/REMOVE `fields` while `expected` holds."""
        sets, removes, names, values = [], [], {}, {}
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"] = name
            if value is None:
                removes.append(f"#f{i}")
            else:
                sets.append(f"#f{i} = :v{i}")
                values[f":v{i}"] = _ser.serialize(value)
        condition = "attribute_exists(id)"
        for i, (name, value) in enumerate(expected.items()):
            names[f"#e{i}"] = name
            values[f":e{i}"] = _ser.serialize(value)
            condition += f" AND #e{i} = :e{i}"
        expr = " ".join(
            p
            for p in (
                "SET " + ", ".join(sets) if sets else "",
                "REMOVE " + ", ".join(removes) if removes else "",
            )
            if p
        )
        kwargs: dict[str, Any] = {
            "TableName": self.settings.endpoints_table,
            "Key": to_ddb({"id": endpoint_id}),
            "UpdateExpression": expr,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        return kwargs

    def count_endpoint_failures(self, endpoint_id: str, failures: int, *, at: str) -> tuple[int, str]:
        """Add failed deliveries to the endpoint's streak (failingSince is set by the first one).

        Atomic, so concurrent delivery invocations never lose a count; returns the streak
        (consecutiveFailures, failingSince) after this update.
        """
        try:
            resp = self.ddb.update_item(
                TableName=self.settings.endpoints_table,
                Key=to_ddb({"id": endpoint_id}),
                UpdateExpression="ADD consecutiveFailures :n SET failingSince = if_not_exists(failingSince, :at)",
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeValues=to_ddb({":n": failures, ":at": at}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                raise ApiError(404, "not_found", f"endpoint {endpoint_id} does not exist") from exc
            raise
        streak = from_ddb(resp["Attributes"])
        return streak["consecutiveFailures"], streak["failingSince"]

    def clear_endpoint_failures(self, endpoint_id: str) -> dict[str, Any] | None:
        """End a failure streak after a success; writes nothing when there is none. Returns the
        streak it ended ({consecutiveFailures, failingSince}), None when there was none."""
        try:
            resp = self.ddb.update_item(
                TableName=self.settings.endpoints_table,
                Key=to_ddb({"id": endpoint_id}),
                UpdateExpression="SET consecutiveFailures = :zero REMOVE failingSince",
                ConditionExpression="attribute_exists(failingSince) OR consecutiveFailures > :zero",
                ExpressionAttributeValues=to_ddb({":zero": 0}),
                ReturnValues="UPDATED_OLD",
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            return None
        return from_ddb(resp.get("Attributes") or {})

    def delete_endpoint_item(self, endpoint_id: str, *, name_key: str | None = None) -> None:
        """Delete the endpoint and, with `name_key`, release its name claim in the same transaction."""
        if name_key is None:
            self.ddb.delete_item(TableName=self.settings.endpoints_table, Key=to_ddb({"id": endpoint_id}))
            return
        own_claim = self._release_claim(endpoint_id, name_key)
        try:
            self._transact(
                [
                    {"Delete": {"TableName": self.settings.endpoints_table, "Key": to_ddb({"id": endpoint_id})}},
                    own_claim,
                ]
            )
        except _Cancelled as exc:
            if exc.reasons[1] != "ConditionalCheckFailed":
                raise exc.error from None
            self.delete_endpoint_item(endpoint_id)  # the claim is another endpoint's (an old duplicate)

    # -- endpoint names ----------------------------------------------------------------
    # A name is claimed by an item of the endpoints table, id "name#<name key>", that names its
    # endpoint. Creating and renaming write the endpoint and the claim in one transaction, so two
    # requests can never both get one name. A claim is stale (and may be taken over) when its
    # endpoint is gone or now has another name.
    def create_endpoint_item(self, item: dict[str, Any], *, name_key: str) -> None:
        """Write a new endpoint and claim its name, both or neither; NameTaken names the holder."""
        put = {
            "Put": {
                "TableName": self.settings.endpoints_table,
                "Item": to_ddb(item),
                "ConditionExpression": "attribute_not_exists(id)",
            }
        }
        for attempt in range(2):
            try:
                self._transact([put, self._new_claim(item["id"], name_key)])
                return
            except _Cancelled as exc:
                if exc.reasons[0] == "ConditionalCheckFailed":
                    raise ApiError(409, "conflict", f"endpoint {item['id']} already exists") from None
                if exc.reasons[1] != "ConditionalCheckFailed":
                    raise exc.error from None
            if attempt == 0 and not self._free_if_stale(name_key):
                break
        raise NameTaken(self._claim_holder(name_key) or "", item.get("name", ""))

    def rename_endpoint(
        self,
        endpoint_id: str,
        fields: dict[str, Any],
        *,
        old_key: str,
        new_key: str,
        expected: dict[str, Any] | None = None,
    ) -> None:
        """update_endpoint_fields(_if `expected`) for a change of name: claims the new one and releases the old one with it."""
        update = {"Update": self._update_request(endpoint_id, fields, expected or {})}
        release: dict[str, Any] | None = self._release_claim(endpoint_id, old_key)
        for _ in range(3):
            try:
                self._transact([update, self._new_claim(endpoint_id, new_key), *([release] if release else [])])
                return
            except _Cancelled as exc:
                if exc.reasons[0] == "ConditionalCheckFailed":
                    if expected and self.get_endpoint_item(endpoint_id) is not None:
                        raise ApiError(409, "conflict", f"endpoint {endpoint_id} changed meanwhile; retry") from None
                    raise ApiError(404, "not_found", f"endpoint {endpoint_id} does not exist") from None
                if "ConditionalCheckFailed" not in exc.reasons[1:]:
                    raise exc.error from None
                if release and exc.reasons[2] == "ConditionalCheckFailed":
                    release = None  # the old name's claim is another endpoint's (an old duplicate): not ours to free
                if exc.reasons[1] == "ConditionalCheckFailed" and not self._free_if_stale(new_key):
                    break
        raise NameTaken(self._claim_holder(new_key) or "", fields.get("name", ""))

    def claim_name(self, endpoint_id: str, name_key: str) -> bool:
        """Make sure an existing endpoint holds its name's claim: True if it had to be written
        (endpoints from before names were claimed); NameTaken if another endpoint holds it."""
        if self._claim_holder(name_key) == endpoint_id:
            return False
        for attempt in range(2):
            try:
                self._transact([self._new_claim(endpoint_id, name_key)])
                return True
            except _Cancelled:
                pass
            if attempt == 0 and not self._free_if_stale(name_key):
                break
        raise NameTaken(self._claim_holder(name_key) or "", "")

    def _claim_holder(self, name_key: str) -> str | None:
        item = self.get_endpoint_item(_claim_id(name_key))
        return item.get("endpointId") if item else None

    def _free_if_stale(self, name_key: str) -> bool:
        """Delete the name's claim if its endpoint is gone or has another name now; True if the name is free."""
        # Imported here: core.endpoint loads pydantic, which the ingest function's cold start does without.
        from litestore_webhooks.core.endpoint import name_key as key_of

        holder = self._claim_holder(name_key)
        if holder is None:
            return True
        endpoint = self.get_endpoint_item(holder)
        if endpoint is not None and key_of(endpoint.get("name", "")) == name_key:
            return False
        try:
            self.ddb.delete_item(
                TableName=self.settings.endpoints_table,
                Key=to_ddb({"id": _claim_id(name_key)}),
                ConditionExpression="endpointId = :holder",
                ExpressionAttributeValues=to_ddb({":holder": holder}),
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
        return True

    def _new_claim(self, endpoint_id: str, name_key: str) -> dict[str, Any]:
        """A transaction's Put of the name's claim for this endpoint: only if free or already its own."""
        return {
            "Put": {
                "TableName": self.settings.endpoints_table,
                "Item": to_ddb({"id": _claim_id(name_key), "endpointId": endpoint_id}),
                "ConditionExpression": "attribute_not_exists(id) OR endpointId = :me",
                "ExpressionAttributeValues": to_ddb({":me": endpoint_id}),
            }
        }

    def _release_claim(self, endpoint_id: str, name_key: str) -> dict[str, Any]:
        """A transaction's Delete of the name's claim, if it is this endpoint's (a missing one is fine)."""
        return {
            "Delete": {
                "TableName": self.settings.endpoints_table,
                "Key": to_ddb({"id": _claim_id(name_key)}),
                "ConditionExpression": "attribute_not_exists(id) OR endpointId = :me",
                "ExpressionAttributeValues": to_ddb({":me": endpoint_id}),
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> None:
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            raise _Cancelled(exc, reasons + ["None"] * (len(items) - len(reasons))) from None

    def list_endpoint_items(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        """A page of endpoints (name claims share the table and are skipped), in table order."""
        kwargs: dict[str, Any] = {
            "TableName": self.settings.endpoints_table,
            "FilterExpression": "begins_with(id, :ep)",
            "ExpressionAttributeValues": to_ddb({":ep": ENDPOINT_ID_PREFIX}),
        }
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        p = self._filtered_page(
            self.ddb.scan, kwargs, limit=limit, read_budget=ENDPOINT_READ_BUDGET, key_of=lambda i: {"id": i["id"]}
        )
        return Page(sorted(p.items, key=lambda i: i.get("createdAt", "")), p.cursor)

    def all_endpoint_items(self) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page = self.list_endpoint_items(limit=100, cursor=cursor)
            yield from page.items
            if not page.cursor:
                return
            cursor = page.cursor

    # -- ingest idempotency ------------------------------------------------------------
    # An event id's claim is "pending" while its request stores and publishes it, then
    # "accepted". Each claim carries the claiming request's random token, so a request
    # recognises its own write when botocore retried a PutItem whose first try was applied,
    # and only ever releases its own claim. A pending claim older than its lease belongs to
    # a request that died (Lambda timeout, crash): the next request may take it over.
    def claim_event_id(self, event_id: str, *, token: str, lease_s: int, now: float | None = None) -> str:
        """Claim an event id for the idempotency window: CLAIMED (ours), DUPLICATE (accepted
        before) or IN_PROGRESS (another request holds a live pending claim).

        Expired keys count as free even before DynamoDB's TTL sweeper removes them
        (which can lag by days, and never happens on moto).
        """
        now = time.time() if now is None else now
        item = {
            "key": f"evt#{event_id}",
            "expiresAt": int(now + self.settings.idempotency_window_s),
            "token": token,
            "state": CLAIM_PENDING,
            "leaseUntil": int(now + lease_s),
        }
        try:
            self.ddb.put_item(
                TableName=self.settings.idempotency_table,
                Item=to_ddb(item),
                ConditionExpression="attribute_not_exists(#k) OR expiresAt < :now OR (#s = :pending AND leaseUntil < :now)",
                ExpressionAttributeNames={"#k": "key", "#s": "state"},
                ExpressionAttributeValues=to_ddb({":now": int(now), ":pending": CLAIM_PENDING}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return CLAIMED
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            holder = from_ddb(exc.response.get("Item") or {})
        if holder.get("token") == token:  # our own write, applied by an attempt whose answer was lost
            return CLAIMED
        return IN_PROGRESS if holder.get("state") == CLAIM_PENDING else DUPLICATE

    def confirm_event_ids(self, event_ids: Iterable[str], *, now: float | None = None) -> None:
        """Mark published events' claims accepted (25 per BatchWriteItem).

        Unconditional on purpose: the events are published, so "accepted" is true whoever
        holds the claim now (a request that took over an expired lease included).
        """
        now = time.time() if now is None else now
        expires = int(now + self.settings.idempotency_window_s)
        items = [{"key": f"evt#{e}", "expiresAt": expires, "state": CLAIM_ACCEPTED} for e in dict.fromkeys(event_ids)]
        self._batch_write(self.settings.idempotency_table, items)

    def release_event_id(self, event_id: str, *, token: str) -> None:
        """Delete the claim if it is still ours (someone else's live claim is left alone)."""
        try:
            self.ddb.delete_item(
                TableName=self.settings.idempotency_table,
                Key=to_ddb({"key": f"evt#{event_id}"}),
                ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues=to_ddb({":t": token}),
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    # -- admin idempotency keys -------------------------------------------------------
    def claim_admin_key(
        self, key: str, fingerprint: str, *, window_s: int, now: float | None = None
    ) -> dict[str, Any] | None:
        """Reserve an Idempotency-Key ("adm#<key>") for `window_s`; None if ours, else the live holder's item."""
        now = time.time() if now is None else now
        item = {"key": f"adm#{key}", "fingerprint": fingerprint, "expiresAt": int(now + window_s)}
        try:
            self.ddb.put_item(
                TableName=self.settings.idempotency_table,
                Item=to_ddb(item),
                ConditionExpression="attribute_not_exists(#k) OR expiresAt < :now",
                ExpressionAttributeNames={"#k": "key"},
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
            return None
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
        resp = self.ddb.get_item(
            TableName=self.settings.idempotency_table, Key=to_ddb({"key": f"adm#{key}"}), ConsistentRead=True
        )
        return from_ddb(resp["Item"]) if "Item" in resp else None

    def complete_admin_key(self, key: str, result: dict[str, Any]) -> None:
        """Record what the request under `key` produced, so a retry returns the same thing."""
        self.ddb.update_item(
            TableName=self.settings.idempotency_table,
            Key=to_ddb({"key": f"adm#{key}"}),
            UpdateExpression="SET #r = :r",
            ExpressionAttributeNames={"#r": "result"},
            ExpressionAttributeValues={":r": _ser.serialize(result)},
        )

    def release_admin_key(self, key: str) -> None:
        self.ddb.delete_item(TableName=self.settings.idempotency_table, Key=to_ddb({"key": f"adm#{key}"}))

    # -- console portal links ----------------------------------------------------------
    def claim_link(self, link_id: str, *, expires_at: int) -> bool:
        """Record a portal link's first use ("lnk#<id>", kept until the link expires anyway);
        False when it was used before: a link opens one session only."""
        try:
            self.ddb.put_item(
                TableName=self.settings.idempotency_table,
                Item=to_ddb({"key": f"lnk#{link_id}", "expiresAt": expires_at}),
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": "key"},
            )
            return True
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise

    # -- delivered markers -------------------------------------------------------------
    @staticmethod
    def _marker_key(endpoint_id: str, event_id: str) -> str:
        return f"dlv#{endpoint_id}#{event_id}"

    def marker_item(self, endpoint_id: str, event_id: str, *, now: float | None = None) -> dict[str, Any]:
        """The delivered marker: kept as long as the event, so a late copy is never re-POSTed."""
        now = time.time() if now is None else now
        ttl = int(now + self.settings.event_retention_days * 86400)
        return {"key": self._marker_key(endpoint_id, event_id), "expiresAt": ttl}

    def mark_delivered(self, endpoint_id: str, event_id: str, *, now: float | None = None) -> None:
        self.ddb.put_item(
            TableName=self.settings.idempotency_table, Item=to_ddb(self.marker_item(endpoint_id, event_id, now=now))
        )

    def clear_delivered(self, endpoint_id: str, event_id: str) -> None:
        """Forget a delivered marker, so an operator's resend/replay really sends again."""
        self.ddb.delete_item(
            TableName=self.settings.idempotency_table, Key=to_ddb({"key": self._marker_key(endpoint_id, event_id)})
        )

    def clear_delivered_many(self, endpoint_id: str, event_ids: Iterable[str]) -> None:
        """clear_delivered for many events, 25 per BatchWriteItem (replay clears thousands)."""
        keys = [{"key": self._marker_key(endpoint_id, e)} for e in dict.fromkeys(event_ids)]
        table = self.settings.idempotency_table
        for i in range(0, len(keys), BATCH_WRITE_MAX):
            request = {table: [{"DeleteRequest": {"Key": to_ddb(k)}} for k in keys[i : i + BATCH_WRITE_MAX]]}
            self._write_until_done(request)

    def delivered_among(self, endpoint_id: str, event_ids: Iterable[str], *, consistent: bool = False) -> set[str]:
        """Which of these events already reached this endpoint (one BatchGetItem per 100)."""
        wanted = list(dict.fromkeys(event_ids))
        found: set[str] = set()
        for i in range(0, len(wanted), BATCH_GET_MAX):
            keys = [to_ddb({"key": self._marker_key(endpoint_id, e)}) for e in wanted[i : i + BATCH_GET_MAX]]
            request: dict[str, Any] | None = {
                self.settings.idempotency_table: {
                    "Keys": keys,
                    "ProjectionExpression": "#k",
                    "ExpressionAttributeNames": {"#k": "key"},
                    "ConsistentRead": consistent,
                }
            }
            while request:
                resp = self.ddb.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.settings.idempotency_table, []):
                    found.add(from_ddb(item)["key"].rsplit("#", 1)[1])
                request = resp.get("UnprocessedKeys") or None
        return found

    # -- stored events -----------------------------------------------------------------
    def event_item(self, envelope: dict[str, Any], body: bytes, *, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        received = format_timestamp(datetime.fromtimestamp(now, UTC))
        return {
            "id": envelope["id"],
            "event": envelope["event"],
            "timestamp": envelope["timestamp"],
            "body": body.decode("utf-8"),
            "receivedAt": received,
            "day": f"{received[:10]}#{zlib.crc32(envelope['id'].encode()) % DAY_SHARDS:02d}",
            "receivedKey": f"{received}#{envelope['id']}",
            "expiresAt": int(now + self.settings.event_retention_days * 86400),
        }

    def put_event_items(self, items: list[dict[str, Any]]) -> None:
        self._batch_write(self.settings.events_table, items)

    def get_event_item(self, event_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(TableName=self.settings.events_table, Key=to_ddb({"id": event_id}))
        return from_ddb(resp["Item"]) if "Item" in resp else None

    def events_between(self, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        """Stored events received in [since, until), oldest first, via the byDay index: per day,
        its DAY_SHARDS partitions are read side by side and merged in receivedKey order."""
        day = since.astimezone(UTC).date()
        last = until.astimezone(UTC).date()
        lo, hi = format_timestamp(since), format_timestamp(until)
        while day <= last:
            shards = [self._day_shard(f"{day.isoformat()}#{n:02d}", lo, hi) for n in range(DAY_SHARDS)]
            yield from heapq.merge(*shards, key=lambda item: item["receivedKey"])
            day = day.fromordinal(day.toordinal() + 1)

    def _day_shard(self, partition: str, lo: str, hi: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.settings.events_table,
            "IndexName": "byDay",
            "KeyConditionExpression": "#d = :d AND receivedKey BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#d": "day"},
            "ExpressionAttributeValues": to_ddb({":d": partition, ":lo": lo, ":hi": hi}),
        }
        while True:
            resp = self.ddb.query(**kwargs)
            for item in resp.get("Items", []):
                yield from_ddb(item)
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # -- attempt log -------------------------------------------------------------------
    # What an attempt record holds (delivery._attempt_record builds it); absent values (no
    # HTTP status after a refused connection, ...) are not stored and read back as null.
    ATTEMPT_FIELDS = (
        "endpointId",
        "eventId",
        "eventType",
        "attempt",
        "at",
        "status",
        "httpStatus",
        "error",
        "durationMs",
        "responseExcerpt",
        "nextRetryAt",
        "test",
    )

    def attempt_item(self, attempt: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
        """Complete an attempt record (endpointId, eventId, attempt, at, ...) with keys and TTL."""
        now = time.time() if now is None else now
        item = dict(attempt)
        item["attemptKey"] = f"{attempt['at']}#{attempt['eventId']}#{int(attempt['attempt']):03d}"
        item["expiresAt"] = int(now + self.settings.attempt_retention_days * 86400)
        return item

    def put_attempt_items(self, items: list[dict[str, Any]], *, markers: Iterable[dict[str, Any]] = ()) -> None:
        """Write attempt records; `markers` (marker_item) ride along in the same BatchWriteItem calls."""
        self._batch_write_tables(
            [(self.settings.attempts_table, it) for it in items]
            + [(self.settings.idempotency_table, m) for m in markers]
        )

    def attempts_for_endpoint(
        self,
        endpoint_id: str,
        *,
        since: str | None = None,
        until: str | None = None,
        match: AttemptMatch | None = None,
        limit: int = 50,
        cursor: str | None = None,
        newest_first: bool = True,
        read_budget: int = ATTEMPT_READ_BUDGET,
    ) -> Page:
        """A page of an endpoint's attempts in [since, until) (stored-time strings) that `match`.

        The time range is the key condition. A match is a FilterExpression, which DynamoDB applies
        after its own Limit, so with one this reads on (in growing chunks) until it has `limit`
        matches or has read `read_budget` attempts: a page then holds fewer (even none) and a
        cursor to go on from, never a cursor before the matches it skipped.
        """
        names = {"#p": "endpointId"}
        values: dict[str, Any] = {":p": endpoint_id}
        cond = "#p = :p"
        if since and until:
            cond += " AND attemptKey BETWEEN :since AND :until"  # keys are "<at>#...": `until` itself is out
        elif since:
            cond += " AND attemptKey >= :since"
        elif until:
            cond += " AND attemptKey < :until"
        values.update({k: v for k, v in ((":since", since), (":until", until)) if v})
        kwargs: dict[str, Any] = {
            "TableName": self.settings.attempts_table,
            "KeyConditionExpression": cond,
            "ScanIndexForward": not newest_first,
        }
        if match and not match.everything:
            kwargs["FilterExpression"] = match.expression(names, values)
        kwargs["ExpressionAttributeNames"] = names
        kwargs["ExpressionAttributeValues"] = to_ddb(values)
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        if "FilterExpression" not in kwargs:
            resp = self.ddb.query(**kwargs, Limit=limit)
            return Page([from_ddb(i) for i in resp.get("Items", [])], encode_cursor(resp.get("LastEvaluatedKey")))
        return self._filtered_page(
            self.ddb.query,
            kwargs,
            limit=limit,
            read_budget=read_budget,
            key_of=lambda i: {"endpointId": endpoint_id, "attemptKey": i["attemptKey"]},
        )

    def attempts_for_event(self, event_id: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.settings.attempts_table,
            "IndexName": "byEvent",
            "KeyConditionExpression": "eventId = :e",
            "ExpressionAttributeValues": to_ddb({":e": event_id}),
        }
        out: list[dict[str, Any]] = []
        while True:
            resp = self.ddb.query(**kwargs)
            out.extend(from_ddb(i) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    OUTCOME_FIELDS = ("at", "status", "durationMs", "test")

    def attempt_outcomes(self, endpoint_id: str, *, since: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """An endpoint's attempts since `since`, newest first, with OUTCOME_FIELDS only (for the
        console's overview); at most `limit`, and True when there were more."""
        kwargs: dict[str, Any] = {
            "TableName": self.settings.attempts_table,
            "KeyConditionExpression": "#p = :p AND attemptKey >= :since",
            "ProjectionExpression": ", ".join(f"#o{i}" for i in range(len(self.OUTCOME_FIELDS))),
            "ExpressionAttributeNames": {
                "#p": "endpointId",
                **{f"#o{i}": f for i, f in enumerate(self.OUTCOME_FIELDS)},
            },
            "ExpressionAttributeValues": to_ddb({":p": endpoint_id, ":since": since}),
            "ScanIndexForward": False,
        }
        out: list[dict[str, Any]] = []
        while True:
            resp = self.ddb.query(**kwargs, Limit=min(1000, limit - len(out) + 1))
            out.extend(from_ddb(i) for i in resp.get("Items", []))
            if len(out) > limit:
                return out[:limit], True
            if "LastEvaluatedKey" not in resp:
                return out, False
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # -- shared ------------------------------------------------------------------------
    @staticmethod
    def _filtered_page(read: Any, kwargs: dict[str, Any], *, limit: int, read_budget: int, key_of: Any) -> Page:
        """Up to `limit` items of a Query/Scan with a FilterExpression (applied by DynamoDB after
        its Limit): reads on in doubling chunks until it has them or has read `read_budget` items.
        A full page's cursor resumes after its last item (`key_of` gives that item's table key)."""
        found: list[dict[str, Any]] = []
        done, chunk = 0, limit
        while True:
            resp = read(**kwargs, Limit=min(chunk, read_budget - done))
            items = [from_ddb(i) for i in resp.get("Items", [])]
            done += resp.get("ScannedCount", len(items))
            last, wanted = resp.get("LastEvaluatedKey"), limit - len(found)
            if len(items) >= wanted:
                found += items[:wanted]
                more = len(items) > wanted or last is not None
                return Page(found, encode_cursor(to_ddb(key_of(found[-1]))) if more else None)
            found += items
            if last is None or done >= read_budget:
                return Page(found, encode_cursor(last))
            kwargs["ExclusiveStartKey"] = last
            chunk *= 2

    def _batch_write(self, table: str, items: list[dict[str, Any]]) -> None:
        self._batch_write_tables([(table, it) for it in items])

    def _batch_write_tables(self, puts: list[tuple[str, dict[str, Any]]]) -> None:
        """BatchWriteItem in chunks of 25 (one call may span tables), retrying unprocessed items with backoff."""
        for i in range(0, len(puts), BATCH_WRITE_MAX):
            request: dict[str, list[dict[str, Any]]] = {}
            for table, item in puts[i : i + BATCH_WRITE_MAX]:
                request.setdefault(table, []).append({"PutRequest": {"Item": to_ddb(item)}})
            self._write_until_done(request)

    def _write_until_done(self, request: dict[str, Any]) -> None:
        write_until_done(self.ddb, request)


def write_until_done(ddb: Any, request: dict[str, Any]) -> None:
    """One BatchWriteItem request, its unprocessed items retried with backoff (RuntimeError if some stay)."""
    for backoff in (0.05, 0.1, 0.2, 0.4, 0.8, None):
        resp = ddb.batch_write_item(RequestItems=request)
        request = resp.get("UnprocessedItems") or {}
        if not request:
            return
        if backoff is None:
            left = ", ".join(f"{len(reqs)} in {table}" for table, reqs in request.items())
            raise RuntimeError(f"DynamoDB left items unprocessed: {left}")
        time.sleep(backoff)
