"""Retry classification, Retry-After parsing, the backoff schedule and SQS delay chaining."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from litestore_webhooks.core.endpoint import RetryPolicy
from litestore_webhooks.core.retry import (
    MAX_DELAY_MS,
    SQS_MAX_DELAY_S,
    is_gone,
    is_retryable_status,
    next_delay_ms,
    parse_retry_after,
    split_delay,
)

NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


@dataclass
class Policy:
    initialDelay: int = 1000  # the document's retryPolicy (maxDelay is our default)
    backoffMultiplier: float = 2.0
    maxDelay: int = 30000


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (599, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (410, False),
        (413, False),
        (422, False),
        (301, False),
        (302, False),
        (307, False),
        (308, False),  # redirects are configuration errors
        (200, False),
        (204, False),
    ],
)
def test_retryable_classification(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


def test_only_410_is_gone() -> None:
    assert is_gone(410)
    assert not any(is_gone(status) for status in (200, 404, 409, 500))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("Mon, 15 Jan 2024 10:32:00 GMT", 120.0),
        ("Mon, 15 Jan 2024 10:00:00 GMT", 0.0),  # in the past
        ("Monday, 15-Jan-24 10:31:00 GMT", 60.0),  # RFC 850 form
        (None, None),
        ("", None),
        ("soon", None),
        ("12abc", None),
        ("Mon, 99 Foo 2024 99:00:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_document_policy_nominal_schedule_with_jitter() -> None:
    rng = random.Random(42)
    for retry_number, nominal in enumerate([1000, 2000, 4000, 8000, 16000, 30000, 30000], start=1):
        for _ in range(50):
            delay = next_delay_ms(Policy(), retry_number, rng=rng)
            assert 0.8 * nominal <= delay <= 1.2 * nominal


def test_jitter_is_seedable_and_actually_varies() -> None:
    first = [next_delay_ms(Policy(), 3, rng=random.Random(7)) for _ in range(3)]
    assert len(set(first)) == 1
    varied = {next_delay_ms(Policy(), 3, rng=random.Random(seed)) for seed in range(20)}
    assert len(varied) > 10


def test_delay_capped_at_max_delay_even_for_huge_retry_numbers() -> None:
    policy = Policy(initialDelay=1000, backoffMultiplier=10, maxDelay=60000)
    assert 48000 <= next_delay_ms(policy, 10_000, rng=random.Random(1)) <= 72000


def test_zero_initial_delay_means_immediate() -> None:
    assert next_delay_ms(Policy(initialDelay=0), 5) == 0


def test_longer_retry_after_replaces_shorter_is_ignored() -> None:
    rng = random.Random(3)
    assert next_delay_ms(Policy(), 1, rng=rng, retry_after_s=120) == 120_000
    shorter = next_delay_ms(Policy(), 4, rng=random.Random(3), retry_after_s=1)
    assert shorter == next_delay_ms(Policy(), 4, rng=random.Random(3))
    assert 6400 <= shorter <= 9600


def test_retry_after_and_jitter_capped_at_24_hours() -> None:
    assert next_delay_ms(Policy(), 1, retry_after_s=10 * 86_400) == MAX_DELAY_MS
    assert next_delay_ms(Policy(), 1, retry_after_s=float("inf")) <= 1200
    policy = Policy(initialDelay=MAX_DELAY_MS, maxDelay=MAX_DELAY_MS)
    assert all(next_delay_ms(policy, 1, rng=random.Random(s)) <= MAX_DELAY_MS for s in range(20))


def test_retry_number_is_one_based() -> None:
    with pytest.raises(ValueError):
        next_delay_ms(Policy(), 0)


def test_split_delay_chains_hops() -> None:
    remaining = 2_000_000
    hops = []
    while remaining > 0:
        hops.append(split_delay(remaining))
        remaining -= hops[-1] * 1000
    assert hops == [SQS_MAX_DELAY_S, SQS_MAX_DELAY_S, 200]


@pytest.mark.parametrize(
    ("total_ms", "seconds"), [(0, 0), (-50, 0), (1, 1), (999, 1), (1000, 1), (1001, 2), (900_000, 900)]
)
def test_split_delay_rounds_up_and_caps(total_ms: int, seconds: int) -> None:
    assert split_delay(total_ms) == seconds


def test_real_retry_policy_satisfies_the_protocol() -> None:
    assert 800 <= next_delay_ms(RetryPolicy(), 1) <= 1200
