"""Which JSON Schema library validates event `data` (docs/catalog.md, "Choosing the validator").

For each candidate, on the product document's 11 schemas (core/event_types.json):
  first event  a fresh interpreter imports the library, compiles the 11 schemas and validates one
               example: what the first ingest request after a cold start pays (median of --runs)
  valid        per-event time validating each document example (median over the 11 types, each the
               median of --repeat rounds)
  invalid      per-event time for the same examples with one wrong field (`data` with a string where a
               number is wanted, or a required field removed), errors collected and formatted

Then the bounds docs/catalog.md quotes, for the chosen library behind core/event_types/schemas.py:
  hostile event  65,000 wrong array items (a 261 KB event): our problems() next to the library's iter_errors
  widest schema  an anyOf of MAX_WIDTH - 2 array schemas against a 261 KB event that fails them all

Candidates: today's hand-written subset (core/schema.py), `jsonschema` (Python, Draft202012Validator),
`jsonschema-rs` (Rust, Draft202012Validator), core/event_types (jsonschema-rs behind our DataValidator:
is_valid, then the descent that finds the problems), `fastjsonschema` (draft-07 code generation; skipped when not
installed: it is no dependency of ours). Times are this machine's, in one run; compare the ratios.

    python bench/catalog_validators.py [--runs 5] [--repeat 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "functions" / "litestore_webhooks" / "core" / "event_types.json"

# Each snippet, run in a fresh interpreter with `schemas` (the 11 data schemas) and `example` bound,
# prints nothing; the harness times it from before the import to after the first validation.
FIRST_EVENT = {
    "handwritten": ("from litestore_webhooks.core.schema import validate\nassert validate(example, schemas[0]) == []"),
    "jsonschema": (
        "import jsonschema\n"
        "checker = jsonschema.FormatChecker()\n"
        "vs = [jsonschema.Draft202012Validator(s, format_checker=checker) for s in schemas]\n"
        "assert not list(vs[0].iter_errors(example))"
    ),
    "jsonschema-rs": (
        "import jsonschema_rs\n"
        "opts = jsonschema_rs.RegexOptions()\n"
        "vs = [jsonschema_rs.Draft202012Validator(s, validate_formats=True, pattern_options=opts) for s in schemas]\n"
        "assert not list(vs[0].iter_errors(example))"
    ),
    "core/event_types": (
        "from litestore_webhooks.core.event_types.schemas import DataValidator\n"
        "vs = [DataValidator(s) for s in schemas]\n"
        "assert vs[0].problems(example) == []"
    ),
    "fastjsonschema": ("import fastjsonschema\nvs = [fastjsonschema.compile(s) for s in schemas]\nvs[0](example)"),
}


def available(name: str) -> bool:
    module = {"handwritten": "litestore_webhooks", "jsonschema-rs": "jsonschema_rs"}.get(name, name)
    module = "litestore_webhooks.core.event_types.schemas" if name == "core/event_types" else module
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def first_event_ms(name: str, runs: int) -> float:
    prelude = (
        "import json, time, sys\n"
        f"raw = json.loads(open({str(SEED)!r}).read())\n"
        "names = sorted(raw)\n"
        "schemas = [raw[n]['schema'] for n in names]\n"
        "example = raw[names[0]]['example']['data']\n"
        "t = time.perf_counter()\n"
    )
    code = prelude + FIRST_EVENT[name] + "\nprint((time.perf_counter() - t) * 1000)\n"
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "functions"), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)  # warm .pyc
    return statistics.median(
        float(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout)
        for _ in range(runs)
    )


def broken(data: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The example with its first field of the wrong type: one error to find and report."""
    data = copy.deepcopy(data)
    data[next(key for key in schema["properties"] if key in data)] = [None]
    return data


