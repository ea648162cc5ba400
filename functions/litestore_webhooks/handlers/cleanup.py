"""CloudFormation custom resource: on stack Delete, remove what the admin function made at run time.

Create/Update are no-ops. Delete removes, idempotently and with pagination:
  1. SNS subscriptions on this stack's topic,
  2. SQS event source mappings of the delivery function,
  3. SQS queues (endpoint queues and DLQs) whose names match the stack prefix pattern.
Plain boto3 (the Lambda runtime provides it) and the stdlib only; it answers CloudFormation
itself through the pre-signed ResponseURL (no custom-resource framework function).

`cdk destroy` must neither hang nor stop in DELETE_FAILED on a passing condition: throttled
calls are retried by botocore (adaptive mode, 10 attempts), a mapping Lambda still holds
(ResourceInUseException while Creating or Updating) is retried with backoff, and the work
stops in time to answer CloudFormation before the function's own timeout. The stack sets a
ServiceTimeout a little over that timeout, so a function that dies costs minutes, not the
hour CloudFormation would otherwise wait.

Resource properties: Prefix, TopicArn, DeliveryFunctionArn.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import random
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from litestore_webhooks import resources as r

log = logging.getLogger()
log.setLevel(logging.INFO)

RETRIES = Config(retries={"mode": "adaptive", "total_max_attempts": 10}, connect_timeout=5, read_timeout=30)
ANSWER_RESERVE_S = 45  # the answer's PUT may take up to 30 s; stop working this long before the timeout
IN_USE_FIRST_DELAY_S = 1.0
IN_USE_MAX_DELAY_S = 20.0

_GONE = {
    "NotFound",
    "NotFoundException",
    "ResourceNotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "InvalidParameter",
}


class OutOfTime(Exception):
    """The deadline came before the work was done: CloudFormation is told, with what is left."""


class Deadline:
    """Seconds left before the answer must go out."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return self._end - self._clock()


def make_clients() -> dict[str, Any]:
    return {name: boto3.client(name, config=RETRIES) for name in ("sns", "lambda", "sqs")}


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _gone(exc: ClientError) -> bool:
    return _code(exc) in _GONE


def remove_subscriptions(sns: Any, topic_arn: str) -> int:
    removed = 0
    try:
        pages = list(sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn))
    except ClientError as exc:
        if _gone(exc):  # the topic is already gone, and its subscriptions with it
            return 0
        raise
    for page in pages:
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


def _delete_mapping(lambda_client: Any, uuid: str, deadline: Deadline, sleep: Callable[[float], None]) -> bool:
    """Delete one mapping, waiting (jittered, doubling) while Lambda reports it in use."""
    delay = IN_USE_FIRST_DELAY_S
    while True:
        try:
            lambda_client.delete_event_source_mapping(UUID=uuid)
            return True
        except ClientError as exc:
            if _gone(exc):
                return False
            if _code(exc) != "ResourceInUseException":
                raise
        if deadline.remaining() < delay:
            raise OutOfTime(
                f"event source mapping {uuid} still in use (Creating or Updating) when time ran out; "
                "run cdk destroy again"
            )
        sleep(delay * random.uniform(0.75, 1.0))
        delay = min(IN_USE_MAX_DELAY_S, delay * 2)


def remove_mappings(
    lambda_client: Any, function_arn: str, deadline: Deadline, sleep: Callable[[float], None] = time.sleep
) -> int:
    try:
        mappings = [
            mapping
            for page in lambda_client.get_paginator("list_event_source_mappings").paginate(FunctionName=function_arn)
            for mapping in page.get("EventSourceMappings", [])
        ]
    except ClientError as exc:
        if _gone(exc):  # the function is already gone
            return 0
        raise
    removed = 0
    for mapping in mappings:
        if mapping.get("State") == "Deleting":  # an earlier run's delete, still under way
            removed += 1
        elif _delete_mapping(lambda_client, mapping["UUID"], deadline, sleep):
            removed += 1
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


def cleanup(
    props: dict[str, Any],
    clients: dict[str, Any] | None = None,
    *,
    deadline: Deadline | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    clients = clients or make_clients()
    deadline = deadline or Deadline(15 * 60)
    prefix = props["Prefix"]
    if not prefix:
        raise ValueError("Prefix must not be empty")
    return {
        "subscriptions": remove_subscriptions(clients["sns"], props["TopicArn"]),
        "mappings": remove_mappings(clients["lambda"], props["DeliveryFunctionArn"], deadline, sleep),
        "queues": remove_queues(clients["sqs"], prefix),
    }


def respond(
    event: dict[str, Any],
    context: Any,
    status: str,
    reason: str,
    data: dict | None = None,
    physical_id: str = "runtime-resources",
) -> None:
    """Answer CloudFormation through the request's pre-signed ResponseURL (also the catalog seed's answer)."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:3000],
            "PhysicalResourceId": event.get("PhysicalResourceId")
            or f"{event['ResourceProperties'].get('Prefix')}-{physical_id}",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": False,
            "Data": {k: str(v) for k, v in (data or {}).items()},
        }
    ).encode()
    req = urllib.request.Request(  # noqa: S310 - CloudFormation's pre-signed https URL
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - CloudFormation pre-signed S3 URL
        resp.read()


def handler(event: dict[str, Any], context: Any) -> None:
    log.info("%s %s", event.get("RequestType"), event.get("LogicalResourceId"))
    try:
        data: dict[str, int] = {}
        if event.get("RequestType") == "Delete":
            seconds = context.get_remaining_time_in_millis() / 1000 - ANSWER_RESERVE_S
            data = cleanup(event["ResourceProperties"], deadline=Deadline(seconds))
            log.info("removed %s", data)
        status, reason = "SUCCESS", "ok"
    except Exception as exc:  # report every failure to CloudFormation instead of hanging it
        log.exception("cleanup failed")
        status, reason, data = "FAILED", f"{type(exc).__name__}: {exc}", {}
    log_stream = getattr(context, "log_stream_name", "")
    respond(event, context, status, f"{reason} (log stream {log_stream})", data)
