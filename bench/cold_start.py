"""Part 4: cold start -- handler import time (python -X importtime) and the Lambda asset size.

Import time: for each handler module, 5 fresh interpreters (after one warm-up that writes
the .pyc files) run `python -X importtime -c "import litestore_webhooks.handlers.<name>"`,
round-robin over the handlers so that a slow spell of the shared VM does not land on one.
The handler's import time is the sum of importtime's cumulative column over the root
entries, minus the roots a bare `python -c pass` imports too (interpreter start-up).
The slowest entries of the median run are kept, to show what to import lazily.

Tracing is off there, as everywhere outside Lambda (Powertools' rule), so the X-Ray SDK is
not imported. In Lambda the stack turns tracing on; the same median is also taken with
Lambda's LAMBDA_TASK_ROOT set (`tracing_on`), which adds the SDK and its patching.

Asset: the directory infra/bundling.py builds (pip for manylinux2014_aarch64 / CPython 3.14,
boto3/botocore pruned, the package copied without local/cli/demo), unpacked and zipped
(deflate, as the CDK zips file assets). Needs PyPI; if pip fails, the newest bundled asset
in cdk.out is measured instead and the result says so.

    python bench/cold_start.py --out part4.json [--runs 5] [--no-asset]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import common
from common import ROOT, median, r3, say, write_json

HANDLERS = ("ingest", "delivery", "admin")
TARGET_MS = 300.0
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


# As in Lambda with tracing ACTIVE: Powertools enables its Tracer when LAMBDA_TASK_ROOT is set.
TRACING_ON = {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "0"}


def importtime(code: str, extra_env: dict[str, str] | None = None) -> list[tuple[int, int, int, str]]:
    """(self_us, cumulative_us, depth, module) per line of one fresh interpreter's -X importtime."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "functions"), **(extra_env or {}))
    # The warm-up must be able to write the .pyc files it is there for (a shell or CI with
    # PYTHONDONTWRITEBYTECODE=1 would otherwise have every run compile the package again).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    rows = []
    for line in proc.stderr.splitlines():
        m = _LINE.match(line)
        if m:
            depth = (len(m.group(3)) - 1) // 2
            rows.append((int(m.group(1)), int(m.group(2)), depth, m.group(4)))
    return rows


def reference_loop_ms(runs: int) -> float:
    """A fixed pure-Python loop in fresh interpreters, median ms: how fast this machine is right now.

    Shared VMs vary between runs (and between hosts); import times scale with it."""
    code = (
        "import time; t = time.perf_counter()\nfor i in range(3_000_000): pass\nprint((time.perf_counter() - t) * 1000)"
    )
    return median(
        [
            float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(runs)
        ]
    )


def roots(rows: list[tuple[int, int, int, str]]) -> dict[str, int]:
    return {name: cum for _, cum, depth, name in rows if depth == 0}


def sample(name: str, startup: set[str], extra_env: dict[str, str] | None = None) -> tuple[float, list]:
    """One fresh interpreter importing the handler: (ms over the interpreter's own start-up, rows)."""
    rows = importtime(f"import litestore_webhooks.handlers.{name}", extra_env)
    return sum(cum for mod, cum in roots(rows).items() if mod not in startup) / 1000, rows


def summarize(name: str, samples: list[tuple[float, list]]) -> dict:
    totals = [t for t, _ in samples]
    _, rows = sorted(samples, key=lambda s: s[0])[len(samples) // 2]
    top = sorted(rows, key=lambda r: -r[1])[:25]
    return {
        "module": f"litestore_webhooks.handlers.{name}",
        "import_ms_median": r3(median(totals)),
        "import_ms_all": [r3(t) for t in totals],
        "target_ms": TARGET_MS,
        "meets_target": median(totals) < TARGET_MS,
        "slowest_cumulative": [
            {"module": m, "cumulative_ms": r3(c / 1000), "self_ms": r3(s / 1000), "depth": d} for s, c, d, m in top
        ],
    }


def measure_handlers(runs: int, startup: set[str]) -> dict:
    """Round-robin over handlers and tracing off/on, so a slow spell of a shared VM hits all alike."""
    modes = {"off": None, "on": TRACING_ON}
    for name in HANDLERS:
        for env in modes.values():
            sample(name, startup, env)  # warm-up: compile and cache the bytecode
    samples: dict[tuple[str, str], list] = {(n, m): [] for n in HANDLERS for m in modes}
    for _ in range(runs):
        for name in HANDLERS:
            for mode, env in modes.items():
                samples[name, mode].append(sample(name, startup, env))
    handlers = {}
    for name in HANDLERS:
        handlers[name] = summarize(name, samples[name, "off"])
        on = summarize(name, samples[name, "on"])
        handlers[name]["tracing_on"] = {k: on[k] for k in ("import_ms_median", "import_ms_all", "slowest_cumulative")}
        say(
            f"  import {name:<9} {handlers[name]['import_ms_median']:8.1f} ms (median of {runs}); "
            f"tracing on {on['import_ms_median']:8.1f} ms"
        )
    return handlers


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def zipped_size(path: Path, tmp: Path) -> int:
    out = tmp / "asset.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for f in sorted(path.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(path))
    return out.stat().st_size


def asset_size() -> dict:
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="lsw-asset-") as tmp_s:
        tmp = Path(tmp_s)
        out = tmp / "asset"
        source = "infra.bundling (pip for the Lambda platform, this run)"
        try:
            from infra import bundling

            subprocess.run(
                bundling.pip_command(str(out)),
                check=True,
                timeout=420,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            bundling.prune_runtime_provided(out)
            bundling.copy_package(out)
        except Exception as exc:  # noqa: BLE001 - fall back to what a previous synth bundled
            assets = sorted((ROOT / "cdk.out").glob("asset.*/litestore_webhooks"), key=lambda p: p.stat().st_mtime)
            if not assets:
                return {"error": f"bundling failed and no cdk.out asset: {type(exc).__name__}: {exc}"}
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(assets[-1].parent, out)
            source = (
                f"newest cdk.out asset ({assets[-1].parent.name[:18]}...); pip bundling failed: {type(exc).__name__}"
            )
        top = sorted(((dir_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in out.iterdir()), reverse=True)[
            :8
        ]
        unpacked, zipped = dir_size(out), zipped_size(out, tmp)
        return {
            "source": source,
            "unpacked_mb": r3(unpacked / 1e6),
            "zipped_mb": r3(zipped / 1e6),
            "largest_entries_mb": {name: r3(size / 1e6) for size, name in top},
            "lambda_limits_mb": {"zipped_direct_upload": 50, "unzipped": 250},
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-asset", action="store_true")
    args = ap.parse_args()
    startup = set(roots(importtime("pass")))
    handlers = measure_handlers(args.runs, startup)
    result = {
        "handlers": handlers,
        "python": sys.version.split()[0],
        "reference_loop_ms": r3(reference_loop_ms(args.runs)),
    }
    say(f"  reference loop {result['reference_loop_ms']:.1f} ms")
    if not args.no_asset:
        result["asset"] = asset_size()
        say(f"  asset: {result['asset']}")
    write_json(args.out, result)


if __name__ == "__main__":
    _ = common  # environment set by the import
    main()
