"""Part 5: end to end through the local runtime: POST /events -> ... -> signed POST received.

The local runtime's pieces, as committed in litestore_webhooks.local: moto's server (with
the SQS clock fix) as AWS, the API Gateway emulator in front of the real ingest handler,
and the event-source poller invoking the real delivery handler per endpoint mapping. moto
in its own process (`--moto process`, the runtime's default) or in this one (`--moto
thread`, the runtime before issue 18); everything else in this process, receivers and
publisher too (tests/receivers.py), on 127.0.0.1.

Latency = receiver's arrival time - the event's SCHEDULED publish time (open loop: a
publisher that falls behind shows up as latency, not as a lower rate).

  steady   rate R (default 20/s) for D s to 3 endpoints            -> p50/p90/p99 per endpoint
  slow     the same with endpoint 3 answering after 2 s            -> endpoints 1-2 unaffected?
  ramp     rates stepped up, S s each, until latency stops settling -> highest sustained rate
The ramp step that fails is sampled (per-thread CPU from /proc + each thread's Python stack)
to say which component used the CPU: moto, the API/ingest handler, the poller + delivery
handler, the receivers, the publisher.

  compare  `--compare N`: N ramp-only runs of each mode, interleaved (thread, process, thread,
           ...), each in a fresh interpreter; per run the highest rate sustained with p50 under
           `--p50-limit-ms` (250), RSS of all the runtime's processes and the runtime's startup
           time; reported as medians and the median of the per-pair ratios (same run, same load).

    python bench/e2e.py --out part5.json [--rate 20] [--duration 60] [--step-s 8] [--moto process]
    python bench/e2e.py --out compare.json --compare 3 [--step-s 6]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import common
from common import median, new_envelope, percentile, r3, say, write_json

PREFIX = "lsw-e2e"
API_KEY = "bench-api-key"


class Runtime:
    """moto server + API emulator + poller, wired as the local runtime wires them."""

    def __init__(self, moto_mode: str = "process") -> None:
        from litestore_webhooks import config
        from litestore_webhooks import resources as r
        from litestore_webhooks.aws import bootstrap, clients, event_sources
        from litestore_webhooks.local.apigw import ApiServer
        from litestore_webhooks.local.invoke import load_handler
        from litestore_webhooks.local.moto_server import moto_server
        from litestore_webhooks.local.poller import Poller

        self.moto = moto_server(moto_mode)  # type: ignore[arg-type]
        os.environ["AWS_ENDPOINT_URL"] = self.moto.start()
        os.environ["LSW_LOCAL_RUNTIME"] = "1"
        clients.reset()
        config.settings.cache_clear()
        os.environ.update(bootstrap.create_stack_resources(PREFIX))
        config.settings.cache_clear()
        self.registry = event_sources.LocalEventSources()
        event_sources.use(self.registry)
        handler = load_handler(r.DELIVERY_FUNCTION)
        self.handler_seconds = 0.0
        self.handler_calls = 0
        lock = threading.Lock()

        def timed(event, context):  # noqa: ANN001, ANN202
            t0 = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                with lock:
                    self.handler_seconds += time.perf_counter() - t0
                    self.handler_calls += 1

        self.poller = Poller(self.registry, timed, PREFIX)
        self.poller.start()
        self.api = ApiServer(port=0, api_key=API_KEY, admin_token="bench-admin", prefix=PREFIX)
        self.api.start()

    def stop(self) -> None:
        self.poller.stop()
        self.api.stop()
        self.moto.stop()

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of this process (runtime + bench's receivers/publisher) and of moto's process."""
        out = {"runtime_process_mib": _rss_mib(os.getpid())}
        pid = getattr(self.moto, "pid", None)
        if pid:
            out["moto_process_mib"] = _rss_mib(pid)
        out["total_mib"] = r3(sum(out.values()))
        return out


def _cpu_s(pid: int | None) -> float:
    """utime + stime of a whole process, in seconds (0 when there is none)."""
    if not pid:
        return 0.0
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return r3(int(line.split()[1]) / 1024)
    return 0.0


