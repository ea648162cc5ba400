"""Shared bench plumbing: environment, AWS-call counting, event builders, small statistics.

Import this module FIRST in every bench script: it sets the fake AWS credentials and the
Powertools switches (like tests/conftest.py) before boto3 or the package is imported, and
puts the repo root on sys.path so `tests.receivers` (the real threaded receivers) imports
as is.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "functions"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_METRICS_NAMESPACE="LitestoreWebhooks",
    POWERTOOLS_SERVICE_NAME="litestore-webhooks",
    POWERTOOLS_TRACE_DISABLED="1",
    LSW_ALLOW_INSECURE="1",  # loopback receivers (the local-runtime switch; never set in the stack)
    JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1",
    JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION="1",
    JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="18,20",
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)

EVENT_TYPE = "order.completed"


def say(*args: Any) -> None:
    """Progress goes to stderr: a part's stdout carries the handlers' logs and is discarded."""
    print(*args, file=sys.stderr, flush=True)


def write_json(path: str | Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def percentile(xs: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def r3(x: float) -> float:
    return round(x, 3)


# -- events ------------------------------------------------------------------------------
def example_data() -> dict[str, Any]:
    from litestore_webhooks.core.event_types.seed import seed_drafts

    return next(draft.examples[0]["data"] for draft, _ in seed_drafts() if draft.name == EVENT_TYPE)


def new_envelope(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """A fresh, valid event (new id, timestamp now) of the catalog's example shape."""
    from datetime import datetime

    from litestore_webhooks.core.envelope import format_timestamp, new_event_id

    return {
        "event": EVENT_TYPE,
        "id": new_event_id(),
        "timestamp": format_timestamp(datetime.now(UTC)),
        "data": data if data is not None else example_data(),
    }


