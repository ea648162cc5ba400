"""bench/cost.py (part 3 of `make bench`): every price carries its tier and source, and the table
prints the prices and the date they were re-checked next to the dollars computed from them."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import cost  # noqa: E402
import run  # noqa: E402


def part2(ingest_wru: float = 4.0, delivery_wru: float = 3.1, delivery_rru: float = 0.5) -> dict:
    """The shape part 2 writes, with the billing units the issue quotes (4 WRU per event at ingest,
    3.1 WRU + 0.5 RRU per event per endpoint at delivery)."""
    return {
        "scenarios": {
            "ingest_batch": {
                "events_per_request": 100,
                "handler_ms_median": 275.85,
                "per_event": {"ddb_wru": ingest_wru, "sns_requests": 0.1},
            },
            "ingest_single": {
                "events_per_request": 1,
                "handler_ms_median": 5.28,
                "per_event": {"ddb_wru": ingest_wru, "sns_requests": 1.0},
            },
            "delivery_success_batch10": {
                "handler_ms_median": 25.4,
                "per_event": {"ddb_wru": delivery_wru, "ddb_rru": delivery_rru},
            },
        }
    }


def test_every_price_has_its_tier_a_source_and_the_recheck_date():
    assert set(cost.PRICES) == set(cost.PRICE_SOURCES)
    for name, (usd, holds_for, source) in cost.PRICE_SOURCES.items():
        assert cost.PRICES[name] == usd
        assert holds_for.strip() and source.strip(), name
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", cost.CHECKED)
    assert cost.CHECKED in cost.PRICES_AS_OF


def test_dynamodb_is_priced_after_the_november_2024_cut():
    assert cost.PRICES["ddb_per_m_wru"] == 0.625
    assert cost.PRICES["ddb_per_m_rru"] == 0.125


def test_the_issue_figures_follow_from_the_prices():
    """1 endpoint, batch ingest: $5.14 per million, $4.50 of it DynamoDB (issue 18)."""
    row = cost.per_million(part2(), 25.4, endpoints=1, batch_ingest=True)
    assert row["total"] == pytest.approx(sum(row["lines"].values()), abs=1e-3)
    assert row["lines"]["dynamodb_ingest"] + row["lines"]["dynamodb_delivery"] == pytest.approx(4.5)
    assert row["total"] == pytest.approx(5.14, abs=0.005)
    assert row["eventbridge_api_destinations"] == pytest.approx(1.20)


def test_the_table_prints_the_prices_and_when_they_were_checked():
    text = run.table(
        {
            "machine": {"nproc": 2, "cpu_model": "test", "python": "3"},
            "finished_at": "now",
            "3_cost": cost.model(part2(), None),
        }
    )
    part3 = text[text.index("3. Cost") :]
    assert f"re-checked {cost.CHECKED}" in part3.splitlines()[0]
    assert "DynamoDB $0.625/M WRU $0.125/M RRU" in part3
    assert "API Gateway REST $3.50/M" in part3
