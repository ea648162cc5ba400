"""The delivery worker: one SQS batch from one endpoint queue -> signed POSTs and their outcomes.

Retries are re-sends of the same canonical body to the endpoint's own queue with a delay
(the message carries attempt, notBefore and firstAttemptAt), so no state lives in the
function. A record is acknowledged only once its outcome is durable: if any AWS step for it
fails (marker, attempt log, re-send, dead letter) it is reported in batchItemFailures and SQS
redelivers it; the delivered marker makes that redelivery harmless. Follow-up messages
(retries, dead letters) are sent only after the attempt log is written, so a failed log write
can never leave two retry chains for one event, and they go out together: one
SendMessageBatch per queue and 10 messages, not one SendMessage per event, which matters most
during an endpoint's outage, when every event of every batch needs one.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from litestore_webhooks import config, operational
from litestore_webhooks.aws import queues
from litestore_webhooks.aws.kms import DataKeyCache, SecretBox
from litestore_webhooks.aws.store import Store
from litestore_webhooks.config import Settings
from litestore_webhooks.core import pacing
from litestore_webhooks.core.endpoint import Endpoint, RetryPolicy, SigningSecrets, subscribes, utc_iso
from litestore_webhooks.core.event_types import system
from litestore_webhooks.core.retry import is_gone, is_retryable_status, next_delay_ms, parse_retry_after, split_delay
from litestore_webhooks.core.sender import Sender, SendResult
from litestore_webhooks.core.signing import TEST_HEADER, signature_headers
from litestore_webhooks.provisioning import EndpointResources, Provisioner, load_endpoint_and_secrets
from litestore_webhooks.tracing import Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()

# Attempt-log statuses.
DELIVERED = "delivered"
RETRY_SCHEDULED = "retry_scheduled"
DEAD_LETTERED = "dead_lettered"
FAILED = "failed"  # deliver_now only: a synchronous attempt with no follow-up
# Retry-After is a throttling signal; on other retryable answers the policy alone decides.
_RETRY_AFTER_STATUSES = (429, 503)


@cache
def _sender(allow_insecure: bool, ca_bundle: str | None) -> Sender:
    """One Sender per process, so warm invocations reuse keep-alive connections."""
    return Sender(allow_insecure=allow_insecure, ca_bundle=ca_bundle)


def endpoint_id_of(event_source_arn: str, prefix: str) -> str:
    """`arn:aws:sqs:<region>:<account>:<prefix>-<endpoint id>` -> endpoint id."""
    return event_source_arn.rsplit(":", 1)[1].removeprefix(f"{prefix}-")


@dataclass(frozen=True)
class Message:
    """One endpoint-queue record: the canonical body plus the hop state from its attributes."""

    message_id: str
    body: str
    event_id: str
    event_type: str
    attempt: int
    not_before_ms: int | None
    first_attempt_at: str | None
    test: bool
    attributes: dict[str, str]

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Message:
        """Raises ValueError for a body that is not an envelope (it is dead-lettered, never POSTed)."""
        attrs = queues.decode_attributes(record.get("messageAttributes") or {})
        envelope = json.loads(record["body"])
        if not isinstance(envelope, dict) or not isinstance(envelope.get("id"), str):
            raise ValueError("body is not an event envelope")
        return cls(
            message_id=record["messageId"],
            body=record["body"],
            event_id=envelope["id"],
            event_type=attrs.get(queues.EVENT) or str(envelope.get("event", "")),
            attempt=int(attrs.get(queues.ATTEMPT, 1)),
            not_before_ms=int(attrs[queues.NOT_BEFORE]) if queues.NOT_BEFORE in attrs else None,
            first_attempt_at=attrs.get(queues.FIRST_ATTEMPT_AT),
            test=attrs.get(queues.TEST) == "true",
            attributes=attrs,
        )


@dataclass(frozen=True)
class Decision:
    """What an attempt's result means: a status, a dead-letter reason, or a retry delay."""

    status: str
    reason: str | None = None
    delay_ms: int | None = None


