"""Lambda's SQS event source mappings, emulated for every mapping in `LocalEventSources`.

Per enabled mapping one thread long-polls the queue (short waits, so shutdown and mapping
changes take effect within ~1 s) and hands each batch to a pool bounded by the mapping's
MaximumConcurrency. Results are applied as Lambda does with ReportBatchItemFailures:
records listed in `batchItemFailures` are left alone (they reappear after the visibility
timeout), the rest are deleted; an exception or a malformed response fails the whole batch.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

from litestore_webhooks import resources as r
from litestore_webhooks.aws import clients
from litestore_webhooks.aws.event_sources import LocalEventSources, Mapping
from litestore_webhooks.local.invoke import Handler, LambdaContext, acting_as, invoke, region

log = logging.getLogger(__name__)

POLL_WAIT_S = 1  # WaitTimeSeconds per receive; bounds how late a stop or change is noticed
RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
)


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One ReceiveMessage message as a record of Lambda's SQS event."""
    attributes = {k: v for k, v in message.get("Attributes", {}).items() if k in RECORD_ATTRIBUTES}
    message_attributes = {}
    for name, attr in message.get("MessageAttributes", {}).items():
        value: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": attr["DataType"]}
        if "StringValue" in attr:
            value["stringValue"] = attr["StringValue"]
        if "BinaryValue" in attr:
            value["binaryValue"] = base64.b64encode(attr["BinaryValue"]).decode("ascii")
        message_attributes[name] = value
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else region(),
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_ids(result: Any, batch_ids: set[str]) -> set[str]:
    """Message ids Lambda would leave on the queue for this handler result.

    Like Lambda: no result or an empty list means all succeeded; an entry without a valid
    itemIdentifier from this batch makes the whole batch count as failed.
    """
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    failures = result["batchItemFailures"]
    ids = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)} if isinstance(failures, list) else set()
    if not isinstance(failures, list) or len(ids) == 0 or not ids <= batch_ids:
        return set(batch_ids)
    return ids  # type: ignore[return-value]


