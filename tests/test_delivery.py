"""The delivery worker on moto with real local receivers.

The SQS loop is driven by hand, the way Lambda does it: receive from the endpoint queue,
call the worker with an SQS event built from the received messages, delete what it did not
report in batchItemFailures.
"""

from __future__ import annotations

import itertools
import json
import random
import socket
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import trustme

from litestore_webhooks import delivery, verify
from litestore_webhooks.aws import clients, event_sources, queues
from litestore_webhooks.aws.kms import SecretBox
from litestore_webhooks.aws.store import Store, from_ddb
from litestore_webhooks.config import Settings
from litestore_webhooks.core import retry
from litestore_webhooks.core.canonical import canonical_bytes
from litestore_webhooks.core.endpoint import Endpoint, SigningSecrets
from litestore_webhooks.provisioning import EndpointResources, Provisioner, load_endpoint, secrets_of
from receivers import Receiver, Reply, ca_bundle

FAST = {"maxAttempts": 5, "initialDelay": 500, "backoffMultiplier": 2.0, "maxDelay": 30_000}


class _NoJitter(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


@pytest.fixture
def settings(aws: Settings, monkeypatch) -> Settings:
    """Loopback receivers need allow_insecure; mappings go to the local event-source adapter."""
    local = event_sources.LocalEventSources()
    event_sources.use(local)
    monkeypatch.setattr(retry, "_rng", _NoJitter())
    yield replace(aws, allow_insecure=True)
    event_sources.use(None)


@pytest.fixture
def sent(monkeypatch) -> list[dict[str, Any]]:
    """Every message the worker sends (still really sent), with the time it was made; "call" numbers
    the SendMessageBatch calls, so a test can tell batched follow-ups from one call each."""
    calls: list[dict[str, Any]] = []
    real = queues.send_batch
    numbering = itertools.count()

    def spy(queue_url: str, messages: list[queues.OutgoingMessage]) -> dict[str, str | None]:
        call = next(numbering)
        calls.extend(
            {
                "queue": queue_url,
                "attributes": dict(m.attributes),
                "delay_s": m.delay_s,
                "at_ms": time.time() * 1000,
                "call": call,
            }
            for m in messages
        )
        return real(queue_url, messages)

    monkeypatch.setattr(queues, "send_batch", spy)
    return calls


def make_endpoint(settings: Settings, url: str, **spec: Any) -> tuple[Endpoint, EndpointResources]:
    prov = Provisioner(settings)
    endpoint = prov.create(prov.parse_spec({"url": url, "events": ["*"], "retryPolicy": FAST, **spec}))
    found = load_endpoint(prov.store, endpoint.id)
    assert found is not None
    return found


def signing_secrets(settings: Settings, endpoint: Endpoint) -> SigningSecrets:
    """The endpoint's secrets as the admin API would show them (the item holds them sealed)."""
    return secrets_of(Store(settings).get_endpoint_item(endpoint.id), SecretBox(settings.secrets_key_arn))


def publish(res: EndpointResources, event_id: str = "evt_1", **attributes: Any) -> bytes:
    """What SNS raw delivery puts into the endpoint queue: the canonical body, attribute `event`."""
    body = canonical_bytes(
        {
            "event": "order.created",
            "id": event_id,
            "timestamp": "2026-08-01T10:00:00.000Z",
            "data": {"orderId": "o1"},
        }
    )
    queues.send(res.queue_url, body.decode(), {queues.EVENT: "order.created", **attributes})
    return body


def receive(url: str, wait_s: int = 0) -> list[dict[str, Any]]:
    return (
        clients.client("sqs")
        .receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            WaitTimeSeconds=wait_s,
        )
        .get("Messages", [])
    )


def sqs_event(queue_arn: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A Lambda SQS event for received messages (lower-case attribute keys, as Lambda sends them)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
                    for k, v in m.get("MessageAttributes", {}).items()
                },
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def pump(settings: Settings, res: EndpointResources, wait_s: int = 0) -> dict[str, Any]:
    """One Lambda poll: receive, process, delete what succeeded."""
    messages = receive(res.queue_url, wait_s)
    assert messages, "nothing arrived in the endpoint queue"
    response = delivery.process_batch(sqs_event(res.queue_arn, messages), settings)
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    for m in messages:
        if m["MessageId"] not in failed:
            clients.client("sqs").delete_message(QueueUrl=res.queue_url, ReceiptHandle=m["ReceiptHandle"])
    return response


