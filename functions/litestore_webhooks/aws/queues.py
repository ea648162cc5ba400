"""SQS access: endpoint queues and dead-letter queues, their lifecycle, and sending to them.

Message attributes carry delivery state between hops, so a retry is just a re-send of the
same canonical body to the endpoint's own queue with a delay. Attribute names live here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from litestore_webhooks import resources as r
from litestore_webhooks.aws import clients

# Attribute names on endpoint-queue and dead-letter messages.
EVENT = "event"  # event type (SNS sets it with raw message delivery)
ATTEMPT = "attempt"  # the attempt number this message is for (absent = 1)
NOT_BEFORE = "notBefore"  # epoch ms; a hop that arrives earlier is re-delayed without a POST
FIRST_ATTEMPT_AT = "firstAttemptAt"
LAST_ATTEMPT_AT = "lastAttemptAt"
TEST = "test"  # "true" on test events sent from the admin API
REASON = "reason"  # dead letters: why it ended there
LAST_STATUS = "lastStatus"
LAST_ERROR = "lastError"
ATTEMPTS = "attempts"
ENDPOINT_ID = "endpointId"

MAX_DELAY_S = 900


def encode_attributes(attrs: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Plain values -> SQS MessageAttributes (ints as Number, the rest as String)."""
    out: dict[str, dict[str, str]] = {}
    for name, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = {"DataType": "String", "StringValue": "true" if value else "false"}
        elif isinstance(value, int):
            out[name] = {"DataType": "Number", "StringValue": str(value)}
        else:
            out[name] = {"DataType": "String", "StringValue": str(value)[:1024]}
    return out


def decode_attributes(record_attrs: Mapping[str, Any]) -> dict[str, str]:
    """SQS attributes from either a Lambda SQS record (stringValue) or ReceiveMessage (StringValue)."""
    out: dict[str, str] = {}
    for name, attr in (record_attrs or {}).items():
        value = attr.get("stringValue", attr.get("StringValue"))
        if value is not None:
            out[name] = value
    return out


def send(queue_url: str, body: str, attributes: Mapping[str, Any], *, delay_s: int = 0) -> str:
    """Send one message; returns its MessageId. Delay is clamped to SQS's 0..900 s."""
    resp = clients.client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageAttributes=encode_attributes(attributes),
        DelaySeconds=max(0, min(MAX_DELAY_S, int(delay_s))),
    )
    return resp["MessageId"]


# -- endpoint queue lifecycle ------------------------------------------------------------
# Attributes SQS may echo in another spelling (JSON documents) are compared parsed.
_JSON_ATTRIBUTES = frozenset({"Policy", "RedrivePolicy"})


@dataclass(frozen=True)
class EndpointQueues:
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


def _is_missing_queue(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NonExistentQueue",
    }


def queue_url(name: str) -> str | None:
    try:
        return clients.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if _is_missing_queue(exc):
            return None
        raise


def queue_arn(url: str) -> str:
    attrs = clients.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attrs["Attributes"]["QueueArn"]


def queue_policy(arn: str, topic_arn: str | None = None) -> dict[str, Any]:
    """Every request not made over TLS refused (what CDK's enforceSSL writes for a stack's queues);
    with `topic_arn`, our topic, and only it, may deliver into the queue."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "sqs:*",
            "Resource": arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if topic_arn:
        statements.append(
            {
                "Sid": "TopicDelivers",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _normalized(name: str, value: str) -> Any:
    if name not in _JSON_ATTRIBUTES:
        return str(value)
    doc = json.loads(value)
    if name == "RedrivePolicy":
        doc["maxReceiveCount"] = int(doc["maxReceiveCount"])
    return doc


def ensure_queue(
    name: str, settings: r.QueueSettings, *, dead_letter_arn: str | None = None, topic_arn: str | None = None
) -> tuple[str, str, list[str]]:
    """Create the queue or bring its attributes back to `settings`; returns (url, arn, fixes).

    Safe to repeat and to race: CreateQueue with the same attributes returns the existing
    queue, and attributes are only rewritten where they differ.
    """
    sqs = clients.client("sqs")
    base = {
        "VisibilityTimeout": str(settings.visibility_timeout_s),
        "MessageRetentionPeriod": str(settings.retention_s),
        "ReceiveMessageWaitTimeSeconds": str(settings.receive_wait_s),
    }
    fixes: list[str] = []
    url = queue_url(name)
    if url is None:
        url = sqs.create_queue(QueueName=name, Attributes=base)["QueueUrl"]
        fixes.append(f"created queue {name}")
    arn = queue_arn(url)
    wanted = dict(base)
    if dead_letter_arn and settings.max_receive_count:
        wanted["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": settings.max_receive_count}
        )
    wanted["Policy"] = json.dumps(queue_policy(arn, topic_arn))
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    drifted = {k: v for k, v in wanted.items() if k not in current or _normalized(k, current[k]) != _normalized(k, v)}
    if drifted:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=drifted)
        if not fixes:
            fixes.append(f"reset {', '.join(sorted(drifted))} of queue {name}")
    return url, arn, fixes


def ensure_endpoint_queues(prefix: str, endpoint_id: str, topic_arn: str) -> tuple[EndpointQueues, list[str]]:
    """The endpoint's DLQ, then its queue (redriving into the DLQ, writable by the topic)."""
    dlq_url, dlq_arn, dlq_fixes = ensure_queue(r.dead_letter_queue_name(prefix, endpoint_id), r.DEAD_LETTER_QUEUE)
    url, arn, fixes = ensure_queue(
        r.endpoint_queue_name(prefix, endpoint_id), r.ENDPOINT_QUEUE, dead_letter_arn=dlq_arn, topic_arn=topic_arn
    )
    return EndpointQueues(url, arn, dlq_url, dlq_arn), dlq_fixes + fixes


