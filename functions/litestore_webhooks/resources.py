"""Stack-level resources, defined once.

The CDK stack (`infra/`) and the local runtime (`litestore_webhooks.local`) both build
their tables, topic, functions and queue settings from these definitions, so a local run
and a deployed stack cannot drift apart (a test compares this module with the synthesized
template). Pure data: no AWS SDK import.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_PREFIX = "litestore-webhooks"
METRICS_NAMESPACE = "LitestoreWebhooks"
ENDPOINT_ID_PREFIX = "ep_"
ENDPOINT_ID_LENGTH = 25  # "ep_" + 22 characters (core.endpoint.new_endpoint_id)

# SNS caps a message at 256 KiB (262,144 bytes) including message attributes. We keep
# 1 KiB for our attributes, so the canonical envelope may be at most this many bytes.
SNS_MAX_MESSAGE_BYTES = 262_144
ATTRIBUTE_RESERVE_BYTES = 1_024
MAX_EVENT_BYTES = SNS_MAX_MESSAGE_BYTES - ATTRIBUTE_RESERVE_BYTES  # 261,120
MAX_BATCH_EVENTS = 100
# A batch body must reach the function: API Gateway passes it base64-encoded (binaryMediaTypes
# */*) inside the proxy event, and Lambda refuses a synchronous request over 6 MiB before our
# handler runs, with the gateway's error, not ours. 64 KiB is left for the event's other fields.
LAMBDA_SYNC_REQUEST_BYTES = 6 * 1024 * 1024
PROXY_EVENT_RESERVE_BYTES = 64 * 1024
MAX_BATCH_BODY_BYTES = (LAMBDA_SYNC_REQUEST_BYTES - PROXY_EVENT_RESERVE_BYTES) * 3 // 4  # 4,669,440

# API routes as (resource path, method), served by API Gateway (infra/api.py) and by the local
# runtime's emulator (local/apigw.py). Admin routes: IAM when deployed, bearer token locally.
ADMIN_ROUTES: tuple[tuple[str, str], ...] = (
    ("/endpoints", "ANY"),
    ("/endpoints/{proxy+}", "ANY"),
    ("/events/{id}", "GET"),
    ("/events/{id}/{proxy+}", "ANY"),
    ("/event-types", "ANY"),
    ("/event-types/{proxy+}", "ANY"),
    ("/dead-letters", "ANY"),
    ("/dead-letters/{proxy+}", "ANY"),
    ("/stats", "GET"),
    ("/portal/sessions", "POST"),
    ("/portal/key/rotate", "POST"),
)
# Ingest routes: API key required.
INGEST_ROUTES: tuple[tuple[str, str], ...] = (("/events", "POST"), ("/events/batch", "POST"))
# Public routes, no authentication anywhere: the API's own description and the console's static
# files. They disclose nothing secret (docs/architecture.md, "Who may call what").
PUBLIC_ROUTES: tuple[tuple[str, str], ...] = (
    ("/openapi.json", "GET"),
    ("/docs", "GET"),
    ("/docs/{asset}", "GET"),
    ("/console", "GET"),
    ("/console/assets/{proxy+}", "GET"),
)
# Console routes: a console session token (portal link), checked by the console authorizer at the
# gateway on every call; the admin function then holds the session to its scope. /console/api/...
# is the admin API itself (the same routes, e.g. /console/api/endpoints), mounted for sessions.
CONSOLE_API_PREFIX = "/console/api"
CONSOLE_ROUTES: tuple[tuple[str, str], ...] = (("/console/session", "ANY"), (f"{CONSOLE_API_PREFIX}/{{proxy+}}", "ANY"))
# The Secrets Manager secret whose value signs console session tokens (rotating it revokes them all).
CONSOLE_KEY_ENV = "LSW_CONSOLE_KEY_SECRET"


def console_key_secret_name(prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/console-session-key"


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str | None = None


@dataclass(frozen=True)
class Table:
    """A DynamoDB table: on-demand, string keys, optional TTL and GSIs (all projected)."""

    construct_id: str
    suffix: str
    env_var: str
    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None
    point_in_time_recovery: bool = False
    retain_by_default: bool = False
    indexes: tuple[Index, ...] = ()

    def name(self, prefix: str = DEFAULT_PREFIX) -> str:
        return f"{prefix}-{self.suffix}"


ENDPOINTS_TABLE = Table(
    construct_id="EndpointsTable",
    suffix="endpoints",
    env_var="LSW_ENDPOINTS_TABLE",
    partition_key="id",
    point_in_time_recovery=True,
    retain_by_default=True,
)
# Ingest idempotency keys ("evt#<id>") and per-endpoint delivered markers
# ("dlv#<endpoint id>#<event id>") share one TTL'd key table.
IDEMPOTENCY_TABLE = Table(
    construct_id="IdempotencyTable",
    suffix="idempotency",
    env_var="LSW_IDEMPOTENCY_TABLE",
    partition_key="key",
    ttl_attribute="expiresAt",
)
# Stored events for replay. byDay ("<UTC day>#<shard>", receivedKey) lets replay read a time
# range without a scan; the shards (store.DAY_SHARDS) keep one day off a single hot partition.
EVENTS_TABLE = Table(
    construct_id="EventsTable",
    suffix="events",
    env_var="LSW_EVENTS_TABLE",
    partition_key="id",
    ttl_attribute="expiresAt",
    indexes=(Index("byDay", "day", "receivedKey"),),
)
# Attempt log: per endpoint in time order; byEvent answers "what happened to event X".
ATTEMPTS_TABLE = Table(
    construct_id="AttemptsTable",
    suffix="attempts",
    env_var="LSW_ATTEMPTS_TABLE",
    partition_key="endpointId",
    sort_key="attemptKey",
    ttl_attribute="expiresAt",
    indexes=(Index("byEvent", "eventId", "attemptKey"),),
)
# The event-type catalog (aws/catalog.py): the operator's own data, kept like endpoints. One
# partition holds the current types ("types", <name>), so ingest reads the whole catalog with one
# Query; each type's schema history lives in its own ("versions#<name>", "v#<n>"); deleted seeded
# names keep a tombstone ("tombstones", <name>); and one small stamp item ("stamp", "stamp"),
# rewritten by every catalog write, is what ingest reads per request to see a change.
EVENT_TYPES_TABLE = Table(
    construct_id="EventTypesTable",
    suffix="event-types",
    env_var="LSW_EVENT_TYPES_TABLE",
    partition_key="pk",
    sort_key="sk",
    point_in_time_recovery=True,
    retain_by_default=True,
)
TABLES: tuple[Table, ...] = (ENDPOINTS_TABLE, IDEMPOTENCY_TABLE, EVENTS_TABLE, ATTEMPTS_TABLE, EVENT_TYPES_TABLE)
# Ingest's answer to an event type the catalog lacks: refuse (the default), or accept it as an
# `accept`-mode type created on first sight (stack context acceptUnknownEventTypes; local runtime
# --accept-unknown-event-types).
ACCEPT_UNKNOWN_ENV = "LSW_ACCEPT_UNKNOWN_EVENT_TYPES"


@dataclass(frozen=True)
class Function:
    construct_id: str
    suffix: str
    handler: str
    memory_mb: int
    timeout_s: int
    description: str

    def name(self, prefix: str = DEFAULT_PREFIX) -> str:
        return f"{prefix}-{self.suffix}"


# API Gateway integrations time out at 29 s, so API-facing functions stay under it.
INGEST_FUNCTION = Function(
    "IngestFunction",
    "ingest",
    "litestore_webhooks.handlers.ingest.handler",
    512,
    28,
    "Validates, stores and publishes store events",
)
ADMIN_FUNCTION = Function(
    "AdminFunction",
    "admin",
    "litestore_webhooks.handlers.admin.handler",
    512,
    28,
    "Admin API: endpoints, attempts, dead letters, replay",
)
# One attempt per record, all records of a batch in parallel: the longest endpoint
# timeout (30 s) plus bookkeeping must fit with margin.
DELIVERY_FUNCTION = Function(
    "DeliveryFunction",
    "delivery",
    "litestore_webhooks.handlers.delivery.handler",
    1024,
    60,
    "Signs and POSTs events to one endpoint's URL; retries via SQS delays",
)
# API Gateway REQUEST authorizer of the console routes: verifies a session token, nothing else.
# A short suffix: "<prefix>-<suffix>" must fit Lambda's 64 characters for the longest prefix.
CONSOLE_AUTHORIZER_FUNCTION = Function(
    "ConsoleAuthorizerFunction",
    "console-auth",
    "litestore_webhooks.handlers.console_authorizer.handler",
    256,
    10,
    "Console routes: admits valid console session tokens (signature, expiry, kind)",
)
FUNCTIONS: tuple[Function, ...] = (INGEST_FUNCTION, DELIVERY_FUNCTION, ADMIN_FUNCTION, CONSOLE_AUTHORIZER_FUNCTION)
MAX_ENDPOINT_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class QueueSettings:
    visibility_timeout_s: int
    retention_s: int
    receive_wait_s: int = 20
    max_receive_count: int | None = None  # redrive safety net for poison messages


FOURTEEN_DAYS_S = 14 * 24 * 3600
# AWS advises a source-queue visibility timeout of at least 6x the function timeout.
ENDPOINT_QUEUE = QueueSettings(
    visibility_timeout_s=6 * DELIVERY_FUNCTION.timeout_s,
    retention_s=FOURTEEN_DAYS_S,
    max_receive_count=10,
)
DEAD_LETTER_QUEUE = QueueSettings(visibility_timeout_s=30, retention_s=FOURTEEN_DAYS_S)


@dataclass(frozen=True)
class EventSourceSettings:
    batch_size: int = 10
    max_batching_window_s: int = 0
    report_batch_item_failures: bool = True


EVENT_SOURCE = EventSourceSettings()


# Endpoint signing secrets are sealed with data keys of this KMS key (aws/kms.py). Every data
# key's encryption context is {SECRETS_CONTEXT_KEY: <endpoint id>}; the key policy requires it.
SECRETS_KEY_ENV = "LSW_SECRETS_KEY_ARN"
SECRETS_CONTEXT_KEY = "endpointId"


def secrets_key_alias(prefix: str = DEFAULT_PREFIX) -> str:
    return f"alias/{prefix}-secrets"


def topic_name(prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}-events"


def alarm_topic_name(prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}-alarms"


def endpoint_queue_name(prefix: str, endpoint_id: str) -> str:
    return f"{prefix}-{endpoint_id}"


def dead_letter_queue_name(prefix: str, endpoint_id: str) -> str:
    return f"{prefix}-{endpoint_id}-dlq"


def endpoint_queue_pattern(prefix: str) -> str:
    """Name pattern matching every per-endpoint queue and DLQ (for IAM and dashboards)."""
    return f"{prefix}-{ENDPOINT_ID_PREFIX}*"


def dead_letter_queue_pattern(prefix: str) -> str:
    """Name pattern matching every endpoint's DLQ (and only those: IAM grants for browsing them)."""
    return f"{prefix}-{ENDPOINT_ID_PREFIX}*-dlq"


