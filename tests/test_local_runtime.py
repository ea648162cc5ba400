"""The local runtime end to end, driven over HTTP as a user would (in-process, free ports)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from tests.receivers import Receiver, Reply

from litestore_webhooks import resources as r
from litestore_webhooks import verify
from litestore_webhooks.local.runtime import LocalRuntime, example_event

SECRET = "local-test-secret-123"


def call(
    rt: LocalRuntime,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    base: str | None = None,
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        (base or rt.base_url) + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def admin(rt: LocalRuntime, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return call(rt, method, path, body, {"Authorization": f"Bearer {rt.admin_token}"})


def ingest(rt: LocalRuntime, event: dict[str, Any]) -> tuple[int, Any]:
    return call(rt, "POST", "/events", event, {"x-api-key": rt.api_key})


@pytest.fixture(scope="module")
def rt():
    runtime = LocalRuntime(port=0, allow_insecure=True)
    runtime.start()
    yield runtime
    runtime.stop()


@pytest.fixture(scope="module")
def receiver():
    with Receiver() as rx:
        yield rx


@pytest.fixture(scope="module")
def endpoint(rt, receiver):
    status, body = admin(
        rt,
        "POST",
        "/endpoints",
        {
            "name": "Content moderation",
            "url": receiver.url("/webhooks/litestore"),
            "events": ["content.*"],
            "secret": SECRET,
        },
    )
    assert status == 201, body
    return body


def test_ingest_needs_the_api_key(rt):
    for headers in ({}, {"x-api-key": "wrong"}):
        status, body = call(rt, "POST", "/events", example_event(), headers)
        assert status == 403 and body["error"]["code"] == "forbidden"


def test_admin_needs_the_bearer_token(rt):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": rt.admin_token}):
        status, body = call(rt, "GET", "/event-types", headers=headers)
        assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = admin(rt, "GET", "/event-types")
    assert status == 200 and {t["name"] for t in body["data"]} >= {"content.submitted", "product.purchased"}


def test_served_with_and_without_the_stage_prefix(rt):
    root = rt.base_url.removesuffix("/v1")
    assert call(rt, "GET", "/event-types", headers={"Authorization": f"Bearer {rt.admin_token}"}, base=root)[0] == 200
    status, body = call(rt, "GET", "/nowhere", base=root)
    assert status == 404 and body["error"]["code"] == "not_found"


def test_bodies_over_10_mb_are_refused(rt):
    host, port = rt.base_url.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.putrequest("POST", "/v1/events")
    conn.putheader("x-api-key", rt.api_key)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(10 * 1024 * 1024 + 1))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413 and json.loads(resp.read())["error"]["code"] == "payload_too_large"
    conn.close()


def test_stack_resources_match_the_shared_definition(rt, endpoint):
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    ddb = session.client("dynamodb", endpoint_url=rt.aws_endpoint_url)
    for table in r.TABLES:
        desc = ddb.describe_table(TableName=table.name())["Table"]
        keys = {k["KeyType"]: k["AttributeName"] for k in desc["KeySchema"]}
        assert (keys["HASH"], keys.get("RANGE")) == (table.partition_key, table.sort_key)
        assert {ix["IndexName"] for ix in desc.get("GlobalSecondaryIndexes", [])} == {ix.name for ix in table.indexes}
        ttl = ddb.describe_time_to_live(TableName=table.name())["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == table.ttl_attribute
    sns = session.client("sns", endpoint_url=rt.aws_endpoint_url)
    assert [t["TopicArn"].rsplit(":", 1)[1] for t in sns.list_topics()["Topics"]] == [r.topic_name()]
    sqs = session.client("sqs", endpoint_url=rt.aws_endpoint_url)
    for name, spec in (
        (r.endpoint_queue_name(r.DEFAULT_PREFIX, endpoint["id"]), r.ENDPOINT_QUEUE),
        (r.dead_letter_queue_name(r.DEFAULT_PREFIX, endpoint["id"]), r.DEAD_LETTER_QUEUE),
    ):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert int(attrs["VisibilityTimeout"]) == spec.visibility_timeout_s
        assert int(attrs["MessageRetentionPeriod"]) == spec.retention_s
        if spec.max_receive_count:
            assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == spec.max_receive_count
    # The mapping lives in the local registry, never in moto (moto would try to invoke it).
    assert (
        session.client("lambda", endpoint_url=rt.aws_endpoint_url).list_event_source_mappings()["EventSourceMappings"]
        == []
    )
    (mapping,) = rt.registry.mappings()
    assert (mapping.batch_size, mapping.max_batching_window_s) == (
        r.EVENT_SOURCE.batch_size,
        r.EVENT_SOURCE.max_batching_window_s,
    )


def test_the_documents_example_event_arrives_signed(rt, endpoint, receiver):
    sent = example_event()
    started = time.monotonic()
    status, body = ingest(rt, sent)
    assert status == 202, body
    (request,) = receiver.wait_for(1, timeout=15)
    print(f"publish -> delivered in {time.monotonic() - started:.2f}s")
    verify(request.body, request.headers, SECRET)
    assert json.loads(request.body)["id"] == sent["id"] and request.path == "/webhooks/litestore"


def test_idle_cost_is_under_5_percent_of_a_core(rt, endpoint, receiver):
    time.sleep(0.5)  # let the last delivery settle
    cpu, wall = time.process_time(), time.monotonic()
    time.sleep(3)
    share = (time.process_time() - cpu) / (time.monotonic() - wall)
    print(f"idle CPU: {share:.1%} of one core")
    assert share < 0.05


def test_stops_cleanly_within_5_seconds(rt):
    url = rt.base_url + "/event-types"
    started = time.monotonic()
    rt.stop()
    assert time.monotonic() - started < 5
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=1)


def test_log_lines_name_their_own_invocation_while_others_run():
    """Lambda runs one invocation per process; here they share one, and Powertools keeps the
    function keys process-wide. An ingest and an admin call made while a delivery is in flight
    must not rename the delivery's log lines (nor the other way round)."""
    from tests.test_local_poller import wait_until
    from tests.test_reliability_auth import LogTap

    with Receiver(Reply(200, delay_s=1.0)) as rx, LocalRuntime(port=0, allow_insecure=True) as runtime, LogTap() as tap:
        status, body = admin(runtime, "POST", "/endpoints", {"url": rx.url(), "events": ["content.*"]})
        assert status == 201, body
        first = example_event()
        assert ingest(runtime, first)[0] == 202
        rx.wait_for(1)  # the delivery is in flight: the receiver holds it for 1 s
        second = {**example_event(), "id": "evt_second_while_in_flight"}
        assert ingest(runtime, second)[0] == 202
        assert admin(runtime, "GET", "/endpoints")[0] == 200
        rx.wait_for(2)
        wait_until(
            lambda: all(admin(runtime, "GET", f"/events/{e['id']}/attempts")[1]["data"] for e in (first, second)),
            timeout=10,
        )
        lines = [json.loads(line) for line in tap.buffer.getvalue().splitlines() if line.startswith("{")]
        prefix = runtime.prefix
    names = {
        r.INGEST_FUNCTION.name(prefix): "ingest",
        r.ADMIN_FUNCTION.name(prefix): "admin",
        r.DELIVERY_FUNCTION.name(prefix): "delivery",
    }
    by_message = {"event accepted": "ingest", "delivery attempt": "delivery"}
    seen = [
        (line["message"], names.get(line.get("function_name"))) for line in lines if line.get("message") in by_message
    ]
    assert (
        len([m for m, _ in seen if m == "delivery attempt"]) == 2
        and len([m for m, _ in seen if m == "event accepted"]) == 2
    )
    assert all(by_message[message] == function for message, function in seen), seen
