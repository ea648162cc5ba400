"""`make demo`: a scripted, non-interactive tour of the whole system on 127.0.0.1 that ends by itself.

1. starts the local runtime (moto-backed AWS) and three HTTPS receivers mirroring the product
   document's "Multiple Endpoints", with a throwaway CA (trustme) the delivery client trusts;
   each receiver checks signatures with the package's ``verify``;
2. registers them through the admin API from ``examples/webhooks.json`` (the document's format);
3. publishes every example event of the document through the ingest API;
4. shows each endpoint's received/verified counts and logged attempts as a live table;
5. makes a receiver fail twice and recover (retries with their delays), makes another answer 400
   (dead-lettered at once), fixes it and redrives its dead-letter queue;
6. prints a summary and the commands for trying it by hand.

Everything goes over real HTTP: ingest and admin APIs to the runtime, signed HTTPS POSTs to the
receivers. Exit 0 when every expected delivery arrived verified, 1 (with the reason) otherwise.
``--json`` adds the summary as one JSON line at the very end.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from litestore_webhooks.cli.client import Client, Target
from litestore_webhooks.cli.output import CliError, Output
from litestore_webhooks.core.endpoint import RetryPolicy, subscribes
from litestore_webhooks.local.receiver import Receiver, Reply, ca_bundle

ENDPOINTS_FILE = Path(__file__).parent / "examples" / "webhooks.json"  # the sample the README documents
WAIT_S = 30.0  # for any one expected arrival; the whole tour normally takes ~15 s
POLL_S = 0.2
RETRYING, FAILING = "Order Processing", "Email Service"  # the receivers of steps 5 and 6


class DemoFailure(Exception):
    """Something expected did not happen; the message says what."""


@dataclass
class Hook:
    """One registered endpoint and its receiver."""

    spec: dict[str, Any]
    receiver: Receiver
    id: str = ""
    expected: list[str] = field(default_factory=list)  # ids of the events it must end up accepting (2xx)
    refused: int = 0  # requests it answers with an error on purpose (steps 5 and 6)

    @property
    def due(self) -> int:
        """Requests (and logged attempts) once everything has settled."""
        return len(self.expected) + self.refused

    @property
    def name(self) -> str:
        return self.spec["name"]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def quick_start(port: int = 8080) -> list[str]:
    """The commands for trying the runtime by hand (terminal 1, terminal 2, then the rest)."""
    api = f"http://127.0.0.1:{port}/v1"
    endpoint = {
        "name": "My receiver",
        "url": "http://127.0.0.1:3000/webhooks/litestore",
        "events": ["*"],
        "secret": "your-webhook-secret",
    }
    event = {
        "event": "content.submitted",
        "id": "test-event-123",
        "timestamp": "2024-01-15T10:00:00Z",
        "data": {"contentId": "content-123", "creatorId": "creator-456"},
    }  # the document's curl test event
    return [
        f"litestore-webhooks local{'' if port == 8080 else f' --port {port}'} --allow-insecure-endpoints "
        "--api-key local-key --admin-token local-admin",
        "python -m litestore_webhooks.local.receiver --port 3000 --secret your-webhook-secret",
        f"curl -X POST {api}/endpoints -H 'Authorization: Bearer local-admin' -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(endpoint))}",
        f"curl -X POST {api}/events -H 'x-api-key: local-key' -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(event))}",
        "litestore-webhooks --local endpoints list",
    ]


class Tour:
    def __init__(self, out: TextIO, workdir: Path) -> None:
        self.ui = Output(as_json=False, verbose=True, no_color=False, stdout=out)
        self.out = out
        self.tty = out.isatty()
        self.workdir = workdir
        self.started = time.monotonic()
        self.hooks: list[Hook] = []
        self.published: list[dict[str, Any]] = []
        self.redriven = 0
        self.api: Client | None = None

    # -- plumbing ------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def step(self, title: str) -> None:
        self.say()
        self.say(self.ui.paint(title, "bold"))

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def wait(
        self,
        ready: Callable[[], bool],
        what: Callable[[], str],
        timeout: float = WAIT_S,
        on_poll: Callable[[], None] | None = None,
    ) -> None:
        """Poll until ``ready()``; DemoFailure naming what is missing after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            if on_poll:
                on_poll()
            if ready():
                return
            if time.monotonic() > deadline:
                raise DemoFailure(f"{what()} within {timeout:.0f} s")
            time.sleep(POLL_S)

    def attempts(self, hook: Hook) -> list[dict[str, Any]]:
        """Every attempt the runtime logged for this endpoint (GET /endpoints/{id}/attempts, all pages)."""
        assert self.api
        return [a for page in self.api.pages(f"/endpoints/{hook.id}/attempts", limit=100) for a in page["data"]]

    def publish(self, event: dict[str, Any]) -> str:
        """POST /events with the x-api-key; returns the accepted event's id."""
        assert self.api
        body = self.api.request("POST", "/events", body=event, ingest=True)
        if body.get("duplicate"):
            raise DemoFailure(f"{event['event']} was taken for a duplicate of {body['id']}")
        self.published.append({**event, "id": body["id"]})
        for hook in self.hooks:
            if subscribes(hook.spec["events"], event["event"]):
                hook.expected.append(body["id"])
        return body["id"]

    # -- the tour ------------------------------------------------------------------------
    def run(self, runtime_factory: Callable[[str], Any]) -> dict[str, Any]:
        import trustme

        self.say(
            self.ui.paint(
                "Litestore webhooks: a tour of the whole system on 127.0.0.1 (no AWS account, no Docker)", "bold"
            )
        )
        self.step("1. The local runtime and the document's three receivers")
        ca = trustme.CA()
        bundle = ca_bundle(ca, self.workdir / "demo-ca.pem")
        specs = json.loads(ENDPOINTS_FILE.read_text(encoding="utf-8"))
        self.hooks = [Hook(spec, Receiver(ca=ca, secret=spec["secret"])) for spec in specs]
        try:
            with runtime_factory(bundle) as rt:
                self.api = Client(Target(rt.base_url, rt.admin_token, rt.api_key))
                self.say(
                    f"   local runtime  {rt.base_url}  (SNS, SQS, DynamoDB on moto; up after {self.elapsed():.1f} s)"
                )
                self.say(
                    "   receivers      HTTPS on 127.0.0.1 with a throwaway CA (trustme) that the delivery client trusts;"
                )
                self.say(
                    "                  each checks signatures with litestore_webhooks.verify and answers 401 to a bad one"
                )
                self.register()
                self.publish_examples()
                self.live_table()
                self.retry_then_recover()
                self.dead_letter_and_redrive()
                return self.summary()
        finally:
            for hook in self.hooks:
                hook.receiver.close()

    def register(self) -> None:
        assert self.api
        self.step(
            f'2. Registering endpoints from {ENDPOINTS_FILE.name} (the document\'s "Multiple Endpoints") '
            "with POST /endpoints"
        )
        self.say("   the document's URLs point at the receivers started above:")
        width = max(len(h.name) for h in self.hooks)
        for hook in self.hooks:
            url = hook.receiver.url(urlsplit(hook.spec["url"]).path or "/")
            created = self.api.post("/endpoints", {**hook.spec, "url": url})
            hook.id = created["id"]
            self.say(
                f"   {hook.name.ljust(width)}  {', '.join(hook.spec['events']):<35} "
                f"{hook.spec['url']} -> {url}  {hook.id}"
            )

    def example(self, name: str) -> dict[str, Any]:
        """The stored catalog's example of `name` (GET /event-types/{name}: the seeded document types)."""
        assert self.api
        return self.api.get(f"/event-types/{name}")["examples"][0]

    def publish_examples(self) -> None:
        assert self.api
        types = [
            t for t in self.api.get("/event-types")["data"] if t["origin"] in ("document", "derived") and t["examples"]
        ]
        self.step(
            f"3. Publishing the document's {len(types)} example events with POST /events (x-api-key), stamped now"
        )
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for event_type in types:
            event_id = self.publish({**event_type["examples"][0], "timestamp": now})
            subscribers = [h.name for h in self.hooks if subscribes(h.spec["events"], event_type["name"])]
            self.say(f"   {event_type['name']:<20} {event_id:<28} accepted -> {', '.join(subscribers)}")

    def live_table(self) -> None:
        self.step(
            "4. Deliveries as they happen (received/verified: the receivers; attempts: GET /endpoints/{id}/attempts)"
        )
        started = time.monotonic()
        state: dict[str, Any] = {"drawn": 0, "last": {}}

        def draw() -> None:
            current = self.rows()
            state["rows"] = current
            if self.tty:
                if state["drawn"]:
                    self.out.write(f"\x1b[{state['drawn']}F\x1b[J")  # back to the table's first line, clear below
                self.table(current)
                state["drawn"] = len(current) + 1
                return
            for row in current:  # not a terminal: one line per change, as it happens
                key = tuple(row.values())
                if state["last"].get(row["name"]) != key:
                    state["last"][row["name"]] = key
                    self.say(
                        f"   +{time.monotonic() - started:4.1f} s  {row['name']:<16} received {row['received']}/"
                        f"{row['expected']}  verified {row['verified']}  attempts {row['attempts']}  "
                        f"delivered {row['delivered']}"
                    )

        def done() -> bool:
            return all(r["delivered"] == r["expected"] == r["received"] == r["verified"] for r in state["rows"])

        def missing() -> str:
            late = [
                f"{r['name']} delivered {r['delivered']} and received {r['received']} "
                f"({r['verified']} verified) of {r['expected']}"
                for r in state["rows"]
                if not (r["delivered"] == r["expected"] == r["received"] == r["verified"])
            ]
            return "; ".join(late)

        self.wait(done, missing, on_poll=draw)
        if not self.tty:
            self.table(state["rows"])
        for hook in self.hooks:
            ids = [json.loads(r.body)["id"] for r in hook.receiver.requests]
            if sorted(ids) != sorted(hook.expected):
                raise DemoFailure(f"{hook.name} received {sorted(ids)}, expected {sorted(hook.expected)}")
        total = sum(len(h.expected) for h in self.hooks)
        self.say(
            f"   all {total} deliveries arrived exactly once, signatures verified, "
            f"{time.monotonic() - started:.1f} s after publishing"
        )

    def rows(self) -> list[dict[str, Any]]:
        """Per endpoint: events it must accept, requests received and verified, attempts logged, deliveries."""
        out = []
        for hook in self.hooks:
            got = hook.receiver.requests
            statuses = Counter(a["status"] for a in self.attempts(hook))
            out.append(
                {
                    "name": hook.name,
                    "expected": len(hook.expected),
                    "received": len(got),
                    "verified": sum(1 for r in got if r.verified),
                    "attempts": sum(statuses.values()),
                    "delivered": statuses["delivered"],
                }
            )
        return out

    def table(self, rows: list[dict[str, Any]]) -> None:
        columns = {
            "expected": "EVENTS",
            "received": "RECEIVED",
            "verified": "VERIFIED",
            "attempts": "ATTEMPTS",
            "delivered": "DELIVERED",
        }
        self.say(self.ui.paint(f"   {'ENDPOINT':<18}" + "".join(f"{h:>11}" for h in columns.values()), "bold"))
        for row in rows:
            self.say(f"   {row['name']:<18}" + "".join(f"{row[c]:>11}" for c in columns))

    def hook(self, name: str) -> Hook:
        return next(h for h in self.hooks if h.name == name)

    def follow(self, hook: Hook, event_id: str, until: str, count: int, skip: int = 0) -> list[dict[str, Any]]:
        """Print this event's attempts at ``hook`` as they are logged (after the first ``skip``),
        until there are ``count`` new ones and the last is ``until``."""
        shown: list[dict[str, Any]] = []

        def poll() -> None:
            mine = sorted((a for a in self.attempts(hook) if a["eventId"] == event_id), key=lambda a: a["at"])
            for a in mine[skip + len(shown) :]:
                shown.append(a)
                since = (_utc(a["at"]) - _utc(shown[0]["at"])).total_seconds()
                line = (
                    f"   attempt {a['attempt']}  +{since:.1f} s  HTTP {a['httpStatus']}  {self.ui.status(a['status'])}"
                )
                if a.get("nextRetryAt"):
                    delay = (_utc(a["nextRetryAt"]) - _utc(a["at"])).total_seconds()
                    line += f", next attempt in {delay:.1f} s"
                self.say(line)

        self.wait(
            lambda: len(shown) >= count and shown[-1]["status"] == until,
            lambda: (
                f"{hook.name} logged {len(shown)} of {count} attempts for {event_id} "
                f"(last: {shown[-1]['status'] if shown else 'none'}, wanted {until})"
            ),
            on_poll=poll,
        )
        return shown

    def retry_then_recover(self) -> None:
        hook = self.hook(RETRYING)
        policy = RetryPolicy.model_validate(hook.spec.get("retryPolicy", {}))
        self.step(f"5. {hook.name} fails twice (503), then recovers: retried with exponential backoff")
        self.say(
            f"   retry policy: maxAttempts {policy.maxAttempts}, initialDelay {policy.initialDelay} ms, "
            f"backoffMultiplier {policy.backoffMultiplier:g} (+-20% jitter; the document's defaults)"
        )
        hook.receiver.script(Reply(503, body=b"busy"), Reply(503, body=b"busy"))
        hook.refused += 2
        example = self.example("product.purchased")
        event_id = self.publish({"event": example["event"], "data": example["data"]})
        self.say(f"   published product.purchased {event_id}")
        attempts = self.follow(hook, event_id, "delivered", 3)
        if [a["httpStatus"] for a in attempts] != [503, 503, 200]:
            raise DemoFailure(f"{hook.name}: expected 503, 503, 200; got {[a['httpStatus'] for a in attempts]}")
        gaps = [(_utc(b["at"]) - _utc(a["at"])).total_seconds() for a, b in zip(attempts, attempts[1:])]
        self.say(
            f"   delivered on attempt 3; waits between attempts {', '.join(f'{g:.1f} s' for g in gaps)} "
            "(SQS delays are whole seconds)"
        )

    def dead_letter_and_redrive(self) -> None:
        assert self.api
        hook = self.hook(FAILING)
        self.step(f"6. {hook.name} answers 400: a rejection is not retried, the event goes to its dead-letter queue")
        hook.receiver.default = Reply(400, {"Content-Type": "application/json"}, b'{"error":"unknown template"}')
        hook.refused += 1
        example = self.example("user.registered")
        event_id = self.publish({"event": example["event"], "data": example["data"]})
        self.say(f"   published user.registered {event_id}")
        self.follow(hook, event_id, "dead_lettered", 1)
        letters: dict[str, Any] = {}

        def peek() -> bool:
            letters.update(self.api.get(f"/endpoints/{hook.id}/dead-letters"))  # type: ignore[union-attr]
            return any(d["id"] == event_id for d in letters["data"])

        self.wait(peek, lambda: f"{event_id} not in {hook.name}'s dead-letter queue")
        dead = next(d for d in letters["data"] if d["id"] == event_id)
        self.say(
            f"   GET /endpoints/{hook.id}/dead-letters: {dead['event']} {dead['id']} reason={dead['reason']} "
            f"lastStatus={dead['lastStatus']} attempts={dead['attempts']}"
        )

        self.step(f"7. {hook.name} is fixed (answers 200 again); redrive its dead letters")
        hook.receiver.default = Reply(200)
        result = self.api.post(f"/endpoints/{hook.id}/dead-letters/redrive")
        self.redriven += result["redriven"]
        self.say(
            f"   POST /endpoints/{hook.id}/dead-letters/redrive: redriven {result['redriven']}, "
            f"remaining {result['remaining']}"
        )
        if result["redriven"] != 1:
            raise DemoFailure(f"redrive moved {result['redriven']} messages, expected 1")
        self.follow(hook, event_id, "delivered", 1, skip=1)
        left = self.api.get(f"/endpoints/{hook.id}/dead-letters")["approximateCount"]
        self.say(f"   delivered after the redrive (its attempt count starts again at 1); dead letters left: {left}")
        if left:
            raise DemoFailure(f"{hook.name}'s dead-letter queue still holds {left} message(s) after the redrive")

    def _all_logged(self, hook: Hook) -> bool:
        return len(hook.receiver.requests) >= hook.due and len(self.attempts(hook)) >= hook.due

    def _logged_so_far(self, hook: Hook) -> str:
        return f"{hook.name} got {len(hook.receiver.requests)} requests and logged {len(self.attempts(hook))} attempts of {hook.due}"

    def summary(self) -> dict[str, Any]:
        statuses: Counter[str] = Counter()
        for hook in self.hooks:  # every subscriber of steps 5 and 6 too, not only the one watched
            self.wait(functools.partial(self._all_logged, hook), functools.partial(self._logged_so_far, hook))
            logged = self.attempts(hook)
            delivered = sorted(a["eventId"] for a in logged if a["status"] == "delivered")
            if len(hook.receiver.requests) != hook.due or delivered != sorted(hook.expected):
                raise DemoFailure(
                    f"{hook.name}: {len(hook.receiver.requests)} requests (expected {hook.due}), "
                    f"delivered {delivered}, expected {sorted(hook.expected)}"
                )
            statuses.update(a["status"] for a in logged)
        requests = [r for h in self.hooks for r in h.receiver.requests]
        numbers = {
            "eventsPublished": len(self.published),
            "deliveries": statuses["delivered"],
            "attempts": sum(statuses.values()),
            "retries": statuses["retry_scheduled"],
            "deadLettered": statuses["dead_lettered"],
            "redriven": self.redriven,
            "verified": sum(1 for r in requests if r.verified),
            "badSignatures": sum(1 for r in requests if r.verified is False),
            "seconds": round(self.elapsed(), 1),
        }
        self.step("Summary")
        self.table(self.rows())
        self.say()
        labels = [
            ("eventsPublished", "events published"),
            ("deliveries", "deliveries (2xx)"),
            ("attempts", "attempts (all)"),
            ("retries", "retries"),
            ("deadLettered", "dead-lettered"),
            ("redriven", "redriven"),
            ("verified", "signatures verified"),
            ("badSignatures", "bad signatures"),
            ("seconds", "elapsed seconds"),
        ]
        for key, label in labels:
            self.say(f"   {label:<20} {numbers[key]}")
        if numbers["badSignatures"] or numbers["verified"] != len(requests):
            raise DemoFailure(f"{numbers['badSignatures']} of {len(requests)} requests failed signature verification")
        return numbers