def validators() -> dict[str, Callable[[dict[str, Any]], Callable[[Any], list[str]]]]:
    """name -> (schema -> (instance -> error messages)) for the installed candidates."""
    out: dict[str, Callable[[dict[str, Any]], Callable[[Any], list[str]]]] = {}
    if available("handwritten"):
        from litestore_webhooks.core.schema import validate

        out["handwritten"] = lambda s: lambda i: [p["message"] for p in validate(i, s)]
    if available("jsonschema"):
        import jsonschema

        checker = jsonschema.FormatChecker()

        def py(schema: dict[str, Any]) -> Callable[[Any], list[str]]:
            v = jsonschema.Draft202012Validator(schema, format_checker=checker)
            return lambda i: [e.message for e in v.iter_errors(i)]

        out["jsonschema"] = py
    if available("jsonschema-rs"):
        import jsonschema_rs

        opts = jsonschema_rs.RegexOptions()

        def rs(schema: dict[str, Any]) -> Callable[[Any], list[str]]:
            v = jsonschema_rs.Draft202012Validator(schema, validate_formats=True, pattern_options=opts)
            return lambda i: [e.message for e in v.iter_errors(i)]

        out["jsonschema-rs"] = rs

        from litestore_webhooks.core.event_types.schemas import DataValidator

        out["core/event_types"] = lambda s: lambda i, v=DataValidator(s): [p["message"] for p in v.problems(i)]
    if available("fastjsonschema"):
        import fastjsonschema

        def fast(schema: dict[str, Any]) -> Callable[[Any], list[str]]:
            v = fastjsonschema.compile(schema)

            def run(i: Any) -> list[str]:
                try:
                    v(i)
                except fastjsonschema.JsonSchemaValueException as exc:
                    return [exc.message]  # the first error only: no "every problem at once"
                return []

            return run

        out["fastjsonschema"] = fast
    return out


def per_event_us(check: Callable[[Any], list[str]], instance: Any, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        check(instance)
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "functions"))
    raw = json.loads(SEED.read_text(encoding="utf-8"))
    types = [(raw[n]["schema"], raw[n]["example"]["data"]) for n in sorted(raw)]
    results: dict[str, dict[str, float]] = {}
    for name, build in validators().items():
        compiled = [(build(schema), data, broken(data, schema)) for schema, data in types]
        assert all(check(data) == [] for check, data, _ in compiled), name
        assert all(check(bad) for check, _, bad in compiled), name
        results[name] = {
            "first_event_ms": round(first_event_ms(name, args.runs), 1),
            "valid_us": round(statistics.median(per_event_us(c, d, args.repeat) for c, d, _ in compiled), 2),
            "invalid_us": round(statistics.median(per_event_us(c, b, args.repeat) for c, _, b in compiled), 2),
        }
    base = results.get("handwritten")
    print(f"{'library':16} {'first event ms':>15} {'valid us':>9} {'invalid us':>11} {'valid x':>8} {'invalid x':>10}")
    for name, row in results.items():
        ratio_valid = row["valid_us"] / base["valid_us"] if base else float("nan")
        ratio_invalid = row["invalid_us"] / base["invalid_us"] if base else float("nan")
        print(
            f"{name:16} {row['first_event_ms']:>15.1f} {row['valid_us']:>9.2f} {row['invalid_us']:>11.2f}"
            f" {ratio_valid:>8.2f} {ratio_invalid:>10.2f}"
        )
    bounds = measure_bounds(args.runs)
    for label, ms in bounds.items():
        print(f"{label:44} {ms:>9.1f} ms")
    if args.json:
        args.json.write_text(json.dumps({**results, "bounds_ms": bounds}, indent=2) + "\n", encoding="utf-8")


def measure_bounds(runs: int) -> dict[str, float]:
    """Median ms of the worst cases the schema rules allow (see the module docstring)."""
    import jsonschema_rs

    from litestore_webhooks.core.event_types.schemas import MAX_WIDTH, DataValidator

    def median_ms(call: Callable[[], object]) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
        return round(statistics.median(times), 1)

    items = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "integer"}}}}
    hostile = {"items": ["zz"] * 65_000}
    ours = DataValidator(items)
    library = jsonschema_rs.validator_for(items)
    branches = [{"type": "array", "items": {"type": "string", "maxLength": 1 + i}} for i in range(MAX_WIDTH - 2)]
    widest = DataValidator({"type": "object", "properties": {"v": {"anyOf": branches}}})
    event = {"v": ["a"] * 65_000 + [1]}
    return {
        "hostile event: problems() (first 50)": median_ms(lambda: ours.problems(hostile)),
        "hostile event: library iter_errors (all)": median_ms(lambda: list(library.iter_errors(hostile))),
        "widest schema: is_valid": median_ms(lambda: widest.is_valid(event)),
        "widest schema: problems()": median_ms(lambda: widest.problems(event)),
    }


if __name__ == "__main__":
    main()
