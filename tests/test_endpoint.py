"""Endpoint model: the document's configs load verbatim, defaults, bounds, secrets, storage, filters."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

import seed_catalog as catalog
from litestore_webhooks.core.endpoint import (
    Endpoint,
    EndpointSpec,
    PreviousSecret,
    RetryPolicy,
    SigningSecrets,
    filter_policy,
    new_endpoint_id,
    parse_endpoint_configs,
    subscribes,
    utc_iso,
)

# Verbatim from the product document.
WEBHOOK_CONFIG = {
    "url": "https://your-app.com/webhooks/litestore",
    "secret": "your-webhook-secret",
    "events": ["content.submitted", "content.approved", "review.created", "product.purchased", "commission.earned"],
    "active": True,
    "retryPolicy": {"maxAttempts": 5, "backoffMultiplier": 2, "initialDelay": 1000},
}
WEBHOOKS = [
    {
        "name": "Order Processing",
        "url": "https://api.order-processor.com/webhooks",
        "events": ["product.purchased", "order.updated"],
        "secret": "order-secret-123",
    },
    {
        "name": "Email Service",
        "url": "https://api.email-service.com/webhooks",
        "events": ["user.registered", "review.created"],
        "secret": "email-secret-456",
    },
    {
        "name": "Analytics",
        "url": "https://api.analytics.com/webhooks",
        "events": ["*"],  # All events
        "secret": "analytics-secret-789",
    },
]
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def spec(**overrides: Any) -> dict[str, Any]:
    return {**copy.deepcopy(WEBHOOKS[0]), **overrides}


def error_text(data: Any, **context: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        EndpointSpec.model_validate(data, context={"catalog": catalog.SNAPSHOT, **context})
    return str(caught.value)


def endpoint(**overrides: Any) -> Endpoint:
    return Endpoint.from_spec(EndpointSpec.model_validate(spec()), now=NOW).model_copy(update=overrides)


def test_document_webhook_config_loads_verbatim() -> None:
    [loaded] = parse_endpoint_configs(copy.deepcopy(WEBHOOK_CONFIG))
    assert loaded.url == WEBHOOK_CONFIG["url"]
    assert loaded.secret == "your-webhook-secret"
    assert loaded.events == WEBHOOK_CONFIG["events"]
    assert loaded.name == "your-app.com"  # derived from the host: the document gives none
    assert loaded.retryPolicy == RetryPolicy(maxAttempts=5, backoffMultiplier=2.0, initialDelay=1000, maxDelay=30000)


def test_document_webhooks_array_loads_verbatim_in_both_shapes() -> None:
    for doc in (copy.deepcopy(WEBHOOKS), {"webhooks": copy.deepcopy(WEBHOOKS)}):
        loaded = parse_endpoint_configs(doc)
        assert [s.name for s in loaded] == ["Order Processing", "Email Service", "Analytics"]
        assert [s.secret for s in loaded] == ["order-secret-123", "email-secret-456", "analytics-secret-789"]
        assert loaded[2].events == ["*"]


def test_list_errors_carry_the_item_index() -> None:
    bad = copy.deepcopy(WEBHOOKS)
    bad[1]["url"] = "http://api.email-service.com/webhooks"
    with pytest.raises(ValidationError) as caught:
        parse_endpoint_configs(bad)
    [error] = caught.value.errors()
    assert error["loc"] == (1, "url")
    assert "https://" in error["msg"]


def test_defaults() -> None:
    loaded = EndpointSpec.model_validate({"url": "https://example.com/h", "events": ["*"]})
    assert loaded.name == "example.com"
    assert loaded.active is True
    assert loaded.description is None
    assert (loaded.timeout, loaded.maxConcurrency) == (10000, 10)
    assert loaded.retryPolicy == RetryPolicy(maxAttempts=5, backoffMultiplier=2.0, initialDelay=1000, maxDelay=30000)
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", loaded.secret)
    assert loaded.secret != EndpointSpec.model_validate({"url": "https://example.com/h", "events": ["*"]}).secret


def test_max_delay_default_follows_a_larger_initial_delay() -> None:
    assert RetryPolicy(initialDelay=60000).maxDelay == 60000
    with pytest.raises(ValidationError, match="maxDelay"):
        RetryPolicy(initialDelay=60000, maxDelay=30000)


@pytest.mark.parametrize(
    "policy",
    [
        {"maxAttempts": 0},
        {"maxAttempts": 21},
        {"backoffMultiplier": 0.5},
        {"backoffMultiplier": 11},
        {"initialDelay": -1},
        {"maxDelay": 86_400_001},
        {"maxAttempts": "5"},
        {"max_attempts": 5},
    ],
)
def test_retry_policy_bounds(policy: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RetryPolicy.model_validate(policy)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", 0),
        ("timeout", 30001),
        ("maxConcurrency", 1),
        ("maxConcurrency", 1001),
        ("name", ""),
        ("name", "x" * 101),
        ("description", "x" * 501),
        ("active", "true"),
        ("timeout", "10000"),
        ("secret", "short"),
        ("secret", "has space in it"),
    ],
)
def test_field_bounds(field: str, value: Any) -> None:
    assert field in error_text(spec(**{field: value}))


@pytest.mark.parametrize(
    ("field", "value"), [("timeout", 1), ("timeout", 30000), ("maxConcurrency", 2), ("maxConcurrency", 1000)]
)
def test_field_bounds_inclusive(field: str, value: int) -> None:
    assert getattr(EndpointSpec.model_validate(spec(**{field: value})), field) == value


def test_unknown_key_rejected_listing_allowed_keys() -> None:
    text = error_text(spec(webhookUrl="https://x.example/"))
    assert "'webhookUrl'" in text
    assert (
        "allowed: name, url, events, active, retryPolicy, description, timeout, maxConcurrency, rateLimit, headers, "
        "secret, sensitiveHeaders"
    ) in text


def test_events_required_and_non_empty() -> None:
    data = spec()
    del data["events"]
    assert "events" in error_text(data)
    assert "at least one event type" in error_text(spec(events=[]))


def test_unknown_event_rejected_listing_known() -> None:
    text = error_text(spec(events=["product.purchased", "order.shipped"]))
    assert "order.shipped" in text
    assert all(name in text for name in catalog.event_names())
    assert "namespaces" in error_text(spec(events=["shipping.*"]))


def test_filters_are_checked_only_against_a_catalog_given() -> None:
    """A stored endpoint (or a file the CLI reads before the API checks it) loads without the catalog."""
    loaded = EndpointSpec.model_validate(spec(events=["order.shipped"]))
    assert loaded.events == ["order.shipped"]
    assert "at least one event type" in error_text(spec(events=[]), catalog=None)


def test_events_deduplicated_in_order() -> None:
    loaded = EndpointSpec.model_validate(spec(events=["order.*", "product.purchased", "order.*"]))
    assert loaded.events == ["order.*", "product.purchased"]


def test_url_rules_applied_with_insecure_context() -> None:
    assert "https://" in error_text(spec(url="http://localhost:3000/webhooks"))
    local = EndpointSpec.model_validate(spec(url="http://localhost:3000/webhooks"), context={"allow_insecure": True})
    assert local.url == "http://localhost:3000/webhooks"
    assert "link-local" in error_text(spec(url="http://169.254.169.254/"), allow_insecure=True)
    [loopback] = parse_endpoint_configs(spec(url="http://127.0.0.1:9000/"), allow_insecure=True)
    assert loopback.url == "http://127.0.0.1:9000/"


def test_camel_case_json_round_trip() -> None:
    loaded = EndpointSpec.model_validate(copy.deepcopy(WEBHOOK_CONFIG))
    dumped = json.loads(loaded.model_dump_json())
    assert set(dumped) == {
        "name",
        "url",
        "secret",
        "events",
        "active",
        "retryPolicy",
        "description",
        "timeout",
        "maxConcurrency",
        "rateLimit",
        "headers",
        "sensitiveHeaders",
    }
    assert set(dumped["retryPolicy"]) == {"maxAttempts", "backoffMultiplier", "initialDelay", "maxDelay"}
    assert EndpointSpec.model_validate(dumped) == loaded


def test_endpoint_from_spec() -> None:
    created = endpoint()
    assert re.fullmatch(r"ep_[a-z0-9]{22}", created.id)
    assert created.createdAt == created.updatedAt == "2024-01-15T10:30:00.000Z"
    assert (created.pausedReason, created.failingSince, created.consecutiveFailures) == (None, None, 0)
    assert new_endpoint_id() != new_endpoint_id()


def test_the_stored_endpoint_holds_no_secret_and_refuses_one() -> None:
    """Its secrets are a SigningSecrets record of their own, stored only sealed (aws/kms.py)."""
    base = endpoint().model_dump()
    assert "secret" not in base and "previousSecrets" not in base and "order-secret-123" not in repr(endpoint())
    with pytest.raises(ValidationError, match="secret"):
        Endpoint.model_validate({**base, "secret": "order-secret-123"})
    invalid = [("id", "ep_short"), ("pausedReason", "bored"), ("createdAt", "2024-01-15"), ("consecutiveFailures", -1)]
    for field, value in invalid:
        with pytest.raises(ValidationError, match=field):
            Endpoint.model_validate({**base, field: value})


def test_secrets_never_in_repr() -> None:
    secrets = SigningSecrets(
        secret="order-secret-123",
        previousSecrets=[PreviousSecret(secret="old-secret-000", expiresAt="2024-01-16T10:30:00Z")],
    )
    for text in (repr(secrets), str(secrets), repr(EndpointSpec.model_validate(spec()))):
        assert "order-secret-123" not in text and "old-secret-000" not in text
    stored = endpoint()
    public = stored.public_dict()
    assert public["id"] == stored.id and public["retryPolicy"]["maxAttempts"] == 5


def test_signing_secrets_current_first_then_unexpired_previous() -> None:
    secrets = SigningSecrets(
        secret="order-secret-123",
        previousSecrets=[
            PreviousSecret(secret="expired-secret", expiresAt=utc_iso(NOW - timedelta(seconds=1))),
            PreviousSecret(secret="overlap-secret", expiresAt=utc_iso(NOW + timedelta(hours=24))),
        ],
    )
    assert secrets.signing(NOW) == ["order-secret-123", "overlap-secret"]
    assert secrets.signing(NOW + timedelta(days=2)) == ["order-secret-123"]
    assert [p.secret for p in secrets.unexpired(NOW)] == ["overlap-secret"]


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _walk(v)]
    if isinstance(value, list):
        return [x for v in value for x in _walk(v)]
    return [value]


def test_to_item_from_item_round_trip_without_floats() -> None:
    stored = endpoint(
        retryPolicy=RetryPolicy(backoffMultiplier=1.5),
        description="orders",
        pausedReason="gone",
        failingSince="2024-01-15T09:00:00.000Z",
        consecutiveFailures=3,
    )
    item = stored.to_item()
    assert not any(isinstance(v, float) for v in _walk(item))
    assert item["retryPolicy"]["backoffMultiplier"] == "1.5"
    assert Endpoint.from_item(item) == stored
    # As boto3 hands it back: numbers as Decimal, plus storage-only keys.
    from_dynamo = json.loads(json.dumps(item), parse_int=Decimal)
    assert Endpoint.from_item({**from_dynamo, "pk": f"ENDPOINT#{stored.id}", "gsi1pk": "x"}) == stored


def test_none_fields_are_omitted_from_items() -> None:
    item = endpoint().to_item()
    assert "description" not in item and "pausedReason" not in item and "failingSince" not in item
    assert Endpoint.from_item(item).description is None


def test_from_item_survives_insecure_flag_turned_off() -> None:
    local = EndpointSpec.model_validate(spec(url="http://localhost:3000/h"), context={"allow_insecure": True})
    stored = Endpoint.from_spec(local, now=NOW)
    assert Endpoint.from_item(stored.to_item()).url == "http://localhost:3000/h"


@pytest.mark.parametrize(
    ("events", "policy"),
    [
        (["product.purchased", "order.updated"], {"event": ["product.purchased", "order.updated"]}),
        (["order.*"], {"event": [{"prefix": "order."}]}),
        (["*"], {"event": [{"anything-but": {"prefix": "webhooks."}}]}),  # "*": all but the operational types
        (["order.*", "*"], {"event": [{"anything-but": {"prefix": "webhooks."}}]}),
        (
            ["*", "webhooks.endpoint.*"],
            {"event": [{"anything-but": {"prefix": "webhooks."}}, {"prefix": "webhooks.endpoint."}]},
        ),
        (["webhooks.*"], {"event": [{"prefix": "webhooks."}]}),
        (["product.purchased", "order.*"], {"event": ["product.purchased", {"prefix": "order."}]}),
        (["product.purchased", "product.purchased"], {"event": ["product.purchased"]}),
    ],
)
def test_filter_policy(events: list[str], policy: dict[str, Any]) -> None:
    assert filter_policy(events) == policy


def _sns_accepts(policy: dict[str, Any], event: str) -> bool:
    """What SNS does with the policy on the ``event`` message attribute (moto's implementation)."""
    from moto.sns.utils import FilterPolicyMatcher

    return FilterPolicyMatcher(policy, "MessageAttributes").matches({"event": {"Type": "String", "Value": event}}, "{}")


@pytest.mark.parametrize(
    "events",
    [
        ["*"],
        ["order.*"],
        ["product.purchased", "order.*"],
        ["user.registered", "review.created"],
        ["webhooks.*"],
        ["*", "webhooks.delivery.dead_lettered"],
        ["webhooks.endpoint.*", "order.*"],
    ],
)
def test_subscribes_agrees_with_filter_policy(events: list[str]) -> None:
    for name in [*catalog.event_names(), *catalog.SYSTEM]:
        assert subscribes(events, name) == _sns_accepts(filter_policy(events), name)
    assert subscribes(["order.*"], "order.completed") and not subscribes(["order.*"], "product.purchased")
