"""Part 5: end to end through the local runtime: POST /events -> ... -> signed POST received.

The local runtime's pieces, as committed in litestore_webhooks.local: moto's server (with
the SQS clock fix) as AWS, the API Gateway emulator in front of the real ingest handler,
and the event-source poller invoking the real delivery handler per endpoint mapping. All in
this one Python process, receivers too (tests/receivers.py), on 127.0.0.1.

Latency = receiver's arrival time - the event's SCHEDULED publish time (open loop: a
publisher that falls behind shows up as latency, not as a lower rate).

  steady   rate R (default 20/s) for D s to 3 endpoints            -> p50/p90/p99 per endpoint
  slow     the same with endpoint 3 answering after 2 s            -> endpoints 1-2 unaffected?
  ramp     rates stepped up, S s each, until latency stops settling -> highest sustained rate
The ramp step that fails is sampled (per-thread CPU from /proc + each thread's Python stack)
to say which component used the CPU: moto, the API/ingest handler, the poller + delivery
handler, the receivers, the publisher.

    python bench/e2e.py --out part5.json [--rate 20] [--duration 60] [--step-s 8]
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

    def __init__(self) -> None:
        from litestore_webhooks import config
        from litestore_webhooks import resources as r
        from litestore_webhooks.aws import bootstrap, clients, event_sources
        from litestore_webhooks.local.apigw import ApiServer
        from litestore_webhooks.local.invoke import load_handler
        from litestore_webhooks.local.moto_server import MotoServer
        from litestore_webhooks.local.poller import Poller

        self.moto = MotoServer()
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
                c.request("POST", "/v1/events", body=body, headers={"Content-Type": "application/json", "x-api-key": API_KEY})
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
        out.append({
            "endpoint": i + 1, "sent": len(ids), "received": len(lat),
            "p50_ms": r3(percentile(lat, 50)), "p90_ms": r3(percentile(lat, 90)), "p99_ms": r3(percentile(lat, 99)),
            "max_ms": r3(max(lat) if lat else float("nan")),
        })
    return out


# -- where the CPU goes -------------------------------------------------------------------------
def _component(frames: list[str]) -> str:
    joined = " ".join(frames)
    if "bench-pub" in joined or "e2e.py" in joined and "one" in joined:
        return "publisher (bench)"
    for marker, name in (("werkzeug", "moto server"), ("receiver.py", "receivers (bench)"),
                         ("apigw.py", "API emulator + ingest handler"), ("poller.py", "poller + delivery handler"),
                         ("delivery.py", "delivery handler (send threads)")):
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

    def __enter__(self) -> "CpuSampler":
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
            "process_cpu_s": r3(self.cpu_s), "wall_s": r3(self.wall_s),
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
    args = ap.parse_args()

    rt = Runtime()
    counter = common.CallCounter()
    counter.attach()
    pub = Publisher(rt.api.url)
    result: dict = {"config": {"rate": args.rate, "duration_s": args.duration, "endpoints": 3,
                               "step_s": args.step_s, "process": "one Python process (GIL): moto, API, poller, handlers, receivers, publisher"}}
    try:
        # Warm-up: imports, connections, mappings started.
        rcv = Receivers([0.0, 0.0, 0.0])
        time.sleep(1.5)
        ids, _ = pub.run(10, 1.0)
        wait_drained(rcv, ids, 20)

        for name, delays in (("steady", [0.0, 0.0, 0.0]), ("slow_endpoint", [0.0, 0.0, 2.0])):
            if name != "steady":
                rcv.close()
                rcv = Receivers(delays)
                time.sleep(1.5)
            say(f"  {name}: {args.rate:g}/s for {args.duration:g} s to 3 endpoints (delays {delays})")
            ids, achieved = pub.run(args.rate, args.duration)
            wait_drained(rcv, ids, 30)
            missing = [e for e in ids if any(e not in a for a in rcv.arrivals())]
            result[name] = {"receiver_delays_s": delays, "achieved_publish_rate": r3(achieved),
                            "publish_errors": dict(pub.errors), "publish_answers": dict(pub.statuses),
                            "missing_events": len(missing),
                            "missing_that_were_answered_duplicate": len(set(missing) & pub.duplicates),
                            "aws_transport_errors_or_5xx": dict(counter.retry_signals),
                            "endpoints": latencies(rcv, ids)}
            pub.errors.clear()
            pub.statuses.clear()
            counter.retry_signals.clear()
            for e in result[name]["endpoints"]:
                say(f"    endpoint {e['endpoint']}: {e['received']}/{e['sent']}  p50 {e['p50_ms']:.0f}  "
                    f"p90 {e['p90_ms']:.0f}  p99 {e['p99_ms']:.0f} ms")
        rcv.close()

        # Ramp: a step is sustained when the publisher kept the rate, everything arrived within
        # the drain allowance, and latency did not grow from the step's first to its second half.
        rcv = Receivers([0.0, 0.0, 0.0])
        time.sleep(1.5)
        steps, best = [], None
        for rate in [float(x) for x in args.ramp.split(",")]:
            rt.handler_seconds, rt.handler_calls = 0.0, 0
            counter.reset(f"ramp{rate:g}")
            with CpuSampler() as sampler:
                ids, achieved = pub.run(rate, args.step_s)
            wait_drained(rcv, ids, 15)
            arr = rcv.arrivals()
            ordered = sorted(ids.items(), key=lambda kv: kv[1])
            half = len(ordered) // 2
            lat_first = [(a[e] - t) * 1000 for a in arr for e, t in ordered[:half] if e in a]
            lat_second = [(a[e] - t) * 1000 for a in arr for e, t in ordered[half:] if e in a]
            received = sum(len(ids.keys() & a.keys()) for a in arr)
            step = {
                "rate": rate, "achieved_publish_rate": r3(achieved), "publish_errors": dict(pub.errors),
                "accepted": len(ids), "delivered": received, "expected": 3 * len(ids),
                "publish_answers": dict(pub.statuses),
                "missing_that_were_answered_duplicate": len({e for e in ids if any(e not in a for a in arr)} & pub.duplicates),
                "p50_ms": r3(percentile(lat_first + lat_second, 50)), "p99_ms": r3(percentile(lat_first + lat_second, 99)),
                "p50_first_half_ms": r3(median(lat_first)), "p50_second_half_ms": r3(median(lat_second)),
                "delivery_invocations": rt.handler_calls,
                "events_per_delivery_invocation": r3(received / max(1, rt.handler_calls)),
                "delivery_handler_s": r3(rt.handler_seconds), "cpu": sampler.report(),
                "aws_calls_per_s": r3(sum(counter.calls[k] for k in counter.calls if k[0] == f"ramp{rate:g}")
                                      / sampler.wall_s),
                "aws_calls_by_operation": {op: row["calls"] for op, row in counter.table(f"ramp{rate:g}").items()},
            }
            pub.errors.clear()
            pub.statuses.clear()
            step["sustained"] = (
                achieved >= 0.95 * rate and len(ids) >= 0.99 * int(rate * args.step_s)
                and received >= step["expected"] and not step["publish_errors"]
                and step["p50_second_half_ms"] <= max(2 * step["p50_first_half_ms"], step["p50_first_half_ms"] + 250)
            )
            steps.append(step)
            say(f"  ramp {rate:>5g}/s: published {achieved:6.1f}/s delivered {received}/{step['expected']} "
                f"p50 {step['p50_first_half_ms']:.0f}->{step['p50_second_half_ms']:.0f} ms "
                f"cpu {step['cpu']['cpu_cores_used']} cores  {'ok' if step['sustained'] else 'NOT sustained'}")
            if not step["sustained"]:
                break
            best = rate
        rcv.close()
        result["ramp"] = {"steps": steps, "highest_sustained_rate": best,
                          "limit_profile": steps[-1]["cpu"] if steps else None}
    finally:
        rt.stop()
    write_json(args.out, result)


if __name__ == "__main__":
    main()
