"""Part 2: every AWS API call per event, by operation, for ingest and delivery paths.

Runs the real ingest and delivery Lambda handlers in-process on moto (mock_aws), with a
botocore hook on the shared clients (common.CallCounter) that counts each call and its
billing units. Also records the handlers' median durations (used by the cost model).

Scenarios (calls divided by the events they handled):
  ingest_single      POST /events, one event per request
  ingest_batch       POST /events/batch, 100 events per request
  delivery_success   SQS batches of 10 (and of 1) to an instant 2xx receiver (the endpoint is read every batch)
  delivery_cold      the first batch of a container: the endpoint's data key is not cached yet (one KMS Decrypt)
  delivery_retry     batches of 10 to a 503 receiver (attempt 1 of 5 -> retry hop)
  delivery_dead      batches of 10 to a 400 receiver (rejected -> endpoint DLQ)

    python bench/aws_calls.py --out part2.json
"""

from __future__ import annotations

import argparse
import json
import time

import common  # noqa: F401  (environment first)
from common import median, new_envelope, per_event, r3, say, sqs_event, totals, write_json


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from moto import mock_aws
    from tests.receivers import Receiver, Reply

    from litestore_webhooks.aws.kms import DataKeyCache
    from litestore_webhooks.core.canonical import canonical_bytes

    scenarios: dict[str, dict] = {}
    with mock_aws():
        common.moto_stack()
        from litestore_webhooks.handlers import delivery as delivery_handler
        from litestore_webhooks.handlers import ingest as ingest_handler

        counter = common.CallCounter()
        counter.attach()
        rx = {
            "ok": Receiver(default=Reply(200)),
            "503": Receiver(default=Reply(503)),
            "400": Receiver(default=Reply(400)),
        }
        counter.reset("setup")
        eps = {name: common.create_endpoint(r.url()) for name, r in rx.items()}

        def purge() -> None:
            pass  # queues only grow by a few thousand messages; moto's SQS clock fix keeps that cheap

        def record(tag: str, events: int, durations: list[float], extra: dict | None = None) -> None:
            table = counter.table(tag)
            scenarios[tag] = {
                "events": events,
                "calls_by_operation_per_event": per_event(table, events),
                "per_event": totals(table, events),
                "handler_ms_median": r3(median(durations) * 1000),
                "handler_ms_all": [r3(d * 1000) for d in durations],
                **(extra or {}),
            }

        # -- ingest ---------------------------------------------------------------------------
        ictx = common.lambda_context("ingest")

        def ingest(path: str, payload: dict, tag: str) -> float:
            counter.reset(tag)
            body = json.dumps(payload).encode()
            t0 = time.perf_counter()
            resp = ingest_handler.handler(common.proxy_event(path, body), ictx)
            dt = time.perf_counter() - t0
            assert resp["statusCode"] == 202, resp
            return dt

        ingest("/events", new_envelope(), "warmup")
        ingest("/events/batch", {"events": [new_envelope() for _ in range(100)]}, "warmup")
        purge()
        n_single = 10 * args.runs
        d = [ingest("/events", new_envelope(), "ingest_single") for _ in range(n_single)]
        record("ingest_single", n_single, d, {"events_per_request": 1})
        purge()
        d = [
            ingest("/events/batch", {"events": [new_envelope() for _ in range(100)]}, "ingest_batch")
            for _ in range(args.runs)
        ]
        record("ingest_batch", 100 * args.runs, d, {"events_per_request": 100})
        purge()

        # -- delivery -------------------------------------------------------------------------
        dctx = common.lambda_context("delivery")

        def deliver(name: str, n: int, tag: str) -> float:
            _, res = eps[name]
            event = sqs_event(res.queue_arn, [canonical_bytes(new_envelope()) for _ in range(n)])
            counter.reset(tag)
            t0 = time.perf_counter()
            out = delivery_handler.handler(event, dctx)
            dt = time.perf_counter() - t0
            assert out == {"batchItemFailures": []}, out
            return dt

        for name in eps:
            deliver(name, 1, "warmup")
        for n in (10, 1):
            tag = f"delivery_success_batch{n}"
            d = [deliver("ok", n, tag) for _ in range(args.runs)]
            record(tag, n * args.runs, d, {"batch": n})
        d = [deliver("503", 10, "delivery_retry") for _ in range(args.runs)]
        record("delivery_retry", 10 * args.runs, d, {"batch": 10, "note": "503 -> retry hop (attempt 1 of 5)"})
        d = [deliver("400", 10, "delivery_dead_letter") for _ in range(args.runs)]
        record("delivery_dead_letter", 10 * args.runs, d, {"batch": 10, "note": "400 -> rejected -> endpoint DLQ"})
        delivery_handler.data_keys = DataKeyCache()  # what a new container starts with
        d = [deliver("ok", 10, "delivery_cold")]
        record(
            "delivery_cold", 10, d, {"batch": 10, "note": "first batch of a container (KMS Decrypt of the data key)"}
        )
        for r in rx.values():
            r.close()

    for tag, s in scenarios.items():
        say(f"  {tag:<26} {s['per_event'].get('calls', 0):6.3f} calls/event  handler {s['handler_ms_median']:7.2f} ms")
    write_json(args.out, {"scenarios": scenarios})


if __name__ == "__main__":
    main()