class Receivers:
    def __init__(self, delays: list[float]) -> None:
        from tests.receivers import Receiver, Reply

        self.rx = [Receiver(default=Reply(200, delay_s=d)) for d in delays]
        self.endpoints = [common.create_endpoint(r.url())[0] for r in self.rx]

    def arrivals(self) -> list[dict[str, float]]:
        """Per endpoint: event id -> first arrival time."""
        out = []
        for r in self.rx:
            seen: dict[str, float] = {}
            for req in list(r.requests):
                try:
                    eid = json.loads(req.body)["id"]
                except (ValueError, KeyError):
                    continue
                seen.setdefault(eid, req.at)
            out.append(seen)
        return out

    def close(self) -> None:
        """Delete the endpoints first (mappings stop, in-flight batches finish), then the servers."""
        from litestore_webhooks import config
        from litestore_webhooks.provisioning import Provisioner

        # In-flight batches of a deleted queue cannot be acknowledged; the poller logs that.
        logging.getLogger("litestore_webhooks.local.poller").setLevel(logging.CRITICAL)
        prov = Provisioner(config.settings())
        for e in self.endpoints:
            prov.delete(e.id)
        time.sleep(3.0)  # > one poll wait plus the slowest receiver's reply
        for r in self.rx:
            r.close()


class Publisher:
    """Open loop: event i is due at t0 + i/rate; a pool of keep-alive clients POSTs /events."""

    def __init__(self, api_url: str, workers: int = 16) -> None:
        self.host, self.port = urlsplit(api_url).hostname, urlsplit(api_url).port
        self.workers = workers
        self._local = threading.local()
        self.errors: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()  # every answer, retried POSTs included
        self.duplicates: set[str] = set()  # ids whose (retried) POST was answered 200 duplicate

    def _conn(self) -> http.client.HTTPConnection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        return c

    def _post(self, body: bytes) -> int:
        for _ in range(2):
            try:
                c = self._conn()
                c.request(
                    "POST", "/v1/events", body=body, headers={"Content-Type": "application/json", "x-api-key": API_KEY}
                )
                resp = c.getresponse()
                resp.read()
                self.statuses[str(resp.status)] += 1
                return resp.status
            except (OSError, http.client.HTTPException) as exc:
                self.statuses[type(exc).__name__] += 1
                self._local.conn = None
        return 0

    def run(self, rate: float, duration_s: float) -> tuple[dict[str, float], float]:
        """Publishes rate*duration events; returns id -> scheduled time, and the rate POSTs started at."""
        n = int(rate * duration_s)
        scheduled: dict[str, float] = {}
        starts: list[float] = []
        lock = threading.Lock()
        t0 = time.time() + 0.2

        def one(i: int) -> None:
            due = t0 + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            started = time.time()
            env = new_envelope()
            status = self._post(json.dumps(env).encode())
            with lock:
                starts.append(started)
                if status in (200, 202):  # 200: a retried POST whose first try had been accepted
                    scheduled[env["id"]] = due
                    if status == 200:
                        self.duplicates.add(env["id"])
                else:
                    self.errors[str(status)] += 1

        with ThreadPoolExecutor(self.workers, thread_name_prefix="bench-pub") as pool:
            list(pool.map(one, range(n)))
        # The rate the POSTs were started at (a publisher falling behind its schedule shows here).
        return scheduled, n / max(max(starts) - t0 + 1 / rate, 1e-9)


