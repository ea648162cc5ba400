"""Faults inside: AWS calls that fail, succeed twice or lose their answer, and handlers that die.

Faults are injected with botocore event hooks on the very clients the handlers use
(`litestore_webhooks.aws.clients`), against real moto, with real receivers on 127.0.0.1:

  error  the call fails (ClientError 500) and nothing was applied
  lost   the call was applied, then the caller sees a read timeout (the answer was lost)
  twice  the call was applied, its answer lost, and botocore retried it: applied again, or
         (conditional writes) the retry fails its condition against the first try's write
  crash  the function dies at this call (a BaseException no handler code catches): nothing
         after it runs, the SQS batch is neither acknowledged nor failed
  hang   the function stalls here past the queue's visibility timeout, then dies (a Lambda timeout)

Ingest runs on mock_aws through the Lambda handler; delivery and the conservation test run in
the local runtime, whose handlers run in-process on the hooked clients. `run_conservation`
is shared with `make soak` (tests/soak/), which runs it at full size.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from tests.receivers import Receiver, Reply, Request
from tests.test_ingest import call, drain, envelope, request
from tests.test_local_runtime import admin

import seed_catalog as catalog
from litestore_webhooks import resources as r
from litestore_webhooks import verify
from litestore_webhooks.aws import clients, event_sources
from litestore_webhooks.aws.store import Store
from litestore_webhooks.local.runtime import LocalRuntime

# -- fault injection -----------------------------------------------------------------------------

FAULT = "lsw_fault"  # request-context key carrying the decision from parameter build to the later hooks
# Every AWS write (and the reads on the hot path) that ingest and delivery make.
RANDOM_OPS = frozenset(
    {
        "dynamodb.PutItem",
        "dynamodb.BatchWriteItem",
        "dynamodb.UpdateItem",
        "dynamodb.DeleteItem",
        "dynamodb.BatchGetItem",
        "dynamodb.GetItem",
        "sns.Publish",
        "sns.PublishBatch",
        "sqs.SendMessage",
        "sqs.SendMessageBatch",
    }
)
# Random faults: mostly plain failures, some applied-but-unanswered or applied twice, and
# (inside the delivery function only) the function dying at the call.
RANDOM_MIX = (("error", 60), ("lost", 20), ("twice", 10), ("crash", 10))


class HandlerDied(BaseException):
    """The function stopped here (crash or timeout). BaseException: no handler code catches it."""


def aws_error(code: str, status: int = 500) -> tuple[AWSResponse, dict[str, Any]]:
    """What a `before-call` hook returns to make a call fail as AWS would, without applying it."""
    parsed = {"Error": {"Code": code, "Message": "injected fault"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return AWSResponse("https://injected.invalid/", status, {}, None), parsed


def _in_delivery_function() -> bool:
    """The local poller invokes the delivery handler on `lsw-*` threads; it POSTs on `deliver*` ones."""
    return threading.current_thread().name.startswith(("lsw-", "deliver"))


@dataclass
class Rule:
    op: str  # "<service>.<Operation>"
    kind: str
    needles: tuple[str, ...]  # all must occur in the call's parameters (as JSON)
    times: int = 1


@dataclass
class Faults:
    """Targeted rules plus, optionally, a seeded random `rate` of faults on RANDOM_OPS."""

    seed: int = 0
    rate: float = 0.0
    hang_s: float = 0.0
    rules: list[Rule] = field(default_factory=list)
    injected: Counter[tuple[str, str]] = field(default_factory=Counter)
    seen: Counter[str] = field(default_factory=Counter)  # RANDOM_OPS calls made while attached

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def add(self, op: str, kind: str, *needles: str, times: int = 1) -> None:
        with self._lock:
            self.rules.append(Rule(op, kind, needles, times))

    def attach(self) -> Faults:
        """Hook the process's shared clients (the ones every handler uses)."""
        for service in ("dynamodb", "sns", "sqs"):
            events = clients.client(service).meta.events
            events.register(f"before-parameter-build.{service}", self._decide)
            events.register(f"before-call.{service}", self._before_call)
            events.register(f"needs-retry.{service}", self._needs_retry)
            events.register(f"after-call.{service}", self._after_call)
        return self

    def _decide(self, params: dict[str, Any], model: Any, context: dict[str, Any], event_name: str, **_: Any) -> None:
        op = f"{event_name.split('.')[1]}.{model.name}"
        text = json.dumps(params, default=str)
        kind = None
        with self._lock:
            if op in RANDOM_OPS:
                self.seen[op] += 1
            for rule in self.rules:
                if rule.op == op and rule.times > 0 and all(n in text for n in rule.needles):
                    rule.times -= 1
                    kind = rule.kind
                    break
            else:
                if self.rate and op in RANDOM_OPS and self._rng.random() < self.rate:
                    kind = self._rng.choices([k for k, _ in RANDOM_MIX], [w for _, w in RANDOM_MIX])[0]
                    if kind == "crash" and not _in_delivery_function():
                        kind = "error"
            if kind:
                self.injected[(op, kind)] += 1
        if kind:
            context[FAULT] = kind

    def _before_call(self, context: dict[str, Any], **_: Any) -> Any:
        kind = context.get(FAULT)
        if kind == "error":
            return aws_error("InternalError")
        if kind == "hang":
            time.sleep(self.hang_s)
        if kind in ("crash", "hang"):
            raise HandlerDied(kind)
        return None

    def _needs_retry(
        self, attempts: int, caught_exception: Any, request_dict: dict[str, Any], response: Any = None, **_: Any
    ) -> Any:
        ok = caught_exception is None and response is not None and response[0].status_code < 300
        if request_dict.get("context", {}).get(FAULT) == "twice" and attempts == 1 and ok:
            return 0  # retry at once, as botocore does after a timeout on a write that was applied
        return None

    def _after_call(self, context: dict[str, Any], **_: Any) -> None:
        if context.get(FAULT) == "lost":
            raise ReadTimeoutError(endpoint_url="https://injected.invalid/")

    def total(self) -> int:
        return sum(self.injected.values())

    def by_kind(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (_, kind), n in self.injected.items():
            out[kind] += n
        return dict(out)


# -- ingest on mock_aws --------------------------------------------------------------------------


@pytest.fixture
def queues(aws):
    """Queue URLs of two provisioned endpoints: "all" (every event) and "users" (user.registered only)."""
    from litestore_webhooks.provisioning import Provisioner, load_endpoint

    event_sources.use(event_sources.LocalEventSources())
    p = Provisioner(aws)
    urls = {}
    for kind, events in {"all": ["*"], "users": ["user.registered"]}.items():
        ep = p.create(p.parse_spec({"url": f"https://{kind}.example.com/hook", "events": events}))
        urls[kind] = load_endpoint(p.store, ep.id)[1].queue_url
    yield urls
    event_sources.use(None)


def ids_in(queue_url: str) -> list[str]:
    return [json.loads(m["Body"])["id"] for m in drain(queue_url)]


def _claims(request_dict: dict[str, Any]) -> bool:
    body = json.loads(request_dict.get("body") or b"{}")
    return str(body.get("Item", {}).get("key", {}).get("S", "")).startswith("evt#")


def test_a_claim_whose_first_try_succeeded_unseen_is_still_ours(aws, queues):
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
    assert [json.loads(m["Body"])["id"] for m in drain(queues["all"])] == ["evt_retried_claim"]
    # ... and a real repeat is still a duplicate.
    status, _, body = call(request(body=envelope(event_id="evt_retried_claim")))
    assert (status, body["duplicate"]) == (200, True)
    assert drain(queues["all"]) == []


def test_a_repeat_while_the_first_is_publishing_is_told_to_retry_not_duplicate(aws, queues):
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
    assert drain(queues["all"]) == []
    status, _, body = call(request(body=envelope(event_id="evt_race")))  # the store's next retry
    assert (status, body["duplicate"]) == (202, False)
    assert [json.loads(m["Body"])["id"] for m in drain(queues["all"])] == ["evt_race"]


def test_a_claim_left_pending_by_a_dead_request_is_taken_over_after_its_lease(aws, queues):
    from litestore_webhooks.ingest import CLAIM_LEASE_S

    store = Store(aws)
    store.claim_event_id(
        "evt_orphan", token="died-mid-request", lease_s=CLAIM_LEASE_S, now=time.time() - CLAIM_LEASE_S - 1
    )
    status, _, body = call(request(body=envelope(event_id="evt_orphan")))
    assert (status, body["duplicate"]) == (202, False)
    assert len(drain(queues["all"])) == 1
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


# One fault at each step of a single ingest: what the store is told, what was published, and
# what the store's retry of the same event gets. (A 5xx always means "retry"; it is only ever
# answered when nothing was accepted, except where the publish itself was applied and its answer
# lost: then the retry publishes again under the same id, a duplicate receivers drop.)
INGEST_FAULTS = {
    # id: ((op, kind, needle), answer, published by it, (retry answer, published by the retry))
    "claim-error": (("dynamodb.PutItem", "error", "claim"), (503, "claim_failed"), 0, (202, 1)),
    "claim-lost": (("dynamodb.PutItem", "lost", "claim"), (503, "claim_failed"), 0, (202, 1)),
    "claim-twice": (("dynamodb.PutItem", "twice", "claim"), (202, None), 1, (200, 0)),
    "store-error": (("dynamodb.BatchWriteItem", "error", "events"), (503, "store_failed"), 0, (202, 1)),
    "store-lost": (("dynamodb.BatchWriteItem", "lost", "events"), (503, "store_failed"), 0, (202, 1)),
    "publish-error": (("sns.PublishBatch", "error", "id"), (503, "publish_failed"), 0, (202, 1)),
    "publish-lost": (("sns.PublishBatch", "lost", "id"), (503, "publish_failed"), 1, (202, 1)),
    "publish-twice": (("sns.PublishBatch", "twice", "id"), (202, None), 2, (200, 0)),
    "confirm-error": (("dynamodb.BatchWriteItem", "error", "confirm"), (202, None), 1, ((503, "event_in_progress"), 0)),
}


def _needles(aws, what: str, event_id: str) -> tuple[str, ...]:
    return {
        "claim": (f"evt#{event_id}",),
        "events": (aws.events_table, event_id),
        "confirm": (aws.idempotency_table, f"evt#{event_id}", "accepted"),
        "id": (event_id,),
    }[what]


def _status(answer: tuple[int, dict[str, str], Any]) -> Any:
    status, _, body = answer
    return (status, body["error"]["code"]) if status >= 400 else status


@pytest.mark.parametrize("case", list(INGEST_FAULTS))
def test_ingest_fault_at_each_step(aws, queues, case):
    (op, kind, what), answer, published, (retry_answer, republished) = INGEST_FAULTS[case]
    event_id = f"evt_{case.replace('-', '_')}"
    faults = Faults().attach()
    faults.add(op, kind, *_needles(aws, what, event_id))

    first = call(request(body=envelope(event_id=event_id)))
    assert faults.total() == 1
    assert _status(first) == (answer if answer[1] else answer[0])
    if first[0] >= 500:
        assert first[2]["error"]["details"] == {"retryable": True}
    assert ids_in(queues["all"]) == [event_id] * published
    retry = call(request(body=envelope(event_id=event_id)))
    assert _status(retry) == retry_answer
    assert ids_in(queues["all"]) == [event_id] * republished
    assert ids_in(queues["users"]) == []  # and nothing reached an endpoint that did not subscribe


def test_ingest_release_failure_leaves_a_pending_claim_that_is_retried_not_duplicate(aws, queues):
    faults = Faults().attach()
    faults.add("sns.PublishBatch", "error", "evt_unreleased")
    faults.add("dynamodb.DeleteItem", "error", "evt#evt_unreleased")
    assert _status(call(request(body=envelope(event_id="evt_unreleased")))) == (503, "publish_failed")
    assert _status(call(request(body=envelope(event_id="evt_unreleased")))) == (503, "event_in_progress")
    assert ids_in(queues["all"]) == []


def _batch(ids: list[str]) -> dict[str, Any]:
    return request("/events/batch", body={"events": [envelope(event_id=i) for i in ids]})


def test_batch_with_one_failed_publish_call_is_207_and_only_the_failed_events_are_retried(aws, queues):
    ids = [f"evt_b{i:02d}" for i in range(12)]  # PublishBatch takes 10: two calls, the second fails
    Faults().attach().add("sns.PublishBatch", "error", "evt_b11")
    status, _, body = call(_batch(ids))
    assert status == 207
    assert [(x["id"], x["status"]) for x in body["results"]] == [(i, 202) for i in ids[:10]] + [
        (i, 503) for i in ids[10:]
    ]
    assert {x["error"]["code"] for x in body["results"][10:]} == {"publish_failed"}
    assert sorted(ids_in(queues["all"])) == ids[:10]
    status, _, body = call(_batch(ids))  # the store resends the whole batch
    assert status == 202
    assert [x["duplicate"] for x in body["results"]] == [True] * 10 + [False] * 2
    assert sorted(ids_in(queues["all"])) == ids[10:]


def test_batch_is_503_only_when_no_event_was_accepted(aws, queues):
    ids = [f"evt_n{i}" for i in range(5)]
    faults = Faults().attach()
    for i in ids:
        faults.add("dynamodb.PutItem", "error", f"evt#{i}")
    status, _, body = call(_batch(ids))
    assert (status, body["error"]["code"]) == (503, "unavailable")
    assert {x["error"]["code"] for x in body["error"]["details"]} == {"claim_failed"}
    assert ids_in(queues["all"]) == []
    assert call(_batch(ids))[0] == 202
    assert sorted(ids_in(queues["all"])) == ids


# -- delivery and conservation in the local runtime ----------------------------------------------

# Redelivery of a record that was not acknowledged waits for the queue's visibility timeout
# (6 x 60 s in the stack); the tests shorten it so a redelivery comes within seconds.
VISIBILITY_S = 2
FAST_RETRIES = {"maxAttempts": 3, "initialDelay": 200, "backoffMultiplier": 2.0, "maxDelay": 1000}
RECEIVER_FAILURES = (Reply(500), Reply(503), Reply(429), Reply(408), Reply(400))  # 400: rejected, dead-lettered at once


class RecordingReceiver(Receiver):
    """A real receiver that remembers the status it answered to each request; with `failure_rate`
    it answers a seeded random share of requests with one of RECEIVER_FAILURES."""

    def __init__(self, *script: Reply, failure_rate: float = 0.0, seed: int = 0, **kwargs: Any) -> None:
        self.answers: list[tuple[Request, int]] = []
        self.failure_rate = failure_rate
        self.failures_injected = 0
        self._rng = random.Random(seed)
        self._answer_lock = threading.Lock()
        super().__init__(*script, **kwargs)

    def _record(self, request: Request) -> Reply:
        reply = super()._record(request)
        with self._answer_lock:
            if self.failure_rate and self._rng.random() < self.failure_rate:
                reply = self._rng.choice(RECEIVER_FAILURES)
                self.failures_injected += 1
            self.answers.append((request, reply.status))
        return reply


class Probe:
    """Reads the runtime's queues with a client of its own, so injected faults never touch the checks."""

    def __init__(self, rt: LocalRuntime) -> None:
        self.rt = rt
        self.sqs = boto3.session.Session().client("sqs", endpoint_url=rt.aws_endpoint_url, region_name="us-east-1")
        self.dead: dict[str, Counter[str]] = defaultdict(Counter)  # endpoint id -> event id -> dead letters

    def url(self, endpoint_id: str, dlq: bool = False) -> str:
        name = (r.dead_letter_queue_name if dlq else r.endpoint_queue_name)(self.rt.prefix, endpoint_id)
        return self.sqs.get_queue_url(QueueName=name)["QueueUrl"]

    def shorten_visibility(self, endpoint_id: str) -> None:
        self.sqs.set_queue_attributes(
            QueueUrl=self.url(endpoint_id), Attributes={"VisibilityTimeout": str(VISIBILITY_S)}
        )

    def drain_dead_letters(self, endpoint_id: str) -> Counter[str]:
        url = self.url(endpoint_id, dlq=True)
        while True:
            msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not msgs:
                return self.dead[endpoint_id]
            for m in msgs:
                self.dead[endpoint_id][json.loads(m["Body"])["id"]] += 1
            self.sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
            )

    def queue_empty(self, endpoint_id: str) -> bool:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.url(endpoint_id), AttributeNames=names)["Attributes"]
        return all(int(attrs.get(n, 0)) == 0 for n in names)