class Slots:
    """A mapping's concurrency cap. The workers that succeed each other when the mapping changes
    share it, so invocations a replaced worker still runs count against the new cap: like Lambda's
    MaximumConcurrency, the cap holds across a change, which a rate limit relies on (core/pacing.py)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.busy = 0
        self._changed = threading.Condition()

    def acquire(self, timeout: float) -> bool:
        with self._changed:
            if not self._changed.wait_for(lambda: self.busy < self.capacity, timeout):
                return False
            self.busy += 1
            return True

    def release(self) -> None:
        with self._changed:
            self.busy -= 1
            self._changed.notify_all()

    def resize(self, capacity: int) -> None:
        with self._changed:
            self.capacity = max(1, capacity)
            self._changed.notify_all()


class MappingWorker:
    """Polls one mapping's queue and invokes the handler, at most `max_concurrency` at a time."""

    def __init__(self, mapping: Mapping, handler: Handler, prefix: str, slots: Slots | None = None) -> None:
        self.mapping = mapping
        self._handler = handler
        self._prefix = prefix
        self._stop = threading.Event()
        self._slots = slots or Slots(mapping.max_concurrency)
        self._pool = ThreadPoolExecutor(max(1, mapping.max_concurrency), thread_name_prefix=f"lsw-{mapping.id[:8]}")
        self._thread = threading.Thread(target=self._run, name=f"lsw-poll-{mapping.id[:8]}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask to stop; polling ends within POLL_WAIT_S, running invocations finish on their own."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=POLL_WAIT_S):
                continue
            try:
                messages = self._gather()
                if messages and not self._stop.is_set():
                    self._pool.submit(self._invoke, messages)  # releases the slot when done
                    continue
                self._release(messages)
            except Exception:
                log.exception("polling failed for mapping %s", self.mapping.id)
                self._stop.wait(POLL_WAIT_S)
            self._slots.release()
        self._pool.shutdown(wait=False)  # running invocations finish; nothing new starts

    def _gather(self) -> list[dict[str, Any]]:
        """Up to batch_size messages: one long poll, then more until the batching window closes."""
        m = self.mapping
        sqs = clients.client("sqs")
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + m.max_batching_window_s
        while not self._stop.is_set():
            with self._as_function():
                messages += sqs.receive_message(
                    QueueUrl=m.queue_url,
                    MaxNumberOfMessages=min(10, m.batch_size - len(messages)),
                    WaitTimeSeconds=POLL_WAIT_S,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            if not messages or len(messages) >= m.batch_size or time.monotonic() >= deadline:
                break
        return messages

    def _as_function(self) -> AbstractContextManager[None]:
        """Lambda's pollers receive and delete with the function's execution role."""
        return acting_as(r.DELIVERY_FUNCTION.name(self._prefix))

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        try:
            event = {"Records": [sqs_record(msg, self.mapping.queue_arn) for msg in messages]}
            ids = {msg["MessageId"] for msg in messages}
            context = LambdaContext.for_function(r.DELIVERY_FUNCTION, self._prefix)
            try:
                failed = failed_ids(invoke(self._handler, event, context), ids)
            except Exception:
                log.exception("delivery handler raised; the whole batch of %d will be retried", len(messages))
                failed = ids
            done = [msg for msg in messages if msg["MessageId"] not in failed]
            with self._as_function():
                self._delete(done)
        except Exception:
            log.exception("settling a batch failed for mapping %s", self.mapping.id)
        finally:
            self._slots.release()

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Hand back messages received after the mapping was disabled or removed, visible at once."""
        sqs = clients.client("sqs")
        for i in range(0, len(messages), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": msg["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, msg in enumerate(messages[i : i + 10])
                ],
            )

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        sqs = clients.client("sqs")
        for i in range(0, len(messages), 10):
            chunk = messages[i : i + 10]
            resp = sqs.delete_message_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": msg["ReceiptHandle"]} for n, msg in enumerate(chunk)],
            )
            for failure in resp.get("Failed", []):
                log.warning("could not delete message: %s", failure.get("Message"))


class Poller:
    """Keeps one MappingWorker per enabled mapping, following registry changes as they happen."""

    def __init__(self, registry: LocalEventSources, handler: Handler, prefix: str) -> None:
        self._registry = registry
        self._handler = handler
        self._prefix = prefix
        self._workers: dict[str, MappingWorker] = {}
        self._slots: dict[str, Slots] = {}  # by mapping id, outliving the workers (see Slots)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lsw-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        for worker in self._workers.values():
            worker.stop()
        deadline = time.monotonic() + timeout
        for worker in self._workers.values():
            worker.join(max(0.0, deadline - time.monotonic()))
        self._workers.clear()

    def active(self) -> dict[str, Mapping]:
        """Mappings being polled right now, by id."""
        return {mid: w.mapping for mid, w in list(self._workers.items())}

    def _run(self) -> None:
        while not self._stop.is_set():
            version = self._registry.version
            self._reconcile()
            # Wakes on any registry change; the timeout only bounds how late a stop is seen.
            self._registry.wait_for_change(version, timeout=POLL_WAIT_S)

    def _reconcile(self) -> None:
        wanted = {m.id: m for m in self._registry.mappings() if m.enabled and m.queue_url}
        for mid in list(self._workers):
            if wanted.get(mid) != self._workers[mid].mapping:
                self._workers.pop(mid).stop()  # removed, disabled or changed: a changed one restarts below
        for mid, mapping in wanted.items():
            if mid not in self._workers and not self._stop.is_set():
                slots = self._slots.setdefault(mid, Slots(mapping.max_concurrency))
                slots.resize(mapping.max_concurrency)
                worker = MappingWorker(mapping, self._handler, self._prefix, slots)
                self._workers[mid] = worker
                worker.start()
