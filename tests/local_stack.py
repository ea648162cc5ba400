"""Shared pieces of the end-to-end tests that drive a LocalRuntime only over HTTP (and the CLI).

`rt` is a module-scoped runtime (in-process, free ports, insecure local URLs allowed); import it
into a test module to use it. Everything else asks the API what a user could ask it: the
attempt log, dead letters and the stats' queue depths say when deliveries have settled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from tests.receivers import Receiver, Reply
from tests.test_local_runtime import admin

import seed_catalog as catalog
from litestore_webhooks.local.runtime import LocalRuntime

T = TypeVar("T")

# Retries that keep tests fast: 100 ms nominal backoff (SQS rounds each hop up to 1 s).
FAST_RETRIES = {"maxAttempts": 3, "initialDelay": 100, "backoffMultiplier": 2.0, "maxDelay": 1000}


@pytest.fixture(scope="module")
def rt():
    with LocalRuntime(port=0, allow_insecure=True) as runtime:
        yield runtime


class Scratch:
    """Receivers and endpoints one test makes; `close()` deletes the endpoints (so their queues stop
    loading later tests in the same runtime), then closes the receivers."""

    def __init__(self, rt: LocalRuntime) -> None:
        self.rt = rt
        self.receivers: list[Receiver] = []
        self.endpoint_ids: list[str] = []

    def receiver(self, *script: Reply, default: Reply = Reply(200)) -> Receiver:
        self.receivers.append(Receiver(*script, default=default))
        return self.receivers[-1]

    def endpoint(self, name: str, url: str, events: list[str], **fields: Any) -> dict[str, Any]:
        created = create_endpoint(self.rt, name, url, events, **fields)
        self.endpoint_ids.append(created["id"])
        return created

    def close(self) -> None:
        try:
            for endpoint_id in self.endpoint_ids:
                assert admin(self.rt, "DELETE", f"/endpoints/{endpoint_id}")[0] in (204, 404)
        finally:
            for rx in self.receivers:
                rx.close()


@pytest.fixture
def scratch(rt):
    made = Scratch(rt)
    yield made
    made.close()


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(event_type: str, event_id: str) -> dict[str, Any]:
    """The catalog's example of `event_type`, with our id and a current timestamp."""
    return {**catalog.CATALOG[event_type].example, "id": event_id, "timestamp": now_iso()}


def create_endpoint(rt: LocalRuntime, name: str, url: str, events: list[str], **fields: Any) -> dict[str, Any]:
    status, body = admin(rt, "POST", "/endpoints", {"name": name, "url": url, "events": events, **fields})
    assert status == 201, body
    return body


def poll(probe: Callable[[], T], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Call `probe` until it returns something truthy; fail with `what` and the last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what} (last: {value!r})")
        time.sleep(interval)


def get(rt: LocalRuntime, path: str) -> Any:
    status, body = admin(rt, "GET", path)
    assert status == 200, (path, body)
    return body


def stats(rt: LocalRuntime, endpoint_id: str) -> dict[str, Any]:
    return get(rt, f"/endpoints/{endpoint_id}/stats")


def attempts(rt: LocalRuntime, endpoint_id: str) -> list[dict[str, Any]]:
    """Every attempt to an endpoint, newest first, following the cursor."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = get(rt, f"/endpoints/{endpoint_id}/attempts?limit=100" + (f"&cursor={cursor}" if cursor else ""))
        found += page["data"]
        cursor = page.get("nextCursor")
        if not cursor:
            return found


def dead_letters(rt: LocalRuntime, endpoint_id: str) -> list[dict[str, Any]]:
    return get(rt, f"/endpoints/{endpoint_id}/dead-letters?limit=100")["data"]


def settle(rt: LocalRuntime, endpoint_ids: Iterable[str], *, timeout: float = 30) -> None:
    """Wait until no endpoint has anything queued, delayed (retries) or in flight: nothing more will arrive."""
    ids = list(endpoint_ids)

    def idle() -> bool:
        return all(s["queueDepth"] == 0 and s["inFlight"] == 0 for s in (stats(rt, i) for i in ids))

    poll(idle, timeout=timeout, what=f"queues of {ids} drained")
