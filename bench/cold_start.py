"""Part 4: cold start -- handler import time (python -X importtime) and the Lambda asset size.

Import time: for each handler module, 5 fresh interpreters (after one warm-up that writes
the .pyc files) run `python -X importtime -c "import litestore_webhooks.handlers.<name>"`.
The handler's import time is the sum of importtime's cumulative column over the root
entries, minus the roots a bare `python -c pass` imports too (interpreter start-up).
The slowest entries of the median run are kept, to show what to import lazily.

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


def importtime(code: str) -> list[tuple[int, int, int, str]]:
    """(self_us, cumulative_us, depth, module) per line of one fresh interpreter's -X importtime."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "functions"))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env,
                          capture_output=True, text=True, check=True)
    rows = []
    for line in proc.stderr.splitlines():
        m = _LINE.match(line)
        if m:
            depth = (len(m.group(3)) - 1) // 2
            rows.append((int(m.group(1)), int(m.group(2)), depth, m.group(4)))
    return rows


def roots(rows: list[tuple[int, int, int, str]]) -> dict[str, int]:
    return {name: cum for _, cum, depth, name in rows if depth == 0}


def measure_handler(name: str, runs: int, startup: set[str]) -> dict:
    module = f"litestore_webhooks.handlers.{name}"
    importtime(f"import {module}")  # warm-up: compile and cache the bytecode
    totals, samples = [], []
    for _ in range(runs):
        rows = importtime(f"import {module}")
        total = sum(cum for mod, cum in roots(rows).items() if mod not in startup)
        totals.append(total / 1000)
        samples.append((total, rows))
    samples.sort(key=lambda s: s[0])
    _, rows = samples[len(samples) // 2]
    top = sorted(rows, key=lambda r: -r[1])[:25]
    return {
        "module": module,
        "import_ms_median": r3(median(totals)),
        "import_ms_all": [r3(t) for t in totals],
        "target_ms": TARGET_MS,
        "meets_target": median(totals) < TARGET_MS,
        "slowest_cumulative": [{"module": m, "cumulative_ms": r3(c / 1000), "self_ms": r3(s / 1000), "depth": d}
                               for s, c, d, m in top],
    }


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

            subprocess.run(bundling.pip_command(str(out)), check=True, timeout=420,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            bundling.prune_runtime_provided(out)
            bundling.copy_package(out)
        except Exception as exc:  # noqa: BLE001 - fall back to what a previous synth bundled
            assets = sorted((ROOT / "cdk.out").glob("asset.*/litestore_webhooks"), key=lambda p: p.stat().st_mtime)
            if not assets:
                return {"error": f"bundling failed and no cdk.out asset: {type(exc).__name__}: {exc}"}
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(assets[-1].parent, out)
            source = f"newest cdk.out asset ({assets[-1].parent.name[:18]}...); pip bundling failed: {type(exc).__name__}"
        top = sorted(((dir_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in out.iterdir()), reverse=True)[:8]
        unpacked, zipped = dir_size(out), zipped_size(out, tmp)
        return {
            "source": source,
            "unpacked_mb": r3(unpacked / 1e6), "zipped_mb": r3(zipped / 1e6),
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
    handlers = {}
    for name in HANDLERS:
        handlers[name] = measure_handler(name, args.runs, startup)
        say(f"  import {name:<9} {handlers[name]['import_ms_median']:8.1f} ms (median of {args.runs})")
    result = {"handlers": handlers, "python": sys.version.split()[0]}
    if not args.no_asset:
        result["asset"] = asset_size()
        say(f"  asset: {result['asset']}")
    write_json(args.out, result)


if __name__ == "__main__":
    _ = common  # environment set by the import
    main()
