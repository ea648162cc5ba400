"""The event-source port: what connects an endpoint queue to the delivery function.

Deployed, that is a Lambda SQS event source mapping. The local runtime has no Lambda
service that polls queues, so it installs `LocalEventSources` (`use(...)`) and runs its
own poller over the registered mappings. Provisioning only ever talks to `current()`.

`get` returns the same plain dict from both adapters: {id, queue_arn, function,
batch_size, max_batching_window_s, max_concurrency, enabled}.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from botocore.exceptions import ClientError

from litestore_webhooks.aws import clients, queues

# Lambda refuses changes while a mapping is Creating/Updating; these waits cover it.
_IN_USE_BACKOFF_S = (0.5, 1.0, 2.0, 4.0)


class EventSources(Protocol):
    def create(
        self,
        queue_arn: str,
        function: str,
        *,
        batch_size: int,
        max_batching_window_s: int,
        max_concurrency: int,
        enabled: bool,
    ) -> str: ...

    def update(
        self,
        mapping_id: str,
        *,
        enabled: bool | None = None,
        max_concurrency: int | None = None,
        batch_size: int | None = None,
    ) -> None: ...

    def delete(self, mapping_id: str) -> None: ...

    def get(self, mapping_id: str) -> dict[str, Any] | None: ...

    def find(self, queue_arn: str, function: str) -> str | None: ...


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


class LambdaEventSources:
    """SQS event source mappings in AWS Lambda, reporting partial batch failures."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def _lambda(self) -> Any:
        return self._client or clients.client("lambda")

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        call = getattr(self._lambda, operation)
        for backoff in _IN_USE_BACKOFF_S:
            try:
                return call(**kwargs)
            except ClientError as exc:
                if _code(exc) != "ResourceInUseException":
                    raise
            time.sleep(backoff)
        return call(**kwargs)

    def create(
        self,
        queue_arn: str,
        function: str,
        *,
        batch_size: int,
        max_batching_window_s: int,
        max_concurrency: int,
        enabled: bool,
    ) -> str:
        resp = self._call(
            "create_event_source_mapping",
            EventSourceArn=queue_arn,
            FunctionName=function,
            Enabled=enabled,
            BatchSize=batch_size,
            MaximumBatchingWindowInSeconds=max_batching_window_s,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            ScalingConfig={"MaximumConcurrency": max_concurrency},
        )
        return resp["UUID"]

    def update(
        self,
        mapping_id: str,
        *,
        enabled: bool | None = None,
        max_concurrency: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        changes: dict[str, Any] = {}
        if enabled is not None:
            changes["Enabled"] = enabled
        if max_concurrency is not None:
            changes["ScalingConfig"] = {"MaximumConcurrency": max_concurrency}
        if batch_size is not None:
            changes["BatchSize"] = batch_size
        if changes:
            self._call("update_event_source_mapping", UUID=mapping_id, **changes)

    def delete(self, mapping_id: str) -> None:
        try:
            self._call("delete_event_source_mapping", UUID=mapping_id)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise

    def get(self, mapping_id: str) -> dict[str, Any] | None:
        try:
            m = self._lambda.get_event_source_mapping(UUID=mapping_id)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise
        return {
            "id": m["UUID"],
            "queue_arn": m["EventSourceArn"],
            "function": m["FunctionArn"],
            "batch_size": m.get("BatchSize"),
            "max_batching_window_s": m.get("MaximumBatchingWindowInSeconds", 0),
            "max_concurrency": m.get("ScalingConfig", {}).get("MaximumConcurrency"),
            # Creating/Updating may go either way; only an explicit disable counts as disabled.
            "enabled": m.get("State") not in {"Disabled", "Disabling"},
        }

    def find(self, queue_arn: str, function: str) -> str | None:
        resp = self._lambda.list_event_source_mappings(EventSourceArn=queue_arn, FunctionName=function)
        found = resp.get("EventSourceMappings", [])
        return found[0]["UUID"] if found else None


@dataclass(frozen=True)
class Mapping:
    id: str
    queue_arn: str
    function: str
    batch_size: int
    max_batching_window_s: int
    max_concurrency: int
    enabled: bool
    queue_url: str | None = None  # resolved at create time, for the local poller


class LocalEventSources:
    """In-memory mappings for the local runtime's poller; thread-safe.

    Every change bumps `version` and notifies `changed`, so a poller can sleep in
    `wait_for_change` instead of re-reading the registry on a timer.
    """

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.version = 0
        self._mappings: dict[str, Mapping] = {}

    def _bump(self) -> None:
        self.version += 1
        self.changed.notify_all()

    def mappings(self) -> list[Mapping]:
        with self.changed:
            return list(self._mappings.values())

    def wait_for_change(self, version: int, timeout: float | None = None) -> int:
        """Block until the registry moves past `version` (or timeout); returns the current version."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != version, timeout)
            return self.version

    def create(
        self,
        queue_arn: str,
        function: str,
        *,
        batch_size: int,
        max_batching_window_s: int,
        max_concurrency: int,
        enabled: bool,
    ) -> str:
        mapping = Mapping(
            str(uuid.uuid4()),
            queue_arn,
            function,
            batch_size,
            max_batching_window_s,
            max_concurrency,
            enabled,
            queues.queue_url(queue_arn.rsplit(":", 1)[-1]),  # the poller receives by URL
        )
        with self.changed:
            self._mappings[mapping.id] = mapping
            self._bump()
        return mapping.id

    def update(
        self,
        mapping_id: str,
        *,
        enabled: bool | None = None,
        max_concurrency: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        changes: dict[str, Any] = {
            k: v
            for k, v in {"enabled": enabled, "max_concurrency": max_concurrency, "batch_size": batch_size}.items()
            if v is not None
        }
        with self.changed:
            if mapping_id not in self._mappings:
                raise KeyError(f"no event source mapping {mapping_id}")
            self._mappings[mapping_id] = replace(self._mappings[mapping_id], **changes)
            self._bump()

    def delete(self, mapping_id: str) -> None:
        with self.changed:
            if self._mappings.pop(mapping_id, None) is not None:
                self._bump()

    def get(self, mapping_id: str) -> dict[str, Any] | None:
        with self.changed:
            mapping = self._mappings.get(mapping_id)
        if mapping is None:
            return None
        found = asdict(mapping)
        found.pop("queue_url")
        return found

    def find(self, queue_arn: str, function: str) -> str | None:
        with self.changed:
            return next(
                (m.id for m in self._mappings.values() if m.queue_arn == queue_arn and m.function == function), None
            )


_current: EventSources | None = None


def current() -> EventSources:
    """The installed adapter; Lambda's unless the local runtime or a test installed another."""
    global _current
    if _current is None:
        _current = LambdaEventSources()
    return _current


def use(adapter: EventSources | None) -> None:
    """Install an adapter for this process (None restores the Lambda default)."""
    global _current
    _current = adapter
