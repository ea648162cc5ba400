"""Ingest through the Lambda handler with API Gateway REST proxy events, on moto."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

import pytest
from aws_lambda_powertools.event_handler.openapi.params import Query
from botocore.exceptions import ClientError

import seed_catalog as catalog
from litestore_webhooks import resources as r
from litestore_webhooks.aws import bus, clients, event_sources
from litestore_webhooks.aws.store import Store
from litestore_webhooks.core.canonical import canonical_bytes

# -- helpers ---------------------------------------------------------------------------


class Context:
    function_name = "ingest"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ingest"
    aws_request_id = "req-1"


def request(
    path: str = "/events",
    body: Any = None,
    *,
    method: str = "POST",
    content_type: str | None = "application/json",
    raw: bytes | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event; `raw` bytes are sent base64-encoded, as binary media types are."""
    headers = {"Content-Type": content_type} if content_type else {}
    if raw is not None:
        text, encoded = base64.b64encode(raw).decode(), True
    else:
        text, encoded = (body if isinstance(body, str) or body is None else json.dumps(body)), False
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"requestId": "req-1", "stage": "prod", "path": f"/prod{path}", "httpMethod": method},
        "body": text,
        "isBase64Encoded": encoded,
    }


def call(event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    from litestore_webhooks.handlers import ingest as handler

    resp = handler.handler(event, Context())
    headers = {k: v[0] for k, v in (resp.get("multiValueHeaders") or {}).items()} | (resp.get("headers") or {})
    return resp["statusCode"], headers, json.loads(resp["body"])


def envelope(event_type: str = "order.completed", event_id: str | None = "evt_1", **data: Any) -> dict[str, Any]:
    env: dict[str, Any] = {"event": event_type, "data": {**catalog.get(event_type).example["data"], **data}}
    if event_id:
        env["id"] = event_id
    return env


def assert_error(body: Any, code: str) -> None:
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


def drain(queue_url: str) -> list[dict[str, Any]]:
    sqs, out = clients.client("sqs"), []
    while True:
        msgs = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not msgs:
            return out
        out += msgs
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
        )


@pytest.fixture
def local_sources():
    local = event_sources.LocalEventSources()
    event_sources.use(local)
    yield local
    event_sources.use(None)


@pytest.fixture
def endpoints(aws, local_sources):
    """Queue URLs of four provisioned endpoints, by subscription kind."""
    from litestore_webhooks.provisioning import Provisioner, load_endpoint

    p = Provisioner(aws)
    kinds = {"exact": ["order.completed"], "prefix": ["order.*"], "all": ["*"], "users": ["user.registered"]}
    urls = {}
    for kind, events in kinds.items():
        ep = p.create(p.parse_spec({"url": f"https://{kind}.example.com/hook", "events": events}))
        urls[kind] = load_endpoint(p.store, ep.id)[1].queue_url
    return urls


@pytest.fixture
def sns_failing(monkeypatch):
    """Make every PublishBatch call fail as a whole (the SNS client is shared, so patch it)."""

    def fail(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "PublishBatch")

    monkeypatch.setattr(clients.client("sns"), "publish_batch", fail)


# -- single event ----------------------------------------------------------------------


def test_event_fans_out_to_subscribed_endpoints_only_and_is_stored(aws, endpoints):
    status, _, body = call(request(body=envelope("order.updated", "evt_up")))
    assert (status, body) == (
        202,
        {"id": "evt_up", "event": "order.updated", "duplicate": False, "version": 1, "deprecated": False},
    )
    status, _, _ = call(request(body=envelope("order.completed", "evt_done")))
    assert status == 202

    got = {
        kind: [m["MessageAttributes"]["event"]["StringValue"] for m in drain(url)] for kind, url in endpoints.items()
    }
    assert {k: sorted(v) for k, v in got.items()} == {
        "exact": ["order.completed"],
        "prefix": ["order.completed", "order.updated"],
        "all": ["order.completed", "order.updated"],
        "users": [],
    }
    stored = Store(aws).get_event_item("evt_up")
    assert stored["event"] == "order.updated"
    assert json.loads(stored["body"])["id"] == "evt_up"


