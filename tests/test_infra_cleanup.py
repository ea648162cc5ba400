"""The stack-delete cleanup custom resource handler (functions/.../handlers/cleanup.py), with stub clients."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from litestore_webhooks import resources as r
from litestore_webhooks.handlers import cleanup

PREFIX = "lsw-test"
TOPIC = "arn:aws:sns:us-east-1:123456789012:lsw-test-events"
DELIVERY = "arn:aws:lambda:us-east-1:123456789012:function:lsw-test-delivery"


class Paginator:
    def __init__(self, pages):
        self.pages, self.kwargs = pages, None

    def paginate(self, **kwargs):
        self.kwargs = kwargs
        return iter(self.pages)


def _gone(op: str) -> ClientError:
    return ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, op)


class Stub:
    def __init__(self, pages, gone=()):
        self.paginator, self.gone, self.calls = Paginator(pages), set(gone), []

    def get_paginator(self, name):
        self.paginator.name = name
        return self.paginator

    def _call(self, op, key):
        self.calls.append(key)
        if key in self.gone:
            raise _gone(op)

    def unsubscribe(self, SubscriptionArn):
        self._call("Unsubscribe", SubscriptionArn)

    def delete_event_source_mapping(self, UUID):
        self._call("DeleteEventSourceMapping", UUID)

    def delete_queue(self, QueueUrl):
        self._call("DeleteQueue", QueueUrl)


def _clients():
    q = "https://sqs.us-east-1.amazonaws.com/123456789012/"
    return {
        "sns": Stub([
            {"Subscriptions": [{"SubscriptionArn": f"{TOPIC}:a"}, {"SubscriptionArn": "PendingConfirmation"}]},
            {"Subscriptions": [{"SubscriptionArn": f"{TOPIC}:b"}]},
        ], gone={f"{TOPIC}:b"}),
        "lambda": Stub([{"EventSourceMappings": [{"UUID": "u1"}]}, {"EventSourceMappings": [{"UUID": "u2"}]}]),
        "sqs": Stub([
            {"QueueUrls": [q + r.endpoint_queue_name(PREFIX, "ep_1"), q + r.dead_letter_queue_name(PREFIX, "ep_1")]},
            {"QueueUrls": [q + f"{PREFIX}-other"]},  # never matched by the prefix pattern
        ]),
    }


def test_delete_removes_subscriptions_mappings_and_prefix_queues_paginated():
    clients = _clients()
    removed = cleanup.cleanup({"Prefix": PREFIX, "TopicArn": TOPIC, "DeliveryFunctionArn": DELIVERY}, clients)
    assert removed == {"subscriptions": 1, "mappings": 2, "queues": 2}  # "b" was already gone
    assert clients["sns"].paginator.kwargs == {"TopicArn": TOPIC}
    assert clients["lambda"].paginator.kwargs == {"FunctionName": DELIVERY}
    assert clients["sqs"].paginator.kwargs == {"QueueNamePrefix": f"{PREFIX}-ep_"}
    assert all(url.rsplit("/", 1)[1].startswith(f"{PREFIX}-ep_") for url in clients["sqs"].calls)
    # idempotent: a second run over the same listing succeeds
    cleanup.cleanup({"Prefix": PREFIX, "TopicArn": TOPIC, "DeliveryFunctionArn": DELIVERY}, _clients())


def test_empty_prefix_is_refused():
    with pytest.raises(ValueError):
        cleanup.cleanup({"Prefix": "", "TopicArn": TOPIC, "DeliveryFunctionArn": DELIVERY}, _clients())


@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
def test_handler_answers_cloudformation(monkeypatch, request_type):
    sent, ran = [], []
    monkeypatch.setattr(cleanup, "cleanup", lambda props: ran.append(props) or {"queues": 0})

    class Resp:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self):
            return b""

    monkeypatch.setattr(cleanup.urllib.request, "urlopen", lambda req, timeout: sent.append(req) or Resp())
    event = {
        "RequestType": request_type, "ResponseURL": "https://example.invalid/presigned", "StackId": "s",
        "RequestId": "q", "LogicalResourceId": "L",
        "ResourceProperties": {"Prefix": PREFIX, "TopicArn": TOPIC, "DeliveryFunctionArn": DELIVERY},
    }
    cleanup.handler(event, None)
    (req,) = sent
    body = json.loads(req.data)
    assert body["Status"] == "SUCCESS" and req.get_method() == "PUT"
    assert body["PhysicalResourceId"] == f"{PREFIX}-runtime-resources"
    assert bool(ran) is (request_type == "Delete")  # Create/Update are no-ops


def test_handler_reports_failure_instead_of_hanging(monkeypatch):
    sent = []

    def boom(props):
        raise RuntimeError("denied")

    class Resp:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self):
            return b""

    monkeypatch.setattr(cleanup, "cleanup", boom)
    monkeypatch.setattr(cleanup.urllib.request, "urlopen", lambda req, timeout: sent.append(req) or Resp())
    cleanup.handler({"RequestType": "Delete", "ResponseURL": "https://example.invalid/x", "StackId": "s",
                     "RequestId": "q", "LogicalResourceId": "L", "PhysicalResourceId": "p",
                     "ResourceProperties": {"Prefix": PREFIX}}, None)
    body = json.loads(sent[0].data)
    assert body["Status"] == "FAILED" and "denied" in body["Reason"] and body["PhysicalResourceId"] == "p"
