"""Faults inside: AWS calls that fail, succeed twice or lose their answer, and handlers that crash.

Faults are injected with botocore event hooks on the very clients the handlers use
(`litestore_webhooks.aws.clients`), against real moto, with real receivers on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from botocore.awsrequest import AWSResponse

from litestore_webhooks.aws import clients, event_sources
from litestore_webhooks.aws.store import Store
from tests.test_ingest import call, drain, envelope, request


def aws_error(code: str, status: int = 500) -> tuple[AWSResponse, dict[str, Any]]:
    """What a `before-call` hook returns to make a call fail as AWS would, without applying it."""
    parsed = {"Error": {"Code": code, "Message": "injected fault"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return AWSResponse("https://injected.invalid/", status, {}, None), parsed


# -- ingest on mock_aws ----------------------------------------------------------------------


@pytest.fixture
def all_events_queue(aws):
    """The queue URL of one provisioned endpoint subscribed to every event."""
    from litestore_webhooks.provisioning import Provisioner, load_endpoint

    local = event_sources.LocalEventSources()
    event_sources.use(local)
    p = Provisioner(aws)
    ep = p.create(p.parse_spec({"url": "https://all.example.com/hook", "events": ["*"]}))
    yield load_endpoint(p.store, ep.id)[1].queue_url
    event_sources.use(None)


def _claims(request_dict: dict[str, Any]) -> bool:
    body = json.loads(request_dict.get("body") or b"{}")
    return str(body.get("Item", {}).get("key", {}).get("S", "")).startswith("evt#")


def test_a_claim_whose_first_try_succeeded_unseen_is_still_ours(aws, all_events_queue):
    """botocore retries a PutItem whose first attempt was applied (timeout, throttle on the way back):
    the retry meets our own claim. The event must be accepted and published, not answered duplicate."""
    retried = []

    def retry_once_after_success(attempts: int, caught_exception: Any, request_dict: dict[str, Any], **_: Any):
        if attempts == 1 and caught_exception is None and _claims(request_dict) and not retried:
            retried.append(True)
            return 0  # "retry now": as botocore does after a read timeout on an applied write
        return None

    clients.client("dynamodb").meta.events.register("needs-retry.dynamodb.PutItem", retry_once_after_success)
    status, _, body = call(request(body=envelope(event_id="evt_retried_claim")))
    assert retried, "the hook did not fire"
    assert (status, body["duplicate"]) == (202, False)
    assert [json.loads(m["Body"])["id"] for m in drain(all_events_queue)] == ["evt_retried_claim"]
    # ... and a real repeat is still a duplicate.
    status, _, body = call(request(body=envelope(event_id="evt_retried_claim")))
    assert (status, body["duplicate"]) == (200, True)
    assert drain(all_events_queue) == []


def test_a_repeat_while_the_first_is_publishing_is_told_to_retry_not_duplicate(aws, all_events_queue):
    """The store times out and retries while the first request is still publishing, then the first
    request's publish fails. Answering the retry `200 duplicate` would lose the event."""
    seen: dict[str, Any] = {}

    def repeat_then_fail(**_: Any):
        if "repeat" in seen:
            return None
        seen["repeat"] = call(request(body=envelope(event_id="evt_race")))  # arrives mid-publish
        return aws_error("InternalError")

    clients.client("sns").meta.events.register("before-call.sns.PublishBatch", repeat_then_fail)
    status, _, body = call(request(body=envelope(event_id="evt_race")))
    assert (status, body["error"]["code"]) == (503, "publish_failed")
    repeat_status, _, repeat_body = seen["repeat"]
    assert (repeat_status, repeat_body["error"]["code"]) == (503, "event_in_progress")
    assert repeat_body["error"]["details"] == {"retryable": True}
    assert drain(all_events_queue) == []
    status, _, body = call(request(body=envelope(event_id="evt_race")))  # the store's next retry
    assert (status, body["duplicate"]) == (202, False)
    assert [json.loads(m["Body"])["id"] for m in drain(all_events_queue)] == ["evt_race"]


def test_a_claim_left_pending_by_a_dead_request_is_taken_over_after_its_lease(aws, all_events_queue):
    from litestore_webhooks.ingest import CLAIM_LEASE_S

    store = Store(aws)
    store.claim_event_id("evt_orphan", token="died-mid-request", lease_s=CLAIM_LEASE_S, now=time.time() - CLAIM_LEASE_S - 1)
    status, _, body = call(request(body=envelope(event_id="evt_orphan")))
    assert (status, body["duplicate"]) == (202, False)
    assert len(drain(all_events_queue)) == 1
    store.claim_event_id("evt_live", token="still-publishing", lease_s=CLAIM_LEASE_S)
    status, _, body = call(request(body=envelope(event_id="evt_live")))
    assert (status, body["error"]["code"]) == (503, "event_in_progress")


def test_release_frees_only_its_own_claim(aws):
    from litestore_webhooks.aws.store import CLAIMED, DUPLICATE, IN_PROGRESS

    store = Store(aws)
    assert store.claim_event_id("evt_x", token="a", lease_s=60) == CLAIMED
    assert store.claim_event_id("evt_x", token="a", lease_s=60) == CLAIMED  # our own write, seen again
    assert store.claim_event_id("evt_x", token="b", lease_s=60) == IN_PROGRESS
    store.release_event_id("evt_x", token="b")  # not b's: stays
    assert store.claim_event_id("evt_x", token="b", lease_s=60) == IN_PROGRESS
    store.release_event_id("evt_x", token="a")
    assert store.claim_event_id("evt_x", token="b", lease_s=60) == CLAIMED
    store.confirm_event_ids(["evt_x"])
    assert store.claim_event_id("evt_x", token="b", lease_s=60) == DUPLICATE
    store.release_event_id("evt_x", token="b")  # accepted is final
    assert store.claim_event_id("evt_x", token="c", lease_s=60) == DUPLICATE