def test_raw_delivery_carries_the_exact_canonical_body(aws, endpoints):
    call(request(body=envelope("order.completed", "evt_c")))
    [message] = drain(endpoints["exact"])
    stored = Store(aws).get_event_item("evt_c")
    assert message["Body"] == stored["body"]
    assert message["Body"].encode() == canonical_bytes(json.loads(message["Body"]))


def test_missing_id_and_timestamp_are_filled_in(aws, endpoints):
    status, _, body = call(request(body=envelope(event_id=None)))
    assert status == 202 and body["id"].startswith("evt_")
    [message] = drain(endpoints["exact"])
    assert json.loads(message["Body"])["id"] == body["id"]


def test_duplicate_id_is_published_once(aws, endpoints):
    first = call(request(body=envelope(event_id="evt_dup")))
    second = call(request(body=envelope(event_id="evt_dup")))
    assert first[0] == 202 and first[2]["duplicate"] is False
    assert second[0] == 200 and second[2] == {
        "id": "evt_dup",
        "event": "order.completed",
        "duplicate": True,
        "version": 1,
        "deprecated": False,
    }
    assert len(drain(endpoints["all"])) == 1


def test_publish_failure_releases_the_id_so_a_retry_succeeds(aws, endpoints, monkeypatch, sns_failing):
    status, _, body = call(request(body=envelope(event_id="evt_retry")))
    assert status == 503
    assert_error(body, "publish_failed")
    assert body["error"]["details"] == {"retryable": True}
    monkeypatch.undo()
    status, _, body = call(request(body=envelope(event_id="evt_retry")))
    assert (status, body["duplicate"]) == (202, False)
    assert len(drain(endpoints["all"])) == 1


def test_claim_failure_is_503(aws, monkeypatch):
    def broken(self, event_id, **_):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "PutItem")

    monkeypatch.setattr(Store, "claim_event_id", broken)
    status, _, body = call(request(body=envelope()))
    assert status == 503
    assert_error(body, "claim_failed")


def test_unexpected_exception_is_a_generic_500(aws, monkeypatch):
    from litestore_webhooks import ingest

    def explode(*_: Any) -> None:
        raise RuntimeError("secret internals /var/task/x.py")

    monkeypatch.setattr(ingest, "accept_event", explode)
    status, _, body = call(request(body=envelope()))
    assert status == 500
    assert_error(body, "internal_error")
    assert "secret" not in json.dumps(body)


# -- bad input: always 4xx, always the common shape -------------------------------------


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        (request(body={"event": "order.nope", "data": {}}), 400, "validation_failed"),
        (request(body="[]"), 400, "validation_failed"),
        (request(body="{not json"), 400, "invalid_json"),
        (request(body='{"a": 1e999}'), 400, "invalid_json"),
        (request(body='{"a": 9007199254740993}'), 400, "invalid_json"),
        (request(raw=b'{"event": "order.completed", "data": {"x": "\xff"}}'), 400, "invalid_json"),
        (request(body='{"a": "\udcff"}'), 400, "invalid_json"),  # undecodable text API Gateway passed through
        (request(body="[" * 10_000 + "]" * 10_000), 400, "invalid_json"),
        (request(body="{}", content_type="text/plain"), 415, "unsupported_media_type"),
        (request(body="{}", content_type=None), 415, "unsupported_media_type"),
        (request(body="{}", content_type="application/json; charset=latin-1"), 415, "unsupported_media_type"),
        (
            request("/events/batch", body="{}", content_type="application/x-www-form-urlencoded"),
            415,
            "unsupported_media_type",
        ),
        (request(body="x" * (r.MAX_EVENT_BYTES + 1)), 413, "payload_too_large"),
        (request(method="GET"), 405, "method_not_allowed"),
        (request("/events/batch", method="PUT", body="{}"), 405, "method_not_allowed"),
        (request("/nope", body="{}"), 404, "not_found"),
    ],
    ids=[
        "unknown-type",
        "not-object",
        "not-json",
        "overflow",
        "unsafe-int",
        "invalid-utf8",
        "lone-surrogate",
        "deep-nesting",
        "text-plain",
        "no-content-type",
        "latin1",
        "form",
        "too-large",
        "get",
        "put-batch",
        "unknown-path",
    ],
)
def test_bad_requests_get_the_common_error_shape(aws, event, status, code):
    got_status, headers, body = call(event)
    assert got_status == status
    assert_error(body, code)
    assert headers["Content-Type"] == "application/json"
    if status == 405:
        assert headers["Allow"] == "POST"


