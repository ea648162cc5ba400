"""Admin API through the Lambda handler with REST proxy events, on moto (no real event source mappings)."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from openapi_spec_validator import validate

import seed_catalog as catalog
from admin_api import call
from litestore_webhooks import config
from litestore_webhooks.admin import replay as replay_module
from litestore_webhooks.aws import clients, event_sources, queues
from litestore_webhooks.aws.kms import SecretBox
from litestore_webhooks.aws.store import Store
from litestore_webhooks.core.canonical import canonical_bytes
from litestore_webhooks.core.endpoint import PreviousSecret, SigningSecrets
from litestore_webhooks.provisioning import load_endpoint, save_secrets, secrets_of
from test_provisioning import fail_next_call

HOOK = {"url": "https://hooks.example.com/in", "events": ["order.*"]}


@pytest.fixture
def admin(aws, monkeypatch):
    """moto AWS, local event sources, and http:// loopback URLs allowed (for the test receivers)."""
    monkeypatch.setenv("LSW_ALLOW_INSECURE", "1")
    config.settings.cache_clear()
    sources = event_sources.LocalEventSources()
    event_sources.use(sources)
    yield sources
    event_sources.use(None)


_names = itertools.count(1)


def create(**overrides) -> dict:
    """An endpoint with a name of its own (names are unique)."""
    status, body, _ = call("POST", "/endpoints", {**HOOK, "name": f"hook {next(_names)}", **overrides})
    assert status == 201, body
    return body


def store() -> Store:
    return Store(config.settings())


def resources(endpoint_id: str):
    return load_endpoint(store(), endpoint_id)[1]


def box() -> SecretBox:
    return SecretBox(config.settings().secrets_key_arn)


def stored_secrets(endpoint_id: str) -> SigningSecrets:
    return secrets_of(store().get_endpoint_item(endpoint_id), box())


def drain(queue_url: str) -> list[dict]:
    out = []
    while (
        batch := clients.client("sqs")
        .receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0)
        .get("Messages", [])
    ):
        out += batch
    return out


def stored_event(event_type: str, received: datetime) -> dict:
    envelope = {**catalog.get(event_type).example, "id": f"evt_{event_type.replace('.', '_')}_{received:%H%M%S%f}"}
    item = store().event_item(envelope, canonical_bytes(envelope), now=received.timestamp())
    store().put_event_items([item])
    return item


def error_code(body: dict) -> str:
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]["code"]


# -- catalog, docs ---------------------------------------------------------------------
def test_event_types_lists_the_catalog(admin):
    status, body, _ = call("GET", "/event-types")
    assert status == 200
    assert [t["name"] for t in body["data"]] == catalog.seeded_names()
    first = body["data"][0]
    assert {"name", "description", "schema", "examples", "mode", "origin", "version", "deprecated"} <= set(first)
    assert first["examples"] == [catalog.get(first["name"]).example] and first["origin"] == "document"


def test_openapi_document_validates_and_names_the_stage_as_server(admin):
    status, doc, _ = call("GET", "/openapi.json")
    assert status == 200
    validate(doc)
    assert doc["info"]["title"] == "Litestore webhooks admin API"
    assert doc["servers"] == [{"url": "/prod"}]
    assert "/endpoints/{endpoint_id}/dead-letters/redrive" in doc["paths"]


def test_swagger_ui_page_loads_its_own_files_under_a_csp_without_inline_script(admin):
    status, page, headers = call("GET", "/docs")
    assert status == 200 and "text/html" in str(headers.get("Content-Type"))
    assert 'data-spec-url="/prod/openapi.json"' in page and "Litestore webhooks admin API" in page
    assert re.findall(r"<script[^>]*>", page) == [
        '<script src="/prod/docs/swagger-ui-bundle.js">',
        '<script src="/prod/docs/swagger-init.js">',
    ]
    csp = str(headers.get("Content-Security-Policy"))
    assert "script-src 'self';" in csp and "unsafe" not in csp
    for asset, kind in (
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "css"),
        ("swagger-init.js", "javascript"),
    ):
        status, body, headers = call("GET", f"/docs/{asset}")
        assert status == 200 and kind in str(headers.get("Content-Type")) and body, asset
    assert call("GET", "/docs/../handlers/admin.py")[0] == 404