def sqs_event(queue_arn: str, bodies: list[bytes]) -> dict[str, Any]:
    """A Lambda SQS event with one record per body, as SNS raw delivery leaves it in the queue."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": body.decode("utf-8"),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
                "messageAttributes": {
                    "event": {
                        "stringValue": EVENT_TYPE,
                        "dataType": "String",
                        "stringListValues": [],
                        "binaryListValues": [],
                    }
                },
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }


def proxy_event(path: str, body: bytes) -> dict[str, Any]:
    """An API Gateway REST proxy event as the deployed API sends it (binaryMediaTypes */*: base64)."""
    import base64

    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "x-api-key": "bench"},
        "multiValueHeaders": {"Content-Type": ["application/json"], "x-api-key": ["bench"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "httpMethod": "POST",
            "path": f"/v1{path}",
            "requestId": str(uuid.uuid4()),
            "resourcePath": path,
            "stage": "v1",
            "identity": {"sourceIp": "127.0.0.1", "apiKey": "bench"},
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


# -- AWS call counting -----------------------------------------------------------------------
_KB = 1024
_CHUNK_64K = 64 * 1024


def _ddb_value_size(v: dict[str, Any]) -> int:
    ((kind, val),) = v.items()
    if kind == "S":
        return len(val.encode("utf-8"))
    if kind == "N":
        digits = len(str(val).lstrip("-").replace(".", "").lstrip("0")) or 1
        return 1 + (digits + 1) // 2
    if kind == "B":
        return len(val)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _ddb_value_size(x) + 1 for k, x in val.items())
    if kind == "L":
        return 3 + sum(_ddb_value_size(x) + 1 for x in val)
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(x)) for x in val)
    return 1


def ddb_item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size rule (attribute names + values), close enough to round to 1 KB units."""
    return sum(len(k.encode("utf-8")) + _ddb_value_size(v) for k, v in item.items())


def _gsi_keys_by_table() -> dict[str, list[tuple[str, ...]]]:
    from litestore_webhooks import config

    s = config.settings()
    names = {
        "EndpointsTable": s.endpoints_table,
        "IdempotencyTable": s.idempotency_table,
        "EventsTable": s.events_table,
        "AttemptsTable": s.attempts_table,
    }
    from litestore_webhooks import resources as r

    out: dict[str, list[tuple[str, ...]]] = {}
    for t in r.TABLES:
        out[names[t.construct_id]] = [tuple(filter(None, (ix.partition_key, ix.sort_key))) for ix in t.indexes]
    return out


class CallCounter:
    """Counts every AWS API call on the shared clients (botocore `provide-client-params` hook).

    Also turns each call into billing units: DynamoDB write/read request units (item size in
    1 KB / 4 KB units, +1 write per GSI the item lands in; conditional failures still bill),
    SNS publish requests and SQS requests (64 KB chunks of the payload), and sums the time
    spent in the calls (before-call -> after-call, summed over threads).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tag = "untagged"
        self.calls: Counter[tuple[str, str]] = Counter()
        self.units: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        self.seconds: Counter[str] = Counter()
        self.retry_signals: Counter[str] = Counter()
        self._started = threading.local()
        self._gsis: dict[str, list[tuple[str, ...]]] | None = None
        self._attached: set[int] = set()

    def attach(self) -> None:
        """Hook the process's shared clients (call again after clients.reset())."""
        from litestore_webhooks.aws import clients

        for service in ("dynamodb", "sns", "sqs", "kms"):
            c = clients.client(service)
            if id(c) in self._attached:
                continue
            self._attached.add(id(c))
            c.meta.events.register("provide-client-params.*.*", self._on_params)
            c.meta.events.register("before-call.*.*", self._before)
            c.meta.events.register("after-call.*.*", self._after)
            c.meta.events.register("needs-retry.*.*", self._needs_retry)
        self._gsis = None

    def reset(self, tag: str) -> None:
        with self._lock:
            self.tag = tag

    def _needs_retry(self, response: Any = None, caught_exception: Any = None, operation: Any = None, **_: Any) -> None:
        """Transport errors and 5xx answers that botocore's retry policy may repeat (each repeat bills)."""
        status = response[0].status_code if response else None
        if caught_exception is not None or (status is not None and status >= 500):
            what = type(caught_exception).__name__ if caught_exception is not None else f"HTTP {status}"
            with self._lock:
                self.retry_signals[f"{getattr(operation, 'name', '?')}: {what}"] += 1

    def _before(self, **_: Any) -> None:
        self._started.t = time.perf_counter()

    def _after(self, **_: Any) -> None:
        t = getattr(self._started, "t", None)
        if t is not None:
            with self._lock:
                self.seconds[self.tag] += time.perf_counter() - t

    def _on_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.endpoint_prefix
        op = model.name
        units = self._units(service, op, params)
        with self._lock:
            key = (self.tag, f"{service}:{op}")
            self.calls[key] += 1
            self.units[key].update(units)

    def _gsi_count(self, table: str, item: dict[str, Any]) -> int:
        if self._gsis is None:
            self._gsis = _gsi_keys_by_table()
        return sum(all(k in item for k in keys) for keys in self._gsis.get(table, []))

    def _put_wru(self, table: str, item: dict[str, Any]) -> float:
        return math.ceil(max(1, ddb_item_size(item)) / _KB) * (1 + self._gsi_count(table, item))

    def _units(self, service: str, op: str, p: dict[str, Any]) -> Counter[str]:
        u: Counter[str] = Counter()
        if service == "dynamodb":
            if op == "PutItem":
                u["ddb_wru"] += self._put_wru(p["TableName"], p["Item"])
            elif op in ("UpdateItem", "DeleteItem"):
                u["ddb_wru"] += 1  # items on these paths are < 1 KB and in no GSI
            elif op == "BatchWriteItem":
                for table, reqs in p["RequestItems"].items():
                    for req in reqs:
                        u["ddb_wru"] += self._put_wru(table, req["PutRequest"]["Item"]) if "PutRequest" in req else 1
            elif op == "GetItem":
                u["ddb_rru"] += 1 if p.get("ConsistentRead") else 0.5
            elif op == "BatchGetItem":
                for spec in p["RequestItems"].values():
                    u["ddb_rru"] += len(spec["Keys"]) * (1 if spec.get("ConsistentRead") else 0.5)
        elif service == "sns":
            if op == "Publish":
                u["sns_requests"] += math.ceil(max(1, len(p["Message"].encode())) / _CHUNK_64K)
            elif op == "PublishBatch":
                size = sum(len(e["Message"].encode()) for e in p["PublishBatchRequestEntries"])
                u["sns_requests"] += math.ceil(max(1, size) / _CHUNK_64K)
        elif service == "kms":
            u["kms_requests"] += 1
        elif service == "sqs":
            if op == "SendMessage":
                u["sqs_requests"] += math.ceil(max(1, len(p["MessageBody"].encode())) / _CHUNK_64K)
            elif op == "SendMessageBatch":
                size = sum(len(e["MessageBody"].encode()) for e in p["Entries"])
                u["sqs_requests"] += math.ceil(max(1, size) / _CHUNK_64K)
            else:
                u["sqs_requests"] += 1
        return u

    def table(self, tag: str) -> dict[str, dict[str, float]]:
        """{ "service:Operation": {"calls": n, <unit>: x, ...} } for one tag."""
        with self._lock:
            out: dict[str, dict[str, float]] = {}
            for (t, op), n in sorted(self.calls.items()):
                if t == tag:
                    out[op] = {"calls": n, **dict(self.units[(t, op)])}
            return out


def totals(table: dict[str, dict[str, float]], per: float = 1.0) -> dict[str, float]:
    """Sum of calls and units of a counter table, divided by `per` (e.g. events)."""
    out: Counter[str] = Counter()
    for row in table.values():
        out.update(row)
    return {k: round(v / per, 4) for k, v in sorted(out.items())}


def per_event(table: dict[str, dict[str, float]], events: float) -> dict[str, dict[str, float]]:
    return {op: {k: round(v / events, 4) for k, v in row.items()} for op, row in table.items()}


def moto_stack(prefix: str = "lsw-bench") -> dict[str, str]:
    """Inside mock_aws: the stack-level resources, env and settings set as the handlers read them."""
    from litestore_webhooks import config
    from litestore_webhooks.aws import bootstrap, clients, event_sources
    from litestore_webhooks.local.moto_server import patch_sqs_clock

    patch_sqs_clock()  # the local runtime's pinned fix: moto's SQS "now" costs O(queue depth)
    clients.reset()
    config.settings.cache_clear()
    env = bootstrap.create_stack_resources(prefix)
    os.environ.update(env)
    config.settings.cache_clear()
    event_sources.use(event_sources.LocalEventSources())
    return env


def create_endpoint(url: str, **spec: Any) -> tuple[Any, Any]:
    """An endpoint through the real provisioning path (queue, DLQ, subscription, mapping)."""
    from litestore_webhooks import config
    from litestore_webhooks.provisioning import Provisioner, load_endpoint

    prov = Provisioner(config.settings())
    # Named after its URL: the default name (the host, 127.0.0.1 for every receiver) is taken after the first.
    endpoint = prov.create(prov.parse_spec({"url": url, "events": ["*"], "name": url, **spec}))
    found = load_endpoint(prov.store, endpoint.id)
    assert found is not None
    return found


def lambda_context(fn_suffix: str) -> Any:
    from litestore_webhooks import resources as r
    from litestore_webhooks.local.invoke import LambdaContext

    fn = {f.suffix: f for f in r.FUNCTIONS}[fn_suffix]
    return LambdaContext.for_function(fn, os.environ.get("LSW_PREFIX", r.DEFAULT_PREFIX))
