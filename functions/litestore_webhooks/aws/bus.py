"""SNS access: publishing events to the topic and subscribing endpoint queues to it.

Every message carries the event type in the `event` message attribute; endpoint
subscriptions filter on it, so the topic never needs to parse a body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from litestore_webhooks import resources as r
from litestore_webhooks.aws import clients
from litestore_webhooks.aws.queues import EVENT

BATCH_MAX_ENTRIES = 10
# PublishBatch caps the whole request (all bodies and attributes) at the single-message limit.
BATCH_MAX_BYTES = r.SNS_MAX_MESSAGE_BYTES
_STRING = "String"
# Set on a subscription to remove its filter policy (SNS has no "delete attribute").
NO_FILTER_POLICY = "{}"


def _attributes(event_type: str) -> dict[str, dict[str, str]]:
    return {EVENT: {"DataType": _STRING, "StringValue": event_type}}


def _message_bytes(body: str, event_type: str) -> int:
    """What SNS counts against its size limits: body plus attribute name, type and value."""
    return len(body.encode("utf-8")) + len(EVENT) + len(_STRING) + len(event_type.encode("utf-8"))


def _error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": ")
    return type(exc).__name__


def publish(topic_arn: str, body: str, event_type: str) -> str:
    """Publish one message; returns its MessageId."""
    resp = clients.client("sns").publish(TopicArn=topic_arn, Message=body, MessageAttributes=_attributes(event_type))
    return resp["MessageId"]


def _chunks(items: Sequence[tuple[str, str, str]]) -> Iterator[list[int]]:
    """Indexes of `items` grouped into PublishBatch calls within the entry and byte limits."""
    chunk: list[int] = []
    size = 0
    for i, (_, body, event_type) in enumerate(items):
        n = _message_bytes(body, event_type)
        if chunk and (len(chunk) == BATCH_MAX_ENTRIES or size + n > BATCH_MAX_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(i)
        size += n
    if chunk:
        yield chunk


def publish_batch(topic_arn: str, items: Sequence[tuple[str, str, str]]) -> dict[str, str | None]:
    """Publish (id, body, event_type) items with PublishBatch; maps each id to None or its error.

    Entry ids are the item's index (event ids may contain characters PublishBatch refuses).
    A call that fails as a whole marks each of its items failed; nothing is raised.
    """
    sns = clients.client("sns")
    outcome: dict[str, str | None] = {}
    for chunk in _chunks(items):
        entries = [{"Id": str(i), "Message": items[i][1], "MessageAttributes": _attributes(items[i][2])} for i in chunk]
        try:
            resp = sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
        except (ClientError, BotoCoreError) as exc:
            outcome.update({items[i][0]: _error(exc) for i in chunk})
            continue
        for ok in resp.get("Successful", []):
            outcome[items[int(ok["Id"])][0]] = None
        for failed in resp.get("Failed", []):
            outcome[items[int(failed["Id"])][0]] = f"{failed.get('Code', 'Error')}: {failed.get('Message', '')}"
        for i in chunk:  # an entry SNS reported in neither list did not demonstrably succeed
            outcome.setdefault(items[i][0], "no result reported")
    return outcome


# -- endpoint subscriptions ------------------------------------------------------------
def subscription_attributes(filter_policy: dict[str, Any] | None) -> dict[str, str]:
    """Attributes of an endpoint queue's subscription: raw delivery, filter on the `event` attribute."""
    attrs = {"RawMessageDelivery": "true"}
    if filter_policy is not None:
        attrs["FilterPolicyScope"] = "MessageAttributes"
        attrs["FilterPolicy"] = json.dumps(filter_policy, separators=(",", ":"), sort_keys=True)
    return attrs


def subscribe_queue(topic_arn: str, queue_arn: str, filter_policy: dict[str, Any] | None) -> str:
    """Subscribe a queue (SNS returns the existing subscription for the same attributes)."""
    resp = clients.client("sns").subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes=subscription_attributes(filter_policy),
        ReturnSubscriptionArn=True,
    )
    return resp["SubscriptionArn"]


def find_subscription(topic_arn: str, queue_arn: str) -> str | None:
    """The topic's subscription delivering to this queue, if any (a full listing: repair path only)."""
    pages = clients.client("sns").get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
    for page in pages:
        for sub in page.get("Subscriptions", []):
            if sub.get("Endpoint") == queue_arn and sub.get("Protocol") == "sqs":
                return sub["SubscriptionArn"]
    return None


def get_subscription(subscription_arn: str) -> dict[str, str] | None:
    """A subscription's attributes, or None if it no longer exists."""
    try:
        return clients.client("sns").get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NotFound", "NotFoundException", "InvalidParameter"}:
            return None
        raise


def filter_policy_of(attributes: dict[str, str]) -> dict[str, Any] | None:
    """The filter policy a subscription applies, None when it passes everything."""
    return json.loads(attributes.get("FilterPolicy") or NO_FILTER_POLICY) or None


def set_filter_policy(subscription_arn: str, filter_policy: dict[str, Any] | None) -> None:
    """Replace the filter policy in place; None removes it (every event)."""
    sns = clients.client("sns")
    attrs = subscription_attributes(filter_policy)
    if filter_policy is not None:
        sns.set_subscription_attributes(
            SubscriptionArn=subscription_arn,
            AttributeName="FilterPolicyScope",
            AttributeValue=attrs["FilterPolicyScope"],
        )
    sns.set_subscription_attributes(
        SubscriptionArn=subscription_arn,
        AttributeName="FilterPolicy",
        AttributeValue=attrs.get("FilterPolicy", NO_FILTER_POLICY),
    )


def set_raw_delivery(subscription_arn: str) -> None:
    clients.client("sns").set_subscription_attributes(
        SubscriptionArn=subscription_arn, AttributeName="RawMessageDelivery", AttributeValue="true"
    )


def unsubscribe(subscription_arn: str) -> None:
    """Remove a subscription; already gone is fine."""
    try:
        clients.client("sns").unsubscribe(SubscriptionArn=subscription_arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"NotFound", "NotFoundException"}:
            raise
