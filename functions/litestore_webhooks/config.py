"""Runtime settings, read once from the environment.

The CDK stack sets these variables on each function; the local runtime sets the same ones
before it calls the handlers. Nothing else in the package reads `os.environ` for settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from litestore_webhooks import resources as r


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class Settings:
    prefix: str
    topic_arn: str
    endpoints_table: str
    idempotency_table: str
    events_table: str
    attempts_table: str
    delivery_function: str  # name or ARN the event source mappings point at
    event_types_table: str = ""  # the catalog (aws/catalog.py)
    accept_unknown_event_types: bool = False  # ingest creates unknown types in accept mode (resources.py)
    secrets_key_arn: str = ""  # the KMS key that seals endpoint secrets (aws/kms.py)
    idempotency_window_s: int = 24 * 3600
    event_retention_days: int = 30
    attempt_retention_days: int = 30
    auto_pause_after_s: int = 5 * 24 * 3600
    auto_pause_min_failures: int = 10
    # Local runtime only: permits http:// and loopback endpoint URLs. The CDK stack
    # never sets it, and the deployed functions refuse to start with it (see below).
    allow_insecure: bool = False
    ca_bundle: str | None = None  # extra CA file the delivery client trusts (local runtime)
    console_key_secret: str = ""  # Secrets Manager secret (ARN or name) signing console sessions
    local_runtime: bool = False  # `litestore-webhooks local`: errors may name its flags

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        prefix = env.get("LSW_PREFIX", r.DEFAULT_PREFIX)
        allow_insecure = _flag("LSW_ALLOW_INSECURE")
        if allow_insecure and env.get("AWS_LAMBDA_FUNCTION_NAME") and not env.get("LSW_LOCAL_RUNTIME"):
            raise RuntimeError("LSW_ALLOW_INSECURE is for the local runtime only")
        return cls(
            prefix=prefix,
            topic_arn=env.get("LSW_TOPIC_ARN", ""),
            endpoints_table=env.get(r.ENDPOINTS_TABLE.env_var, r.ENDPOINTS_TABLE.name(prefix)),
            idempotency_table=env.get(r.IDEMPOTENCY_TABLE.env_var, r.IDEMPOTENCY_TABLE.name(prefix)),
            events_table=env.get(r.EVENTS_TABLE.env_var, r.EVENTS_TABLE.name(prefix)),
            attempts_table=env.get(r.ATTEMPTS_TABLE.env_var, r.ATTEMPTS_TABLE.name(prefix)),
            delivery_function=env.get("LSW_DELIVERY_FUNCTION", r.DELIVERY_FUNCTION.name(prefix)),
            event_types_table=env.get(r.EVENT_TYPES_TABLE.env_var, r.EVENT_TYPES_TABLE.name(prefix)),
            accept_unknown_event_types=_flag(r.ACCEPT_UNKNOWN_ENV),
            secrets_key_arn=env.get(r.SECRETS_KEY_ENV, ""),
            idempotency_window_s=int(env.get("LSW_IDEMPOTENCY_WINDOW_S", 24 * 3600)),
            event_retention_days=int(env.get("LSW_EVENT_RETENTION_DAYS", 30)),
            attempt_retention_days=int(env.get("LSW_ATTEMPT_RETENTION_DAYS", 30)),
            auto_pause_after_s=int(env.get("LSW_AUTO_PAUSE_AFTER_S", 5 * 24 * 3600)),
            auto_pause_min_failures=int(env.get("LSW_AUTO_PAUSE_MIN_FAILURES", 10)),
            allow_insecure=allow_insecure,
            ca_bundle=env.get("LSW_CA_BUNDLE") or None,
            console_key_secret=env.get(r.CONSOLE_KEY_ENV, ""),
            local_runtime=_flag("LSW_LOCAL_RUNTIME"),
        )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Settings for this process; tests and the local runtime call `settings.cache_clear()`."""
    return Settings.from_env()
