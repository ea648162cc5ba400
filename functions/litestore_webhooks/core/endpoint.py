"""The endpoint model: what a user submits (EndpointSpec) and what is stored (Endpoint).

Field names are the product document's camelCase, in Python too, so the document's
``webhookConfig`` object and each ``webhooks`` entry load verbatim and there is one name
per concept everywhere. Validation is strict (no "5" for 5, no "true" for true).
"""

from __future__ import annotations

import secrets
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationInfo, field_validator, model_validator

from litestore_webhooks.core import headers as custom_headers
from litestore_webhooks.core.envelope import format_timestamp as utc_iso  # the stored-timestamp format, re-exported
from litestore_webhooks.core.errors import ValidationFailed
from litestore_webhooks.core.event_types.names import WILDCARD, matches, validate_patterns
from litestore_webhooks.core.event_types.system import PREFIX as SYSTEM_PREFIX
from litestore_webhooks.core.event_types.system import is_operational
from litestore_webhooks.core.pacing import MAX_RATE_LIMIT, PACE_WINDOW_S, max_concurrency_for, min_rate_limit
from litestore_webhooks.core.retry import MAX_DELAY_MS
from litestore_webhooks.core.signing import generate_secret, validate_secret
from litestore_webhooks.core.urls import UrlRejected, validate_url

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # lowercase base32: 22 chars = 110 random bits
ENDPOINT_ID_PATTERN = r"^ep_[a-z0-9]{22}$"
_ISO_Z = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
# Stored/already-accepted URLs were checked under the deployment's flag when submitted;
# loading them must not fail if the flag changes. Delivery re-checks at send time.
_STORED = {"allow_insecure": True}