@dataclass
class Target:
    """One endpoint under test: its receiver, subscription and secret."""

    id: str
    events: list[str]
    secret: str
    rx: RecordingReceiver

    def posts(self) -> dict[str, list[tuple[Request, int]]]:
        by_event: dict[str, list[tuple[Request, int]]] = defaultdict(list)
        for req, status in list(self.rx.answers):
            by_event[json.loads(req.body)["id"]].append((req, status))
        return by_event

    def delivered(self) -> set[str]:
        return {e for e, posts in self.posts().items() if any(200 <= s < 300 for _, s in posts)}


def create_target(
    rt: LocalRuntime,
    probe: Probe,
    name: str,
    events: list[str],
    rx: RecordingReceiver,
    *,
    short_visibility: bool = True,
) -> Target:
    secret = f"whsec-test-{name}-0123456789"
    status, body = admin(
        rt,
        "POST",
        "/endpoints",
        {
            "name": name,
            "url": rx.url(),
            "events": events,
            "secret": secret,
            "retryPolicy": FAST_RETRIES,
            "active": False,  # paused: no receive may start with the stack's visibility timeout
        },
    )
    assert status == 201, body
    if short_visibility:
        probe.shorten_visibility(body["id"])
    status, resumed = admin(rt, "POST", f"/endpoints/{body['id']}/resume")
    assert status == 200 and resumed["active"], resumed
    return Target(body["id"], events, secret, rx)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def make_event(event_type: str, event_id: str) -> dict[str, Any]:
    return {**catalog.CATALOG[event_type].example, "id": event_id, "timestamp": now_iso()}


