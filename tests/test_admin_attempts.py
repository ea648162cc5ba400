"""GET /endpoints/{id}/attempts filters, end to end through the local runtime with real failing
receivers: statuses mean what they say (`failed` = every unsuccessful attempt), and filters run
before paging, so a page of failures is never an empty page followed by a cursor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from tests.local_stack import (
    FAST_RETRIES,
    event,
    get,
    poll,
    rt,  # noqa: F401 - the module-scoped runtime fixture
    scratch,  # noqa: F401 - per-test receivers and endpoints, removed afterwards
    settle,
)
from tests.receivers import Reply
from tests.test_local_runtime import admin, ingest


def page(rt, endpoint_id: str, **query: str | int) -> dict:
    return get(rt, f"/endpoints/{endpoint_id}/attempts?{urlencode(query)}")


def every(rt, endpoint_id: str, **query: str | int) -> list[dict]:
    """Every page of a filtered listing, following the cursor."""
    found, cursor = [], None
    while True:
        body = page(rt, endpoint_id, **query, **({"cursor": cursor} if cursor else {}))
        found += body["data"]
        cursor = body["nextCursor"]
        if not cursor:
            return found


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def flaky(rt, scratch):
    """The README's triage scene: two 503s (retried, then delivered), then 12 healthy deliveries,
    a receiver-refused event (400: dead-lettered at once) and a failed test send."""
    run = uuid.uuid4().hex[:8]  # event ids are idempotency keys in the module's runtime
    rx = scratch.receiver(Reply(503), Reply(503))
    ep = scratch.endpoint("Flaky", rx.url(), ["order.*", "review.created"], retryPolicy=FAST_RETRIES)
    ep["ids"] = {"retried": f"evt_flaky_retried_{run}", "refused": f"evt_flaky_refused_{run}"}
    assert ingest(rt, event("order.updated", ep["ids"]["retried"]))[0] == 202
    rx.wait_for(3, timeout=20)
    for n in range(12):
        assert ingest(rt, event("order.completed", f"evt_flaky_ok_{run}_{n:02d}"))[0] == 202
    rx.wait_for(15, timeout=20)
    rx.default = Reply(400, body=b"unknown review")
    assert ingest(rt, event("review.created", ep["ids"]["refused"]))[0] == 202
    rx.wait_for(16, timeout=20)
    status, test_send = admin(rt, "POST", f"/endpoints/{ep['id']}/test", {"event": "order.updated"})
    assert (status, test_send["status"]) == (200, "failed")
    settle(rt, [ep["id"]])
    poll(lambda: len(every(rt, ep["id"])) == 17, timeout=10, what="17 attempts logged")
    return ep


def test_failed_lists_every_unsuccessful_attempt_before_paging(rt, flaky):
    first = page(rt, flaky["id"], status="failed", limit=2)
    assert [(a["status"], a["httpStatus"]) for a in first["data"]] == [("failed", 400), ("dead_lettered", 400)]
    failed = every(rt, flaky["id"], status="failed", limit=2)
    assert [(a["eventId"], a["status"], a["httpStatus"]) for a in failed] == [
        (failed[0]["eventId"], "failed", 400),
        (flaky["ids"]["refused"], "dead_lettered", 400),
        (flaky["ids"]["retried"], "retry_scheduled", 503),
        (flaky["ids"]["retried"], "retry_scheduled", 503),
    ]
    assert failed[0]["eventId"].startswith("evt_test_") and failed[0]["test"] is True
    assert len(every(rt, flaky["id"], status="delivered", limit=5)) == 13
    assert [a["attempt"] for a in every(rt, flaky["id"], status="retry_scheduled")] == [2, 1]
    assert [a["eventId"] for a in every(rt, flaky["id"], status="dead_lettered")] == [flaky["ids"]["refused"]]


def test_event_type_exact_or_namespace_and_a_time_range(rt, flaky):
    assert {a["eventType"] for a in every(rt, flaky["id"], eventType="order.*")} == {"order.updated", "order.completed"}
    updated = every(rt, flaky["id"], eventType="order.updated")
    assert {a["eventId"] for a in updated if not a["test"]} == {flaky["ids"]["retried"]} and len(updated) == 4
    assert [a["eventId"] for a in every(rt, flaky["id"], eventType="review.*", status="failed")] == [
        flaky["ids"]["refused"]
    ]
    assert every(rt, flaky["id"], eventType="content.*") == []

    log = every(rt, flaky["id"])  # newest first
    middle = log[5]["at"]
    newer = every(rt, flaky["id"], since=middle)
    older = every(rt, flaky["id"], until=middle)
    assert newer and older and len(newer) + len(older) == len(log)  # [since, until): each attempt once
    assert all(a["at"] >= middle for a in newer) and all(a["at"] < middle for a in older)
    assert every(rt, flaky["id"], since=log[-1]["at"], until=log[0]["at"], status="failed", limit=1) == [
        a for a in every(rt, flaky["id"], status="failed") if a["at"] < log[0]["at"]
    ]


@pytest.mark.parametrize(
    "query",
    [
        {"status": "retrying"},
        {"status": "FAILED"},
        {"eventType": "Order Updated"},
        {"eventType": "order.*.*"},
        {"eventType": "x" * 101},
        {"until": "yesterday"},
        {"until": "1700000000"},
        {"since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
        {"limit": 0},
    ],
)
def test_bad_filter_values_are_a_400_in_the_one_error_shape(rt, scratch, query):
    rx = scratch.receiver()
    ep = scratch.endpoint("Filters", rx.url(), ["*"])
    status, body = admin(rt, "GET", f"/endpoints/{ep['id']}/attempts?{urlencode(query)}")
    assert status == 400, body
    assert set(body) == {"error"} and body["error"]["code"] == "validation_failed"
    assert set(body["error"]) == {"code", "message", "details"} and body["error"]["message"]


def test_an_empty_time_range_is_an_empty_page(rt, scratch):
    rx = scratch.receiver()
    ep = scratch.endpoint("Empty range", rx.url(), ["*"])
    moment = iso(datetime.now(UTC) - timedelta(days=1))
    assert page(rt, ep["id"], since=moment, until=moment) == {"data": [], "nextCursor": None}


# -- the store's read budget (moto in process) ----------------------------------------
class CountingDdb:
    """The store's DynamoDB client, counting what each Query read (ScannedCount)."""

    def __init__(self, ddb) -> None:
        self.ddb, self.scanned = ddb, []

    def query(self, **kwargs):
        resp = self.ddb.query(**kwargs)
        self.scanned.append(resp["ScannedCount"])
        return resp

    def __getattr__(self, name):
        return getattr(self.ddb, name)


