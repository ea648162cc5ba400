"""CloudFormation custom resource: on stack Delete, remove what the admin function made at run time.

Create/Update are no-ops. Delete removes, idempotently and with pagination:
  1. SNS subscriptions on this stack's topic,
  2. SQS event source mappings of the delivery function,
  3. SQS queues (endpoint queues and DLQs) whose names match the stack prefix pattern.
Plain boto3 (the Lambda runtime provides it) and the stdlib only; it answers CloudFormation
itself through the pre-signed ResponseURL (no custom-resource framework function).

Resource properties: Prefix, TopicArn, DeliveryFunctionArn.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import urllib.request
from typing import Any

import boto3
from botocore.exceptions import ClientError

from litestore_webhooks import resources as r

log = logging.getLogger()
log.setLevel(logging.INFO)

_GONE = {
    "NotFound", "NotFoundException", "ResourceNotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "InvalidParameter",
}


def _gone(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in _GONE


def remove_subscriptions(sns: Any, topic_arn: str) -> int:
    removed = 0
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for sub in page.get("Subscriptions", []):
            arn = sub.get("SubscriptionArn", "")
            if not arn.startswith("arn:"):  # "PendingConfirmation" / "Deleted"
                continue
            try:
                sns.unsubscribe(SubscriptionArn=arn)
                removed += 1
            except ClientError as exc:
                if not _gone(exc):
                    raise
    return removed


def remove_mappings(lambda_client: Any, function_arn: str) -> int:
    removed = 0
    uuids = [
        mapping["UUID"]
        for page in lambda_client.get_paginator("list_event_source_mappings").paginate(FunctionName=function_arn)
        for mapping in page.get("EventSourceMappings", [])
    ]
    for uuid in uuids:
        try:
            lambda_client.delete_event_source_mapping(UUID=uuid)
            removed += 1
        except ClientError as exc:
            if not _gone(exc):
                raise
    return removed


def remove_queues(sqs: Any, prefix: str) -> int:
    pattern = r.endpoint_queue_pattern(prefix)
    name_prefix = pattern.rstrip("*")
    removed = 0
    urls = [
        url
        for page in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=name_prefix)
        for url in page.get("QueueUrls", [])
    ]
    for url in urls:
        if not fnmatch.fnmatchcase(url.rsplit("/", 1)[-1], pattern):
            continue
        try:
            sqs.delete_queue(QueueUrl=url)
            removed += 1
        except ClientError as exc:
            if not _gone(exc):
                raise
    return removed


def cleanup(props: dict[str, Any], clients: dict[str, Any] | None = None) -> dict[str, int]:
    clients = clients or {name: boto3.client(name) for name in ("sns", "lambda", "sqs")}
    prefix = props["Prefix"]
    if not prefix:
        raise ValueError("Prefix must not be empty")
    return {
        "subscriptions": remove_subscriptions(clients["sns"], props["TopicArn"]),
        "mappings": remove_mappings(clients["lambda"], props["DeliveryFunctionArn"]),
        "queues": remove_queues(clients["sqs"], prefix),
    }


def _respond(event: dict[str, Any], context: Any, status: str, reason: str, data: dict | None = None) -> None:
    body = json.dumps({
        "Status": status,
        "Reason": reason[:3000],
        "PhysicalResourceId": event.get("PhysicalResourceId") or f"{event['ResourceProperties'].get('Prefix')}-runtime-resources",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": False,
        "Data": {k: str(v) for k, v in (data or {}).items()},
    }).encode()
    req = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - CloudFormation pre-signed S3 URL
        resp.read()


def handler(event: dict[str, Any], context: Any) -> None:
    log.info("%s %s", event.get("RequestType"), event.get("LogicalResourceId"))
    try:
        data: dict[str, int] = {}
        if event.get("RequestType") == "Delete":
            data = cleanup(event["ResourceProperties"])
            log.info("removed %s", data)
        status, reason = "SUCCESS", "ok"
    except Exception as exc:  # report every failure to CloudFormation instead of hanging it
        log.exception("cleanup failed")
        status, reason, data = "FAILED", f"{type(exc).__name__}: {exc}", {}
    log_stream = getattr(context, "log_stream_name", "")
    _respond(event, context, status, f"{reason} (log stream {log_stream})", data)