def decide(policy: RetryPolicy, attempt: int, result: SendResult, now: datetime) -> Decision:
    """The failure rules of docs/architecture.md, in one place."""
    if result.ok:
        return Decision(DELIVERED)
    if result.blocked:
        return Decision(DEAD_LETTERED, "blocked_address")
    status = result.status
    if status is not None:
        if is_gone(status):
            return Decision(DEAD_LETTERED, "gone")
        if 300 <= status <= 399:
            return Decision(DEAD_LETTERED, "redirect")
        if not is_retryable_status(status):
            return Decision(DEAD_LETTERED, "rejected")
    if attempt >= policy.maxAttempts:
        return Decision(DEAD_LETTERED, "retries_exhausted")
    retry_after = parse_retry_after(result.retry_after, now=now) if status in _RETRY_AFTER_STATUSES else None
    return Decision(RETRY_SCHEDULED, delay_ms=next_delay_ms(policy, attempt, retry_after_s=retry_after))


def _post(
    settings: Settings,
    endpoint: Endpoint,
    secrets: SigningSecrets,
    body: bytes,
    event_id: str,
    event_type: str,
    attempt: int,
    *,
    test: bool = False,
) -> tuple[SendResult, datetime]:
    """Sign and POST once (test events marked with TEST_HEADER); returns the result and when the attempt started."""
    now = datetime.now(UTC)
    # The endpoint's custom headers first: names the sender owns are refused when they are set
    # (core/headers.py), and the signature headers are written over them regardless.
    headers = {
        **endpoint.headers,
        **secrets.sensitiveHeaders,
        **signature_headers(
            body=body,
            event_id=event_id,
            event_type=event_type,
            attempt=attempt,
            secrets=secrets.signing(now),
            timestamp=int(now.timestamp()),
        ),
    }
    if test:
        headers[TEST_HEADER] = "true"
    sender = _sender(settings.allow_insecure, settings.ca_bundle)
    return sender.post(endpoint.url, body, headers, endpoint.timeout / 1000), now


def _attempt_record(
    endpoint: Endpoint,
    event_id: str,
    event_type: str,
    attempt: int,
    at: datetime,
    status: str,
    result: SendResult,
    *,
    next_retry_at: str | None = None,
    test: bool = False,
) -> dict[str, Any]:
    return {
        "endpointId": endpoint.id,
        "eventId": event_id,
        "eventType": event_type,
        "attempt": attempt,
        "at": utc_iso(at),
        "status": status,
        "httpStatus": result.status,
        "error": result.error,
        "durationMs": result.duration_ms,
        "responseExcerpt": result.excerpt or None,
        "nextRetryAt": next_retry_at,
        "test": test,
    }


