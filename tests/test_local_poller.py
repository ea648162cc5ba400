"""The local event-source poller behaves like Lambda's SQS event source mapping."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from litestore_webhooks.aws import clients, queues
from litestore_webhooks.aws.event_sources import LocalEventSources
from litestore_webhooks.local import poller


class FakeDelivery:
    """Records every invocation; `decide(record)` says whether a record fails."""

    def __init__(self, decide=lambda record: False, raises: bool = False, hold_s: float = 0.0) -> None:
        self.decide, self.raises, self.hold_s = decide, raises, hold_s
        self.records: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.running = self.peak = 0
        self.lock = threading.Lock()
        self.seen = threading.Condition(self.lock)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.hold_s)
        with self.seen:
            self.running -= 1
            self.records += event["Records"]
            self.contexts.append(context)
            self.seen.notify_all()
        if self.raises:
            raise RuntimeError("boom")
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if self.decide(r)]}

    def wait_for(self, count: int, timeout: float = 8.0) -> list[dict[str, Any]]:
        with self.seen:
            assert self.seen.wait_for(lambda: len(self.records) >= count, timeout), f"saw {len(self.records)} < {count}"
            return list(self.records)


@pytest.fixture
def registry(aws):
    return LocalEventSources()


def make_queue(visibility_s: int = 1) -> tuple[str, str]:
    sqs = clients.client("sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": str(visibility_s)})[
        "QueueUrl"
    ]
    return url, queues.queue_arn(url)


def depth(url: str) -> int:
    attrs = clients.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def wait_until(predicate, timeout: float = 8.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.05)


def run(registry, handler):
    p = poller.Poller(registry, handler, "test")
    p.start()
    return p


def add(registry, arn, *, batch_size=10, max_concurrency=2, enabled=True, window=0) -> str:
    return registry.create(
        arn, "fn", batch_size=batch_size, max_batching_window_s=window, max_concurrency=max_concurrency, enabled=enabled
    )


def test_records_look_like_lambdas_sqs_event(registry):
    url, arn = make_queue()
    queues.send(url, '{"a":1}', {"event": "order.updated", "attempt": 2})
    handler = FakeDelivery()
    p = run(registry, handler)
    try:
        add(registry, arn)
        (record,) = handler.wait_for(1)
        assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
        assert record["awsRegion"] == "us-east-1" and record["body"] == '{"a":1}'
        assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
            record["attributes"]
        )
        assert record["messageAttributes"]["attempt"]["stringValue"] == "2"
        assert record["messageAttributes"]["attempt"]["dataType"] == "Number"
        assert queues.decode_attributes(record["messageAttributes"]) == {"event": "order.updated", "attempt": "2"}
        assert record["md5OfBody"] and record["receiptHandle"]
        ctx = handler.contexts[0]
        assert ctx.function_name == "test-delivery" and ctx.get_remaining_time_in_millis() > 0
        wait_until(lambda: depth(url) == 0)
    finally:
        p.stop()


def test_batch_item_failures_leave_only_the_failed_record(registry):
    url, arn = make_queue(visibility_s=1)
    for body in ("a", "b", "c"):
        queues.send(url, body, {})
    handler = FakeDelivery(decide=lambda r: r["body"] == "b" and r["attributes"]["ApproximateReceiveCount"] == "1")
    p = run(registry, handler)
    try:
        add(registry, arn)
        handler.wait_for(3)
        time.sleep(0.3)
        assert depth(url) == 1  # a and c deleted, b left for the visibility timeout
        records = handler.wait_for(4)
        assert records[3]["body"] == "b" and records[3]["attributes"]["ApproximateReceiveCount"] == "2"
        wait_until(lambda: depth(url) == 0)
        assert sorted(r["body"] for r in records) == ["a", "b", "b", "c"]
    finally:
        p.stop()


def test_an_exception_fails_the_whole_batch(registry):
    url, arn = make_queue(visibility_s=30)
    for body in ("a", "b"):
        queues.send(url, body, {})
    handler = FakeDelivery(raises=True)
    p = run(registry, handler)
    try:
        add(registry, arn)
        handler.wait_for(2)
        time.sleep(0.3)
        assert depth(url) == 2
    finally:
        p.stop()


@pytest.mark.parametrize(
    "result",
    [
        {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{}]},
        {"batchItemFailures": "nope"},
    ],
)
def test_malformed_failure_reports_fail_the_whole_batch(result):
    assert poller.failed_ids(result, {"m1", "m2"}) == {"m1", "m2"}


@pytest.mark.parametrize("result", [None, {}, {"batchItemFailures": []}])
def test_no_failures_reported_means_all_succeeded(result):
    assert poller.failed_ids(result, {"m1"}) == set()


def test_enabled_flag_and_runtime_changes(registry):
    url, arn = make_queue()
    queues.send(url, "x", {})
    handler = FakeDelivery()
    p = run(registry, handler)
    try:
        mid = add(registry, arn, enabled=False)
        time.sleep(1.5)
        assert handler.records == [] and depth(url) == 1 and p.active() == {}
        registry.update(mid, enabled=True)
        handler.wait_for(1)
        wait_until(lambda: depth(url) == 0)
        registry.update(mid, batch_size=5)
        wait_until(lambda: p.active().get(mid) is not None and p.active()[mid].batch_size == 5)
        registry.delete(mid)
        wait_until(lambda: p.active() == {})
        queues.send(url, "y", {})
        time.sleep(1.5)
        assert len(handler.records) == 1 and depth(url) == 1
    finally:
        p.stop()


def test_maximum_concurrency_is_honoured(registry):
    url, arn = make_queue(visibility_s=30)
    for i in range(8):
        queues.send(url, str(i), {})
    handler = FakeDelivery(hold_s=0.3)
    p = run(registry, handler)
    try:
        add(registry, arn, batch_size=1, max_concurrency=2)
        handler.wait_for(8)
        assert handler.peak == 2
    finally:
        p.stop()


def test_the_cap_holds_across_a_mapping_change(registry):
    """A changed mapping restarts its worker; the invocations the old one still runs count against
    the new cap, so raising it from 2 to 3 mid-run never lets 5 run at once (a rate limit relies on it)."""
    url, arn = make_queue(visibility_s=30)
    for i in range(12):
        queues.send(url, str(i), {})
    handler = FakeDelivery(hold_s=0.6)
    p = run(registry, handler)
    try:
        mid = add(registry, arn, batch_size=1, max_concurrency=2)
        wait_until(lambda: handler.running == 2)
        registry.update(mid, max_concurrency=3)
        handler.wait_for(12)
        assert handler.peak == 3
    finally:
        p.stop()


def test_batching_window_gathers_beyond_ten(registry):
    url, arn = make_queue(visibility_s=30)
    for i in range(0, 25, 5):
        clients.client("sqs").send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": str(i + j)} for j in range(5)]
        )
    handler = FakeDelivery()
    p = run(registry, handler)
    try:
        add(registry, arn, batch_size=25, window=1)
        handler.wait_for(25)
        assert len(handler.contexts) == 1  # one invocation with all 25
    finally:
        p.stop()


def test_stop_is_prompt(registry):
    _, arn = make_queue()
    p = run(registry, FakeDelivery())
    add(registry, arn)
    wait_until(lambda: len(p.active()) == 1)
    start = time.monotonic()
    p.stop()
    assert time.monotonic() - start < 3
