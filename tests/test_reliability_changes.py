"""A change the admin API has answered applies to every delivery that starts after it (issue 13 item 3;
docs/reliability.md "Endpoint changes and the next delivery").

Through a LocalRuntime over HTTP. Each test first delivers one event, so the delivery code has
seen the endpoint as it was (a warm container on AWS), then changes the endpoint, then publishes
and looks at what the receiver got. Pause, timeout, retry policy and maxConcurrency, where the
local event-source emulator would hide a stale read, are in tests/test_delivery.py.
"""

from __future__ import annotations

import json

import pytest
from tests.local_stack import (
    FAST_RETRIES,
    attempts,
    dead_letters,
    event,
    rt,  # noqa: F401 - the module-scoped runtime fixture
    scratch,  # noqa: F401 - per-test receivers and endpoints, removed afterwards
    settle,
)
from tests.test_local_runtime import admin, ingest

from litestore_webhooks import verify
from litestore_webhooks.core.signing import WebhookVerificationError


def publish(rt, event_type: str, event_id: str) -> None:
    status, body = ingest(rt, event(event_type, event_id))
    assert status == 202, body


def ids_of(requests) -> list[str]:
    return [json.loads(q.body)["id"] for q in requests]


def signatures(request) -> list[str]:
    return request.headers["webhook-signature"].split(" ")


def rotate(rt, endpoint_id: str, **body) -> dict:
    status, answer = admin(rt, "POST", f"/endpoints/{endpoint_id}/secret/rotate", body)
    assert status == 200, answer
    return answer


def test_rotation_without_overlap_signs_the_next_delivery_with_the_new_secret_only(rt, scratch):
    rx = scratch.receiver()
    ep = scratch.endpoint("rotate now", rx.url(), ["order.*"], retryPolicy=FAST_RETRIES)
    rx.secret = ep["secret"]  # the receiver checks every signature and answers 401 to a bad one
    publish(rt, "order.completed", "evt_change_rotate_1")
    assert rx.wait_for(1, timeout=20)[0].verified

    new = rotate(rt, ep["id"], overlapSeconds=0)["secret"]
    rx.secret = new  # overlap 0: the receiver switches as soon as the API answered
    publish(rt, "order.completed", "evt_change_rotate_2")
    second = rx.wait_for(2, timeout=20)[1]
    assert (ids_of([second]), second.verified, second.problem) == (["evt_change_rotate_2"], True, None)
    assert len(signatures(second)) == 1  # no signature from the replaced secret
    with pytest.raises(WebhookVerificationError):
        verify(second.body, second.headers, ep["secret"])
    settle(rt, [ep["id"]])
    assert [(a["eventId"], a["status"], a["httpStatus"]) for a in attempts(rt, ep["id"])][0] == (
        "evt_change_rotate_2",
        "delivered",
        200,
    )
    assert dead_letters(rt, ep["id"]) == []


def test_revoke_previous_stops_every_earlier_secret_at_once(rt, scratch):
    rx = scratch.receiver()
    ep = scratch.endpoint("revoke", rx.url(), ["order.*"], retryPolicy=FAST_RETRIES)
    first = rotate(rt, ep["id"], overlapSeconds=3600)["secret"]  # the created secret signs for an hour
    publish(rt, "order.completed", "evt_change_revoke_1")
    (during,) = rx.wait_for(1, timeout=20)
    assert len(signatures(during)) == 2
    verify(during.body, during.headers, ep["secret"])

    # Overlap 0 alone stops only the secret this call replaces; the created one still has its hour.
    second = rotate(rt, ep["id"], overlapSeconds=0)
    assert [p for p in admin(rt, "GET", f"/endpoints/{ep['id']}/secret")[1]["previousSecrets"]] != []
    publish(rt, "order.completed", "evt_change_revoke_2")
    kept = rx.wait_for(2, timeout=20)[1]
    assert len(signatures(kept)) == 2
    verify(kept.body, kept.headers, ep["secret"])
    with pytest.raises(WebhookVerificationError):
        verify(kept.body, kept.headers, first)

    third = rotate(rt, ep["id"], overlapSeconds=0, revokePrevious=True)
    assert third["previousSecrets"] == [] and third["previousSecretExpiresAt"] is None
    assert admin(rt, "GET", f"/endpoints/{ep['id']}/secret")[1] == {"secret": third["secret"], "previousSecrets": []}
    publish(rt, "order.completed", "evt_change_revoke_3")
    after = rx.wait_for(3, timeout=20)[2]
    assert len(signatures(after)) == 1
    verify(after.body, after.headers, third["secret"])
    for old in (ep["secret"], first, second["secret"]):
        with pytest.raises(WebhookVerificationError):
            verify(after.body, after.headers, old)


def test_url_change_sends_the_next_delivery_to_the_new_url(rt, scratch):
    before, after = scratch.receiver(), scratch.receiver()
    ep = scratch.endpoint("moves", before.url(), ["order.*"], retryPolicy=FAST_RETRIES)
    publish(rt, "order.completed", "evt_change_url_1")
    before.wait_for(1, timeout=20)

    status, patched = admin(rt, "PATCH", f"/endpoints/{ep['id']}", {"url": after.url("/moved")})
    assert status == 200 and patched["url"] == after.url("/moved")
    publish(rt, "order.completed", "evt_change_url_2")
    (moved,) = after.wait_for(1, timeout=20)
    assert (moved.path, ids_of([moved])) == ("/moved", ["evt_change_url_2"])
    settle(rt, [ep["id"]])
    assert ids_of(before.requests) == ["evt_change_url_1"]


def test_event_filter_change_applies_to_events_already_queued(rt, scratch):
    """SNS's filter update is eventually consistent on AWS (minutes); delivery checks the current filter itself.

    Locally SNS applies a new filter at once, so the stale case is made with events already queued
    while the endpoint was paused: they were routed under the old filter and delivered under the new one.
    """
    rx = scratch.receiver()
    ep = scratch.endpoint("refilter", rx.url(), ["order.*"], retryPolicy=FAST_RETRIES)
    publish(rt, "order.completed", "evt_change_filter_1")
    rx.wait_for(1, timeout=20)

    assert admin(rt, "POST", f"/endpoints/{ep['id']}/pause")[0] == 200
    publish(rt, "order.updated", "evt_change_filter_2")  # queued: subscribed when it was published
    status, patched = admin(rt, "PATCH", f"/endpoints/{ep['id']}", {"events": ["review.created"]})
    assert status == 200 and patched["events"] == ["review.created"]
    assert admin(rt, "POST", f"/endpoints/{ep['id']}/resume")[0] == 200
    publish(rt, "review.created", "evt_change_filter_3")
    rx.wait_for(2, timeout=20)
    settle(rt, [ep["id"]])
    assert ids_of(rx.requests) == ["evt_change_filter_1", "evt_change_filter_3"]
    assert dead_letters(rt, ep["id"]) == []  # acknowledged, not dead-lettered
    assert "evt_change_filter_2" not in {a["eventId"] for a in attempts(rt, ep["id"])}  # never attempted
