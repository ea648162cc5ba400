"""Stack settings read from CDK context (`cdk.json` defaults, `-c key=value` overrides)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_logs as logs
from constructs import Node

from litestore_webhooks import resources as r
from litestore_webhooks.core.endpoint import EndpointSpec

# CloudWatch Logs accepts only these retention periods (days).
_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}
LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
# One endpoint's event source mapping runs up to its maxConcurrency (default 10) batches at once:
# a delivery reserve below that would throttle a single busy endpoint (docs/deploy.md).
_ENDPOINT_MAX_CONCURRENCY = EndpointSpec.model_fields["maxConcurrency"].default


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes"}


def _reserved(key: str, value: object) -> int:
    """A reserved-concurrency context value: a whole number, 0 meaning no reservation."""
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()):
        raise ValueError(
            f"context {key} must be a whole number of concurrent executions, 0 for no reservation (got {value!r})"
        )
    return int(text)


def _zones(value: object) -> int:
    """How many availability zones (so NAT gateways and Elastic IPs) static egress uses: 1 or 2
    (the stack is environment-agnostic, and CDK knows two zones of such a stack)."""
    text = str(value).strip()
    if isinstance(value, bool) or text not in {"1", "2"}:
        raise ValueError(
            f"context staticEgressZones must be 1 or 2: one NAT gateway and Elastic IP per zone; "
            f"2 keeps delivery going when a zone fails (got {value!r})"
        )
    return int(text)


@dataclass(frozen=True)
class StackSettings:
    prefix: str = r.DEFAULT_PREFIX
    stage_name: str = "v1"
    throttle_rate_limit: float = 100
    throttle_burst_limit: int = 200
    log_level: str = "INFO"
    alarm_email: str | None = None
    destroy_data: bool = False
    log_retention_days: int = 30
    # Lambda reserved concurrency (0 = none, the default: a new account may not have the 100
    # unreserved executions above its reservations that Lambda requires; docs/deploy.md).
    ingest_reserved_concurrency: int = 0
    delivery_reserved_concurrency: int = 0
    # Static egress IPs: delivery in a VPC whose NAT gateways (one per zone) have Elastic IPs
    # (infra/egress.py; costs in docs/deploy.md). Off by default.
    static_egress_ips: bool = False
    static_egress_zones: int = 2
    # Ingest accepts an event type the catalog lacks, creating it in accept mode (docs/catalog.md).
    accept_unknown_event_types: bool = False

    def reserved_concurrency(self, function: r.Function) -> int | None:
        """The reservation for one of the stack's functions; None leaves it in the unreserved pool."""
        reserved = {
            r.INGEST_FUNCTION: self.ingest_reserved_concurrency,
            r.DELIVERY_FUNCTION: self.delivery_reserved_concurrency,
        }.get(function, 0)
        return reserved or None

    def __post_init__(self) -> None:
        # Here, not in from_context: a stack built from settings in code is checked too.
        try:
            r.check_prefix(self.prefix, derived_names)
        except ValueError as exc:
            raise ValueError(f"context {exc}") from None

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION[self.log_retention_days]

    @classmethod
    def from_context(cls, node: Node) -> StackSettings:
        def get(key: str, default: Any) -> Any:
            value = node.try_get_context(key)
            return default if value is None or value == "" else value

        settings = cls(
            prefix=str(get("prefix", r.DEFAULT_PREFIX)),
            stage_name=str(get("stageName", "v1")),
            throttle_rate_limit=float(get("throttleRateLimit", 100)),
            throttle_burst_limit=int(get("throttleBurstLimit", 200)),
            log_level=str(get("logLevel", "INFO")).upper(),
            alarm_email=(str(get("alarmEmail", "")) or None),
            destroy_data=_bool(get("destroyData", False)),
            log_retention_days=int(get("logRetentionDays", 30)),
            ingest_reserved_concurrency=_reserved("ingestReservedConcurrency", get("ingestReservedConcurrency", 0)),
            delivery_reserved_concurrency=_reserved(
                "deliveryReservedConcurrency", get("deliveryReservedConcurrency", 0)
            ),
            static_egress_ips=_bool(get("staticEgressIps", False)),
            static_egress_zones=_zones(get("staticEgressZones", 2)),
            accept_unknown_event_types=_bool(get("acceptUnknownEventTypes", False)),
        )
        if settings.log_level not in LOG_LEVELS:
            raise ValueError(f"context logLevel must be one of {sorted(LOG_LEVELS)}")
        if settings.log_retention_days not in _RETENTION:
            raise ValueError(f"context logRetentionDays must be one of {sorted(_RETENTION)}")
        if 0 < settings.delivery_reserved_concurrency < _ENDPOINT_MAX_CONCURRENCY:
            raise ValueError(
                f"context deliveryReservedConcurrency {settings.delivery_reserved_concurrency} is below one endpoint's "
                f"default maxConcurrency ({_ENDPOINT_MAX_CONCURRENCY}): its event source mapping would be throttled and "
                "its messages dead-lettered without an attempt. Use 0 (no reservation) or at least the sum of your "
                "endpoints' maxConcurrency"
            )
        return settings


def stack_name(prefix: str) -> str:
    """`LitestoreWebhooks` for the default prefix, `LitestoreWebhooks-<prefix>` otherwise."""
    return "LitestoreWebhooks" if prefix == r.DEFAULT_PREFIX else f"LitestoreWebhooks-{prefix}"


def derived_names(prefix: str) -> tuple[r.DerivedName, ...]:
    """What resources.derived_names lists, plus the stack's own name (the dashboard takes it too)."""
    stack = r.DerivedName("the stack", "CloudFormation stack", stack_name(prefix), 128, "A-Za-z0-9-")
    return (*r.derived_names(prefix), stack)


def cdk_json_context(root: str | None = None) -> dict:
    """The `context` block of cdk.json (feature flags + defaults), for runs without the CDK CLI.

    `python app.py` and the tests build `App(context=...)` from it; when the CLI runs the app
    its own context (cdk.json, cdk.context.json, -c) arrives via CDK_CONTEXT_JSON and wins.
    """
    import json
    from pathlib import Path

    path = Path(root) if root else Path(__file__).resolve().parent.parent
    return json.loads((path / "cdk.json").read_text())["context"]