def wait_drained(rcv: Receivers, ids: dict[str, float], timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if all(len(ids.keys() & a.keys()) >= len(ids) for a in rcv.arrivals()):
            return
        time.sleep(0.25)


def latencies(rcv: Receivers, ids: dict[str, float]) -> list[dict]:
    out = []
    for i, arr in enumerate(rcv.arrivals()):
        lat = [(arr[e] - t) * 1000 for e, t in ids.items() if e in arr]
        out.append(
            {
                "endpoint": i + 1,
                "sent": len(ids),
                "received": len(lat),
                "p50_ms": r3(percentile(lat, 50)),
                "p90_ms": r3(percentile(lat, 90)),
                "p99_ms": r3(percentile(lat, 99)),
                "max_ms": r3(max(lat) if lat else float("nan")),
            }
        )
    return out


# -- where the CPU goes -------------------------------------------------------------------------
def _component(frames: list[str]) -> str:
    joined = " ".join(frames)
    if "bench-pub" in joined or "e2e.py" in joined and "one" in joined:
        return "publisher (bench)"
    for marker, name in (
        ("werkzeug", "moto server"),
        ("receiver.py", "receivers (bench)"),
        ("apigw.py", "API emulator + ingest handler"),
        ("poller.py", "poller + delivery handler"),
        ("delivery.py", "delivery handler (send threads)"),
    ):
        if marker in joined:
            return name
    return "other"


def _thread_cpu() -> dict[int, int]:
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            out[int(tid)] = int(fields[11]) + int(fields[12])  # utime + stime (ticks)
        except (OSError, IndexError, ValueError):
            pass
    return out


class CpuSampler:
    """Every 100 ms: CPU ticks each live thread used since the last sample, charged to the
    component its Python stack belongs to (threads that ended between samples are missed:
    compare sampled_cpu_s with process_cpu_s)."""

    def __init__(self) -> None:
        self.by_component: Counter[str] = Counter()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def __enter__(self) -> CpuSampler:
        self.cpu0 = time.process_time()
        self.wall0 = time.perf_counter()
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.cpu_s = time.process_time() - self.cpu0
        self.wall_s = time.perf_counter() - self.wall0

    def _run(self) -> None:
        native = {}
        last = _thread_cpu()
        while not self._stop.wait(0.1):
            now = _thread_cpu()
            frames = sys._current_frames()
            native = {t.native_id: t for t in threading.enumerate()}
            for tid, ticks in now.items():
                used = ticks - last.get(tid, ticks)
                if used <= 0:
                    continue
                th = native.get(tid)
                if th is threading.current_thread():
                    continue
                frame = frames.get(th.ident) if th is not None else None
                stack = []
                f = frame
                while f is not None:
                    stack.append(f.f_code.co_filename)
                    f = f.f_back
                name = th.name if th is not None else "?"
                self.by_component[_component([name, *stack])] += used
            last = now

    def report(self) -> dict:
        hz = os.sysconf("SC_CLK_TCK")
        total = sum(self.by_component.values()) or 1
        return {
            "process_cpu_s": r3(self.cpu_s),
            "wall_s": r3(self.wall_s),
            "cpu_cores_used": r3(self.cpu_s / self.wall_s),
            "share_by_component": {k: r3(v / total) for k, v in self.by_component.most_common()},
            "sampled_cpu_s": r3(total / hz),
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of the steady and slow runs")
    ap.add_argument("--step-s", type=float, default=8.0, help="seconds per ramp step")
    ap.add_argument("--ramp", default="10,20,30,40,60,80,120", help="ramp rates, events/s")
    ap.add_argument(
        "--moto",
        choices=("process", "thread"),
        default="process",
        help="moto in its own process (the runtime's default) or in this one (before issue 18)",
    )
    ap.add_argument("--ramp-only", action="store_true", help="skip the steady and slow runs")
    ap.add_argument(
        "--p50-limit-ms",
        type=float,
        default=None,
        help="also end the ramp at the first step whose p50 reaches this (the compare runs use 250)",
    )
    ap.add_argument(
        "--compare",
        type=int,
        default=0,
        metavar="N",
        help="N interleaved ramp-only runs of each moto mode, in fresh interpreters; writes their medians",
    )
    args = ap.parse_args()
    if args.compare:
        write_json(args.out, compare(args))
        return

    started = time.perf_counter()
    rt = Runtime(args.moto)
    startup_s = time.perf_counter() - started
    counter = common.CallCounter()
    counter.attach()
    pub = Publisher(rt.api.url)
    where = (
        "moto in its own process; API, poller, handlers, receivers, publisher in this one"
        if args.moto == "process"
        else "one Python process (GIL): moto, API, poller, handlers, receivers, publisher"
    )
    result: dict = {
        "config": {
            "rate": args.rate,
            "duration_s": args.duration,
            "endpoints": 3,
            "moto": args.moto,
            "step_s": args.step_s,
            "process": where,
            "p50_limit_ms": args.p50_limit_ms,
        },
        "startup_s": r3(startup_s),
    }
    peak_rss: dict[str, float] = {}
    try:
        # Warm-up: imports, connections, mappings started.
        rcv = Receivers([0.0, 0.0, 0.0])
        time.sleep(1.5)
        ids, _ = pub.run(10, 1.0)
        wait_drained(rcv, ids, 20)

        for name, delays in () if args.ramp_only else (("steady", [0.0, 0.0, 0.0]), ("slow_endpoint", [0.0, 0.0, 2.0])):
            if name != "steady":
                rcv.close()
                rcv = Receivers(delays)
                time.sleep(1.5)
            say(f"  {name}: {args.rate:g}/s for {args.duration:g} s to 3 endpoints (delays {delays})")
            ids, achieved = pub.run(args.rate, args.duration)
            wait_drained(rcv, ids, 30)
            missing = [e for e in ids if any(e not in a for a in rcv.arrivals())]
            result[name] = {
                "receiver_delays_s": delays,
                "achieved_publish_rate": r3(achieved),
                "publish_errors": dict(pub.errors),
                "publish_answers": dict(pub.statuses),
                "missing_events": len(missing),
                "missing_that_were_answered_duplicate": len(set(missing) & pub.duplicates),
                "aws_transport_errors_or_5xx": dict(counter.retry_signals),
                "endpoints": latencies(rcv, ids),
            }
            pub.errors.clear()
            pub.statuses.clear()
            counter.retry_signals.clear()
            for e in result[name]["endpoints"]:
                say(
                    f"    endpoint {e['endpoint']}: {e['received']}/{e['sent']}  p50 {e['p50_ms']:.0f}  "
                    f"p90 {e['p90_ms']:.0f}  p99 {e['p99_ms']:.0f} ms"
                )
        rcv.close()

        # Ramp: a step is sustained when the publisher kept the rate, everything arrived within
        # the drain allowance, and latency did not grow from the step's first to its second half.
        rcv = Receivers([0.0, 0.0, 0.0])
        time.sleep(1.5)
        steps, best, best_under_limit = [], None, None
        for rate in [float(x) for x in args.ramp.split(",")]:
            rt.handler_seconds, rt.handler_calls = 0.0, 0
            counter.reset(f"ramp{rate:g}")
            moto_cpu0 = _cpu_s(getattr(rt.moto, "pid", None))
            with CpuSampler() as sampler:
                ids, achieved = pub.run(rate, args.step_s)
            moto_cores = (_cpu_s(getattr(rt.moto, "pid", None)) - moto_cpu0) / sampler.wall_s
            wait_drained(rcv, ids, 15)
            arr = rcv.arrivals()
            ordered = sorted(ids.items(), key=lambda kv: kv[1])
            half = len(ordered) // 2
            lat_first = [(a[e] - t) * 1000 for a in arr for e, t in ordered[:half] if e in a]
            lat_second = [(a[e] - t) * 1000 for a in arr for e, t in ordered[half:] if e in a]
            received = sum(len(ids.keys() & a.keys()) for a in arr)
            step = {
                "rate": rate,
                "achieved_publish_rate": r3(achieved),
                "publish_errors": dict(pub.errors),
                "accepted": len(ids),
                "delivered": received,
                "expected": 3 * len(ids),
                "publish_answers": dict(pub.statuses),
                "missing_that_were_answered_duplicate": len(
                    {e for e in ids if any(e not in a for a in arr)} & pub.duplicates
                ),
                "p50_ms": r3(percentile(lat_first + lat_second, 50)),
                "p99_ms": r3(percentile(lat_first + lat_second, 99)),
                "p50_first_half_ms": r3(median(lat_first)),
                "p50_second_half_ms": r3(median(lat_second)),
                "delivery_invocations": rt.handler_calls,
                "events_per_delivery_invocation": r3(received / max(1, rt.handler_calls)),
                "delivery_handler_s": r3(rt.handler_seconds),
                "cpu": sampler.report() | {"moto_process_cores_used": r3(moto_cores)},
                "aws_calls_per_s": r3(
                    sum(counter.calls[k] for k in counter.calls if k[0] == f"ramp{rate:g}") / sampler.wall_s
                ),
                "aws_calls_by_operation": {op: row["calls"] for op, row in counter.table(f"ramp{rate:g}").items()},
            }
            pub.errors.clear()
            pub.statuses.clear()
            step["sustained"] = (
                achieved >= 0.95 * rate
                and len(ids) >= 0.99 * int(rate * args.step_s)
                and received >= step["expected"]
                and not step["publish_errors"]
                and step["p50_second_half_ms"] <= max(2 * step["p50_first_half_ms"], step["p50_first_half_ms"] + 250)
            )
            rss = rt.rss_mib()
            step["rss_mib"] = rss
            if rss["total_mib"] > peak_rss.get("total_mib", 0.0):
                peak_rss = rss
            steps.append(step)
            say(
                f"  ramp {rate:>5g}/s: published {achieved:6.1f}/s delivered {received}/{step['expected']} "
                f"p50 {step['p50_first_half_ms']:.0f}->{step['p50_second_half_ms']:.0f} ms "
                f"cpu {step['cpu']['cpu_cores_used']}+{step['cpu']['moto_process_cores_used']} cores  {'ok' if step['sustained'] else 'NOT sustained'}"
            )
            if not step["sustained"]:
                break
            best = rate
            if args.p50_limit_ms is not None:
                if step["p50_ms"] >= args.p50_limit_ms:
                    break
                best_under_limit = rate
        rcv.close()
        result["ramp"] = {
            "steps": steps,
            "highest_sustained_rate": best,
            "highest_sustained_rate_under_p50_limit": best_under_limit,
            "limit_profile": steps[-1]["cpu"] if steps else None,
        }
        result["peak_rss_mib"] = peak_rss
    finally:
        rt.stop()
    write_json(args.out, result)


# -- compare: moto in process (before issue 18) vs in its own process, same run --------------------
def _one_run(args: argparse.Namespace, mode: str, out: str) -> dict:
    import subprocess

    cmd = [
        sys.executable,
        __file__,
        "--out",
        out,
        "--moto",
        mode,
        "--ramp-only",
        "--ramp",
        args.ramp,
        "--step-s",
        str(args.step_s),
        "--p50-limit-ms",
        str(args.p50_limit_ms or 250.0),
    ]
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, timeout=1200)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}"}
    with open(out) as f:
        return json.load(f)