def _runtime(bundle: str) -> Any:
    from litestore_webhooks.local.runtime import LocalRuntime  # pulls in moto: only now

    # Loopback receivers need --allow-insecure-endpoints; the demo leaves the CLI's profile alone
    # (a `litestore-webhooks local` running next to it keeps its own).
    return LocalRuntime(port=0, allow_insecure=True, ca_bundle=bundle, write_profile=False)


def _route_runtime_output(log_file: TextIO) -> None:
    """The functions' own output (Powertools JSON logs, EMF metrics) goes to stdout in Lambda;
    here it goes to a log file so the tour stays readable."""
    sys.stdout = log_file
    handler = logging.StreamHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("botocore", "werkzeug", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m litestore_webhooks.demo", description="The `make demo` tour.")
    parser.add_argument("--json", action="store_true", help="end with the summary as one JSON line")
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        import moto  # noqa: F401
        import trustme  # noqa: F401
    except ModuleNotFoundError as exc:
        print(
            f"demo: needs the {exc.name} package: pip install 'litestore-webhooks[dev]' (make demo does)",
            file=sys.stderr,
        )
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="litestore-demo-"))
    log_path = workdir / "runtime.log"
    tour = Tour(out, workdir)
    with open(log_path, "w", encoding="utf-8") as log_file:
        _route_runtime_output(log_file)
        try:
            numbers = tour.run(_runtime)
        except (DemoFailure, CliError, OSError) as exc:
            sys.stdout = out
            print(f"\ndemo FAILED after {tour.elapsed():.1f} s: {exc}", file=sys.stderr)
            print(f"the runtime's log: {log_path}", file=sys.stderr)
            return 1
        finally:
            sys.stdout = out
    shutil.rmtree(workdir, ignore_errors=True)
    tour.step("Try it by hand")
    commands = quick_start()
    venv = Path(sys.prefix)
    if sys.prefix != sys.base_prefix:
        tour.say(f"   (litestore-webhooks is installed in {venv}: `. {venv}/bin/activate` first)")
    tour.say("   terminal 1, the local runtime (writes the profile `litestore-webhooks --local ...` uses):")
    tour.say(f"     {commands[0]}")
    tour.say("   terminal 2, a receiver that prints each webhook and checks its signature:")
    tour.say(f"     {commands[1]}")
    tour.say("   terminal 3, register it, publish the document's example event, look around:")
    for command in commands[2:]:
        tour.say(f"     {command}")
    tour.say('   and the web console, the document\'s "Settings > Webhooks" (terminal 1 also prints a link):')
    tour.say("     litestore-webhooks --local console")
    if args.json:
        tour.say(json.dumps(numbers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