@dataclass
class Ledger:
    """Per (endpoint, event) pair: delivered (a 2xx answer), dead-lettered, or neither; plus the POSTs."""

    expected: dict[str, set[str]]  # endpoint id -> event ids it subscribed to and that were accepted
    targets: list[Target]
    probe: Probe

    def outcome(self) -> dict[str, Any]:
        delivered = dead = both = lost = 0
        missing: list[tuple[str, str]] = []
        for t in self.targets:
            got, dead_ids = t.delivered(), set(self.probe.drain_dead_letters(t.id))
            for e in self.expected[t.id]:
                if e in got:
                    delivered += 1
                    both += e in dead_ids
                elif e in dead_ids:
                    dead += 1
                else:
                    lost += 1
                    missing.append((t.id, e))
        # Each pair counts once: delivered if the receiver ever answered 2xx, else dead-lettered,
        # else lost. `also_dead_lettered`: delivered pairs that ALSO left a dead letter (a second
        # copy of the event, e.g. published twice, was rejected or ran out of attempts).
        return {
            "delivered": delivered,
            "dead_lettered": dead,
            "lost": lost,
            "also_dead_lettered": both,
            "missing": missing[:10],
        }

    def settled(self) -> bool:
        return self.outcome()["lost"] == 0 and all(self.probe.queue_empty(t.id) for t in self.targets)

    def wait_settled(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.settled():
            if time.monotonic() > deadline:
                raise AssertionError(f"not settled within {timeout_s} s: {self.outcome()}")
            time.sleep(0.25)

    def posts_check(self) -> dict[str, Any]:
        """Every POST: signature valid, header ids equal to the body's id, subscribed type; duplicates identical."""
        posts = duplicates = twice_ok = distinct_ids = bad_signatures = unsubscribed = unexpected = 0
        for t in self.targets:
            for event_id, answered in t.posts().items():
                posts += len(answered)
                duplicates += len(answered) - 1
                twice_ok += sum(200 <= s < 300 for _, s in answered) > 1
                header_ids = {req.headers.get("webhook-id") for req, _ in answered}
                header_ids |= {req.headers.get("X-Litestore-Event-Id") for req, _ in answered}
                bodies = {req.body for req, _ in answered}
                if header_ids != {event_id} or len(bodies) != 1:
                    distinct_ids += 1
                for req, _ in answered:
                    try:
                        verify(req.body, req.headers, t.secret)
                    except Exception:
                        bad_signatures += 1
                event_type = json.loads(answered[0][0].body)["event"]
                if not any(catalog.matches(p, event_type) for p in t.events):
                    unsubscribed += 1
                if event_id not in self.expected[t.id]:
                    unexpected += 1
        # duplicate_posts: POSTs after a pair's first (retries of failed ones included);
        # delivered_more_than_once: pairs the receiver answered 2xx more than once.
        return {
            "posts": posts,
            "duplicate_posts": duplicates,
            "delivered_more_than_once": twice_ok,
            "duplicates_with_distinct_ids": distinct_ids,
            "bad_signatures": bad_signatures,
            "unsubscribed_received": unsubscribed,
            "received_but_not_expected": unexpected,
        }


# Each case: one endpoint (its own event type), the faults aimed at its event(s), the receiver's
# script, and what must come of it. Needles: {ep} endpoint id, {ev} event id.
DELIVERY_CASES = {
    "marker lookup and streak update fail": (
        [("dynamodb.BatchGetItem", "error", ("{ep}", "{ev}")), ("dynamodb.UpdateItem", "error", ("{ep}",))],
        (),
        "delivered",
        1,
    ),
    "endpoint lookup fails": ([("dynamodb.GetItem", "error", ("{ep}",))], (), "delivered", 1),
    "marker write fails after a 2xx (its second try, with the attempt log, lands)": (
        [("dynamodb.PutItem", "error", ("dlv#{ep}#{ev}",))],
        (),
        "delivered",
        1,
    ),
    "marker written, answer lost": ([("dynamodb.PutItem", "lost", ("dlv#{ep}#{ev}",))], (), "delivered", 1),
    "attempt log write fails": ([("dynamodb.BatchWriteItem", "error", ("{ep}", "{ev}"))], (), "delivered", 1),
    "retry re-send fails": ([("sqs.SendMessageBatch", "error", ("{ep}", "{ev}"))], (Reply(503),), "delivered", 2),
    "retry re-send applied twice": (
        [("sqs.SendMessageBatch", "twice", ("{ep}", "{ev}"))],
        (Reply(503),),
        "delivered",
        (2, 3),
    ),
    "dead-letter send fails": ([("sqs.SendMessageBatch", "error", ("{ep}-dlq", "{ev}"))], "reject", "dead_lettered", 2),
    "crash mid-batch (after the POST)": ([("dynamodb.PutItem", "crash", ("dlv#{ep}#{ev}",))], (), "delivered", 2),
    "timeout mid-batch (attempt log write)": (
        [("dynamodb.BatchWriteItem", "hang", ("{ep}", "{ev}"))],
        (),
        "delivered",
        1,
    ),
}


def test_delivery_fault_at_each_step_ends_delivered_or_dead_lettered():
    """All cases at once in one runtime: each fault hits one step for one (endpoint, event) pair;
    the record is redelivered by SQS and ends as the case says, POSTed the stated number of times."""
    types = [t for t in catalog.CATALOG if t != "commission.earned"]
    assert len(types) >= len(DELIVERY_CASES)
    receivers: list[RecordingReceiver] = []
    with LocalRuntime(port=0, allow_insecure=True) as rt:
        probe = Probe(rt)
        targets, events, cases = [], [], []
        for (name, (rules, script, outcome, posts)), event_type in zip(DELIVERY_CASES.items(), types):
            rx = RecordingReceiver(default=Reply(400)) if script == "reject" else RecordingReceiver(*script)
            receivers.append(rx)
            target = create_target(
                rt, probe, f"{name.split(' ')[0]}{len(targets)}", [event_type], rx
            )  # names are unique
            event_id = f"evt_case{len(targets)}"
            targets.append(target)
            events.append(make_event(event_type, event_id))
            cases.append((name, target, event_id, rules, outcome, posts))
        bystander = RecordingReceiver()
        receivers.append(bystander)
        targets.append(create_target(rt, probe, "bystander", ["commission.earned"], bystander))
        # The crash case also carries two innocent events in the same queue: they must not be re-POSTed.
        crash = next(c for c in cases if c[0].startswith("crash"))
        siblings = [make_event(crash[1].events[0], f"evt_sibling{i}") for i in range(2)]

        faults = Faults(hang_s=VISIBILITY_S + 1).attach()
        for _, target, event_id, rules, _, _ in cases:
            for op, kind, needles in rules:
                faults.add(op, kind, *(n.format(ep=target.id, ev=event_id) for n in needles))
        for e in [*events, *siblings]:
            status, body = call_ingest(rt, e)
            assert status == 202, body
        expected = {t.id: set() for t in targets}
        for _, target, event_id, *_ in cases:
            expected[target.id].add(event_id)
        expected[crash[1].id] |= {e["id"] for e in siblings}
        ledger = Ledger(expected, targets, probe)
        try:
            ledger.wait_settled(timeout_s=45)
        finally:
            faults.rate = 0
        dead = {t.id: set(probe.dead[t.id]) for t in targets}
        for name, target, event_id, rules, outcome, posts in cases:
            assert sum(faults.injected[(op, kind)] for op, kind, _ in rules) >= len(rules), f"{name}: fault not hit"
            got = target.posts()[event_id]
            want = posts if isinstance(posts, tuple) else (posts, posts)
            assert want[0] <= len(got) <= want[1], (name, [s for _, s in got])
            assert (event_id in target.delivered(), event_id in dead[target.id]) == (
                outcome == "delivered",
                outcome == "dead_lettered",
            ), name
        assert {e: len(p) for e, p in crash[1].posts().items() if e.startswith("evt_sibling")} == {
            e["id"]: 1 for e in siblings
        }
        check = ledger.posts_check()
        assert check["duplicates_with_distinct_ids"] == check["bad_signatures"] == 0, check
        assert check["unsubscribed_received"] == check["received_but_not_expected"] == 0, check
        assert bystander.answers == []
    for rx in receivers:
        rx.close()


def call_ingest(rt: LocalRuntime, event: dict[str, Any]) -> tuple[int, Any]:
    from tests.test_local_runtime import ingest

    return ingest(rt, event)


# -- conservation ------------------------------------------------------------------------------

CONSERVATION_ENDPOINTS = {
    "all": ["*"],
    "orders": ["order.*", "product.purchased"],
    "people": ["user.registered", "review.created", "creator.registered"],
}
CONSERVATION_TYPES = (
    "order.completed",
    "order.updated",
    "product.purchased",
    "user.registered",
    "review.created",
    "content.submitted",
)


class Publisher:
    """The store's side: POST /events on keep-alive connections, retrying each event until a 2xx."""

    def __init__(self, rt: LocalRuntime, workers: int, give_up_s: float = 150) -> None:
        parts = urlsplit(rt.base_url)
        self.host, self.port, self.prefix, self.key = parts.hostname, parts.port, parts.path, rt.api_key
        # Longer than a claim's lease: a claim whose release failed blocks retries until it ends.
        self.workers, self.give_up_s = workers, give_up_s
        self.answers: Counter[str] = Counter()  # every answer, retries included
        self.accepted: dict[str, str] = {}  # event id -> type, for events that got a 2xx
        self.sent_at: dict[str, float] = {}  # event id -> when the batch POST that got it accepted was sent
        self._local = threading.local()
        self._lock = threading.Lock()

    def _post(self, body: bytes, path: str = "/events") -> tuple[int | str, bytes]:
        conn = getattr(self._local, "conn", None)
        try:
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            conn.request(
                "POST",
                f"{self.prefix}{path}",
                body=body,
                headers={"Content-Type": "application/json", "x-api-key": self.key},
            )
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self._local.conn = None
            return type(exc).__name__, b""

    def _one(self, event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        deadline = time.monotonic() + self.give_up_s
        for attempt in range(10_000):
            status, _ = self._post(body)
            with self._lock:
                self.answers[str(status)] += 1
                if status in (200, 202):
                    self.accepted[event["id"]] = event["event"]
                    return
            assert status in (503,) or isinstance(status, str), f"ingest answered {status} for a valid event"
            if time.monotonic() > deadline:
                return
            time.sleep(min(0.02 * 2**attempt, 1.0))  # the store's backoff before its retry

    def run(self, events: list[dict[str, Any]]) -> None:
        with ThreadPoolExecutor(self.workers, thread_name_prefix="store") as pool:
            list(pool.map(self._one, events))

    def _batch(self, events: list[dict[str, Any]]) -> None:
        """POST /events/batch, resending the events answered 5xx (207/503) until all are accepted."""
        deadline = time.monotonic() + self.give_up_s
        for attempt in range(10_000):
            if time.monotonic() > deadline:
                return
            sent_at = time.time()
            status, raw = self._post(json.dumps({"events": events}).encode(), "/events/batch")
            with self._lock:
                self.answers[str(status)] += 1
            if isinstance(status, str):
                continue
            assert status in (200, 202, 207, 503), (status, raw[:300])
            body = json.loads(raw)
            results = body["results"] if status != 503 else body["error"]["details"]
            retry = []
            with self._lock:
                for event, result in zip(events, results):
                    if result["status"] in (200, 202):
                        self.accepted[event["id"]] = event["event"]
                        self.sent_at.setdefault(event["id"], sent_at)
                    else:
                        assert result["status"] >= 500, result
                        retry.append(event)
            if not retry:
                return
            events = retry
            time.sleep(min(0.02 * 2**attempt, 1.0))

    def run_batches(self, events: list[dict[str, Any]], size: int) -> None:
        with ThreadPoolExecutor(self.workers, thread_name_prefix="store") as pool:
            list(pool.map(self._batch, [events[i : i + size] for i in range(0, len(events), size)]))


def run_conservation(
    n_events: int,
    *,
    seed: int = 7,
    failure_rate: float = 0.3,
    fault_rate: float = 0.05,
    publishers: int = 8,
    settle_timeout_s: float = 120,
    claim_lease_s: int | None = None,
) -> dict[str, Any]:
    """N events to 3 filtered endpoints through the local runtime, receivers failing `failure_rate`
    of POSTs and `fault_rate` of the handlers' AWS calls faulted (both seeded); returns the figures.

    `claim_lease_s` shortens ingest's claim lease (as VISIBILITY_S shortens SQS's): an event whose
    claim release failed is then accepted on a retry seconds later rather than a minute later.
    """
    from litestore_webhooks import ingest

    lease = ingest.CLAIM_LEASE_S
    if claim_lease_s is not None:
        ingest.CLAIM_LEASE_S = claim_lease_s
    try:
        return _conservation(n_events, seed, failure_rate, fault_rate, publishers, settle_timeout_s)
    finally:
        ingest.CLAIM_LEASE_S = lease


def _conservation(
    n_events: int,
    seed: int,
    failure_rate: float,
    fault_rate: float,
    publishers: int,
    settle_timeout_s: float,
) -> dict[str, Any]:
    rng = random.Random(seed)
    receivers = [
        RecordingReceiver(failure_rate=failure_rate, seed=seed + i) for i in range(len(CONSERVATION_ENDPOINTS))
    ]
    try:
        with LocalRuntime(port=0, allow_insecure=True) as rt:
            probe = Probe(rt)
            targets = [
                create_target(rt, probe, name, events, rx)
                for (name, events), rx in zip(CONSERVATION_ENDPOINTS.items(), receivers)
            ]
            events = [make_event(rng.choice(CONSERVATION_TYPES), f"evt_c{seed}_{i:05d}") for i in range(n_events)]
            faults = Faults(seed=seed, rate=fault_rate).attach()
            started = time.monotonic()
            publisher = Publisher(rt, publishers)
            publisher.run(events)
            published_s = time.monotonic() - started
            expected = {
                t.id: {e for e, typ in publisher.accepted.items() if any(catalog.matches(p, typ) for p in t.events)}
                for t in targets
            }
            ledger = Ledger(expected, targets, probe)
            try:
                ledger.wait_settled(settle_timeout_s)
            finally:
                faults.rate = 0.0
            settled_s = time.monotonic() - started
            outcome, posts = ledger.outcome(), ledger.posts_check()
            calls = sum(faults.seen.values())
            return {
                "events": n_events,
                "accepted": len(publisher.accepted),
                "endpoints": len(targets),
                "expected_pairs": sum(len(v) for v in expected.values()),
                **{k: v for k, v in outcome.items() if k != "missing"},
                **posts,
                "receiver_failures_injected": sum(rx.failures_injected for rx in receivers),
                "aws_faults_injected": faults.total(),
                "aws_calls_eligible": calls,
                "aws_fault_share": round(faults.total() / max(1, calls), 4),
                "aws_faults_by_kind": faults.by_kind(),
                "aws_faults_by_operation": {f"{op} {kind}": n for (op, kind), n in sorted(faults.injected.items())},
                "ingest_answers": dict(publisher.answers),
                "publish_s": round(published_s, 1),
                "settled_s": round(settled_s, 1),
            }
    finally:
        for rx in receivers:
            rx.close()


def assert_conserved(figures: dict[str, Any]) -> None:
    assert figures["accepted"] == figures["events"], figures
    assert figures["lost"] == 0, figures
    assert figures["delivered"] + figures["dead_lettered"] == figures["expected_pairs"], figures
    assert figures["duplicates_with_distinct_ids"] == 0, figures
    assert figures["bad_signatures"] == 0, figures
    assert figures["unsubscribed_received"] == figures["received_but_not_expected"] == 0, figures
    # The run really was a faulty one.
    assert figures["aws_faults_injected"] > 0 and figures["receiver_failures_injected"] > 0, figures
    assert figures["dead_lettered"] > 0, figures


def test_conservation_under_receiver_failures_and_aws_faults():
    figures = run_conservation(150, settle_timeout_s=60, claim_lease_s=3)
    print(json.dumps(figures, indent=1))
    assert_conserved(figures)