# -- names made from the prefix ----------------------------------------------------------
PREFIX_CHARACTERS = "ASCII letters, digits and hyphens"  # what every name below accepts


@dataclass(frozen=True)
class DerivedName:
    """A name made from the prefix, with its service's length limit and characters."""

    what: str  # "an endpoint's dead-letter queue"
    service: str  # "SQS queue"
    name: str
    max_length: int
    allowed: str  # the service's characters, as a regex character class body

    def problem(self) -> str | None:
        if len(self.name) > self.max_length:
            return (
                f"{self.what} would be named {self.name!r}: {len(self.name)} characters, "
                f"and {self.service} names have at most {self.max_length}"
            )
        bad = "".join(sorted(set(re.sub(f"[{self.allowed}]", "", self.name))))
        if bad:
            return f"{self.what} would be named {self.name!r}, and {self.service} names may not contain {bad!r}"
        return None


_NAME = "A-Za-z0-9_-"  # Lambda function, SNS topic and SQS queue names


def derived_names(prefix: str) -> tuple[DerivedName, ...]:
    """Every name the stack and the admin function make from the prefix (queues with the
    longest endpoint id), each with its service's documented limit."""
    longest_id = ENDPOINT_ID_PREFIX + "x" * (ENDPOINT_ID_LENGTH - len(ENDPOINT_ID_PREFIX))
    return (
        *(DerivedName(f"the {t.suffix} table", "DynamoDB table", t.name(prefix), 255, "A-Za-z0-9_.-") for t in TABLES),
        *(DerivedName(f"the {f.suffix} function", "Lambda function", f.name(prefix), 64, _NAME) for f in FUNCTIONS),
        *(
            DerivedName(
                f"the {f.suffix} function's log group",
                "CloudWatch Logs log group",
                f"/aws/lambda/{f.name(prefix)}",
                512,
                "A-Za-z0-9_./#-",
            )
            for f in FUNCTIONS
        ),
        DerivedName("the event topic", "SNS topic", topic_name(prefix), 256, _NAME),
        DerivedName("the alarm topic", "SNS topic", alarm_topic_name(prefix), 256, _NAME),
        DerivedName("an endpoint's queue", "SQS queue", endpoint_queue_name(prefix, longest_id), 80, _NAME),
        DerivedName(
            "an endpoint's dead-letter queue", "SQS queue", dead_letter_queue_name(prefix, longest_id), 80, _NAME
        ),
    )


NameList = Callable[[str], tuple[DerivedName, ...]]


def max_prefix_length(names: NameList = derived_names) -> int:
    """The longest prefix every derived name has room for (each holds the prefix once)."""
    return min(n.max_length - len(n.name) for n in names(""))


def check_prefix(prefix: str, names: NameList = derived_names) -> None:
    """Raise ValueError naming the limit and the name that breaks it, before anything is deployed."""
    if not prefix:
        raise ValueError("prefix must not be empty")
    derived = names(prefix)
    too_long = [n for n in derived if len(n.name) > n.max_length]
    if too_long:
        worst = max(too_long, key=lambda n: len(n.name) - n.max_length)
        raise ValueError(
            f"prefix {prefix!r} is {len(prefix)} characters, at most {max_prefix_length(names)} fit: {worst.problem()}"
        )
    for n in derived:
        problem = n.problem()
        if problem:
            raise ValueError(f"prefix {prefix!r} may have only {PREFIX_CHARACTERS}: {problem}")
