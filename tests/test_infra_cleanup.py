"""The stack-delete cleanup custom resource (handlers/cleanup.py) on moto's server, with AWS errors
injected at the HTTP layer (botocore's before-send hook answers instead of the server, so the
call is not applied): botocore parses them as it would AWS's answers, and its retry handler
sees them. Server mode, not mock_aws: mock_aws applies a call even when a hook answers for it."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from typing import Any

import boto3
import botocore.endpoint
import botocore.retries.bucket
import pytest
import requests
from botocore.awsrequest import AWSResponse

from litestore_webhooks import resources as r
from litestore_webhooks.handlers import cleanup
from litestore_webhooks.local.moto_server import MotoServer

PREFIX = "lsw-test"
ACCOUNT = "123456789012"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any):
        yield self.body


# The error answers AWS gives, in each service's protocol.
IN_USE = (
    409,
    {"x-amzn-ErrorType": "ResourceInUseException"},
    b'{"Type":"User","Message":"Cannot delete the event source mapping because it is in use."}',
)
LAMBDA_THROTTLED = (429, {"x-amzn-ErrorType": "TooManyRequestsException"}, b'{"Type":"User","message":"Rate exceeded"}')
SNS_THROTTLED = (
    400,
    {},
    b'<ErrorResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
    b"<Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>",
)
SQS_THROTTLED = (
    400,
    {"x-amzn-query-error": "RequestThrottled;Sender"},
    b'{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Rate exceeded"}',
)


class Faults:
    """Answers the next `times` calls of an operation with an error; counts every call sent."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.sent: Counter[str] = Counter()
        self._plan: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        for service, client in clients.items():
            client.meta.events.register(f"before-send.{client.meta.service_model.endpoint_prefix}", self._send)
            del service

    def inject(self, operation: str, answer: tuple[int, dict[str, str], bytes], times: int) -> None:
        self._plan.setdefault(operation, []).extend([answer] * times)

    def _send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        self.sent[operation] += 1
        planned = self._plan.get(operation)
        if planned:
            status, headers, body = planned.pop(0)
            return AWSResponse(request.url, status, {"Content-Type": "application/json", **headers}, _Raw(body))
        return None


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