def deliver_now(
    endpoint: Endpoint,
    secrets: SigningSecrets,
    body: bytes,
    event_id: str,
    event_type: str,
    attempt: int = 1,
    test: bool = True,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """One synchronous attempt for the admin API's test send: POST, log the attempt, no re-send."""
    settings = settings or config.settings()
    store = Store(settings)
    result, at = _post(settings, endpoint, secrets, body, event_id, event_type, attempt, test=test)
    if result.ok and not test:
        store.mark_delivered(endpoint.id, event_id)
    record = _attempt_record(
        endpoint, event_id, event_type, attempt, at, DELIVERED if result.ok else FAILED, result, test=test
    )
    store.put_attempt_items([store.attempt_item(record)])
    _log_attempt(record)
    return record


def _log_attempt(record: dict[str, Any]) -> None:
    fields = ("endpointId", "eventId", "eventType", "attempt", "status", "httpStatus", "error", "durationMs")
    logger.info("delivery attempt", extra={k: record[k] for k in fields})


@dataclass
class _Posted:
    message: Message
    result: SendResult
    at: datetime
    marker_failed: bool


class _Batch:
    """One invocation's records, all from one endpoint queue."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        endpoint: Endpoint,
        resources: EndpointResources,
        secrets: SigningSecrets,
    ) -> None:
        self.settings, self.store, self.endpoint, self.resources = settings, store, endpoint, resources
        self.secrets = secrets
        self.failures: list[str] = []  # message ids SQS must redeliver
        self.counts: Counter[str] = Counter()
        self.latencies: list[int] = []
        # queue url -> follow-up messages (keyed by the record's message id) and what to do once sent
        self._outbox: dict[str, list[tuple[queues.OutgoingMessage, Callable[[], None]]]] = {}
        rate = endpoint.rateLimit
        self.pacer = (
            None
            if rate is None
            else pacing.Pacer(
                pacing.interval_s(rate, endpoint.maxConcurrency),
                window_s=pacing.PACE_WINDOW_S,
            )
        )
        self.reports: list[tuple[str, dict[str, Any]]] = []  # operational events, published after the batch

    def report(self, event_type: str, data: dict[str, Any], about_event: str | None = None) -> None:
        """Queue an operational event about this endpoint, unless it could feed a loop (operational.py)."""
        if operational.reports_on(self.endpoint, about_event):
            self.reports.append((event_type, {**operational.about(self.endpoint), **data}))

    def publish_reports(self) -> None:
        """After the batch's own work: a failure here is logged and counted, never a record's."""
        for event_type, data in self.reports:
            operational.publish(self.settings, self.store, event_type, data)
        self.reports = []

    def run(self, records: list[dict[str, Any]]) -> None:
        messages: list[Message] = []
        for record in records:
            try:
                messages.append(Message.from_record(record))
            except (ValueError, KeyError) as exc:
                logger.error("malformed message", extra={"endpointId": self.endpoint.id, "error": str(exc)})
                self._send_later(
                    record["messageId"],
                    self.resources.dlq_url,
                    record["body"],
                    {
                        queues.REASON: "malformed",
                        queues.ENDPOINT_ID: self.endpoint.id,
                    },
                    on_sent=lambda: self.counts.update(["DeadLettered"]),
                )
        try:
            delivered = self.store.delivered_among(self.endpoint.id, [m.event_id for m in messages])
        except Exception:
            logger.exception("delivered-marker lookup failed", extra={"endpointId": self.endpoint.id})
            self.failures += [m.message_id for m in messages]
            self._flush()
            return
        now_ms = int(time.time() * 1000)
        due: list[Message] = []
        for m in messages:
            if not m.test and not subscribes(self.endpoint.events, m.event_type):
                # Routed under an older filter: SNS applies a new filter policy only eventually.
                logger.info(
                    "not subscribed any more; acknowledged without delivery",
                    extra={
                        "endpointId": self.endpoint.id,
                        "eventId": m.event_id,
                        "eventType": m.event_type,
                    },
                )
            elif m.event_id in delivered:
                logger.info("already delivered", extra={"endpointId": self.endpoint.id, "eventId": m.event_id})
            elif m.not_before_ms is not None and m.not_before_ms > now_ms:
                self._send_later(
                    m.message_id,
                    self.resources.queue_url,
                    m.body,
                    m.attributes,
                    delay_s=split_delay(m.not_before_ms - now_ms),
                )
            else:
                due.append(m)
        if due:
            self._deliver_each_event_once(due)
        self._flush()
        if self.pacer is not None:  # the rate limit's share holds until one interval after the last POST
            self.pacer.finish()

    def _deliver_each_event_once(self, due: list[Message]) -> None:
        """One POST per event id: a second record of the same event (SQS at-least-once, a redrive
        racing a retry) shares its first copy's outcome: acknowledged with it, or redelivered with it."""
        first: dict[str, Message] = {}
        copies: dict[str, list[str]] = {}  # first copy's message id -> the duplicates' message ids
        for m in due:
            original = first.setdefault(m.event_id, m)
            if original is not m:
                copies.setdefault(original.message_id, []).append(m.message_id)
                logger.info("duplicate in batch", extra={"endpointId": self.endpoint.id, "eventId": m.event_id})
        self._deliver(list(first.values()))
        failed = set(self.failures)
        self.failures += [dup for original, dups in copies.items() if original in failed for dup in dups]

    def _deliver(self, due: list[Message]) -> None:
        workers = min(self.endpoint.maxConcurrency, len(due))
        contexts = [contextvars.copy_context() for _ in due]  # log keys set for this invocation go along
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deliver") as pool:
            outcomes = list(pool.map(lambda ctx, m: ctx.run(self._attempt, m), contexts, due))
        posted = [p for p in outcomes if p is not None]
        self._put_back([m for m, p in zip(due, outcomes, strict=True) if p is None])
        if not posted:
            return
        follow_ups: list[tuple[_Posted, Decision, str | None]] = []
        items = []
        for p in posted:
            decision = decide(self.endpoint.retryPolicy, p.message.attempt, p.result, p.at)
            next_retry_at = None
            if decision.delay_ms is not None:
                next_retry_at = utc_iso(datetime.now(UTC) + timedelta(milliseconds=decision.delay_ms))
            record = _attempt_record(
                self.endpoint,
                p.message.event_id,
                p.message.event_type,
                p.message.attempt,
                p.at,
                decision.status,
                p.result,
                next_retry_at=next_retry_at,
                test=p.message.test,
            )
            _log_attempt(record)
            items.append(self.store.attempt_item(record))
            follow_ups.append((p, decision, next_retry_at))
            self.latencies.append(p.result.duration_ms)
            self.counts["Delivered" if p.result.ok else "Failed"] += 1
        # A delivered marker whose own write failed gets a second chance in the attempt-log call:
        # if that lands, the record is acknowledged instead of being POSTed again (or, should
        # the redelivered POST then fail for good, dead-lettered although the receiver had it).
        unmarked = [p for p in posted if p.marker_failed]
        try:
            self.store.put_attempt_items(
                items, markers=[self.store.marker_item(self.endpoint.id, p.message.event_id) for p in unmarked]
            )
        except Exception:
            # Nothing follows an unlogged attempt: SQS redelivers the record, which retries it
            # (or, with the marker in place, just acknowledges it).
            logger.exception("attempt log write failed", extra={"endpointId": self.endpoint.id})
            self.failures += [p.message.message_id for p in posted]
            return
        for p in unmarked:
            p.marker_failed = False
            logger.info(
                "delivered marker written on the second try",
                extra={"endpointId": self.endpoint.id, "eventId": p.message.event_id},
            )
        delivered_elsewhere = self._delivered_by_another_copy(
            [p.message.event_id for p, d, _ in follow_ups if d.status == DEAD_LETTERED]
        )
        for p, decision, next_retry_at in follow_ups:
            if p.marker_failed:
                self.failures.append(p.message.message_id)
            elif decision.status == RETRY_SCHEDULED:
                self._retry(p, decision, next_retry_at)
            elif decision.status == DEAD_LETTERED and p.message.event_id in delivered_elsewhere:
                logger.info(
                    "not dead-lettered: another copy was delivered meanwhile",
                    extra={"endpointId": self.endpoint.id, "eventId": p.message.event_id},
                )
            elif decision.status == DEAD_LETTERED:
                self._dead_letter(p, decision)
        self._flush()  # before _deliver_each_event_once reads self.failures
        self._track_health(posted, gone=any(d.reason == "gone" for _, d, _ in follow_ups))

    def _delivered_by_another_copy(self, event_ids: list[str]) -> set[str]:
        """Before dead-lettering, look again (rare path, one read): a second copy of the event
        (SNS/SQS at-least-once, a redrive racing a retry chain) may have been delivered since this
        batch started, and a dead letter for a delivered event would send an operator chasing it."""
        if not event_ids:
            return set()
        try:
            return self.store.delivered_among(self.endpoint.id, event_ids, consistent=True)
        except Exception:  # cannot tell: dead-letter, which is never wrong, only noisy
            logger.exception("delivered-marker re-check failed", extra={"endpointId": self.endpoint.id})
            return set()

    def _put_back(self, unsent: list[Message]) -> None:
        """Messages the rate limit left no time for in this invocation: queued again as they came, unattempted."""
        if unsent:
            self.counts["RateLimited"] += len(unsent)
            logger.info(
                "rate limit: put back for a later delivery",
                extra={
                    "endpointId": self.endpoint.id,
                    "count": len(unsent),
                    "rateLimit": self.endpoint.rateLimit,
                },
            )
        for m in unsent:
            self._send_later(m.message_id, self.resources.queue_url, m.body, m.attributes)

    def _attempt(self, m: Message) -> _Posted | None:
        """POST `m` (in its turn, under a rate limit); None when the rate limit leaves it no turn in this invocation."""
        if self.pacer is not None and not self.pacer.take():
            return None
        result, at = _post(
            self.settings,
            self.endpoint,
            self.secrets,
            m.body.encode("utf-8"),
            m.event_id,
            m.event_type,
            m.attempt,
            test=m.test,
        )
        marker_failed = False
        if result.ok:
            try:  # at once: the shorter the gap after the POST, the rarer a second POST
                self.store.mark_delivered(self.endpoint.id, m.event_id)
            except Exception:  # second try with the attempt log, see _deliver
                logger.exception("delivered marker write failed", extra={"eventId": m.event_id})
                marker_failed = True
        return _Posted(m, result, at, marker_failed)

    def _retry(self, p: _Posted, decision: Decision, next_retry_at: str | None) -> None:
        assert decision.delay_ms is not None
        m = p.message
        attributes = {
            queues.EVENT: m.event_type,
            queues.ATTEMPT: m.attempt + 1,
            queues.NOT_BEFORE: int(time.time() * 1000) + decision.delay_ms,
            queues.FIRST_ATTEMPT_AT: m.first_attempt_at or utc_iso(p.at),
            queues.TEST: m.test or None,
        }

        def sent() -> None:
            self.counts["Retried"] += 1
            logger.info(
                "retry scheduled",
                extra={
                    "endpointId": self.endpoint.id,
                    "eventId": m.event_id,
                    "attempt": m.attempt + 1,
                    "nextRetryAt": next_retry_at,
                },
            )

        self._send_later(
            m.message_id,
            self.resources.queue_url,
            m.body,
            attributes,
            delay_s=split_delay(decision.delay_ms),
            on_sent=sent,
        )

    def _dead_letter(self, p: _Posted, decision: Decision) -> None:
        m = p.message
        attributes = {
            queues.REASON: decision.reason,
            queues.LAST_STATUS: p.result.status,
            queues.LAST_ERROR: p.result.error,
            queues.ATTEMPTS: m.attempt,
            queues.FIRST_ATTEMPT_AT: m.first_attempt_at or utc_iso(p.at),
            queues.LAST_ATTEMPT_AT: utc_iso(p.at),
            queues.EVENT: m.event_type,
            queues.ENDPOINT_ID: self.endpoint.id,
            queues.TEST: m.test or None,
        }

        def sent() -> None:
            self.counts["DeadLettered"] += 1
            self.report(
                system.DELIVERY_DEAD_LETTERED,
                {
                    "eventId": m.event_id,
                    "eventType": m.event_type,
                    "reason": decision.reason,
                    "attempts": m.attempt,
                    "lastStatus": p.result.status,
                    "lastError": p.result.error,
                },
                about_event=m.event_type,
            )
            logger.warning(
                "dead-lettered",
                extra={
                    "endpointId": self.endpoint.id,
                    "eventId": m.event_id,
                    "reason": decision.reason,
                    "attempts": m.attempt,
                    "lastStatus": p.result.status,
                    "lastError": p.result.error,
                },
            )

        self._send_later(m.message_id, self.resources.dlq_url, m.body, attributes, on_sent=sent)

    def _send_later(
        self,
        message_id: str,
        queue_url: str,
        body: str,
        attributes: dict[str, Any],
        *,
        delay_s: int = 0,
        on_sent: Callable[[], None] = lambda: None,
    ) -> None:
        """Queue a follow-up message for _flush; `on_sent` runs once SQS has it."""
        message = queues.OutgoingMessage(message_id, body, attributes, delay_s)
        self._outbox.setdefault(queue_url, []).append((message, on_sent))

    def _flush(self) -> None:
        """Send the queued follow-ups, batched per queue; a record whose message SQS did not take is redelivered."""
        outbox, self._outbox = self._outbox, {}
        for queue_url, pending in outbox.items():
            try:
                outcome = queues.send_batch(queue_url, [message for message, _ in pending])
            except Exception:
                logger.exception("queue send failed", extra={"endpointId": self.endpoint.id, "count": len(pending)})
                outcome = {message.key: "send failed" for message, _ in pending}
            for message, on_sent in pending:
                error = outcome.get(message.key, "no result reported")
                if error is None:
                    on_sent()
                else:
                    logger.error(
                        "queue send failed",
                        extra={
                            "endpointId": self.endpoint.id,
                            "messageId": message.key,
                            "error": error,
                        },
                    )
                    self.failures.append(message.key)

    def _track_health(self, posted: list[_Posted], *, gone: bool) -> None:
        """One UpdateItem per batch: a success ends the failure streak, failures extend it.

        A failure here only delays auto-pause (the next batch counts again), so it never
        fails records: redelivering them would POST again for nothing.
        """
        endpoint_id = self.endpoint.id
        last = max(posted, key=lambda p: p.at).result
        try:
            if gone:
                self._pause("gone")
                self.report(
                    system.ENDPOINT_PAUSED, {"reason": "gone", "lastStatus": last.status, "lastError": last.error}
                )
            if any(p.result.ok for p in posted):
                ended = self.store.clear_endpoint_failures(endpoint_id)
                if ended and ended.get("consecutiveFailures"):
                    self.report(
                        system.ENDPOINT_RECOVERED,
                        {"failingSince": ended.get("failingSince"), "failures": ended["consecutiveFailures"]},
                    )
                return
            streak, since = self.store.count_endpoint_failures(
                endpoint_id, len(posted), at=utc_iso(min(p.at for p in posted))
            )
            if streak == len(posted):  # ADD is atomic: one invocation sees its streak start
                self.report(
                    system.ENDPOINT_FAILING, {"failingSince": since, "lastStatus": last.status, "lastError": last.error}
                )
            failing_for_s = time.time() - datetime.fromisoformat(since).timestamp()
            if (
                not gone
                and streak >= self.settings.auto_pause_min_failures
                and failing_for_s >= self.settings.auto_pause_after_s
            ):
                self._pause("auto_disabled")
                self.counts["AutoPaused"] += 1
                self.report(
                    system.ENDPOINT_PAUSED,
                    {
                        "reason": "auto_disabled",
                        "consecutiveFailures": streak,
                        "failingSince": since,
                        "lastStatus": last.status,
                        "lastError": last.error,
                    },
                )
                logger.warning(
                    "endpoint auto-paused",
                    extra={
                        "endpointId": endpoint_id,
                        "consecutiveFailures": streak,
                        "failingSince": since,
                    },
                )
        except Exception:
            logger.exception("endpoint health update failed", extra={"endpointId": endpoint_id})

    def _pause(self, reason: str) -> None:
        Provisioner(self.settings, self.store).pause(self.endpoint.id, reason)
        logger.info("endpoint paused", extra={"endpointId": self.endpoint.id, "pausedReason": reason})

    def emit_metrics(self) -> None:
        """Each metric twice: by service (the handler flushes it) and by service + endpoint (flushed here)."""
        per_endpoint = AmazonCloudWatchEMFProvider(default_dimensions={"endpoint": self.endpoint.id})
        for sink in (metrics, per_endpoint):
            for name, count in self.counts.items():
                sink.add_metric(name=name, unit=MetricUnit.Count, value=count)
            for latency in self.latencies:
                sink.add_metric(name="DeliveryLatency", unit=MetricUnit.Milliseconds, value=latency)
        if per_endpoint.metric_set:
            per_endpoint.flush_metrics()


@tracer.capture_method
def process_batch(
    event: dict[str, Any],
    settings: Settings | None = None,
    data_keys: DataKeyCache | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Handle one SQS event from one endpoint queue; returns the partial-batch response.

    `data_keys`: the container's cache of decrypted data keys (handlers/delivery.py keeps one),
    so opening the endpoint's secrets calls KMS once per data key, not once per batch.
    """
    settings = settings or config.settings()
    records = event.get("Records") or []
    if not records:
        return {"batchItemFailures": []}
    endpoint_id = endpoint_id_of(records[0]["eventSourceARN"], settings.prefix)
    store = Store(settings)
    everything = {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
    try:
        # Read per batch, consistently: every change the admin API answered applies to this batch.
        found = load_endpoint_and_secrets(store, SecretBox(settings.secrets_key_arn, cache=data_keys), endpoint_id)
    except Exception:  # incl. SealError (KMS): its message names the cause, never key material
        logger.exception("endpoint lookup failed", extra={"endpointId": endpoint_id})
        return everything
    if found is None:
        logger.warning("endpoint gone; dropping its messages", extra={"endpointId": endpoint_id, "count": len(records)})
        return {"batchItemFailures": []}
    endpoint, resources, secrets = found
    if not endpoint.active:
        # The mapping is being disabled; hand the records back so they stay buffered in the queue.
        logger.info("endpoint paused; leaving messages queued", extra={"endpointId": endpoint_id})
        return everything
    batch = _Batch(settings, store, endpoint, resources, secrets)
    batch.run(records)
    batch.publish_reports()
    batch.emit_metrics()
    return {"batchItemFailures": [{"itemIdentifier": i} for i in dict.fromkeys(batch.failures)]}
