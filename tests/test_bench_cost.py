"""bench/cost.py: every price it bills with names its source, and the DynamoDB on-demand prices
are those since the November 2024 cut (part 3 of `make bench` prints totals from them)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import cost  # noqa: E402


def test_every_price_has_a_source():
    assert set(cost.PRICE_SOURCES) == set(cost.PRICES)
    assert all(source.strip() for source in cost.PRICE_SOURCES.values())


def test_dynamodb_on_demand_prices_are_the_november_2024_ones():
    assert cost.PRICES["ddb_per_m_wru"] == 0.625
    assert cost.PRICES["ddb_per_m_rru"] == 0.125


def test_the_model_reports_the_sources_with_the_prices():
    part2 = {"scenarios": {
        "ingest_single": {"events_per_request": 1, "handler_ms_median": 10.2, "per_event": {"ddb_wru": 4, "sns_requests": 1}},
        "ingest_batch": {"events_per_request": 100, "handler_ms_median": 80.0, "per_event": {"ddb_wru": 4, "sns_requests": 0.1}},
        "delivery_success_batch10": {"handler_ms_median": 30.0, "per_event": {"ddb_wru": 3, "ddb_rru": 0.5, "sqs_requests": 0.2}},
    }}
    out = cost.model(part2, None)
    assert out["prices_sources"] == cost.PRICE_SOURCES
    single = next(r for r in out["rows"] if r["endpoints"] == 1 and r["ingest"] == "single")
    # 1 M requests at the REST price, 4 WRU per event at the on-demand price.
    assert single["lines"]["api_gateway"] == 3.5
    assert single["lines"]["dynamodb_ingest"] == 2.5