class _NoWait:
    """botocore.endpoint's `time`, recording retry waits instead of sleeping them (the adaptive
    mode's send-rate token bucket, which slows a throttled client down, is granted at once too)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="module")
def moto_url():
    with MotoServer() as server:
        yield server.url


@pytest.fixture
def aws(moto_url, monkeypatch):
    requests.post(f"{moto_url}/moto-api/reset", timeout=5).raise_for_status()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    waits = _NoWait()
    monkeypatch.setattr(botocore.endpoint, "time", waits)
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True)
    return waits


@pytest.fixture
def stack(aws):
    """A moto account holding what a stack's admin function makes at run time, plus a neighbour's."""
    clients = cleanup.make_clients()
    sns, lam, sqs = clients["sns"], clients["lambda"], clients["sqs"]
    role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]

    def function(name: str) -> str:
        return lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler", Code={"ZipFile": _zip()}
        )["FunctionArn"]

    def queue(name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    delivery, neighbour_fn = function(f"{PREFIX}-delivery"), function("other-delivery")
    topic = sns.create_topic(Name=r.topic_name(PREFIX))["TopicArn"]
    other_topic = sns.create_topic(Name="other-events")["TopicArn"]
    mappings = []
    for endpoint_id in ("ep_1", "ep_2"):
        _, arn = queue(r.endpoint_queue_name(PREFIX, endpoint_id))
        queue(r.dead_letter_queue_name(PREFIX, endpoint_id))
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        mappings.append(lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=delivery)["UUID"])
    _, other_arn = queue("other-ep_1")
    sns.subscribe(TopicArn=other_topic, Protocol="sqs", Endpoint=other_arn)
    lam.create_event_source_mapping(EventSourceArn=other_arn, FunctionName=neighbour_fn)
    queue(f"{PREFIX}-unrelated")  # under the prefix but not an endpoint queue
    yield {
        "clients": clients,
        "faults": Faults(clients),
        "mappings": mappings,
        "props": {"Prefix": PREFIX, "TopicArn": topic, "DeliveryFunctionArn": delivery},
        "delivery": delivery,
        "neighbour_fn": neighbour_fn,
        "topic": topic,
        "other_topic": other_topic,
        "retry_waits": aws.waits,
    }


def _left(stack) -> dict[str, Any]:
    c = stack["clients"]
    return {
        "subscriptions": len(c["sns"].list_subscriptions_by_topic(TopicArn=stack["topic"])["Subscriptions"]),
        "mappings": len(c["lambda"].list_event_source_mappings(FunctionName=stack["delivery"])["EventSourceMappings"]),
        "queues": sorted(u.rsplit("/", 1)[1] for u in c["sqs"].list_queues().get("QueueUrls", [])),
    }


def _run(stack, **kw: Any) -> dict[str, int]:
    return cleanup.cleanup(stack["props"], stack["clients"], **kw)


def test_delete_removes_this_stacks_subscriptions_mappings_and_endpoint_queues_only(stack):
    assert _run(stack) == {"subscriptions": 2, "mappings": 2, "queues": 4}
    c = stack["clients"]
    assert _left(stack) == {"subscriptions": 0, "mappings": 0, "queues": ["lsw-test-unrelated", "other-ep_1"]}
    assert len(c["sns"].list_subscriptions_by_topic(TopicArn=stack["other_topic"])["Subscriptions"]) == 1
    assert len(c["lambda"].list_event_source_mappings(FunctionName=stack["neighbour_fn"])["EventSourceMappings"]) == 1
    assert _run(stack) == {"subscriptions": 0, "mappings": 0, "queues": 0}  # a second run: nothing left, no error


def test_a_mapping_still_in_use_is_deleted_once_lambda_lets_go(stack):
    """Lambda refuses DeleteEventSourceMapping while a mapping is Creating or Updating."""
    stack["faults"].inject("DeleteEventSourceMapping", IN_USE, times=3)
    slept: list[float] = []
    assert _run(stack, sleep=slept.append)["mappings"] == 2
    assert stack["faults"].sent["DeleteEventSourceMapping"] == 2 + 3
    assert len(slept) == 3 and slept[0] < slept[1] < slept[2]  # backing off (jittered within each step)
    assert _left(stack)["mappings"] == 0


def test_mappings_already_deleting_are_not_deleted_again(stack, monkeypatch):
    """An earlier run's deletes leave mappings "Deleting" for a while; the listing still shows them."""
    lam = stack["clients"]["lambda"]

    def deleting(parsed: dict[str, Any], **_: Any) -> None:
        for mapping in parsed.get("EventSourceMappings", []):
            mapping["State"] = "Deleting"

    lam.meta.events.register("after-call.lambda.ListEventSourceMappings", deleting)
    assert _run(stack)["mappings"] == 2
    assert stack["faults"].sent["DeleteEventSourceMapping"] == 0


@pytest.mark.parametrize(
    "operation, answer",
    [
        ("ListSubscriptionsByTopic", SNS_THROTTLED),
        ("Unsubscribe", SNS_THROTTLED),
        ("ListEventSourceMappings", LAMBDA_THROTTLED),
        ("DeleteEventSourceMapping", LAMBDA_THROTTLED),
        ("ListQueues", SQS_THROTTLED),
        ("DeleteQueue", SQS_THROTTLED),
    ],
)
def test_throttled_calls_are_retried_with_backoff(stack, operation, answer):
    """botocore's adaptive retry mode: up to 10 attempts; 5 throttles in a row would have ended
    the cleanup under the default retry mode (5 attempts)."""
    stack["faults"].inject(operation, answer, times=5)
    assert _run(stack) == {"subscriptions": 2, "mappings": 2, "queues": 4}
    assert _left(stack) == {"subscriptions": 0, "mappings": 0, "queues": ["lsw-test-unrelated", "other-ep_1"]}
    assert stack["faults"].sent[operation] >= 5 + 1
    assert len(stack["retry_waits"]) == 5  # botocore waited before each retry


def test_clients_use_the_adaptive_retry_mode_with_ten_attempts(aws):
    for client in cleanup.make_clients().values():
        assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 10}