# -- endpoints -------------------------------------------------------------------------
def test_endpoint_lifecycle_and_secret_only_at_create(admin, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # ours and Powertools' at DEBUG; the AWS SDK's wire dumps are not ours
    caplog.set_level(logging.INFO, logger="botocore")
    created = create(name="orders", secret="whsec_" + "A" * 43 + "=")
    secret = created.pop("secret")
    eid = created["id"]
    assert created["name"] == "orders" and created["active"] is True
    assert call("GET", f"/endpoints/{eid}")[1] == created
    listed = call("GET", "/endpoints")[1]
    assert listed == {"data": [created], "nextCursor": None}

    status, patched, _ = call("PATCH", f"/endpoints/{eid}", {"timeout": 5000, "events": ["order.completed"]})
    assert status == 200 and patched["timeout"] == 5000 and patched["events"] == ["order.completed"]
    assert "secret" not in patched and "previousSecrets" not in patched

    status, body, _ = call("DELETE", f"/endpoints/{eid}")
    assert (status, body) == (204, None)
    assert call("GET", f"/endpoints/{eid}")[0] == 404
    assert secret not in caplog.text + capsys.readouterr().out  # Powertools' Logger writes to stdout


@pytest.mark.parametrize(
    ("method", "target", "body", "status", "code"),
    [
        ("POST", "/endpoints", {**HOOK, "retry_policy": {}}, 400, "validation_failed"),
        ("POST", "/endpoints", {**HOOK, "url": "ftp://x"}, 400, "validation_failed"),
        ("POST", "/endpoints", {**HOOK, "events": ["nope.*"]}, 400, "validation_failed"),
        ("POST", "/endpoints", {**HOOK, "secret": "short"}, 400, "validation_failed"),
        ("POST", "/endpoints", "{not json", 400, "validation_failed"),
        ("POST", "/endpoints", [1], 400, "validation_failed"),
        ("GET", "/endpoints?limit=0", None, 400, "validation_failed"),
        ("GET", "/endpoints?limit=101", None, 400, "validation_failed"),
        ("GET", "/endpoints?cursor=%%%", None, 400, "invalid_cursor"),
        # {"id": 10**40}: a number DynamoDB cannot hold (38 digits) was a 500
        (
            "GET",
            "/endpoints?cursor=" + base64.urlsafe_b64encode(json.dumps({"id": 10**40}).encode()).decode().rstrip("="),
            None,
            400,
            "invalid_cursor",
        ),
        ("GET", "/endpoints/ep_missing", None, 404, "not_found"),
        ("PATCH", "/endpoints/ep_missing", {"timeout": 5000}, 404, "not_found"),
        ("DELETE", "/endpoints/ep_missing", None, 404, "not_found"),
        ("POST", "/endpoints/ep_missing/pause", None, 404, "not_found"),
        ("PUT", "/endpoints", {}, 405, "method_not_allowed"),
        ("GET", "/nowhere", None, 404, "not_found"),
    ],
)
def test_endpoint_errors_use_the_error_shape(admin, method, target, body, status, code):
    got, answer, _ = call(method, target, body)
    assert (got, error_code(answer)) == (status, code)


@pytest.mark.parametrize("insecure", [False, True])
def test_create_validates_with_the_provisioners_one_rule(admin, monkeypatch, insecure):
    """POST /endpoints and Provisioner.parse_spec share provisioning.validate_spec: same verdicts."""
    from litestore_webhooks import provisioning
    from litestore_webhooks.core.errors import ValidationFailed

    monkeypatch.setenv("LSW_ALLOW_INSECURE", "1" if insecure else "0")
    config.settings.cache_clear()
    calls = []
    real = provisioning.validate_spec
    monkeypatch.setattr(provisioning, "validate_spec", lambda doc, cfg: calls.append(doc) or real(doc, cfg))
    docs = [
        HOOK,
        {**HOOK, "url": "http://127.0.0.1:9/x"},
        {**HOOK, "url": "ftp://x"},
        {**HOOK, "events": ["nope.*"]},
        {**HOOK, "timeout": "5"},
        {**HOOK, "retry_policy": {}},
        {**HOOK, "name": ""},
    ]
    for doc in docs:
        status, body, _ = call("POST", "/endpoints", doc)
        try:
            provisioning.Provisioner(config.settings()).parse_spec(doc)
            expected = None
        except ValidationFailed as exc:
            expected = [d["message"] for d in exc.details]
        got = None if status == 201 else [d["message"] for d in body["error"]["details"]]
        assert got == expected, doc
    assert calls[::2] == docs  # the API's call, then parse_spec's, for each document


def test_non_json_body_is_415_not_a_server_error(admin):
    status, body, _ = call("POST", "/endpoints", "url=x", {"Content-Type": "text/plain"})
    assert (status, error_code(body)) == (415, "unsupported_media_type")


def _binary(method: str, target: str, raw: bytes, *, encoded: str | None = None) -> tuple[int, dict]:
    """A request as API Gateway passes it with binaryMediaTypes ["*/*"]: the exact bytes, base64-encoded."""
    from admin_api import Context
    from admin_api import event as proxy_event
    from litestore_webhooks.handlers import admin as handler

    ev = {
        **proxy_event(method, target, "", {"Content-Type": "application/json"}),
        "body": encoded or base64.b64encode(raw).decode(),
        "isBase64Encoded": True,
    }
    resp = handler.handler(ev, Context())
    return resp["statusCode"], json.loads(resp["body"])


def test_base64_encoded_admin_bodies_parse_and_bad_bytes_are_400(admin):
    status, created = _binary("POST", "/endpoints", json.dumps({**HOOK, "name": "Zoë's hooks"}).encode())
    assert status == 201 and created["name"] == "Zoë's hooks", created
    status, patched = _binary("PATCH", f"/endpoints/{created['id']}", b'{"timeout": 5000}')
    assert status == 200 and patched["timeout"] == 5000
    status, body = _binary("POST", "/endpoints", b'{"url": "https://hooks.example.com/\xff", "events": ["*"]}')
    assert (status, error_code(body)) == (400, "validation_failed"), body  # invalid UTF-8 is refused, never repaired
    status, body = _binary("POST", "/endpoints", b"", encoded="{not base64}")
    assert (status, error_code(body)) == (400, "invalid_body"), body


def test_patch_rejects_bad_values_without_changing_anything(admin):
    eid = create()["id"]
    for change in ({"timeout": 0}, {"secret": "whsec_x"}, {"url": "notaurl"}, {"events": []}):
        status, body, _ = call("PATCH", f"/endpoints/{eid}", change)
        assert status == 400, (change, body)
    assert call("GET", f"/endpoints/{eid}")[1]["timeout"] == 10000


def test_patch_whose_resources_cannot_change_is_a_retryable_503_and_changes_nothing(admin):
    eid = create()["id"]
    before = call("GET", f"/endpoints/{eid}")[1]
    fail_next_call("sns", "SetSubscriptionAttributes")  # the filter policy cannot be changed right now
    status, body, _ = call("PATCH", f"/endpoints/{eid}", {"events": ["user.*"], "url": "https://hooks.example.com/v2"})
    assert (status, error_code(body), body["error"]["details"]) == (503, "provisioning_failed", {"retryable": True})
    assert body["error"]["message"] == (
        "the endpoint was not updated: changing its AWS resources failed "
        "(InternalError); nothing was changed; retry the request"
    )
    assert call("GET", f"/endpoints/{eid}")[1] == before
    status, body, _ = call("PATCH", f"/endpoints/{eid}", {"events": ["user.*"], "url": "https://hooks.example.com/v2"})
    assert (status, body["events"], body["url"]) == (200, ["user.*"], "https://hooks.example.com/v2")


def test_reconcile_brings_an_older_endpoints_queues_up_to_date(admin):
    eid = create()["id"]
    res = resources(eid)
    clients.client("sqs").set_queue_attributes(
        QueueUrl=res.dlq_url, Attributes={"Policy": ""}
    )  # as older versions made it
    prefix = config.settings().prefix
    assert call("POST", f"/endpoints/{eid}/reconcile")[:2] == (
        200,
        {"id": eid, "fixed": [f"reset Policy of queue {prefix}-{eid}-dlq"]},
    )
    assert call("POST", f"/endpoints/{eid}/reconcile")[:2] == (200, {"id": eid, "fixed": []})
    assert call("POST", "/endpoints/ep_aaaaaaaaaaaaaaaaaaaaaa/reconcile")[0] == 404


def test_list_pages_with_opaque_cursors(admin):
    ids = {create()["id"] for _ in range(3)}
    seen, cursor, pages = set(), None, 0
    while True:
        status, body, _ = call("GET", "/endpoints?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200 and len(body["data"]) <= 2
        assert all("secret" not in e for e in body["data"])
        seen |= {e["id"] for e in body["data"]}
        pages += 1
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert seen == ids and pages >= 2


def test_idempotency_key_returns_the_same_endpoint(admin):
    first = call("POST", "/endpoints", HOOK, {"Idempotency-Key": "create-1"})
    again = call("POST", "/endpoints", HOOK, {"Idempotency-Key": "create-1"})
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert len(call("GET", "/endpoints")[1]["data"]) == 1
    other = call("POST", "/endpoints", {**HOOK, "timeout": 2000}, {"Idempotency-Key": "create-1"})
    assert (other[0], error_code(other[1])) == (422, "idempotency_key_reused")
    taken = call("POST", "/endpoints", HOOK, {"Idempotency-Key": "create-2"})  # a new request: the name is taken
    assert (taken[0], error_code(taken[1])) == (409, "name_taken")
    assert (
        call("POST", "/endpoints", {**HOOK, "name": "other"}, {"Idempotency-Key": "create-2"})[1]["id"]
        != first[1]["id"]
    )


def test_pause_and_resume_toggle_the_mapping(admin):
    eid = create()["id"]
    mapping = resources(eid).mapping_id
    status, paused, _ = call("POST", f"/endpoints/{eid}/pause")
    assert status == 200 and paused["active"] is False and paused["pausedReason"] == "manual"
    assert admin.get(mapping)["enabled"] is False
    status, resumed, _ = call("POST", f"/endpoints/{eid}/resume")
    assert resumed["active"] is True and resumed["pausedReason"] is None
    assert admin.get(mapping)["enabled"] is True


# -- secrets ---------------------------------------------------------------------------
def test_rotation_keeps_the_old_secret_for_the_overlap_only(admin):
    created = create()
    eid, old = created["id"], created["secret"]
    assert call("GET", f"/endpoints/{eid}/secret")[1] == {"secret": old, "previousSecrets": []}

    status, rotated, _ = call("POST", f"/endpoints/{eid}/secret/rotate", {"overlapSeconds": 3600})
    assert status == 200 and rotated["secret"] != old
    expires = datetime.fromisoformat(rotated["previousSecretExpiresAt"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    shown = call("GET", f"/endpoints/{eid}/secret")[1]
    assert shown == {
        "secret": rotated["secret"],
        "previousSecrets": [{"expiresAt": rotated["previousSecretExpiresAt"]}],
    }
    assert stored_secrets(eid).signing(datetime.now(UTC)) == [rotated["secret"], old]

    mine = "whsec_" + "B" * 43 + "="
    status, body, _ = call("POST", f"/endpoints/{eid}/secret/rotate", {"secret": mine, "overlapSeconds": 0})
    # Overlap 0 ends only the secret this call replaced; the first rotation's keeps its hour.
    assert body == {
        "secret": mine,
        "previousSecretExpiresAt": None,
        "previousSecrets": [{"expiresAt": rotated["previousSecretExpiresAt"]}],
    }
    assert len(call("GET", f"/endpoints/{eid}/secret")[1]["previousSecrets"]) == 1

    status, body, _ = call("POST", f"/endpoints/{eid}/secret/rotate", {"overlapSeconds": 0, "revokePrevious": True})
    assert status == 200 and body["previousSecrets"] == [] and body["previousSecretExpiresAt"] is None
    assert call("GET", f"/endpoints/{eid}/secret")[1] == {"secret": body["secret"], "previousSecrets": []}
    assert stored_secrets(eid).signing(datetime.now(UTC)) == [body["secret"]]

    # Revoking without a new secret: rotate to the current one.
    current = call("POST", f"/endpoints/{eid}/secret/rotate", {"overlapSeconds": 60})[1]["secret"]
    status, same, _ = call(
        "POST", f"/endpoints/{eid}/secret/rotate", {"secret": current, "overlapSeconds": 0, "revokePrevious": True}
    )
    assert status == 200 and same["secret"] == current
    assert call("GET", f"/endpoints/{eid}/secret")[1] == {"secret": current, "previousSecrets": []}


def test_rotation_keeps_at_most_ten_previous_and_drops_expired(admin):
    eid = create()["id"]
    for _ in range(12):
        assert call("POST", f"/endpoints/{eid}/secret/rotate")[0] == 200
    assert len(call("GET", f"/endpoints/{eid}/secret")[1]["previousSecrets"]) == 10
    expired = PreviousSecret(secret="whsec_" + "C" * 43 + "=", expiresAt="2020-01-01T00:00:00.000Z")
    current = stored_secrets(eid).secret
    save_secrets(
        store(), box(), store().get_endpoint_item(eid), SigningSecrets(secret=current, previousSecrets=[expired])
    )
    assert call("GET", f"/endpoints/{eid}/secret")[1]["previousSecrets"] == []
    call("POST", f"/endpoints/{eid}/secret/rotate", {"overlapSeconds": 60})
    assert len(stored_secrets(eid).previousSecrets) == 1


@pytest.mark.parametrize(
    "body", [{"overlapSeconds": 604801}, {"overlapSeconds": -1}, {"secret": "has space in it"}, {"x": 1}]
)
def test_rotation_rejects_bad_input(admin, body):
    eid = create()["id"]
    status, answer, _ = call("POST", f"/endpoints/{eid}/secret/rotate", body)
    assert (status, error_code(answer)) == (400, "validation_failed")
    assert call("POST", "/endpoints/ep_missing/secret/rotate", {})[0] == 404


# -- attempts and events ---------------------------------------------------------------
def _attempt(endpoint_id: str, event_id: str, n: int, at: str, status: str, code: int | None, ms: int) -> dict:
    return store().attempt_item(
        {
            "endpointId": endpoint_id,
            "eventId": event_id,
            "attempt": n,
            "at": at,
            "status": status,
            "httpStatus": code,
            "durationMs": ms,
        }
    )


def test_attempts_by_endpoint_and_by_event(admin):
    eid = create()["id"]
    now = datetime.now(UTC)
    stamps = [
        (now - timedelta(minutes=m)).isoformat(timespec="milliseconds").replace("+00:00", "Z") for m in (30, 20, 10)
    ]
    store().put_attempt_items(
        [
            _attempt(eid, "evt_a", 1, stamps[0], "retry_scheduled", 503, 40),
            _attempt(eid, "evt_a", 2, stamps[1], "delivered", 200, 20),
            _attempt(eid, "evt_b", 1, stamps[2], "delivered", 204, 10),
        ]
    )
    body = call("GET", f"/endpoints/{eid}/attempts")[1]
    assert [(a["eventId"], a["attempt"]) for a in body["data"]] == [("evt_b", 1), ("evt_a", 2), ("evt_a", 1)]
    assert "attemptKey" not in body["data"][0] and "expiresAt" not in body["data"][0]
    # one shape, nulls included (these records lack the event type the request headers are rebuilt from)
    assert all(list(a) == [*Store.ATTEMPT_FIELDS, "requestHeaders"] for a in body["data"])
    assert body["data"][0]["error"] is None and body["data"][0]["nextRetryAt"] is None
    assert [a["httpStatus"] for a in call("GET", f"/endpoints/{eid}/attempts?status=retry_scheduled")[1]["data"]] == [
        503
    ]
    since = (now - timedelta(minutes=25)).isoformat()
    assert len(call("GET", f"/endpoints/{eid}/attempts?since={since.replace('+', '%2B')}")[1]["data"]) == 2
    first = call("GET", f"/endpoints/{eid}/attempts?limit=2")[1]
    second = call("GET", f"/endpoints/{eid}/attempts?limit=2&cursor={first['nextCursor']}")[1]
    assert [a["eventId"] for a in first["data"] + second["data"]] == ["evt_b", "evt_a", "evt_a"]
    assert [a["attempt"] for a in call("GET", "/events/evt_a/attempts")[1]["data"]] == [1, 2]
    assert call("GET", "/events/evt_unknown/attempts")[1] == {"data": []}
    assert call("GET", "/endpoints/ep_missing/attempts")[0] == 404
    assert call("GET", f"/endpoints/{eid}/attempts?since=yesterday")[0] == 400
    assert call("GET", f"/endpoints/{eid}/attempts?status=retrying")[0] == 400


def test_event_show(admin):
    item = stored_event("order.completed", datetime.now(UTC))
    status, body, _ = call("GET", f"/events/{item['id']}")
    assert status == 200
    assert body == {
        "id": item["id"],
        "event": "order.completed",
        "timestamp": item["timestamp"],
        "receivedAt": item["receivedAt"],
        "payload": json.loads(item["body"]),
    }
    assert call("GET", "/events/evt_nope")[0] == 404


def test_resend_queues_only_for_the_given_endpoints_and_clears_their_marker(admin):
    a, b, other = create()["id"], create()["id"], create(events=["review.*"])["id"]
    item = stored_event("order.completed", datetime.now(UTC))
    store().mark_delivered(a, item["id"])
    store().mark_delivered(b, item["id"])
    status, body, _ = call("POST", f"/events/{item['id']}/resend", {"endpointIds": [a]})
    assert (status, body) == (200, {"queued": 1})
    [message] = drain(resources(a).queue_url)
    assert message["Body"] == item["body"]
    assert queues.decode_attributes(message["MessageAttributes"]) == {"event": "order.completed"}
    assert drain(resources(b).queue_url) == []
    assert store().delivered_among(a, [item["id"]]) == set() and store().delivered_among(b, [item["id"]]) == {
        item["id"]
    }

    status, body, _ = call("POST", f"/events/{item['id']}/resend", {"endpointIds": [b, other, "ep_missing"]})
    assert status == 400
    assert [d["path"] for d in body["error"]["details"]] == ["endpointIds[1]", "endpointIds[2]"]
    assert drain(resources(b).queue_url) == []
    assert call("POST", "/events/evt_nope/resend", {"endpointIds": [a]})[0] == 404
    assert call("POST", f"/events/{item['id']}/resend", {"endpointIds": []})[0] == 400


def test_replay_sends_subscribed_events_in_range_to_this_endpoint_only(admin, monkeypatch):
    eid, other = create(events=["order.*", "review.created"])["id"], create(events=["*"])["id"]
    base = datetime.now(UTC) - timedelta(hours=2)
    inside = [
        stored_event(t, base + timedelta(minutes=m))
        for m, t in ((1, "order.completed"), (2, "review.created"), (3, "user.registered"), (4, "order.updated"))
    ]
    stored_event("order.completed", base + timedelta(minutes=90))  # after `until`
    store().mark_delivered(eid, inside[0]["id"])
    window = {"since": base.isoformat(), "until": (base + timedelta(hours=1)).isoformat()}

    status, body, _ = call("POST", f"/endpoints/{eid}/replay", window)
    assert (status, body) == (200, {"queued": 3, "failed": 0, "truncated": False, "nextSince": None})
    assert sorted(m["Body"] for m in drain(resources(eid).queue_url)) == sorted(inside[i]["body"] for i in (0, 1, 3))
    assert store().delivered_among(eid, [inside[0]["id"]]) == set()
    assert drain(resources(other).queue_url) == []

    body = call("POST", f"/endpoints/{eid}/replay", {**window, "events": ["review.*"]})[1]
    assert body["queued"] == 1
    monkeypatch.setattr(replay_module, "MAX_REPLAY", 2)
    body = call("POST", f"/endpoints/{eid}/replay", window)[1]
    assert body == {"queued": 2, "failed": 0, "truncated": True, "nextSince": inside[3]["receivedAt"]}


def test_a_days_events_spread_over_the_index_shards_and_read_back_in_order(admin):
    """The byDay index is write-sharded (one partition per day caps ingest at 1,000 WRU/s);
    reading a range merges the shards back into arrival order, across a day boundary too."""
    from litestore_webhooks.aws.store import DAY_SHARDS

    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    items = [
        stored_event(t, midnight + timedelta(minutes=7 * n - 200))  # from 21:40 the day before to ~07:00
        for n, t in enumerate(["order.completed", "review.created", "user.registered"] * 30)
    ]
    shards = {i["day"] for i in items}
    assert len({d.split("#")[1] for d in shards}) > DAY_SHARDS // 2 and {d.split("#")[0] for d in shards} == {
        (midnight - timedelta(days=1)).date().isoformat(),
        midnight.date().isoformat(),
    }
    read = list(store().events_between(midnight - timedelta(hours=4), midnight + timedelta(hours=12)))
    assert [i["id"] for i in read] == [i["id"] for i in items]
    middle = list(store().events_between(midnight - timedelta(minutes=30), midnight + timedelta(minutes=30)))
    assert [i["id"] for i in middle] == [i["id"] for i in items if -30 <= (7 * items.index(i) - 200) < 30]


@pytest.mark.parametrize(
    "body",
    [
        {"since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
        {"since": "2024-01-01T00:00:00Z"},
        {"since": "2024-01-01T00:00:00Z", "until": "2024-01-02T00:00:00Z", "events": ["nope"]},
    ],
)
def test_replay_rejects_bad_windows(admin, body):
    eid = create()["id"]
    status, answer, _ = call("POST", f"/endpoints/{eid}/replay", body)
    assert (status, error_code(answer)) == (400, "validation_failed")