def name_key(name: str) -> str:
    """What makes two endpoint names the same name: case, Unicode compatibility forms and runs of
    white space are not told apart ("Orders", "orders " and "ＯＲＤＥＲＳ" are one name)."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def new_endpoint_id() -> str:
    """``ep_`` + 22 random lowercase base32 characters."""
    return "ep_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """Name the allowed keys: a typo such as ``retry_policy`` must not be silently ignored."""
        if isinstance(data, dict):
            unknown = [key for key in data if key not in cls.model_fields]
            if unknown:
                names = ", ".join(map(repr, unknown))
                raise ValueError(f"unknown field(s) {names}; allowed: {', '.join(cls.model_fields)}")
        return data


class RetryPolicy(_Model):
    """Exponential backoff; delays in milliseconds. maxDelay defaults to max(30000, initialDelay)."""

    maxAttempts: int = Field(5, ge=1, le=20)
    backoffMultiplier: float = Field(2.0, ge=1, le=10)
    initialDelay: int = Field(1000, ge=0, le=MAX_DELAY_MS)
    maxDelay: int = Field(30000, ge=0, le=MAX_DELAY_MS)

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> RetryPolicy:
        if self.maxDelay < self.initialDelay:
            if "maxDelay" in self.model_fields_set:
                raise ValueError(f"maxDelay ({self.maxDelay}) must be >= initialDelay ({self.initialDelay})")
            self.maxDelay = self.initialDelay
        return self


class _Configured(_Model):
    """What an operator configures, shared by the submitted spec and the stored endpoint; never a secret."""

    name: str = Field("", min_length=1, max_length=100)  # "" only as default: replaced by the URL's host
    url: str
    events: list[str]
    active: bool = True
    retryPolicy: RetryPolicy = Field(default_factory=RetryPolicy)
    description: str | None = Field(None, max_length=500)
    timeout: int = Field(10000, ge=1, le=30000)  # ms
    maxConcurrency: int = Field(10, ge=2, le=1000)  # Lambda SQS event-source maximum concurrency bounds
    rateLimit: float | None = Field(None, gt=0, le=MAX_RATE_LIMIT)  # events per second (core/pacing.py)
    headers: dict[str, str] = Field(default_factory=dict)  # custom headers sent with every delivery, shown as is

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, value: dict[str, str]) -> dict[str, str]:
        _raise_header_problems(value, sensitive=False)
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        context = info.context or {}
        try:
            return validate_url(value, allow_insecure=bool(context.get("allow_insecure")))
        except UrlRejected as exc:
            hint = context.get("insecure_hint")  # said only where the insecure rules would admit it
            if hint and _admitted_when_insecure(value):
                raise UrlRejected(exc.reason, f"{exc} {hint}") from None
            raise

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Checked against the stored catalog the context carries ("catalog": a CatalogSnapshot); a
        stored endpoint, or a file read by the CLI before the API checks it, is only held non-empty."""
        catalog = (info.context or {}).get("catalog")
        try:
            if catalog is not None:
                validate_patterns(value, catalog.names, catalog.deprecated)
            elif not value:
                raise ValidationFailed([{"path": "events", "message": 'must list at least one event type or "*"'}])
        except ValidationFailed as exc:
            raise ValueError(exc.message) from None
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _default_name(self) -> Self:
        if not self.name:
            self.name = urlsplit(self.url).hostname or self.url
        return self

    @model_validator(mode="after")
    def _paceable(self) -> Self:
        if self.rateLimit is not None and self.rateLimit < min_rate_limit(self.maxConcurrency):
            raise ValueError(
                f"rateLimit {self.rateLimit:g}/s with maxConcurrency {self.maxConcurrency} gives each concurrent "
                f"delivery one event every {self.maxConcurrency / self.rateLimit:g} s, more than the "
                f"{PACE_WINDOW_S:g} s one delivery may pace: raise rateLimit to at least "
                f"{min_rate_limit(self.maxConcurrency):g} or lower maxConcurrency to at most "
                f"{max(2, max_concurrency_for(self.rateLimit))}"
                + (
                    ""
                    if max_concurrency_for(self.rateLimit) >= 2
                    else f" (and rateLimit to at least {min_rate_limit(2):g}, the lowest maxConcurrency being 2)"
                )
            )
        return self

    @model_validator(mode="after")
    def _headers_together(self) -> Self:
        problems = custom_headers.check_together(
            self.headers, self._sensitive_header_values(), sizes=self._header_sizes_checked()
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _sensitive_header_values(self) -> dict[str, str]:
        return {}

    def _header_sizes_checked(self) -> bool:
        return True


class EndpointSpec(_Configured):
    """An endpoint as submitted, its secret included. Pass ``context={"allow_insecure": True}`` to accept local-dev URLs."""

    secret: str = Field(default_factory=generate_secret, repr=False)
    # Sent with every delivery like `headers`, kept sealed with the secret, listed as REDACTED.
    sensitiveHeaders: dict[str, str] = Field(default_factory=dict, repr=False)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        validate_secret(value)
        return value

    @field_validator("sensitiveHeaders")
    @classmethod
    def _sensitive_headers(cls, value: dict[str, str]) -> dict[str, str]:
        _raise_header_problems(value, sensitive=True)
        return value

    def _sensitive_header_values(self) -> dict[str, str]:
        return self.sensitiveHeaders


class PreviousSecret(_Model):
    """A rotated-out secret still signed with until ``expiresAt``, so receivers can switch over."""

    secret: str = Field(repr=False)
    expiresAt: str = Field(pattern=_ISO_Z)


class SigningSecrets(_Model):
    """An endpoint's secrets: the current one and rotated-out ones still inside their overlap.

    A record of its own, not part of Endpoint: listings, PATCH, pause and the attempt log never
    hold a secret, and the store keeps these only sealed (aws/kms.py).
    """

    secret: str = Field(repr=False)
    previousSecrets: list[PreviousSecret] = Field(default_factory=list, repr=False)
    sensitiveHeaders: dict[str, str] = Field(default_factory=dict, repr=False)  # their real values

    def unexpired(self, now: datetime) -> list[PreviousSecret]:
        return [p for p in self.previousSecrets if datetime.fromisoformat(p.expiresAt) > now]

    def signing(self, now: datetime) -> list[str]:
        """Secrets to sign with: the current one first, then previous ones not yet expired."""
        return [self.secret] + [p.secret for p in self.unexpired(now)]


class Endpoint(_Configured):
    """A stored endpoint: the configuration plus identity, timestamps and health state (its secrets: SigningSecrets)."""

    id: str = Field(default_factory=new_endpoint_id, pattern=ENDPOINT_ID_PATTERN)
    createdAt: str = Field(pattern=_ISO_Z)
    updatedAt: str = Field(pattern=_ISO_Z)
    pausedReason: Literal["manual", "auto_disabled", "gone"] | None = None
    failingSince: str | None = Field(None, pattern=_ISO_Z)
    consecutiveFailures: int = Field(0, ge=0)
    # The names of the sensitive headers, each valued REDACTED: their values are in SigningSecrets.headers.
    sensitiveHeaders: dict[str, str] = Field(default_factory=dict)

    @field_validator("sensitiveHeaders")
    @classmethod
    def _redacted(cls, value: dict[str, str]) -> dict[str, str]:
        if any(v != custom_headers.REDACTED for v in value.values()):
            raise ValueError(f"a stored endpoint holds sensitive header values as {custom_headers.REDACTED!r} only")
        _raise_header_problems(dict.fromkeys(value, "x"), sensitive=True)
        return value

    def _sensitive_header_values(self) -> dict[str, str]:
        return self.sensitiveHeaders

    def _header_sizes_checked(self) -> bool:
        return False  # REDACTED stands in for the values: sizes were checked when they were submitted

    @classmethod
    def from_spec(cls, spec: EndpointSpec, *, now: datetime | None = None) -> Endpoint:
        """A new endpoint (fresh id, createdAt = updatedAt = now) for an already-validated spec; its secret
        and its sensitive header values stay in the spec."""
        stamp = utc_iso(now or datetime.now(UTC))
        fields = spec.model_dump(exclude={"secret", "sensitiveHeaders"})
        return cls.model_validate(
            {
                **fields,
                "createdAt": stamp,
                "updatedAt": stamp,
                "sensitiveHeaders": custom_headers.redacted(spec.sensitiveHeaders),
            },
            context=_STORED,
        )

    def public_dict(self) -> dict[str, Any]:
        """camelCase JSON for API responses and listings."""
        return self.model_dump(mode="json")

    def to_item(self) -> dict[str, Any]:
        """Plain dict for DynamoDB: no floats (backoffMultiplier is stored as its repr string), no None."""
        item = self.model_dump(exclude_none=True)
        item["retryPolicy"]["backoffMultiplier"] = repr(self.retryPolicy.backoffMultiplier)
        if self.rateLimit is not None:
            item["rateLimit"] = repr(self.rateLimit)
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Endpoint:
        """Inverse of ``to_item``; accepts boto3's Decimals and ignores storage-only keys (pk, GSI attributes, secrets)."""
        data = {key: _plain(value) for key, value in item.items() if key in cls.model_fields}
        policy = data["retryPolicy"]
        data["retryPolicy"] = {**policy, "backoffMultiplier": float(policy["backoffMultiplier"])}
        if data.get("rateLimit") is not None:
            data["rateLimit"] = float(data["rateLimit"])
        return cls.model_validate(data, context=_STORED)


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; strict models want int."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_plain(inner) for inner in value]
    return value


_SPECS = TypeAdapter(list[EndpointSpec])


def _raise_header_problems(headers: dict[str, str], *, sensitive: bool) -> None:
    problems = custom_headers.map_problems(headers, sensitive=sensitive)
    if problems:
        raise ValueError("; ".join(problems))


def _admitted_when_insecure(url: str) -> bool:
    try:
        validate_url(url, allow_insecure=True)
    except UrlRejected:
        return False
    return True


def parse_endpoint_configs(doc: Any, *, allow_insecure: bool = False) -> list[EndpointSpec]:
    """Endpoints from a config document: one object (``webhookConfig``), a list (``webhooks``) or {"webhooks": [...]}.

    Raises pydantic.ValidationError; for lists each error's location starts with the item index.
    """
    context = {"allow_insecure": allow_insecure}
    if isinstance(doc, dict) and set(doc) == {"webhooks"}:
        doc = doc["webhooks"]
    if isinstance(doc, dict):
        return [EndpointSpec.model_validate(doc, context=context)]
    return _SPECS.validate_python(doc, context=context)


def filter_policy(events: list[str]) -> dict[str, Any]:
    """SNS subscription filter policy on the ``event`` message attribute. "*" is every type but the
    operational ones (``webhooks.*``), which are subscribed to by name."""
    patterns = [p for p in dict.fromkeys(events) if p != WILDCARD]
    if WILDCARD in events:  # the others but the operational ones add nothing to "*"
        patterns = [p for p in patterns if is_operational(p)]
    rules: list[Any] = [{"prefix": p[:-1]} if p.endswith(".*") else p for p in patterns]
    if WILDCARD in events:
        rules.insert(0, {"anything-but": {"prefix": SYSTEM_PREFIX}})
    return {"event": rules}


def subscribes(endpoint_events: list[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``endpoint_events`` receives ``event_type`` (same rule as the filter)."""
    return any(matches(pattern, event_type) for pattern in endpoint_events)