def test_a_mapping_in_use_past_the_deadline_fails_naming_it(stack):
    stack["faults"].inject("DeleteEventSourceMapping", IN_USE, times=1000)
    clock = iter(range(0, 10_000, 7))  # each look at the clock: 7 s later
    deadline = cleanup.Deadline(60, clock=lambda: next(clock))
    with pytest.raises(cleanup.OutOfTime, match=r"event source mapping .* still in use .* run cdk destroy again"):
        _run(stack, deadline=deadline, sleep=lambda s: None)


def test_a_topic_or_function_already_gone_counts_as_nothing_to_remove(stack):
    c = stack["clients"]
    c["sns"].delete_topic(TopicArn=stack["topic"])
    c["lambda"].delete_function(FunctionName=stack["delivery"])
    assert _run(stack)["subscriptions"] == 0


def test_empty_prefix_is_refused(stack):
    with pytest.raises(ValueError):
        cleanup.cleanup({**stack["props"], "Prefix": ""}, stack["clients"])


class Context:
    log_stream_name = "2026/01/01/[$LATEST]abc"

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _answer(monkeypatch) -> list[Any]:
    sent: list[Any] = []

    class Resp:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self):
            return b""

    monkeypatch.setattr(cleanup.urllib.request, "urlopen", lambda req, timeout: sent.append(req) or Resp())
    return sent


def _event(request_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://example.invalid/presigned",
        "StackId": "s",
        "RequestId": "q",
        "LogicalResourceId": "L",
        "ResourceProperties": {"Prefix": PREFIX, "TopicArn": "t", "DeliveryFunctionArn": "d"},
        **extra,
    }


@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
def test_handler_answers_cloudformation(monkeypatch, request_type):
    ran: list[Any] = []
    monkeypatch.setattr(cleanup, "cleanup", lambda props, **kw: ran.append((props, kw)) or {"queues": 0})
    sent = _answer(monkeypatch)
    cleanup.handler(_event(request_type), Context(600_000))
    (req,) = sent
    body = json.loads(req.data)
    assert body["Status"] == "SUCCESS" and req.get_method() == "PUT"
    assert body["PhysicalResourceId"] == f"{PREFIX}-runtime-resources"
    assert bool(ran) is (request_type == "Delete")  # Create/Update are no-ops
    if ran:  # stops retrying in time to answer before the function's own timeout
        assert ran[0][1]["deadline"].remaining() == pytest.approx(600 - cleanup.ANSWER_RESERVE_S, abs=1)


def test_handler_reports_failure_instead_of_hanging(monkeypatch):
    def boom(props, **kw):
        raise RuntimeError("denied")

    monkeypatch.setattr(cleanup, "cleanup", boom)
    sent = _answer(monkeypatch)
    cleanup.handler(_event("Delete", PhysicalResourceId="p"), Context(600_000))
    body = json.loads(sent[0].data)
    assert body["Status"] == "FAILED" and "denied" in body["Reason"] and body["PhysicalResourceId"] == "p"
    assert Context.log_stream_name in body["Reason"]


@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
def test_the_catalog_seed_answers_cloudformation_and_seeds_on_create_and_update(monkeypatch, request_type):
    from litestore_webhooks.handlers import catalog_seed

    ran: list[str] = []
    monkeypatch.setattr(
        catalog_seed, "seed_catalog", lambda table: ran.append(table) or {"written": {"a.b": "create"}, "kept": {}}
    )
    sent = _answer(monkeypatch)
    event = {**_event(request_type), "ResourceProperties": {"Prefix": PREFIX, "TableName": "t", "SeedDigest": "d"}}
    catalog_seed.handler(event, Context(120_000))
    body = json.loads(sent[0].data)
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == f"{PREFIX}-catalog-seed"
    assert ran == ([] if request_type == "Delete" else ["t"])
    assert body["Data"] == ({} if request_type == "Delete" else {"Written": "1", "Kept": "0"})


def test_a_failed_seed_is_reported_to_cloudformation(monkeypatch):
    from litestore_webhooks.handlers import catalog_seed

    def boom(table):
        raise RuntimeError("AccessDenied on Query")

    monkeypatch.setattr(catalog_seed, "seed_catalog", boom)
    sent = _answer(monkeypatch)
    catalog_seed.handler(
        {**_event("Create"), "ResourceProperties": {"Prefix": PREFIX, "TableName": "t"}}, Context(120_000)
    )
    body = json.loads(sent[0].data)
    assert body["Status"] == "FAILED" and "AccessDenied on Query" in body["Reason"]
