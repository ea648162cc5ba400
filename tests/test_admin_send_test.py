"""POST /endpoints/{id}/test: a real signed POST to a local receiver, the attempt returned and logged."""

from __future__ import annotations

import json
import logging

import seed_catalog as catalog
from admin_api import call
from litestore_webhooks.core.signing import verify
from receivers import Receiver, Reply
from test_admin import admin, create, error_code  # noqa: F401 - fixture


def test_test_send_posts_the_catalog_example_with_a_fresh_id(admin):
    with Receiver() as rx:
        created = create(url=rx.url())
        status, attempt, _ = call("POST", f"/endpoints/{created['id']}/test", {"event": "order.completed"})
        [request] = rx.wait_for(1)
    assert status == 200
    assert attempt["status"] == "delivered" and attempt["httpStatus"] == 200 and attempt["test"] is True
    sent = json.loads(request.body)
    assert sent["id"].startswith("evt_test_") and sent["id"] == attempt["eventId"]
    assert sent["data"] == catalog.get("order.completed").example["data"]
    verify(request.body, request.headers, created["secret"])
    logged = call("GET", f"/events/{sent['id']}/attempts")[1]["data"]
    assert [a["status"] for a in logged] == ["delivered"]
    assert call("GET", f"/endpoints/{created['id']}/stats")[1]["attempts"] == 0  # test sends are not deliveries


def test_a_failing_receiver_is_still_200_with_the_failed_attempt(admin):
    with Receiver(default=Reply(500)) as rx:
        eid = create(url=rx.url())["id"]
        status, attempt, _ = call("POST", f"/endpoints/{eid}/test", {"event": "review.created"})
    assert status == 200 and attempt["status"] == "failed" and attempt["httpStatus"] == 500


def test_during_rotation_overlap_both_secrets_sign(admin, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="botocore")  # the SDK's wire dumps are not ours
    with Receiver() as rx:
        created = create(url=rx.url())
        eid, old = created["id"], created["secret"]
        new = call("POST", f"/endpoints/{eid}/secret/rotate", {"overlapSeconds": 600})[1]["secret"]
        call("POST", f"/endpoints/{eid}/test", {"event": "order.completed"})
        call(
            "POST", f"/endpoints/{eid}/secret/rotate", {"overlapSeconds": 0}
        )  # `new` stops at once; `old` still overlaps
        call("POST", f"/endpoints/{eid}/test", {"event": "order.completed"})
        during, after = rx.wait_for(2)
    assert len(during.headers["webhook-signature"].split()) == 2
    verify(during.body, during.headers, new)
    verify(during.body, during.headers, old)
    assert len(after.headers["webhook-signature"].split()) == 2  # the newest secret and `old`
    verify(after.body, after.headers, old)
    logs = caplog.text + capsys.readouterr().out  # Powertools' Logger writes JSON to stdout
    assert "delivery attempt" in logs
    assert not {old, new} & set(logs.replace('"', " ").split())


def test_test_send_errors(admin):
    eid = create()["id"]
    status, body, _ = call("POST", f"/endpoints/{eid}/test", {"event": "nope.nothing"})
    assert (status, error_code(body)) == (400, "validation_failed")
    assert call("POST", f"/endpoints/{eid}/test", {})[0] == 400
    assert call("POST", "/endpoints/ep_missing/test", {"event": "order.completed"})[0] == 404