def redeliver(res: EndpointResources, in_flight: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What SQS hands out again when the visibility timeout of never-deleted messages runs out."""
    for m in in_flight:
        clients.client("sqs").change_message_visibility(
            QueueUrl=res.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
        )
    return receive(res.queue_url)


def process(settings: Settings, res: EndpointResources, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The worker on these messages, without deleting anything (a crash before Lambda's delete)."""
    return delivery.process_batch(sqs_event(res.queue_arn, messages), settings)


def dead_letters(res: EndpointResources) -> list[dict[str, Any]]:
    return receive(res.dlq_url)


def attrs_of(message: dict[str, Any]) -> dict[str, str]:
    return queues.decode_attributes(message["MessageAttributes"])


def attempts(settings: Settings, event_id: str = "evt_1") -> list[dict[str, Any]]:
    return sorted(Store(settings).attempts_for_event(event_id), key=lambda a: (a["attempt"], a["at"]))


# -- the retry loop -------------------------------------------------------------------------


def test_fails_twice_then_succeeds_on_attempt_3_with_the_policy_delays(settings, sent):
    with Receiver(Reply(503), Reply(500)) as rx:
        endpoint, res = make_endpoint(settings, rx.url())
        body = publish(res)
        assert pump(settings, res) == {"batchItemFailures": []}
        assert pump(settings, res, wait_s=5) == {"batchItemFailures": []}
        assert pump(settings, res, wait_s=5) == {"batchItemFailures": []}
        requests = rx.wait_for(3)
    assert len(rx.requests) == 3
    assert [r.headers["X-Litestore-Delivery-Attempt"] for r in requests] == ["1", "2", "3"]
    assert {r.headers["webhook-id"] for r in requests} == {"evt_1"}
    for r in requests:
        assert r.body == body
        verify(r.body, r.headers, signing_secrets(settings, endpoint).secret)  # raises if the signature does not verify
    # Policy 500 ms x 2 (jitter pinned to its midpoint): retry 1 waits 500 ms, retry 2 1000 ms.
    hops = [s for s in sent if queues.ATTEMPT in s["attributes"]]
    assert [s["delay_s"] for s in hops] == [1, 1]  # ceil to whole DelaySeconds
    assert [s["attributes"][queues.ATTEMPT] for s in hops] == [2, 3]
    for s, wait_ms in zip(hops, (500, 1000)):
        assert abs(s["attributes"][queues.NOT_BEFORE] - s["at_ms"] - wait_ms) < 50
    assert requests[1].at - requests[0].at >= 0.5 and requests[2].at - requests[1].at >= 1.0
    assert hops[1]["attributes"][queues.FIRST_ATTEMPT_AT] == hops[0]["attributes"][queues.FIRST_ATTEMPT_AT]
    log = attempts(settings)
    assert [(a["attempt"], a["status"], a.get("httpStatus")) for a in log] == [
        (1, "retry_scheduled", 503),
        (2, "retry_scheduled", 500),
        (3, "delivered", 200),
    ]
    assert log[0]["nextRetryAt"] and "nextRetryAt" not in log[2] and log[2]["test"] is False
    # What was stored is what the admin API shows (its fields, absent ones as null).
    assert set(log[0]) - {"attemptKey", "expiresAt"} <= set(Store.ATTEMPT_FIELDS)
    assert set(log[0]) - {"attemptKey", "expiresAt", "error", "responseExcerpt"} == set(Store.ATTEMPT_FIELDS) - {
        "error",
        "responseExcerpt",
    }
    assert receive(res.queue_url) == [] and dead_letters(res) == []
    assert Store(settings).delivered_among(endpoint.id, ["evt_1"]) == {"evt_1"}


def test_exhausted_retries_dead_letter_with_reason_attempts_and_last_status(settings):
    with Receiver(default=Reply(503, body=b"down for maintenance")) as rx:
        endpoint, res = make_endpoint(settings, rx.url(), retryPolicy={"maxAttempts": 2, "initialDelay": 0})
        body = publish(res)
        pump(settings, res)
        pump(settings, res, wait_s=2)
        rx.wait_for(2)
    (dead,) = dead_letters(res)
    assert dead["Body"].encode() == body
    a = attrs_of(dead)
    assert a[queues.REASON] == "retries_exhausted"
    assert (a[queues.ATTEMPTS], a[queues.LAST_STATUS], a[queues.EVENT], a[queues.ENDPOINT_ID]) == (
        "2",
        "503",
        "order.created",
        endpoint.id,
    )
    assert a[queues.FIRST_ATTEMPT_AT] <= a[queues.LAST_ATTEMPT_AT]
    assert queues.LAST_ERROR not in a
    log = attempts(settings)
    assert [x["status"] for x in log] == ["retry_scheduled", "dead_lettered"]
    assert log[1]["responseExcerpt"] == "down for maintenance"
    assert receive(res.queue_url) == []


def test_400_dead_letters_after_one_attempt(settings):
    with Receiver(Reply(400, body=b'{"error":"bad"}')) as rx:
        _, res = make_endpoint(settings, rx.url())
        publish(res)
        pump(settings, res)
        rx.wait_for(1)
    (dead,) = dead_letters(res)
    a = attrs_of(dead)
    assert (a[queues.REASON], a[queues.LAST_STATUS], a[queues.ATTEMPTS]) == ("rejected", "400", "1")
    assert len(rx.requests) == 1 and receive(res.queue_url) == []


def test_no_dead_letter_for_an_event_another_copy_delivered_meanwhile(settings, monkeypatch):
    """Soak found it: a second copy (SNS at-least-once, a redrive racing a retry) is delivered while
    this copy's POST fails for good; a dead letter for a delivered event is a false alarm."""
    real_post = delivery._post

    def other_copy_lands_during_this_post(*args: Any, **kwargs: Any):
        result = real_post(*args, **kwargs)
        Store(settings).mark_delivered(endpoint.id, "evt_1")  # the other copy's marker, really written
        return result

    monkeypatch.setattr(delivery, "_post", other_copy_lands_during_this_post)
    with Receiver(default=Reply(400)) as rx:
        endpoint, res = make_endpoint(settings, rx.url())
        publish(res)
        assert pump(settings, res)["batchItemFailures"] == []
        publish(res, "evt_2")  # the control: nothing delivered it, so it is dead-lettered
        monkeypatch.setattr(delivery, "_post", real_post)
        pump(settings, res)
    assert [json.loads(m["Body"])["id"] for m in dead_letters(res)] == ["evt_2"]
    assert receive(res.queue_url) == []
    assert [a["status"] for a in attempts(settings)] == ["dead_lettered"]  # the attempt itself is still logged


def test_redirect_is_not_followed_and_dead_letters(settings):
    with Receiver(Reply(301, {"Location": "http://169.254.169.254/"})) as rx:
        _, res = make_endpoint(settings, rx.url())
        publish(res)
        pump(settings, res)
    (dead,) = dead_letters(res)
    assert (attrs_of(dead)[queues.REASON], attrs_of(dead)[queues.LAST_STATUS], len(rx.requests)) == (
        "redirect",
        "301",
        1,
    )


def test_410_dead_letters_and_pauses_the_endpoint(settings):
    with Receiver(Reply(410)) as rx:
        endpoint, res = make_endpoint(settings, rx.url())
        publish(res, "evt_1")
        pump(settings, res)
    (dead,) = dead_letters(res)
    assert attrs_of(dead)[queues.REASON] == "gone"
    paused, res_after = load_endpoint(Store(settings), endpoint.id)
    assert (paused.active, paused.pausedReason) == (False, "gone")
    assert event_sources.current().get(res_after.mapping_id)["enabled"] is False


def test_retry_after_seconds_and_date_on_429_set_the_delay(settings, sent):
    when = datetime.now(UTC) + timedelta(seconds=300)
    with Receiver(
        Reply(429, {"Retry-After": "120"}), Reply(429, {"Retry-After": format_datetime(when, usegmt=True)})
    ) as rx:
        _, res = make_endpoint(settings, rx.url())
        publish(res, "evt_1")
        publish(res, "evt_2")
        pump(settings, res)
        rx.wait_for(2)
    delays = sorted(s["delay_s"] for s in sent if queues.ATTEMPT in s["attributes"])
    assert delays[0] == 120 and 298 <= delays[1] <= 300  # HTTP dates have whole seconds


def test_timeout_is_retried_and_logged(settings):
    with Receiver(Reply(delay_s=3)) as rx:
        _, res = make_endpoint(settings, rx.url(), timeout=200)
        publish(res)
        pump(settings, res)
    (log,) = attempts(settings)
    assert (log["status"], log["error"], "httpStatus" in log) == ("retry_scheduled", "timeout", False)
    assert 150 <= log["durationMs"] < 1000


def test_huge_response_body_is_logged_as_a_4_kib_excerpt(settings):
    with Receiver(Reply(200, body=b"y" * 1_000_000)) as rx:
        _, res = make_endpoint(settings, rx.url())
        publish(res)
        pump(settings, res)
    (log,) = attempts(settings)
    assert log["status"] == "delivered" and log["responseExcerpt"] == "y" * 4096


def test_https_receiver_with_a_private_ca(settings, tmp_path):
    ca = trustme.CA()
    tls = replace(settings, ca_bundle=ca_bundle(ca, tmp_path / "ca.pem"))
    with Receiver(ca=ca) as rx:
        endpoint, res = make_endpoint(tls, rx.url(host="localhost"))
        publish(res)
        assert pump(tls, res) == {"batchItemFailures": []}
        (request,) = rx.wait_for(1)
    verify(request.body, request.headers, signing_secrets(tls, endpoint).secret)


# -- never lose, never duplicate ------------------------------------------------------------


def test_crash_after_marker_before_sqs_delete_causes_no_second_post(settings):
    with Receiver() as rx:
        _, res = make_endpoint(settings, rx.url())
        publish(res)
        first = receive(res.queue_url)
        assert process(settings, res, first) == {"batchItemFailures": []}  # ... and then the function dies
        messages = redeliver(res, first)
        assert len(messages) == 1
        response = process(settings, res, messages)
    assert response == {"batchItemFailures": []}
    assert len(rx.requests) == 1


class FunctionDied(BaseException):
    """The function stopped at this call (crash, timeout): nothing after it runs, nothing catches it."""


def test_crash_between_post_and_marker_causes_at_most_one_more_post_with_the_same_id(settings, monkeypatch):
    real = Store.mark_delivered
    crashes = iter([True])

    def crashing(self, endpoint_id, event_id, **kw):
        if next(crashes, False):
            raise FunctionDied("function died before the marker was written")
        return real(self, endpoint_id, event_id, **kw)

    monkeypatch.setattr(Store, "mark_delivered", crashing)
    with Receiver() as rx:
        _, res = make_endpoint(settings, rx.url())
        publish(res)
        first = receive(res.queue_url)
        with pytest.raises(FunctionDied):
            process(settings, res, first)  # nothing acknowledged
        assert process(settings, res, redeliver(res, first)) == {"batchItemFailures": []}
        a, b = rx.wait_for(2)
    assert len(rx.requests) == 2 and a.headers["webhook-id"] == b.headers["webhook-id"] == "evt_1"


def test_failed_marker_write_gets_a_second_chance_with_the_attempt_log_and_no_second_post(settings, monkeypatch):
    def failing(self, endpoint_id, event_id, **kw):
        raise ConnectionError("DynamoDB unavailable")

    monkeypatch.setattr(Store, "mark_delivered", failing)
    with Receiver() as rx:
        endpoint, res = make_endpoint(settings, rx.url())
        publish(res)
        first = receive(res.queue_url)
        assert process(settings, res, first) == {"batchItemFailures": []}  # acknowledged: the marker landed
        assert Store(settings).delivered_among(endpoint.id, ["evt_1"], consistent=True) == {"evt_1"}
        assert process(settings, res, redeliver(res, first)) == {"batchItemFailures": []}  # a stray copy
    assert len(rx.requests) == 1
    assert [a["status"] for a in attempts(settings, "evt_1")] == ["delivered"]


def test_marker_and_attempt_log_both_failing_leave_the_record_for_sqs(settings, monkeypatch):
    def failing(self, *args, **kw):
        raise ConnectionError("DynamoDB unavailable")

    with Receiver() as rx:
        _, res = make_endpoint(settings, rx.url())
        publish(res)
        first = receive(res.queue_url)
        with monkeypatch.context() as patched:
            patched.setattr(Store, "mark_delivered", failing)
            patched.setattr(Store, "put_attempt_items", failing)
            response = process(settings, res, first)
        assert response == {"batchItemFailures": [{"itemIdentifier": first[0]["MessageId"]}]}
        assert process(settings, res, redeliver(res, first)) == {"batchItemFailures": []}
        a, b = rx.wait_for(2)
    assert a.headers["webhook-id"] == b.headers["webhook-id"] == "evt_1"
    assert [a["status"] for a in attempts(settings, "evt_1")] == ["delivered"]  # the first one was never logged


def test_duplicate_event_in_one_batch_is_posted_once_and_both_records_are_acknowledged(settings, sent):
    with Receiver(Reply(200, delay_s=0.2), Reply(200, delay_s=0.2)) as rx:
        endpoint, res = make_endpoint(settings, rx.url())
        publish(res, "evt_1")
        publish(res, "evt_2")
        publish(res, "evt_1")  # SQS at-least-once, or a redrive racing a retry
        messages = receive(res.queue_url)
        assert len(messages) == 3
        assert process(settings, res, messages) == {"batchItemFailures": []}
    assert sorted(r.headers["webhook-id"] for r in rx.requests) == ["evt_1", "evt_2"]
    assert [a["status"] for a in attempts(settings, "evt_1")] == ["delivered"]


def test_duplicate_event_in_one_batch_shares_a_retry_and_a_failure(settings, sent, monkeypatch):
    with Receiver(default=Reply(503)) as rx:
        _, res = make_endpoint(settings, rx.url())
        publish(res, "evt_1")
        publish(res, "evt_1")
        messages = receive(res.queue_url)
        assert process(settings, res, messages) == {"batchItemFailures": []}
        assert len(rx.requests) == 1
        assert len([s for s in sent if queues.ATTEMPT in s["attributes"]]) == 1  # one retry chain, not two

        def failing(*args, **kwargs):
            raise ConnectionError("SQS unavailable")

        monkeypatch.setattr(queues, "send_batch", failing)  # the retry cannot be scheduled: redeliver both
        response = process(settings, res, messages)
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(
        m["MessageId"] for m in messages
    )
    assert len(rx.requests) == 2


def test_dead_letter_send_failure_reports_the_record(settings, sent, monkeypatch):
    with Receiver(default=Reply(400)) as rx:
        _, res = make_endpoint(settings, rx.url())
        publish(res, "evt_1")
        publish(res, "evt_2", **{queues.ATTEMPT: 1})
        real = queues.send_batch

        def failing(queue_url, messages):  # SQS refuses one entry of the batch, takes the other
            refused = [m for m in messages if queue_url == res.dlq_url and '"evt_1"' in m.body]
            outcome = real(queue_url, [m for m in messages if m not in refused])
            return {**outcome, **{m.key: "InternalError" for m in refused}}

        monkeypatch.setattr(queues, "send_batch", failing)
        messages = receive(res.queue_url)
        by_event = {json.loads(m["Body"])["id"]: m["MessageId"] for m in messages}
        response = process(settings, res, messages)
    assert response == {"batchItemFailures": [{"itemIdentifier": by_event["evt_1"]}]}
    assert [json.loads(m["Body"])["id"] for m in dead_letters(res)] == ["evt_2"]


@pytest.mark.parametrize("answer, queue", [(503, "queue"), (400, "dlq")])
def test_a_batchs_retries_and_dead_letters_go_out_in_one_send_per_queue(settings, sent, answer, queue):
    """During an outage every event of every batch needs a follow-up message: one
    SendMessageBatch for ten of them, not ten SendMessage calls."""
    with Receiver(default=Reply(answer)) as rx:
        _, res = make_endpoint(settings, rx.url())
        for n in range(10):
            publish(res, f"evt_{n}")
        sent.clear()
        messages = receive(res.queue_url)
        assert len(messages) == 10
        assert process(settings, res, messages) == {"batchItemFailures": []}
    assert len(rx.requests) == 10
    target = res.queue_url if queue == "queue" else res.dlq_url
    assert [s["queue"] for s in sent] == [target] * 10 and len({s["call"] for s in sent}) == 1
    landed = receive(res.dlq_url) if queue == "dlq" else []
    assert queue == "queue" or len(landed) == 10


def test_attempt_log_failure_reports_every_record_and_sends_nothing(settings, sent, monkeypatch):
    def failing(self, items):
        raise ConnectionError("DynamoDB unavailable")

    monkeypatch.setattr(Store, "put_attempt_items", failing)
    with Receiver(default=Reply(503)) as rx:
        _, res = make_endpoint(settings, rx.url())
        publish(res, "evt_1")
        publish(res, "evt_2")
        response = pump(settings, res)
    assert len(response["batchItemFailures"]) == 2
    assert [s for s in sent if queues.ATTEMPT in s["attributes"]] == []  # no second retry chain


def test_already_delivered_is_acknowledged_without_a_post(settings):
    with Receiver() as rx:
        endpoint, res = make_endpoint(settings, rx.url())
        Store(settings).mark_delivered(endpoint.id, "evt_1")
        publish(res)
        assert pump(settings, res) == {"batchItemFailures": []}
    assert rx.requests == [] and receive(res.queue_url) == []


def test_early_hop_is_re_delayed_without_a_post(settings, sent):
    not_before = int(time.time() * 1000) + 1_800_000  # 30 min: two more hops of <= 900 s
    with Receiver() as rx:
        _, res = make_endpoint(settings, rx.url())
        publish(
            res,
            **{queues.ATTEMPT: 3, queues.NOT_BEFORE: not_before, queues.FIRST_ATTEMPT_AT: "2026-08-01T10:00:00.000Z"},
        )
        sent.clear()
        assert pump(settings, res) == {"batchItemFailures": []}
    assert rx.requests == []
    (hop,) = sent
    assert hop["delay_s"] == 900 and hop["queue"] == res.queue_url
    assert hop["attributes"][queues.ATTEMPT] == "3" and hop["attributes"][queues.NOT_BEFORE] == str(not_before)


def test_paused_endpoint_leaves_records_queued_and_deleted_endpoint_drops_them(settings):
    with Receiver() as rx:
        endpoint, res = make_endpoint(settings, rx.url())
        Provisioner(settings).pause(endpoint.id)
        publish(res)
        messages = receive(res.queue_url)
        event = sqs_event(res.queue_arn, messages)
        assert delivery.process_batch(event, settings) == {
            "batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]
        }
        Store(settings).delete_endpoint_item(endpoint.id)
        assert delivery.process_batch(event, settings) == {"batchItemFailures": []}
    assert rx.requests == []


# -- SSRF at send time (allow_insecure off) -------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.169.254"])
def test_host_resolving_to_a_blocked_address_is_refused_at_send_time(settings, monkeypatch, address):
    strict = replace(settings, allow_insecure=False)
    lookups: list[str] = []

    def resolver(host, port, *args, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    _, res = make_endpoint(strict, "https://hooks.example.test/in")
    publish(res)
    with monkeypatch.context() as patched:  # the fake resolver answers only while the worker runs
        patched.setattr(socket, "getaddrinfo", resolver)
        assert pump(strict, res) == {"batchItemFailures": []}
    (dead,) = dead_letters(res)
    a = attrs_of(dead)
    assert (a[queues.REASON], a[queues.ATTEMPTS]) == ("blocked_address", "1")
    assert a[queues.LAST_ERROR].startswith("blocked_address: ") and lookups == ["hooks.example.test"]


# -- health, metrics, the handler, deliver_now ----------------------------------------------


def test_failure_streak_auto_pauses_and_a_success_resets_it(settings, capsys):
    eager = replace(settings, auto_pause_after_s=0, auto_pause_min_failures=3)
    with Receiver(Reply(400), Reply(400), Reply(200), Reply(400), Reply(400), Reply(400)) as rx:
        endpoint, res = make_endpoint(eager, rx.url())
        store = Store(eager)
        for n in range(1, 4):
            publish(res, f"evt_{n}")
            pump(eager, res)
        item = store.get_endpoint_item(endpoint.id)
        assert item["consecutiveFailures"] == 0 and "failingSince" not in item  # the success reset it
        publish(res, "evt_4")
        publish(res, "evt_5")
        pump(eager, res)
        assert store.get_endpoint_item(endpoint.id)["active"] is True  # 2 failures < 3
        publish(res, "evt_6")
        pump(eager, res)
    paused = store.get_endpoint_item(endpoint.id)
    assert (paused["active"], paused["pausedReason"], paused["consecutiveFailures"]) == (False, "auto_disabled", 3)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    auto = [doc for doc in emf if "AutoPaused" in doc]
    assert auto and auto[0]["endpoint"] == endpoint.id and auto[0]["service"] == "litestore-webhooks"
    # the operational events it published (stored like any event): a streak starts, ends, starts, pauses;
    # each 400 was also dead-lettered (rejected)
    published = sorted(operational_events(eager), key=lambda e: e["timestamp"])
    assert sorted(e["data"]["eventId"] for e in published if e["event"] == "webhooks.delivery.dead_lettered") == [
        "evt_1",
        "evt_2",
        "evt_4",
        "evt_5",
        "evt_6",
    ]
    reported = [e for e in published if e["event"].startswith("webhooks.endpoint.")]
    assert [e["event"] for e in reported] == [
        "webhooks.endpoint.failing",
        "webhooks.endpoint.recovered",
        "webhooks.endpoint.failing",
        "webhooks.endpoint.paused",
    ]
    assert reported[1]["data"]["failures"] == 2 and reported[0]["data"]["lastStatus"] == 400
    assert {k: reported[3]["data"][k] for k in ("endpointId", "reason", "consecutiveFailures", "lastStatus")} == {
        "endpointId": endpoint.id,
        "reason": "auto_disabled",
        "consecutiveFailures": 3,
        "lastStatus": 400,
    }


def operational_events(settings: Settings) -> list[dict[str, Any]]:
    """The webhooks.* events in the events table (what operational.publish stored)."""
    items = [from_ddb(i) for i in Store(settings).ddb.scan(TableName=settings.events_table)["Items"]]
    envelopes = [json.loads(i["body"]) if "body" in i else i for i in items]
    return [e for e in envelopes if str(e.get("event", "")).startswith("webhooks.")]


def test_handler_returns_partial_batch_response_and_emits_both_metric_sets(settings, monkeypatch, capsys):
    from litestore_webhooks import config
    from litestore_webhooks.handlers.delivery import handler

    monkeypatch.setenv("LSW_ALLOW_INSECURE", "1")
    config.settings.cache_clear()

    class Context:
        function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "delivery", 1024, "arn:fn", "req-1"

    with Receiver() as rx:
        endpoint, res = make_endpoint(config.settings(), rx.url())
        publish(res)
        messages = receive(res.queue_url)
        assert handler(sqs_event(res.queue_arn, messages), Context()) == {"batchItemFailures": []}
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    dimension_sets = [doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0] for doc in emf if "Delivered" in doc]
    assert sorted(map(sorted, dimension_sets)) == [["endpoint", "service"], ["service"]]
    assert all("DeliveryLatency" in doc for doc in emf if "Delivered" in doc)


def test_deliver_now_makes_one_logged_synchronous_attempt(settings, sent):
    with Receiver(Reply(500, body=b"nope")) as rx:
        endpoint, res = make_endpoint(settings, rx.url())
        secrets = signing_secrets(settings, endpoint)
        record = delivery.deliver_now(
            endpoint, secrets, b'{"ping":true}', "evt_test", "webhook.test", settings=settings
        )
        (request,) = rx.wait_for(1)
    assert (record["status"], record["httpStatus"], record["responseExcerpt"], record["test"]) == (
        "failed",
        500,
        "nope",
        True,
    )
    verify(request.body, request.headers, secrets.secret)
    assert sent == [] and [a["status"] for a in attempts(settings, "evt_test")] == ["failed"]


def test_test_sends_carry_the_test_marker_header_and_deliveries_do_not(settings):
    with Receiver() as rx:
        endpoint, res = make_endpoint(settings, rx.url())
        secrets = signing_secrets(settings, endpoint)
        delivery.deliver_now(
            endpoint, secrets, b'{"ping":true}', "evt_test", "webhook.test", test=True, settings=settings
        )
        delivery.deliver_now(
            endpoint, secrets, b'{"ping":true}', "evt_now", "order.created", test=False, settings=settings
        )
        publish(res)
        pump(settings, res)
        test_send, synchronous, queued = rx.wait_for(3)
    lower = [{k.lower(): v for k, v in r.headers.items()} for r in (test_send, synchronous, queued)]
    assert lower[0]["x-litestore-test"] == "true"
    assert "x-litestore-test" not in lower[1] and "x-litestore-test" not in lower[2]
    verify(test_send.body, test_send.headers, secrets.secret)


# -- a change the admin API answered applies to the next batch (issue 13 item 3) ---------------
# Each test delivers one batch first, so this process has seen the endpoint as it was (a warm
# container), then changes the endpoint the way the admin function does, in its own Provisioner.


def _warm(settings: Settings, res: EndpointResources, rx: Receiver) -> None:
    publish(res, "evt_warm")
    assert pump(settings, res) == {"batchItemFailures": []}
    rx.wait_for(1)


def _ids(requests: list[Any]) -> list[str]:
    return [json.loads(q.body)["id"] for q in requests]


def test_a_pause_holds_the_next_batch_although_the_mapping_still_polls(settings):
    """On AWS a disabled mapping can invoke for a while after UpdateEventSourceMapping; delivery re-reads `active`."""
    with Receiver() as rx:
        endpoint, res = make_endpoint(settings, rx.url())
        _warm(settings, res, rx)
        Provisioner(settings).pause(endpoint.id)
        publish(res, "evt_after_pause")
        messages = receive(res.queue_url)
        assert process(settings, res, messages) == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert _ids(rx.requests) == ["evt_warm"]


def test_a_retry_policy_change_applies_to_the_next_batch(settings, sent):
    with Receiver(default=Reply(503)) as rx:
        endpoint, res = make_endpoint(settings, rx.url())  # maxAttempts 5
        publish(res, "evt_before")
        pump(settings, res)
        Provisioner(settings).update(endpoint.id, {"retryPolicy": {"maxAttempts": 1}})
        publish(res, "evt_after")
        pump(settings, res)
    assert [(m["queue"], m["attributes"].get(queues.REASON)) for m in sent] == [
        (res.queue_url, None),
        (res.dlq_url, "retries_exhausted"),
    ]


def test_a_timeout_change_applies_to_the_next_batch(settings):
    with Receiver(default=Reply(200, delay_s=1.0)) as rx:
        endpoint, res = make_endpoint(settings, rx.url())  # timeout 10 s
        _warm(settings, res, rx)
        Provisioner(settings).update(endpoint.id, {"timeout": 300})
        publish(res, "evt_after")
        pump(settings, res)
    assert [(a["status"], a.get("error")) for a in attempts(settings, "evt_after")] == [("retry_scheduled", "timeout")]


def test_a_max_concurrency_change_applies_to_the_next_batch(settings):
    with Receiver(default=Reply(200, delay_s=0.3)) as rx:
        endpoint, res = make_endpoint(settings, rx.url())  # maxConcurrency 10
        _warm(settings, res, rx)
        Provisioner(settings).update(endpoint.id, {"maxConcurrency": 2})
        for i in range(6):
            publish(res, f"evt_{i}")
        pump(settings, res)
        batch = rx.wait_for(7)[1:]
    arrivals = sorted(q.at for q in batch)
    # Two workers: a third POST can only start once the first one's 0.3 s answer came back.
    assert len(arrivals) == 6 and all(arrivals[i + 2] - arrivals[i] >= 0.25 for i in range(4)), arrivals


def test_an_event_the_new_filter_excludes_is_acknowledged_without_a_post(settings, sent, caplog):
    """SNS applies a subscription's new filter policy eventually (up to ~15 min on AWS): what was routed
    under the old one must not be delivered after the admin API answered."""
    with Receiver() as rx:
        endpoint, res = make_endpoint(settings, rx.url(), events=["order.*"])
        _warm(settings, res, rx)
        Provisioner(settings).update(endpoint.id, {"events": ["review.created"]})
        publish(res, "evt_routed_before")  # type order.created, as SNS under the old filter would route it
        assert pump(settings, res) == {"batchItemFailures": []}
    assert _ids(rx.requests) == ["evt_warm"]
    assert sent == [] and attempts(settings, "evt_routed_before") == []
    assert receive(res.queue_url) == []  # acknowledged, not left queued