def _seed(st, endpoint_id: str, statuses: list[str]) -> None:
    """Attempts one second apart, newest first in `statuses` order."""
    now = datetime.now(UTC)
    st.put_attempt_items(
        [
            st.attempt_item(
                {
                    "endpointId": endpoint_id,
                    "eventId": f"evt_{n:04d}",
                    "eventType": "order.updated",
                    "attempt": 1,
                    "at": iso(now - timedelta(seconds=n)),
                    "status": status,
                }
            )
            for n, status in enumerate(statuses)
        ]
    )


def test_a_filtered_page_stops_at_the_read_budget_and_its_cursor_goes_on(aws):
    from litestore_webhooks.aws.store import AttemptMatch, Store

    st = Store(aws)
    _seed(st, "ep_budget", ["delivered"] * 45 + ["dead_lettered", "retry_scheduled"] + ["delivered"] * 10)
    st.ddb = counting = CountingDdb(st.ddb)
    failed = AttemptMatch(("retry_scheduled", "dead_lettered", "failed"))
    first = st.attempts_for_endpoint("ep_budget", match=failed, limit=5, read_budget=20)
    assert (first.items, sum(counting.scanned)) == ([], 20) and first.cursor  # 20 read, none matched: go on
    pages, cursor = [first], first.cursor
    while cursor:
        pages.append(st.attempts_for_endpoint("ep_budget", match=failed, limit=5, read_budget=20, cursor=cursor))
        cursor = pages[-1].cursor
    assert [[i["eventId"] for i in p.items] for p in pages] == [[], [], ["evt_0045", "evt_0046"]]
    assert max(counting.scanned) <= 20


def test_a_full_filtered_page_resumes_after_its_last_item(aws):
    from litestore_webhooks.aws.store import AttemptMatch, Store

    st = Store(aws)
    statuses = ["delivered", "dead_lettered"] * 10
    _seed(st, "ep_resume", statuses)
    seen, cursor = [], None
    while True:
        p = st.attempts_for_endpoint("ep_resume", match=AttemptMatch(("dead_lettered",)), limit=3, cursor=cursor)
        assert len(p.items) <= 3
        seen += [i["eventId"] for i in p.items]
        if not (cursor := p.cursor):
            break
    assert seen == [f"evt_{n:04d}" for n, s in enumerate(statuses) if s == "dead_lettered"]  # each once, in order


def test_every_stored_status_has_a_filter_and_failed_is_every_unsuccessful_one():
    from litestore_webhooks import delivery
    from litestore_webhooks.admin.attempts import STATUS_FILTERS

    written = {delivery.DELIVERED, delivery.RETRY_SCHEDULED, delivery.DEAD_LETTERED, delivery.FAILED}
    assert set(STATUS_FILTERS["failed"]) == written - {delivery.DELIVERED}
    assert {s for stored in STATUS_FILTERS.values() for s in stored} == written
