"""Stack settings read from CDK context (`cdk.json` defaults, `-c key=value` overrides)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_logs as logs
from constructs import Node

from litestore_webhooks import resources as r

# CloudWatch Logs accepts only these retention periods (days).
_RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS, 150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS, 545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS, 1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS, 2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS, 2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS, 3653: logs.RetentionDays.TEN_YEARS,
}
LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes"}


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
    def from_context(cls, node: Node) -> "StackSettings":
        def get(key: str, default: object) -> object:
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
        )
        if settings.log_level not in LOG_LEVELS:
            raise ValueError(f"context logLevel must be one of {sorted(LOG_LEVELS)}")
        if settings.log_retention_days not in _RETENTION:
            raise ValueError(f"context logRetentionDays must be one of {sorted(_RETENTION)}")
        return settings


def stack_name(prefix: str) -> str:
    """`LitestoreWebhooks` for the default prefix, `LitestoreWebhooks-<prefix>` otherwise."""
    return "LitestoreWebhooks" if prefix == r.DEFAULT_PREFIX else f"LitestoreWebhooks-{prefix}"


def derived_names(prefix: str) -> tuple[r.DerivedName, ...]:
    """What resources.derived_names lists, plus the stack's own name (the dashboard takes it too)."""
    stack = r.DerivedName("the stack", "CloudFormation stack", stack_name(prefix), 128, "A-Za-z0-9-")
    return (*r.derived_names(prefix), stack)


def cdk_json_context(root: "str | None" = None) -> dict:
    """The `context` block of cdk.json (feature flags + defaults), for runs without the CDK CLI.

    `python app.py` and the tests build `App(context=...)` from it; when the CLI runs the app
    its own context (cdk.json, cdk.context.json, -c) arrives via CDK_CONTEXT_JSON and wins.
    """
    import json
    from pathlib import Path

    path = Path(root) if root else Path(__file__).resolve().parent.parent
    return json.loads((path / "cdk.json").read_text())["context"]