def test_json_with_utf8_charset_is_accepted(aws):
    assert call(request(body=envelope(), content_type="Application/JSON; charset=UTF-8"))[0] == 202


def test_envelope_over_the_limit_after_completion_is_413(aws):
    # Raw body fits, but the added id and timestamp push the canonical envelope over the limit.
    doc = envelope("order.updated", None, status="")
    doc["data"]["status"] = "x" * (r.MAX_EVENT_BYTES - len(json.dumps(doc, separators=(",", ":"))))
    raw = json.dumps(doc, separators=(",", ":"))
    assert len(raw) <= r.MAX_EVENT_BYTES
    status, _, body = call(request(body=raw))
    assert status == 413
    assert_error(body, "payload_too_large")
    assert body["error"]["details"]["limit"] == r.MAX_EVENT_BYTES


def test_powertools_request_validation_errors_use_the_common_shape():
    from litestore_webhooks import api

    app = api.resolver("t")

    @app.get("/things")
    def things(limit: Annotated[int, Query()]):  # noqa: ANN202 - Powertools resolves annotations at runtime
        return {"limit": limit}

    event = request("/things", method="GET", content_type=None) | {
        "queryStringParameters": {"limit": "abc"},
        "multiValueQueryStringParameters": {"limit": ["abc"]},
    }
    resp = app.resolve(event, Context())
    assert resp["statusCode"] == 400
    body = json.loads(resp["body"])
    assert_error(body, "validation_failed")
    assert body["error"]["details"][0]["path"] == "query.limit"


# -- batch -----------------------------------------------------------------------------


def test_batch_all_accepted(aws, endpoints):
    events = [envelope(event_id=f"evt_b{i}") for i in range(25)]
    status, _, body = call(request("/events/batch", body={"events": events}))
    assert status == 202
    assert [(x["index"], x["id"], x["status"], x["duplicate"], x["error"]) for x in body["results"]] == [
        (i, f"evt_b{i}", 202, False, None) for i in range(25)
    ]
    assert len(drain(endpoints["exact"])) == 25


def test_batch_mixed_is_207_with_one_result_per_item_in_order(aws, endpoints):
    call(request(body=envelope(event_id="evt_seen")))
    events = [
        envelope(event_id="evt_m0"),
        {"event": "order.completed", "id": "evt_bad", "data": {}},
        envelope(event_id="evt_m0"),  # same id earlier in this batch
        envelope(event_id="evt_seen"),  # accepted by an earlier request
        envelope("user.registered", "evt_m4"),
    ]
    status, _, body = call(request("/events/batch", body={"events": events}))
    assert status == 207
    res = body["results"]
    assert [(x["index"], x["id"], x["status"], x["duplicate"]) for x in res] == [
        (0, "evt_m0", 202, False),
        (1, "evt_bad", 400, False),
        (2, "evt_m0", 200, True),
        (3, "evt_seen", 200, True),
        (4, "evt_m4", 202, False),
    ]
    assert res[1]["error"]["code"] == "validation_failed" and res[1]["error"]["details"]
    assert sorted(m["MessageAttributes"]["event"]["StringValue"] for m in drain(endpoints["all"])) == [
        "order.completed",
        "order.completed",
        "user.registered",
    ]


