"""`make bench`: the six parts of the benchmark issue and the hostile-input part, one table, bench/results.json.

Each measuring part runs in its own fresh interpreter (its stdout -- the handlers' JSON logs
and EMF metrics -- is discarded; progress goes to stderr):
  1 delivery_batch.py   delivery handler vs the document's naive sender (moto in-process)
  2 aws_calls.py        AWS calls and billing units per event, handler durations
  3 cost.py             $ per million events (computed here from 1 and 2)
  4 cold_start.py       import time per handler, Lambda asset size
  5 e2e.py              publish -> received through the local runtime's pieces
  6 docs/scaling.md     (on paper)
  7 hostile_input.py    hostile bodies at ingest: s/MB next to a benign body of the same size
  8 e2e.py --compare    the local runtime on both cores: moto in its own process vs in the
                        runtime's (the runtime before issue 18), interleaved runs, same-run
                        ratio (not in the default set: ~10 min; `--only 8`)

    python bench/run.py [--runs 5] [--e2e-duration 60] [--step-s 8] [--only 1,2,4,5,7] [--cores-runs 3]

`--only` takes part numbers or names (`--only cold_start` = `--only 4`). The parts it leaves
out are carried over from the existing results file, so one part can be re-measured without
discarding the others; the table and `carried_over` in the JSON say which run each came from.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cost  # noqa: E402


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_part(script: str, out: Path, *extra: str, timeout: float = 900) -> dict | None:
    t0 = time.monotonic()
    print(f"[{script}] ...", file=sys.stderr, flush=True)
    proc = subprocess.run(
        [sys.executable, str(HERE / script), "--out", str(out), *extra],
        stdout=subprocess.DEVNULL,
        cwd=HERE,
        timeout=timeout,
    )
    print(f"[{script}] done in {time.monotonic() - t0:.0f} s (exit {proc.returncode})", file=sys.stderr, flush=True)
    if proc.returncode != 0 or not out.exists():
        return {"error": f"{script} exited {proc.returncode}"}
    data = json.loads(out.read_text())
    data["elapsed_s"] = round(time.monotonic() - t0, 1)
    return data


PARTS = {
    "1": "1_delivery_batch",
    "2": "2_aws_calls",
    "4": "4_cold_start",
    "5": "5_e2e",
    "7": "7_hostile_input",
    "8": "8_two_cores",
}
CORES_RAMP = "1,2,3,4,5,6,7,8,10,12,15,20,25,30,40"  # fine steps: the ratio is read between two of them
PART_NAMES = {key.split("_", 1)[1]: number for number, key in PARTS.items()}  # "cold_start" -> "4"


def parse_only(value: str) -> set[str]:
    only = {PART_NAMES.get(p.strip(), p.strip()) for p in value.split(",") if p.strip()}
    unknown = only - set(PARTS)
    if unknown:
        raise SystemExit(f"--only: unknown part(s) {sorted(unknown)}; use {sorted(PARTS)} or {sorted(PART_NAMES)}")
    return only


def carry_over(res: dict, only: set[str], out: Path) -> None:
    """The parts not run this time, from the previous results file (when there is one)."""
    if only == set(PARTS) or not out.exists():
        return
    previous = json.loads(out.read_text())
    origins = previous.get("carried_over") or {}
    run = {"finished_at": previous.get("finished_at"), "machine": previous.get("machine")}
    carried = {}  # part -> the run that measured it (when, on which machine)
    for key in (PARTS[n] for n in sorted(set(PARTS) - only)):
        if key in previous:
            res[key] = previous[key]
            carried[key] = origins.get(key, run)
    if carried:
        res["carried_over"] = carried


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def table(res: dict) -> str:
    lines: list[str] = []
    add = lines.append
    m = res["machine"]
    add(f"Litestore webhooks benchmark  {res['finished_at']}  ({m['nproc']} x {m['cpu_model']}, Python {m['python']})")
    carried = res.get("carried_over")
    if carried:
        for key, run in carried.items():
            cpu = (run.get("machine") or {}).get("cpu_model", "?")
            add(f"(part {key.split('_', 1)[0]} carried over from the run finished {run['finished_at']} on {cpu})")
    p1 = res.get("1_delivery_batch") or {}
    if "cases" in p1:
        cfg = p1["endpoint_config"]
        add("")
        add(
            f"1. Delivery batch efficiency (handler in-process on moto; endpoint maxConcurrency {cfg['maxConcurrency']}, "
            f"timeout {cfg['timeout_ms']} ms; medians of {p1['cases'][0]['runs']}/{p1['cases'][-1]['runs']} runs)"
        )
        add(
            f"   {'batch':>5} {'receiver':>8} | {'ours ms':>8} {'ours/s':>8} {'ms/deliv':>8} {'(aws)':>6} | "
            f"{'naive ms':>9} {'naive/s':>8} | {'ratio':>6}"
        )
        for c in p1["cases"]:
            add(
                f"   {c['batch']:>5} {c['receiver']:>8} | {c['ours_wall_ms']:8.1f} {c['ours_deliveries_per_s']:8.1f} "
                f"{c['ours_ms_per_delivery']:8.2f} {c['ours_aws_call_ms_per_delivery']:6.2f} | {c['baseline_wall_ms']:9.1f} "
                f"{c['baseline_deliveries_per_s']:8.1f} | {c['ratio_vs_baseline']:5.2f}x"
            )
        t = p1["targets"]
        add(
            f"   target: batch of 10 to the 50 ms receiver {t['batch10_50ms_wall_ms']:.1f} ms < 1.5 x one request "
            f"({t['one_request_ms']:.1f} ms -> {t['limit_ms']:.1f} ms): {'PASS' if t['under_1_5x_one_request'] else 'FAIL'}; "
            f"{t['ratio_vs_baseline']:.2f}x baseline >= 6x: {'PASS' if t['at_least_6x_baseline'] else 'FAIL'}"
        )
        add("   (aws) = ms per delivery spent in moto calls, summed over the handler's threads")
    p2 = res.get("2_aws_calls") or {}
    if "scenarios" in p2:
        add("")
        add("2. AWS requests per event (botocore hook on the shared clients)")
        add(
            f"   {'scenario':<26} {'calls':>6} {'WRU':>6} {'RRU':>6} {'SNS':>5} {'SQS':>5} {'handler ms':>10}  calls by operation"
        )
        for name, s in p2["scenarios"].items():
            pe = s["per_event"]
            ops = ", ".join(
                f"{op.split(':')[1]} {row['calls']:g}" for op, row in s["calls_by_operation_per_event"].items()
            )
            add(
                f"   {name:<26} {pe.get('calls', 0):6.2f} {pe.get('ddb_wru', 0):6.2f} {pe.get('ddb_rru', 0):6.2f} "
                f"{pe.get('sns_requests', 0):5.2f} {pe.get('sqs_requests', 0):5.2f} {s['handler_ms_median']:10.2f}  {ops}"
            )
        add("   handler ms = per request (ingest) / per batch (delivery), median, moto in-process")
    p3 = res.get("3_cost") or {}
    if "rows" in p3:
        add("")
        add(f"3. Cost per million events, USD ({p3['prices_as_of']}; SQS includes Lambda's poller and the SNS enqueue)")
        keys = ["api_gateway", "lambda_ingest", "sns", "dynamodb_ingest", "sqs", "lambda_delivery", "dynamodb_delivery"]
        short = ["APIGW", "λ in", "SNS", "DDB in", "SQS", "λ out", "DDB out"]
        add(
            f"   {'endpoints':>9} {'ingest':>12} {'receiver':>8} | "
            + " ".join(f"{k:>6}" for k in short)
            + f" | {'total':>6} {'no APIGW':>8} | {'EventBridge':>11}"
        )
        for r in p3["rows"]:
            add(
                f"   {r['endpoints']:>9} {r['ingest']:>12} {r['receiver']:>8} | "
                + " ".join(f"{r['lines'][k]:6.3f}" for k in keys)
                + f" | {r['total']:6.3f} {r['total_without_api_gateway']:8.3f} | {r['eventbridge_api_destinations']:11.3f}"
            )
        pr = p3.get("prices") or {}
        if "ddb_per_m_wru" in pr:
            add(
                f"   prices: API Gateway REST ${pr['apigw_rest_per_m_requests']:.2f}/M (HTTP API "
                f"${pr.get('apigw_http_per_m_requests', float('nan')):.2f}/M), Lambda ${pr['lambda_per_m_requests']:.2f}/M "
                f"+ ${pr['lambda_arm64_per_gb_s']:.10f}/GB-s arm64, SNS ${pr['sns_per_m_publishes']:.2f}/M, "
                f"SQS ${pr['sqs_per_m_requests']:.2f}/M, DynamoDB ${pr['ddb_per_m_wru']:.3f}/M WRU "
                f"${pr['ddb_per_m_rru']:.3f}/M RRU, EventBridge ${pr['eventbridge_per_m_custom_events']:.2f}/M "
                f"+ ${pr['eventbridge_per_m_api_destination_invocations']:.2f}/M per API destination"
            )
    p4 = res.get("4_cold_start") or {}
    if "handlers" in p4:
        add("")
        runs = len(next(iter(p4["handlers"].values()))["import_ms_all"])
        add(
            f"4. Cold start: handler import time (python -X importtime, median of {runs} fresh processes; target < 300 ms)"
            + (f"; reference loop {p4['reference_loop_ms']:.0f} ms" if "reference_loop_ms" in p4 else "")
        )
        for name, h in p4["handlers"].items():
            on = h.get("tracing_on")
            add(
                f"   {name:<9} {h['import_ms_median']:7.1f} ms  {'PASS' if h['meets_target'] else 'FAIL'}  "
                f"(runs: {', '.join(f'{x:.0f}' for x in h['import_ms_all'])})"
                + (f"; tracing on, as in Lambda: {on['import_ms_median']:.1f} ms" if on else "")
            )
        a = p4.get("asset") or {}
        if "unpacked_mb" in a:
            add(f"   Lambda asset: {a['unpacked_mb']:.2f} MB unpacked, {a['zipped_mb']:.2f} MB zipped ({a['source']})")
        elif a:
            add(f"   Lambda asset: {a.get('error')}")
    p5 = res.get("5_e2e") or {}
    if "steady" in p5:
        cfg = p5["config"]
        add("")
        where = "moto in its own process" if cfg.get("moto") == "process" else "one process"
        add(
            f"5. End to end (local runtime: moto server + API emulator + poller, {where}), "
            f"{cfg['rate']:g} events/s for {cfg['duration_s']:g} s to 3 endpoints"
        )
        for name in ("steady", "slow_endpoint"):
            run = p5[name]
            add(
                f"   {name:<14} (receiver delays {run['receiver_delays_s']} s, published {run['achieved_publish_rate']:.1f}/s)"
            )
            for e in run["endpoints"]:
                add(
                    f"      endpoint {e['endpoint']}: {e['received']}/{e['sent']}  p50 {e['p50_ms']:7.1f}  "
                    f"p90 {e['p90_ms']:7.1f}  p99 {e['p99_ms']:7.1f} ms"
                )
            if run.get("missing_events"):
                add(
                    f"      {run['missing_events']} accepted event(s) reached no endpoint; "
                    f"{run['missing_that_were_answered_duplicate']} of them answered 200 'duplicate' to a first POST "
                    f"(answers {run.get('publish_answers')}, AWS transport errors/5xx {run.get('aws_transport_errors_or_5xx')})"
                )
        ramp = p5.get("ramp") or {}
        if ramp.get("steps"):
            add(f"   ramp ({cfg['step_s']:g} s steps, 3 endpoints):")
            for s in ramp["steps"]:
                add(
                    f"      {s['rate']:>5g}/s: published {s['achieved_publish_rate']:6.1f}/s, delivered {s['delivered']}/"
                    f"{s['expected']}, p50 {s['p50_first_half_ms']:.0f} -> {s['p50_second_half_ms']:.0f} ms, "
                    f"p99 {s['p99_ms']:.0f} ms, CPU {s['cpu']['cpu_cores_used']:.2f} cores, "
                    f"{s['aws_calls_per_s']:.0f} AWS calls/s  {'sustained' if s['sustained'] else 'NOT sustained'}"
                )
            add(f"   highest sustained rate: {ramp['highest_sustained_rate']} events/s")
            prof = ramp.get("limit_profile") or {}
            if prof:
                share = ", ".join(f"{k} {v:.0%}" for k, v in prof["share_by_component"].items())
                add(
                    f"   CPU at the last step: {prof['cpu_cores_used']:.2f} cores of {m['nproc']}; by component: {share}"
                )
    p8 = res.get("8_two_cores") or {}
    if "median" in p8:
        cfg, med = p8["config"], p8["median"]
        add("")
        add(
            f"8. Local runtime on both cores: highest rate to 3 endpoints with p50 < {cfg['p50_limit_ms']:g} ms, "
            f"{cfg['runs_per_mode']} interleaved runs per mode ({cfg['step_s']:g} s ramp steps; "
            f"1-min load seen {min(p8['load_average_1m_seen']):.1f}-{max(p8['load_average_1m_seen']):.1f})"
        )
        for mode, label in (
            ("thread", "moto in the runtime's process (before)"),
            ("process", "moto in its own process"),
        ):
            rates = ", ".join(fmt(r["highest_rate_p50_under_limit"], "g") for r in p8["runs"][mode])
            add(
                f"   {label:<40} median {med[mode]['highest_rate_p50_under_limit']:g}/s (runs {rates}); "
                f"peak RSS {med[mode]['peak_rss_total_mib']:.0f} MiB all processes; startup {med[mode]['startup_s']:.2f} s"
            )
        ratios = ", ".join(f"{x:.2f}" for x in p8["pair_ratios_process_over_thread"])
        add(
            f"   same-run ratio (median of pairs): {fmt(p8['median_ratio_process_over_thread'], '.2f')}x "
            f"(pairs {ratios}); target >= 2.5x"
        )
    add("")
    add("6. Scale on paper: docs/scaling.md")
    p7 = res.get("7_hostile_input") or {}
    if "shapes" in p7:
        half, full = (str(size) for size in p7["sizes"])
        add("")
        add(
            f"7. Hostile bodies at ingest: wall s/MB, medians of {p7['runs']} runs, interleaved with a benign batch of "
            f"100 valid events of the same size"
        )
        add(
            f"   {'shape':<22} | {'parse @' + f'{int(half) / 1e6:.2f} MB':>14} {'@' + f'{int(full) / 1e6:.2f} MB':>8} "
            f"{'benign':>7} {'ratio':>6} | {'handler':>7} {'ratio':>6} {'status':>7}"
        )
        for row in p7["shapes"]:
            ph, pf, h = row["parse"][half], row["parse"][full], row["handler"]
            add(
                f"   {row['shape']:<22} | {ph['hostile_s_per_mb']:14.3f} {pf['hostile_s_per_mb']:8.3f} "
                f"{pf['benign_s_per_mb']:7.3f} {row['parse_ratio']:5.1f}x | {h['s_per_mb']:7.3f} {row['handler_ratio']:5.2f}x "
                f"{h['status']:>7}"
            )
        add(
            f"   handler ratio = hostile / a benign batch accepted by the handler ({p7['benign']['handler_s_per_mb']:.3f} s/MB,"
            f" median of {len(p7['benign']['handler_ms_all'])}; it claims, stores and publishes 100 events on moto)"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--e2e-duration", type=float, default=60.0, help="s of the steady and slow e2e runs (the issue's 60 s)"
    )
    ap.add_argument("--e2e-rate", type=float, default=20.0)
    ap.add_argument("--step-s", type=float, default=8.0)
    ap.add_argument("--only", default="1,2,4,5,7")
    ap.add_argument("--cores-runs", type=int, default=3, help="part 8: interleaved runs per moto mode")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    args = ap.parse_args()
    only = parse_only(args.only)
    t0 = time.monotonic()
    res: dict = {"machine": machine(), "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory(prefix="lsw-bench-") as tmp_s:
        tmp = Path(tmp_s)
        if "1" in only:
            res["1_delivery_batch"] = run_part("delivery_batch.py", tmp / "p1.json", "--runs", str(args.runs))
        if "2" in only:
            res["2_aws_calls"] = run_part("aws_calls.py", tmp / "p2.json", "--runs", str(args.runs))
        if "4" in only:
            res["4_cold_start"] = run_part("cold_start.py", tmp / "p4.json")
        if "5" in only:
            res["5_e2e"] = run_part(
                "e2e.py",
                tmp / "p5.json",
                "--duration",
                str(args.e2e_duration),
                "--rate",
                str(args.e2e_rate),
                "--step-s",
                str(args.step_s),
            )
        if "7" in only:
            res["7_hostile_input"] = run_part("hostile_input.py", tmp / "p7.json", "--runs", str(args.runs))
        if "8" in only:
            res["8_two_cores"] = run_part(
                "e2e.py",
                tmp / "p8.json",
                "--compare",
                str(args.cores_runs),
                "--step-s",
                "6",
                "--ramp",
                CORES_RAMP,
                timeout=3600,
            )
    carry_over(res, only, Path(args.out))
    p2 = res.get("2_aws_calls") or {}
    if "scenarios" in p2:
        p1 = res.get("1_delivery_batch") or {}
        res["3_cost"] = cost.model(p2, p1 if "cases" in p1 else None)
    res["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    res["total_s"] = round(time.monotonic() - t0, 1)
    text = table(res)
    res["table"] = text
    Path(args.out).write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    print(text)
    print(f"\n(total {res['total_s']:.0f} s; results in {args.out})")


if __name__ == "__main__":
    main()