def delete_queue(url: str) -> None:
    """Delete a queue; already gone is fine."""
    try:
        clients.client("sqs").delete_queue(QueueUrl=url)
    except ClientError as exc:
        if not _is_missing_queue(exc):
            raise


def delete_endpoint_queues(prefix: str, endpoint_id: str) -> None:
    """Delete the endpoint's queue and DLQ by name (the queue first: it redrives into the DLQ)."""
    for name in (r.endpoint_queue_name(prefix, endpoint_id), r.dead_letter_queue_name(prefix, endpoint_id)):
        url = queue_url(name)
        if url:
            delete_queue(url)


# -- operator access (admin API: dead letters, resend, replay, stats) --------------------
BATCH_MAX_ENTRIES = 10
BATCH_MAX_BYTES = r.SNS_MAX_MESSAGE_BYTES  # conservative: a batch never exceeds one max-size message


@dataclass(frozen=True)
class Message:
    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class OutgoingMessage:
    key: str  # caller's name for the entry; results are keyed by it
    body: str
    attributes: Mapping[str, Any]
    delay_s: int = 0


def receive(queue_url: str, *, max_messages: int, visibility_s: int, wait_s: int = 1) -> list[Message]:
    """Receive up to 10 messages, hidden for `visibility_s`; long-polled so an empty answer means empty."""
    resp = clients.client("sqs").receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max(1, min(BATCH_MAX_ENTRIES, max_messages)),
        VisibilityTimeout=visibility_s,
        WaitTimeSeconds=wait_s,
        MessageAttributeNames=["All"],
    )
    return [
        Message(m["MessageId"], m["ReceiptHandle"], m["Body"], decode_attributes(m.get("MessageAttributes", {})))
        for m in resp.get("Messages", [])
    ]


def release(queue_url: str, messages: list[Message]) -> None:
    """Make received messages visible again at once (visibility 0), ten per call."""
    sqs = clients.client("sqs")
    for i in range(0, len(messages), BATCH_MAX_ENTRIES):
        entries = [
            {"Id": str(n), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
            for n, m in enumerate(messages[i : i + BATCH_MAX_ENTRIES])
        ]
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def delete(queue_url: str, messages: list[Message]) -> None:
    """Delete received messages, ten per call."""
    sqs = clients.client("sqs")
    for i in range(0, len(messages), BATCH_MAX_ENTRIES):
        entries = [
            {"Id": str(n), "ReceiptHandle": m.receipt_handle} for n, m in enumerate(messages[i : i + BATCH_MAX_ENTRIES])
        ]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)


def _send_chunks(messages: list[OutgoingMessage]) -> list[list[OutgoingMessage]]:
    chunks: list[list[OutgoingMessage]] = [[]]
    size = 0
    for m in messages:
        n = len(m.body.encode("utf-8")) + 1024  # body plus a generous allowance for attributes
        if chunks[-1] and (len(chunks[-1]) == BATCH_MAX_ENTRIES or size + n > BATCH_MAX_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(m)
        size += n
    return [c for c in chunks if c]


def send_batch(queue_url: str, messages: list[OutgoingMessage]) -> dict[str, str | None]:
    """SendMessageBatch within the entry and byte limits; maps each key to None (sent) or its error."""
    sqs = clients.client("sqs")
    outcome: dict[str, str | None] = {}
    for chunk in _send_chunks(messages):
        entries = [
            {
                "Id": str(n),
                "MessageBody": m.body,
                "MessageAttributes": encode_attributes(m.attributes),
                "DelaySeconds": max(0, min(MAX_DELAY_S, int(m.delay_s))),
            }
            for n, m in enumerate(chunk)
        ]
        try:
            resp = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except Exception as exc:  # noqa: BLE001 -  # this chunk only: the others' results stand
            code = (
                exc.response.get("Error", {}).get("Code", "Error")
                if isinstance(exc, ClientError)
                else type(exc).__name__
            )
            outcome.update({m.key: code for m in chunk})
            continue
        for ok in resp.get("Successful", []):
            outcome[chunk[int(ok["Id"])].key] = None
        for failed in resp.get("Failed", []):
            outcome[chunk[int(failed["Id"])].key] = failed.get("Code", "Error")
        for m in chunk:
            outcome.setdefault(m.key, "no result reported")
    return outcome


@dataclass(frozen=True)
class Depth:
    visible: int
    in_flight: int
    delayed: int


def depth(queue_url: str) -> Depth:
    """SQS's approximate counts (they lag by up to a minute on AWS)."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attrs = clients.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    visible, in_flight, delayed = (int(attrs.get(n, 0)) for n in names)
    return Depth(visible, in_flight, delayed)


def purge(queue_url: str) -> bool:
    """PurgeQueue; False when SQS refuses because a purge ran in the last 60 seconds."""
    try:
        clients.client("sqs").purge_queue(QueueUrl=queue_url)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {
            "AWS.SimpleQueueService.PurgeQueueInProgress",
            "PurgeQueueInProgress",
        }:
            return False
        raise
