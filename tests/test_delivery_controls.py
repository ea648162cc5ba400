"""Issue 19 items 2 and 3 at the worker's level (moto, real receivers on 127.0.0.1): custom
headers reach the receiver and sensitive values stay sealed; a rate-limited endpoint's POSTs
are paced and what an invocation has no time for goes back to the queue unattempted."""

from __future__ import annotations

import json

import pytest
from tests.test_delivery import attempts, attrs_of, make_endpoint, process, publish, pump, receive, sent, settings  # noqa: F401

from litestore_webhooks.aws import clients
from litestore_webhooks.core import pacing
from litestore_webhooks.core.headers import REDACTED
from litestore_webhooks.provisioning import Provisioner, load_endpoint
from receivers import Receiver, Reply

TOKEN = "Bearer tok-7f3c9a1e5d-not-for-logs"


def raw_items(settings) -> str:
    """Everything the endpoints table holds, as text: a sensitive value must not be in it."""
    return json.dumps(clients.client("dynamodb").scan(TableName=settings.endpoints_table)["Items"])


def test_custom_headers_reach_the_receiver_and_the_sensitive_value_is_sealed(settings, capsys):
    with Receiver() as rx:
        endpoint, res = make_endpoint(
            settings,
            rx.url(),
            name="with headers",
            headers={"X-Tenant": "acme"},
            sensitiveHeaders={"Authorization": TOKEN},
        )
        publish(res)
        pump(settings, res)
        (request,) = rx.wait_for(1)
    assert request.headers["X-Tenant"] == "acme"
    assert request.headers["Authorization"] == TOKEN
    assert request.headers["webhook-id"] == "evt_1"  # ours still there, next to theirs
    assert endpoint.public_dict()["sensitiveHeaders"] == {"Authorization": REDACTED}
    assert endpoint.public_dict()["headers"] == {"X-Tenant": "acme"}
    assert "tok-7f3c9a1e5d" not in raw_items(settings)  # sealed with the secret, not stored in the item
    assert "tok-7f3c9a1e5d" not in capsys.readouterr().out  # nor logged


def test_a_patched_sensitive_header_is_sent_by_the_next_delivery_and_the_old_one_is_gone(settings):
    with Receiver() as rx:
        endpoint, res = make_endpoint(settings, rx.url(), name="patched", sensitiveHeaders={"X-Api-Key": "old-key-1"})
        updated = Provisioner(settings).update(
            endpoint.id, {"sensitiveHeaders": {"X-Api-Key": "new-key-2"}, "headers": {"X-Region": "eu"}}
        )
        assert updated.sensitiveHeaders == {"X-Api-Key": REDACTED}
        publish(res)
        pump(settings, res)
        (request,) = rx.wait_for(1)
    assert request.headers["X-Api-Key"] == "new-key-2"
    assert request.headers["X-Region"] == "eu"
    assert "key-2" not in raw_items(settings) and "key-1" not in raw_items(settings)


def test_a_sensitive_header_can_be_removed_and_a_redacted_placeholder_is_refused(settings):
    from litestore_webhooks.core.errors import ValidationFailed

    with Receiver() as rx:
        endpoint, res = make_endpoint(settings, rx.url(), name="removed", sensitiveHeaders={"X-Api-Key": "k-1234"})
        with pytest.raises(ValidationFailed) as refused:
            Provisioner(settings).update(endpoint.id, {"sensitiveHeaders": {"X-Api-Key": REDACTED}})
        assert "how listings hide a sensitive value" in str(refused.value)
        Provisioner(settings).update(endpoint.id, {"sensitiveHeaders": {}})
        publish(res)
        pump(settings, res)
        (request,) = rx.wait_for(1)
    assert "X-Api-Key" not in request.headers
    assert load_endpoint(Provisioner(settings).store, endpoint.id)[0].sensitiveHeaders == {}


def test_a_rate_limited_batch_posts_one_interval_apart(settings):
    # maxConcurrency 2 at 4 events/s: each invocation gets 2/s, one POST every 0.5 s.
    with Receiver() as rx:
        _, res = make_endpoint(settings, rx.url(), name="paced", maxConcurrency=2, rateLimit=4)
        for n in range(5):
            publish(res, f"evt_paced_{n}")
        result = process(settings, res, receive(res.queue_url))
        got = rx.wait_for(5)
    assert result == {"batchItemFailures": []}
    gaps = [b.at - a.at for a, b in zip(got, got[1:], strict=False)]
    assert min(gaps) >= 0.45, gaps  # receive times jitter a little around the 0.5 s starts
    assert max(gaps) < 1.0, gaps


def test_what_the_pacing_window_has_no_room_for_goes_back_to_the_queue_unattempted(settings, monkeypatch):
    monkeypatch.setattr(pacing, "PACE_WINDOW_S", 1.0)  # room for 2 POSTs at 0.5 s
    with Receiver() as rx:
        _, res = make_endpoint(settings, rx.url(), name="put back", maxConcurrency=2, rateLimit=4)
        for n in range(5):
            publish(res, f"evt_back_{n}")
        first = receive(res.queue_url)
        assert len(first) == 5
        assert process(settings, res, first) == {"batchItemFailures": []}
        rx.wait_for(2)
        again = receive(res.queue_url)
    assert len(rx.requests) == 2
    posted = {json.loads(q.body)["id"] for q in rx.requests}
    back = {json.loads(m["Body"])["id"] for m in again}
    assert len(back) == 3 and not back & posted
    assert all(attrs_of(m).get("attempt", "1") == "1" for m in again)  # not counted as an attempt
    assert all(attempts(settings, event_id) == [] for event_id in back)  # nor logged as one


def test_rate_limit_is_stored_and_read_back_as_a_number(settings):
    with Receiver() as rx:
        endpoint, _ = make_endpoint(settings, rx.url(), name="stored rate", maxConcurrency=2, rateLimit=2.5)
    stored, _ = load_endpoint(Provisioner(settings).store, endpoint.id)
    assert stored.rateLimit == 2.5
    assert Provisioner(settings).update(endpoint.id, {"rateLimit": None}).rateLimit is None
    assert load_endpoint(Provisioner(settings).store, endpoint.id)[0].rateLimit is None


def test_retry_after_still_sets_the_retry_delay_of_a_rate_limited_endpoint(settings, sent):
    with Receiver(Reply(429, {"Retry-After": "120"})) as rx:
        _, res = make_endpoint(settings, rx.url(), name="paced 429", maxConcurrency=2, rateLimit=4)
        publish(res)
        pump(settings, res)
        rx.wait_for(1)
    (retry,) = [s for s in sent if s["attributes"].get("attempt") == 2]
    assert retry["delay_s"] == 120
