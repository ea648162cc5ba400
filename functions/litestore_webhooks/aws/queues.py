"""SQS access: sending to endpoint queues and dead-letter queues.

Message attributes carry delivery state between hops, so a retry is just a re-send of the
same canonical body to the endpoint's own queue with a delay. Attribute names live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
