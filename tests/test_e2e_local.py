"""End to end through the local runtime: the document's three endpoints, every catalog
example published once over HTTP, each delivered exactly to its subscribers and verified."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from tests.receivers import Receiver
from tests.test_local_runtime import admin, ingest

import seed_catalog as catalog
from litestore_webhooks import verify
from litestore_webhooks.local.runtime import LocalRuntime

# The document's "Multiple Endpoints".
ENDPOINTS = (
    ("Order Processing", ["product.purchased", "order.updated"], "order-secret-123"),
    ("Email Service", ["user.registered", "review.created"], "email-secret-456"),
    ("Analytics", ["*"], "analytics-secret-789"),
)


def test_documents_endpoints_receive_exactly_their_events():
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    examples = [{**t.example, "timestamp": now} for t in catalog.CATALOG.values()]
    receivers = [Receiver() for _ in ENDPOINTS]
    try:
        with LocalRuntime(port=0, allow_insecure=True) as rt:
            for (name, events, secret), rx in zip(ENDPOINTS, receivers):
                status, body = admin(
                    rt, "POST", "/endpoints", {"name": name, "url": rx.url(), "events": events, "secret": secret}
                )
                assert status == 201, body
            started = time.monotonic()
            for event in examples:
                assert ingest(rt, event)[0] == 202
            for (name, events, secret), rx in zip(ENDPOINTS, receivers):
                expected = sorted(e["id"] for e in examples if events == ["*"] or e["event"] in events)
                got = rx.wait_for(len(expected), timeout=20)
                for request in got:
                    verify(request.body, request.headers, secret)
                assert sorted(json.loads(q.body)["id"] for q in got) == expected, name
            print(f"{len(examples)} events to 3 endpoints delivered in {time.monotonic() - started:.2f}s")
            time.sleep(0.5)
            assert [len(rx.requests) for rx in receivers] == [2, 2, len(examples)]  # nothing twice
    finally:
        for rx in receivers:
            rx.close()