def test_batch_all_invalid_is_400_with_per_item_details(aws):
    status, _, body = call(request("/events/batch", body={"events": [{"event": "x"}, 5]}))
    assert status == 400
    assert_error(body, "validation_failed")
    assert [d["status"] for d in body["error"]["details"]] == [400, 400]


@pytest.mark.parametrize(
    "doc", [{"events": []}, {"events": [{}] * (r.MAX_BATCH_EVENTS + 1)}, {"events": {}}, {"x": 1}, []]
)
def test_batch_shape_errors(aws, doc):
    status, _, body = call(request("/events/batch", body=doc))
    assert status == 400
    assert_error(body, "validation_failed")


def test_batch_publish_failure_releases_every_id(aws, endpoints, monkeypatch, sns_failing):
    events = {"events": [envelope(event_id="evt_f0"), envelope(event_id="evt_f1")]}
    status, _, body = call(request("/events/batch", body=events))
    assert status == 503
    assert [d["error"]["code"] for d in body["error"]["details"]] == ["publish_failed", "publish_failed"]
    monkeypatch.undo()
    assert call(request("/events/batch", body=events))[0] == 202
    assert len(drain(endpoints["exact"])) == 2


def test_batch_partial_publish_failure_is_207_and_only_failed_ids_are_released(aws, endpoints, monkeypatch):
    sns = clients.client("sns")
    real = sns.publish_batch

    def second_fails(**kwargs: Any) -> dict[str, Any]:
        entries = kwargs["PublishBatchRequestEntries"]
        resp = real(**{**kwargs, "PublishBatchRequestEntries": [e for e in entries if e["Id"] != "1"]})
        resp["Failed"] = [{"Id": "1", "Code": "InternalFailure", "Message": "x", "SenderFault": False}]
        return resp

    monkeypatch.setattr(sns, "publish_batch", second_fails)
    events = {"events": [envelope(event_id="evt_p0"), envelope(event_id="evt_p1")]}
    status, _, body = call(request("/events/batch", body=events))
    assert status == 207
    assert [x["status"] for x in body["results"]] == [202, 503]
    monkeypatch.undo()
    status, _, body = call(request("/events/batch", body=events))
    assert [(x["status"], x["duplicate"]) for x in body["results"]] == [(200, True), (202, False)]
    assert sorted(json.loads(m["Body"])["id"] for m in drain(endpoints["exact"])) == ["evt_p0", "evt_p1"]


# -- bus -------------------------------------------------------------------------------


def test_publish_batch_respects_entry_and_byte_limits(aws, monkeypatch):
    calls: list[list[dict[str, Any]]] = []

    def record(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs["PublishBatchRequestEntries"])
        return {"Successful": [{"Id": e["Id"], "MessageId": "m"} for e in kwargs["PublishBatchRequestEntries"]]}

    monkeypatch.setattr(clients.client("sns"), "publish_batch", record)
    big = "x" * 100_000
    items = [(f"id/{i}", "{}", "order.completed") for i in range(23)] + [
        (f"big{i}", big, "order.updated") for i in range(3)
    ]
    outcome = bus.publish_batch(aws.topic_arn, items)
    assert outcome == {item[0]: None for item in items}
    assert [len(c) for c in calls] == [10, 10, 5, 1]  # 3 small + 2 big fit 256 KiB; the third big one does not
    assert all(e["Id"].isdigit() for c in calls for e in c)
    assert calls[0][0]["MessageAttributes"] == {"event": {"DataType": "String", "StringValue": "order.completed"}}


def test_published_metric_counts_accepted_events(aws, capsys):
    call(request("/events/batch", body={"events": [envelope(event_id="evt_x0"), envelope(event_id="evt_x1"), {}]}))
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m["Published"] for m in emf if "Published" in m] == [[2.0]]
