"""Part 1: delivery batch efficiency, in-process, against the document's naive sender.

The real delivery Lambda handler (Powertools decorators included) runs on moto (mock_aws)
with SQS events of 10 and 100 records for one endpoint (default config: maxConcurrency 10,
timeout 10 s), to a receiver that answers after 50 ms and one that answers at once (real
threaded HTTP servers on 127.0.0.1 from tests/receivers.py). Baseline, interleaved in the
same run: the product document's sender, sequential `requests.post` per event (a new
connection each, no session), JSON.stringify-equivalent body and an HMAC hex signature.

    python bench/delivery_batch.py --out part1.json [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time

import common  # noqa: F401  (environment first)
from common import median, new_envelope, r3, say, sqs_event, write_json

SLOW_S = 0.05
SECRET = "bench-delivery-secret-123"


def naive_send(url: str, envelopes: list[dict], secret: str) -> list[float]:
    """The document's sendWebhookWithRetry, called once per event in order (first attempt only)."""
    import requests

    latencies = []
    for payload in envelopes:
        body = json.dumps(payload, separators=(",", ":"))  # JSON.stringify(payload)
        signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        t0 = time.perf_counter()
        resp = requests.post(
            url,
            data=body.encode(),
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Litestore-Webhook/1.0",
                "X-Litestore-Signature": signature,
            },
            timeout=10,
        )
        latencies.append(time.perf_counter() - t0)
        assert resp.ok, resp.status_code
    return latencies


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=5, help="repetitions per case (medians reported)")
    args = ap.parse_args()

    from moto import mock_aws
    from tests.receivers import Receiver, Reply

    from litestore_webhooks.core.canonical import canonical_bytes

    with mock_aws():
        common.moto_stack()
        counter = common.CallCounter()
        from litestore_webhooks.handlers import delivery as handler_module

        counter.attach()
        handler = handler_module.handler
        ctx = common.lambda_context("delivery")
        receivers = {"50ms": Receiver(default=Reply(200, delay_s=SLOW_S)), "instant": Receiver(default=Reply(200))}
        endpoints = {name: common.create_endpoint(rx.url(), secret=SECRET) for name, rx in receivers.items()}
        config = endpoints["50ms"][0]
        say(f"  endpoint config: maxConcurrency={config.maxConcurrency} timeout={config.timeout} ms")

        def ours(name: str, n: int, tag: str | None = None) -> tuple[float, float, float]:
            endpoint, res = endpoints[name]
            rx = receivers[name]
            before = len(rx.requests)
            event = sqs_event(res.queue_arn, [canonical_bytes(new_envelope()) for _ in range(n)])
            tag = tag or f"{name}/{n}"
            counter.reset(tag)
            aws_before = counter.seconds[tag]
            c0, t0 = time.process_time(), time.perf_counter()
            result = handler(event, ctx)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            assert result == {"batchItemFailures": []}, result
            assert len(rx.requests) - before == n, (len(rx.requests) - before, n)
            return wall, cpu, counter.seconds[tag] - aws_before

        def baseline(name: str, n: int) -> tuple[float, list[float]]:
            envs = [new_envelope() for _ in range(n)]
            t0 = time.perf_counter()
            lat = naive_send(receivers[name].url(), envs, SECRET)
            return time.perf_counter() - t0, lat

        # Warm-up: endpoint cache, sender pools, imports on first use, requests' first session.
        for name in receivers:
            ours(name, 10, tag="warmup")
            baseline(name, 2)

        cases = []
        for n, runs in ((10, args.runs), (100, max(3, args.runs - 2))):
            for name in ("50ms", "instant"):
                o_wall, o_cpu, o_aws, b_wall, b_lat = [], [], [], [], []
                for _ in range(runs):  # interleaved, so both see the same machine state
                    w, c, a = ours(name, n)
                    o_wall.append(w)
                    o_cpu.append(c)
                    o_aws.append(a)
                    bw, lat = baseline(name, n)
                    b_wall.append(bw)
                    b_lat.extend(lat)
                ow, bw = median(o_wall), median(b_wall)
                case = {
                    "batch": n,
                    "receiver": name,
                    "runs": runs,
                    "ours_wall_ms": r3(ow * 1000),
                    "ours_wall_ms_all": [r3(x * 1000) for x in o_wall],
                    "ours_deliveries_per_s": r3(n / ow),
                    "ours_ms_per_delivery": r3(ow * 1000 / n),
                    "ours_cpu_ms_per_delivery": r3(median(o_cpu) * 1000 / n),
                    "ours_aws_call_ms_per_delivery": r3(median(o_aws) * 1000 / n),
                    "baseline_wall_ms": r3(bw * 1000),
                    "baseline_wall_ms_all": [r3(x * 1000) for x in b_wall],
                    "baseline_deliveries_per_s": r3(n / bw),
                    "baseline_request_ms_median": r3(median(b_lat) * 1000),
                    "ratio_vs_baseline": r3(bw / ow),
                }
                cases.append(case)
                say(
                    f"  batch {n:>3} -> {name:>7}: ours {case['ours_wall_ms']:8.1f} ms "
                    f"({case['ours_deliveries_per_s']:7.1f}/s)  naive {case['baseline_wall_ms']:8.1f} ms "
                    f"({case['baseline_deliveries_per_s']:6.1f}/s)  x{case['ratio_vs_baseline']}"
                )
        for rx in receivers.values():
            rx.close()

    by = {(c["batch"], c["receiver"]): c for c in cases}
    one_request_ms = by[(10, "50ms")]["baseline_request_ms_median"]
    b10 = by[(10, "50ms")]
    targets = {
        "batch10_50ms_wall_ms": b10["ours_wall_ms"],
        "one_request_ms": one_request_ms,
        "limit_ms": r3(1.5 * one_request_ms),
        "under_1_5x_one_request": b10["ours_wall_ms"] < 1.5 * one_request_ms,
        "ratio_vs_baseline": b10["ratio_vs_baseline"],
        "at_least_6x_baseline": b10["ratio_vs_baseline"] >= 6,
    }
    write_json(
        args.out,
        {
            "endpoint_config": {
                "maxConcurrency": config.maxConcurrency,
                "timeout_ms": config.timeout,
                "events": config.events,
                "receiver_delay_ms": SLOW_S * 1000,
            },
            "cases": cases,
            "targets": targets,
            "aws_calls_by_case": {f"{n}/{name}": counter.table(f"{name}/{n}") for n in (10, 100) for name in receivers},
        },
    )


if __name__ == "__main__":
    main()