def _startup_s(mode: str) -> float:
    """Seconds for LocalRuntime(...).start() in a fresh interpreter (imports included), as `litestore-webhooks local` pays."""
    import subprocess

    code = (
        "import time; t = time.perf_counter()\n"
        "from litestore_webhooks.local.runtime import LocalRuntime\n"
        f"rt = LocalRuntime(port=0, write_profile=False, moto={mode!r}).start()\n"
        "print(time.perf_counter() - t); rt.stop()"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    return r3(float(out.stdout.strip().splitlines()[-1]))


def compare(args: argparse.Namespace) -> dict:
    """Interleaved runs (thread, process, thread, process, ...): the machine is shared and noisy,
    so each pair is compared within itself and the median of the pair ratios is the result."""
    import tempfile

    limit = args.p50_limit_ms or 250.0
    runs: dict[str, list[dict]] = {"thread": [], "process": []}
    startups: dict[str, list[float]] = {"thread": [], "process": []}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.compare):
            for mode in ("thread", "process"):
                loads.append(os.getloadavg()[0])
                res = _one_run(args, mode, os.path.join(tmp, f"{mode}{i}.json"))
                ramp = res.get("ramp") or {}
                row = {
                    "highest_rate_p50_under_limit": ramp.get("highest_sustained_rate_under_p50_limit"),
                    "highest_sustained_rate": ramp.get("highest_sustained_rate"),
                    "steps": [
                        {k: st[k] for k in ("rate", "p50_ms", "sustained")}
                        | {"cpu_cores_used": st["cpu"]["cpu_cores_used"]}
                        for st in ramp.get("steps", [])
                    ],
                    "peak_rss_mib": res.get("peak_rss_mib"),
                    "error": res.get("error"),
                }
                runs[mode].append(row)
                startups[mode].append(_startup_s(mode))
                say(
                    f"  compare run {i + 1}/{args.compare} moto={mode}: highest rate with p50 < {limit:g} ms: "
                    f"{row['highest_rate_p50_under_limit']}/s  peak RSS {(row['peak_rss_mib'] or {}).get('total_mib')} MiB  "
                    f"startup {startups[mode][-1]} s  (load {loads[-1]:.2f})"
                )
    ratios = [
        p["highest_rate_p50_under_limit"] / t["highest_rate_p50_under_limit"]
        for t, p in zip(runs["thread"], runs["process"], strict=True)
        if p["highest_rate_p50_under_limit"] and t["highest_rate_p50_under_limit"]
    ]

    def med(mode: str, key: str) -> float:
        return r3(median([float(x[key] or 0) for x in runs[mode]]))

    return {
        "config": {
            "runs_per_mode": args.compare,
            "ramp": args.ramp,
            "step_s": args.step_s,
            "p50_limit_ms": limit,
            "endpoints": 3,
            "order": "interleaved thread, process, thread, process, ...",
        },
        "load_average_1m_seen": [r3(x) for x in loads],
        "runs": runs,
        "median": {
            mode: {
                "highest_rate_p50_under_limit": med(mode, "highest_rate_p50_under_limit"),
                "peak_rss_total_mib": r3(
                    median([float((x["peak_rss_mib"] or {}).get("total_mib", 0)) for x in runs[mode]])
                ),
                "startup_s": r3(median(startups[mode])),
            }
            for mode in runs
        },
        "pair_ratios_process_over_thread": [r3(x) for x in ratios],
        "median_ratio_process_over_thread": r3(median(ratios)) if ratios else None,
        "startup_s": startups,
    }


if __name__ == "__main__":
    main()
