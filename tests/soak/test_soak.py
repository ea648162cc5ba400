"""`make soak`: the conservation test at full size and a load run, through the local runtime on
loopback only. Excluded from `make test` (marker `soak`); each run rewrites tests/soak/results.json,
whose figures docs/reliability.md quotes.

    make soak                       # both, bounded under 10 minutes
    LSW_SOAK_EVENTS=500 LSW_SOAK_LOAD_EVENTS=2000 .venv/bin/python -m pytest tests/soak -m soak
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import pytest
from tests.test_reliability_faults import (
    CONSERVATION_TYPES,
    Ledger,
    Probe,
    Publisher,
    RecordingReceiver,
    assert_conserved,
    create_target,
    make_event,
    run_conservation,
)

from litestore_webhooks.local.runtime import LocalRuntime

pytestmark = [pytest.mark.soak, pytest.mark.timeout(600)]
RESULTS = Path(__file__).with_name("results.json")
CONSERVATION_EVENTS = int(os.environ.get("LSW_SOAK_EVENTS", 2000))
LOAD_EVENTS = int(os.environ.get("LSW_SOAK_LOAD_EVENTS", 10_000))


@pytest.fixture(scope="module")
def results():
    """Figures of this run, written once all soak tests ran (also when one failed)."""
    found: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    yield found
    RESULTS.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] if ordered else float("nan")


def test_conservation_full_size(results):
    """2,000 events x 3 endpoints, 30% receiver failures, 5% AWS faults: nothing lost, no mixed ids."""
    started = time.monotonic()
    figures = run_conservation(CONSERVATION_EVENTS, seed=2026, settle_timeout_s=300)
    figures["wall_s"] = round(time.monotonic() - started, 1)
    results["conservation"] = figures
    assert_conserved(figures)


def test_load(results):
    """10,000 events through /events/batch to one endpoint answering 200: all delivered once."""
    events = [
        make_event(CONSERVATION_TYPES[i % len(CONSERVATION_TYPES)], f"evt_load_{i:05d}") for i in range(LOAD_EVENTS)
    ]
    rx = RecordingReceiver()
    try:
        with LocalRuntime(port=0, allow_insecure=True) as rt:
            probe = Probe(rt)
            target = create_target(rt, probe, "load", ["*"], rx, short_visibility=False)
            publisher = Publisher(rt, workers=4)
            started = time.time()
            publisher.run_batches(events, 100)
            ingest_s = time.time() - started
            assert len(publisher.accepted) == LOAD_EVENTS
            ledger = Ledger({target.id: set(publisher.accepted)}, [target], probe)
            ledger.wait_settled(timeout_s=420)
            posts = target.posts()
            arrivals = {e: min(req.at for req, status in p if status == 200) for e, p in posts.items()}
            done_s = max(arrivals.values()) - started
            latency_ms = [(arrivals[e] - publisher.sent_at[e]) * 1000 for e in arrivals]
            figures = {
                "events": LOAD_EVENTS,
                "endpoints": 1,
                "batch_size": 100,
                "publisher_threads": 4,
                "ingest_s": round(ingest_s, 1),
                "ingest_events_per_s": round(LOAD_EVENTS / ingest_s, 1),
                "all_delivered_after_s": round(done_s, 1),
                "deliveries_per_s": round(LOAD_EVENTS / done_s, 1),
                "latency_ms": {
                    "p50": round(_percentile(latency_ms, 50)),
                    "p90": round(_percentile(latency_ms, 90)),
                    "p99": round(_percentile(latency_ms, 99)),
                    "max": round(max(latency_ms)),
                },
                **{k: v for k, v in ledger.outcome().items() if k != "missing"},
                **ledger.posts_check(),
                "ingest_answers": dict(publisher.answers),
            }
            results["load"] = figures
    finally:
        rx.close()
    assert figures["delivered"] == LOAD_EVENTS and figures["lost"] == 0, figures
    assert figures["duplicates_with_distinct_ids"] == figures["bad_signatures"] == 0, figures
    assert figures["received_but_not_expected"] == 0, figures
