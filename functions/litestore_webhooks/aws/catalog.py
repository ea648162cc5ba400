"""The event-type catalog in DynamoDB: the only module that knows the event-types table's layout.

Items (resources.EVENT_TYPES_TABLE, keys pk/sk):

- ("types", <name>): a type, its `EventType.to_dict()` as JSON text in `doc` (schemas may hold
  floats, which DynamoDB's number type would turn into Decimals), `version` and `updatedAt` beside
  it for the write conditions. One partition, so the whole catalog is one Query.
- ("versions#<name>", "v#<n>"): one `SchemaVersion` each, the type's schema history.
- ("tombstones", <name>): a seeded type an operator deleted; the seed never brings it back.
- ("stamp", "stamp"): a random `revision`, rewritten in the same transaction as every catalog write.

Read-your-writes without a read per event: ingest reads the stamp once per request, consistently
(1 read unit), and rebuilds its `CatalogSnapshot` only when the revision is not the one it built
from. A change the admin API answered has rewritten the stamp, so the next request sees it.

The ingest path (`snapshot`, `stamp`) imports no pydantic: the records are loaded only for writes.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from litestore_webhooks.aws import clients
from litestore_webhooks.aws.store import BATCH_WRITE_MAX, write_until_done
from litestore_webhooks.core.errors import ApiError
from litestore_webhooks.core.event_types.snapshot import CatalogSnapshot

if TYPE_CHECKING:
    from litestore_webhooks.core.event_types.lifecycle import Change
    from litestore_webhooks.core.event_types.records import EventType, SchemaVersion
    from litestore_webhooks.core.event_types.seed import SeedPlan

TYPES, TOMBSTONES, STAMP = "types", "tombstones", "stamp"
# DynamoDB refuses items over 400 KB; a type's JSON may use this much, the keys and the rest fit beside it.
MAX_TYPE_BYTES = 380_000
MAX_TRANSACTION_ITEMS, MAX_TRANSACTION_BYTES = 100, 4_000_000  # DynamoDB's TransactWriteItems limits


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _versions_pk(name: str) -> str:
    return f"versions#{name}"


def _version_sk(version: int) -> str:
    return f"v#{version:06d}"


def _doc(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(item["doc"]["S"])


class CatalogConflict(ApiError):
    """Someone else changed the type between our read and our write: read again, then retry."""

    def __init__(self, name: str) -> None:
        super().__init__(409, "conflict", f"event type {name!r} changed meanwhile; read it again and retry")


@dataclass
class _Cached:
    table: str
    revision: str | None
    snapshot: CatalogSnapshot


_cache: _Cached | None = None
_cache_lock = threading.Lock()


class CatalogStore:
    """Typed access to one stack's event-types table."""

    def __init__(self, table: str, ddb: Any = None) -> None:
        self.table = table
        self.ddb = ddb if ddb is not None else clients.client("dynamodb")

    # -- reads ---------------------------------------------------------------------------
    def revision(self) -> str | None:
        """The catalog's current revision (consistent read of the stamp; None before any write)."""
        resp = self.ddb.get_item(TableName=self.table, Key=_key(STAMP, STAMP), ConsistentRead=True)
        item = resp.get("Item")
        return item["revision"]["S"] if item else None

    def _query(self, pk: str, **extra: Any) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
            **extra,
        }
        while True:
            resp = self.ddb.query(**kwargs)
            yield from resp.get("Items", [])
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def type_docs(self) -> list[dict[str, Any]]:
        """Every stored type in its API form (`EventType.to_dict()`), sorted by name."""
        return [_doc(item) for item in self._query(TYPES)]

    def types(self) -> dict[str, EventType]:
        from litestore_webhooks.core.event_types.records import EventType

        return {doc["name"]: EventType.from_dict(doc) for doc in self.type_docs()}

    def get(self, name: str) -> EventType | None:
        from litestore_webhooks.core.event_types.names import name_problem
        from litestore_webhooks.core.event_types.records import EventType

        if name_problem(name, system=name.startswith("webhooks.")) is not None:
            return None  # no such name can be stored (and "" or 2 KB are no DynamoDB key)
        resp = self.ddb.get_item(TableName=self.table, Key=_key(TYPES, name), ConsistentRead=True)
        return EventType.from_dict(_doc(resp["Item"])) if "Item" in resp else None

    def versions(self, name: str) -> list[SchemaVersion]:
        from litestore_webhooks.core.event_types.records import SchemaVersion

        return [SchemaVersion.model_validate(_doc(item)) for item in self._query(_versions_pk(name))]

    def tombstones(self) -> set[str]:
        return {item["sk"]["S"] for item in self._query(TOMBSTONES)}

    def snapshot(self, *, accept_unknown: bool = False) -> CatalogSnapshot:
        """The catalog as ingest checks events against it: one stamp read, the types read only when
        the revision moved since the snapshot this process holds was built."""
        global _cache
        revision = self.revision()
        with _cache_lock:
            cached = _cache
        if (
            cached is None
            or revision is None
            or (cached.table, cached.revision) != (self.table, revision)
            or cached.snapshot.accept_unknown != accept_unknown
        ):
            cached = _Cached(self.table, revision, CatalogSnapshot(self.type_docs(), accept_unknown=accept_unknown))
            with _cache_lock:
                _cache = cached
        return cached.snapshot

    # -- writes --------------------------------------------------------------------------
    def _stamp_update(self, now: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table,
                "Key": _key(STAMP, STAMP),
                "UpdateExpression": "SET revision = :r, changedAt = :at",
                "ExpressionAttributeValues": {":r": {"S": secrets.token_hex(16)}, ":at": {"S": now}},
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        """TransactWriteItems; the cancellation reasons (one per item) when a condition failed."""
        try:
            self.ddb.transact_write_items(TransactItems=items)
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" not in reasons:
                raise
            return reasons + ["None"] * (len(items) - len(reasons))

    def _change_items(self, change: Change, expected: EventType | None) -> list[dict[str, Any]]:
        """A transaction's Puts for one change: the type (conditional on `expected`) and its new version."""
        from litestore_webhooks.core.event_types.records import json_size

        event_type = change.event_type
        doc = event_type.to_dict()
        if json_size(doc) > MAX_TYPE_BYTES:
            raise ApiError(
                400,
                "validation_failed",
                "the event type is too large to store",
                [
                    {
                        "path": "examples",
                        "message": f"{event_type.name} is {json_size(doc)} bytes as JSON; "
                        f"at most {MAX_TYPE_BYTES} fit: use fewer or smaller examples",
                    }
                ],
            )
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": {
                **_key(TYPES, event_type.name),
                "doc": {"S": json.dumps(doc, separators=(",", ":"))},
                "version": {"N": str(event_type.version)},
                "updatedAt": {"S": event_type.updated_at},
            },
        }
        if expected is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v AND updatedAt = :u"
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected.version)}, ":u": {"S": expected.updated_at}}
        items: list[dict[str, Any]] = [{"Put": put}]
        if change.version is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            **_key(_versions_pk(event_type.name), _version_sk(change.version.version)),
                            "doc": {"S": json.dumps(change.version.to_dict(), separators=(",", ":"))},
                        },
                    }
                }
            )
        return items

    def write(self, change: Change, expected: EventType | None) -> None:
        """The changed type, its new schema version (if any) and the stamp, all or nothing.

        `expected` is the type as read before the change (None: it must not exist yet); the write
        holds only while the stored `version` and `updatedAt` are still that one's.
        """
        self.write_all([(change, expected)])

    def write_all(self, changes: list[tuple[Change, EventType | None]]) -> None:
        """Several changes (an import, an apply) in one transaction with one stamp: all or none.

        DynamoDB takes at most 100 items and 4 MB in a transaction; a larger import is refused with 400
        (split it), never applied in part.
        """
        from litestore_webhooks.core.event_types.errors import EventTypeExists

        if not changes:
            return
        items = [item for change, expected in changes for item in self._change_items(change, expected)]
        size = sum(len(json.dumps(item)) for item in items)
        if len(items) + 1 > MAX_TRANSACTION_ITEMS or size > MAX_TRANSACTION_BYTES:
            raise ApiError(
                400,
                "validation_failed",
                "too many event type changes for one atomic write",
                [
                    {
                        "path": "",
                        "message": f"{len(changes)} types ({len(items) + 1} items, {size} bytes) "
                        f"exceed one transaction ({MAX_TRANSACTION_ITEMS} items, "
                        f"{MAX_TRANSACTION_BYTES} bytes): apply them in smaller files",
                    }
                ],
            )
        items.append(self._stamp_update(changes[-1][0].event_type.updated_at))
        reasons = self._transact(items)
        if reasons is None:
            return
        puts = [(change, expected) for change, expected in changes for _ in range(1 + (change.version is not None))]
        for (change, expected), reason in zip(puts, reasons, strict=False):
            if reason == "ConditionalCheckFailed":
                name = change.event_type.name
                raise EventTypeExists(name) if expected is None else CatalogConflict(name)
        raise CatalogConflict(changes[0][0].event_type.name)

    def delete(self, current: EventType, *, now: str) -> None:
        """Remove the type (while it is still `current`) and its history; a seeded name keeps a tombstone."""
        items: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": _key(TYPES, current.name),
                    "ConditionExpression": "version = :v AND updatedAt = :u",
                    "ExpressionAttributeValues": {":v": {"N": str(current.version)}, ":u": {"S": current.updated_at}},
                }
            }
        ]
        if current.origin in ("document", "derived", "system"):
            items.append(
                {"Put": {"TableName": self.table, "Item": {**_key(TOMBSTONES, current.name), "deletedAt": {"S": now}}}}
            )
        items.append(self._stamp_update(now))
        if self._transact(items) is not None:
            raise CatalogConflict(current.name)
        keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for item in self._query(_versions_pk(current.name), ProjectionExpression="pk, sk")
        ]
        for i in range(0, len(keys), BATCH_WRITE_MAX):
            write_until_done(
                self.ddb, {self.table: [{"DeleteRequest": {"Key": k}} for k in keys[i : i + BATCH_WRITE_MAX]]}
            )

    # -- the whole table (the local runtime's --state file) --------------------------------
    def dump(self) -> list[dict[str, Any]]:
        """Every item as stored (DynamoDB JSON), for saving the catalog across local runs."""
        items, kwargs = [], {"TableName": self.table, "ConsistentRead": True}
        while True:
            resp = self.ddb.scan(**kwargs)
            items += resp.get("Items", [])
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def load(self, items: list[dict[str, Any]]) -> None:
        """Make the table hold exactly the saved items (the seed written at start gives way: a seeded
        type the operator had deleted stays deleted), then a new stamp so every snapshot is rebuilt."""
        saved = {(i["pk"]["S"], i["sk"]["S"]) for i in items}
        stale = [
            {"DeleteRequest": {"Key": _key(i["pk"]["S"], i["sk"]["S"])}}
            for i in self.dump()
            if (i["pk"]["S"], i["sk"]["S"]) not in saved and i["pk"]["S"] != STAMP
        ]
        requests = stale + [{"PutRequest": {"Item": item}} for item in items]
        for i in range(0, len(requests), BATCH_WRITE_MAX):
            write_until_done(self.ddb, {self.table: requests[i : i + BATCH_WRITE_MAX]})
        self._transact([self._stamp_update("restored")])

    # -- seed ----------------------------------------------------------------------------
    def seed(self, *, now: datetime) -> SeedPlan:
        """Write what `seed.plan_seed` says (the document's types and the system's own), never an
        operator's edit; a type someone changed meanwhile is left for the next seed."""
        from litestore_webhooks.core.event_types.seed import plan_seed

        stored = self.types()
        plan = plan_seed(stored, now=now, tombstones=self.tombstones(), seed=seed_types())
        for write in plan.writes:
            try:
                self.write(write.change, stored.get(write.change.event_type.name))
            except ApiError as exc:  # a concurrent writer won: theirs stands
                plan.kept[write.change.event_type.name] = f"changed while seeding ({exc.code})"
        return plan


def seed_types() -> list[tuple[Any, Any]]:
    """The product document's types, plus the system's own (`core/event_types/system.SYSTEM_TYPES`, origin
    `system`): one seed, written at deploy and at local start alike."""
    from litestore_webhooks.core.event_types import system
    from litestore_webhooks.core.event_types.records import EventTypeDraft
    from litestore_webhooks.core.event_types.seed import seed_drafts

    return [*seed_drafts(), *((EventTypeDraft.model_validate(entry), "system") for entry in system.SYSTEM_TYPES)]
