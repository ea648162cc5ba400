"""Part 7: hostile request bodies at ingest, seconds per MB next to a benign body of the same size.

Every shape of tests/hostile_bodies.py (quote storms, deep nesting, long and unclosed strings,
escape runs, many keys, many small values) next to a benign batch of 100 valid order events of
the same size, medians of `--runs`, wall-clock seconds (perf_counter):
  parse    `core.canonical.parse_json`, the strict parser every body meets first, at half the batch
           limit and at the limit, interleaved with the benign body. Linear: the same s/MB at both.
  handler  the ingest Lambda handler in-process on moto (POST /events/batch) at the limit, each
           hostile shape `--runs` times, then one benign batch (accepted: it claims, stores and
           publishes its 100 events); the reference is the median of those benign runs.

    python bench/hostile_input.py --out part7.json [--runs 5]
"""

from __future__ import annotations

import argparse
import time

import common  # noqa: F401  (environment first)
from common import median, r3, say, write_json

MB = 1_000_000


def _timed(call) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from moto import mock_aws
    from tests.hostile_bodies import SHAPES, benign

    from litestore_webhooks.core.canonical import CanonicalJSONError, parse_json
    from litestore_webhooks.resources import MAX_BATCH_BODY_BYTES

    def parse(raw: bytes) -> None:
        try:
            parse_json(raw)
        except CanonicalJSONError:
            pass

    sizes = (MAX_BATCH_BODY_BYTES // 2, MAX_BATCH_BODY_BYTES)
    fresh = iter(range(10**9))  # benign ids never repeat, so every benign batch is accepted
    rows: list[dict] = []
    benign_handler: list[float] = []  # one accepted benign batch per shape, interleaved: the reference
    for shape in SHAPES:
        row: dict = {"shape": shape.name, "description": shape.description, "parse": {}}
        for size in sizes:
            hostile, good = shape.build(size), benign(size)
            times: dict[str, list[float]] = {"hostile": [], "benign": []}
            for _ in range(args.runs):
                times["hostile"].append(_timed(lambda: parse(hostile)))  # noqa: B023
                times["benign"].append(_timed(lambda: parse(good)))  # noqa: B023
            row["parse"][str(size)] = {
                "bytes": len(hostile),
                "benign_bytes": len(good),
                **{f"{k}_s_per_mb": r3(median(v) / (len(hostile) / MB)) for k, v in times.items()},
                **{f"{k}_ms_all": [r3(x * 1000) for x in v] for k, v in times.items()},
            }
        with mock_aws():  # a fresh moto per shape: accepted benign batches do not pile up
            common.moto_stack()
            from litestore_webhooks.handlers import ingest as ingest_handler

            ctx = common.lambda_context("ingest")
            hostile = shape.build(MAX_BATCH_BODY_BYTES)
            answers: list[dict] = []
            spent = [
                _timed(
                    lambda: answers.append(  # noqa: B023
                        ingest_handler.handler(common.proxy_event("/events/batch", hostile), ctx)
                    )
                )
                for _ in range(args.runs)
            ]
            good = benign(MAX_BATCH_BODY_BYTES, tag=f"s{next(fresh)}")
            accepted: list[dict] = []
            benign_handler.append(
                _timed(
                    lambda: accepted.append(  # noqa: B023
                        ingest_handler.handler(common.proxy_event("/events/batch", good), ctx)
                    )
                )
            )
            assert accepted[0]["statusCode"] == 202, accepted[0]["body"][:300]
        row["handler"] = {
            "bytes": len(hostile),
            "status": answers[0]["statusCode"],
            "answer_bytes": len(answers[0]["body"].encode()),
            "s_per_mb": r3(median(spent) / (len(hostile) / MB)),
            "ms_all": [r3(x * 1000) for x in spent],
        }
        full = row["parse"][str(MAX_BATCH_BODY_BYTES)]
        row["parse_ratio"] = r3(full["hostile_s_per_mb"] / full["benign_s_per_mb"])
        say(
            f"  {shape.name:<22} parse {full['hostile_s_per_mb']:.3f} s/MB (benign {full['benign_s_per_mb']:.3f}, "
            f"{row['parse_ratio']:.2f}x)  handler {row['handler']['s_per_mb']:.3f} s/MB -> {row['handler']['status']}"
        )
        rows.append(row)
    good_bytes = len(benign(MAX_BATCH_BODY_BYTES))
    reference = r3(median(benign_handler) / (good_bytes / MB))
    for row in rows:
        row["handler_ratio"] = r3(row["handler"]["s_per_mb"] / reference)
    say(f"  benign batch through the handler: {reference:.3f} s/MB (median of {len(benign_handler)})")
    benign_out = {
        "bytes": good_bytes,
        "events": 100,
        "handler_s_per_mb": reference,
        "handler_ms_all": [r3(x * 1000) for x in benign_handler],
    }
    write_json(args.out, {"runs": args.runs, "sizes": list(sizes), "shapes": rows, "benign": benign_out})


if __name__ == "__main__":
    main()
