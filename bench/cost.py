"""Part 3: cost per million events, from the measured calls (part 2) and handler durations.

Public us-east-1 list prices, each with the tier or quota it holds for, where it was re-checked
and when (PRICE_SOURCES). Re-checked 2026-12-02 against the project's reference
(../shared/reference/webhook-systems.md, "AWS facts that bound the design", Aug 2026) and the
dated public pages named below; the live AWS pricing pages were not fetched from this machine,
so the table says "re-checked against ..." and not "live". Free tiers are left out (a bill at
a million events a month is past them or close to it). Lambda bills each invocation's duration
rounded UP to 1 ms.
"""

from __future__ import annotations

import math

CHECKED = "2026-12-02"
REFERENCE = "../shared/reference/webhook-systems.md (Aug 2026)"
PRICES_AS_OF = f"us-east-1 list prices re-checked {CHECKED}, sources in bench/cost.py; live AWS pages not fetched"
# name -> (USD, the tier/quota the price holds for, source(s) it was re-checked against)
PRICE_SOURCES: dict[str, tuple[float, str, str]] = {
    "apigw_rest_per_m_requests": (
        3.50,
        "REST API, first 333 M requests/month (then $2.80, $2.38, $1.51)",
        f"{REFERENCE}; AWS whitepaper 'Best Practices for Designing Amazon API Gateway Private APIs', "
        "Cost optimization, Table 4 (docs.aws.amazon.com)",
    ),
    "apigw_http_per_m_requests": (
        1.00,
        "HTTP API, first 300 M requests/month (then $0.90), metered in 512 KB increments",
        f"{REFERENCE}; the same whitepaper table",
    ),
    "lambda_arm64_per_gb_s": (
        0.0000133334,
        "arm64 duration, first 7.5 G GB-s/month (then $0.0000120001)",
        "aws.amazon.com/lambda/pricing as quoted by cloudchipr.com 'AWS Lambda Pricing Breakdown' (2024); "
        "not in the reference",
    ),
    "lambda_per_m_requests": (0.20, "requests, any architecture", REFERENCE),
    "sns_per_m_publishes": (0.50, "standard topic; each 64 KB chunk of a (batch) publish = 1 request", REFERENCE),
    "sns_to_sqs_delivery": (
        0.0,
        "SNS charges nothing for deliveries to SQS (the SQS side: PLATFORM_SQS_PER_EVENT_PER_ENDPOINT)",
        "aws.amazon.com/sns/pricing (not re-read this time; no stored copy says otherwise)",
    ),
    "sqs_per_m_requests": (
        0.40,
        "standard queue, first 100 G requests/month; each 64 KB chunk = 1 request",
        f"{REFERENCE}; cloudburn.io 'Amazon SQS Pricing' (Mar 2026)",
    ),
    "ddb_per_m_wru": (
        0.625,
        "on-demand write request units, since the 1 Nov 2024 cut (was $1.25)",
        f"{REFERENCE}; airbyte.com 'Amazon DynamoDB Pricing' (Jul 2025)",
    ),
    "ddb_per_m_rru": (
        0.125,
        "on-demand read request units, since the 1 Nov 2024 cut (was $0.25)",
        f"{REFERENCE}; airbyte.com (Jul 2025)",
    ),
    "eventbridge_per_m_custom_events": (
        1.00,
        "PutEvents custom events, each 64 KB chunk = 1 event",
        f"{REFERENCE}; cloudburn.io 'Amazon EventBridge Pricing' (Mar 2026)",
    ),
    "eventbridge_per_m_api_destination_invocations": (
        0.20,
        "API destination invocations",
        f"{REFERENCE}; cloudburn.io (Mar 2026)",
    ),
}
PRICES = {name: value for name, (value, _, _) in PRICE_SOURCES.items()}
INGEST_MEMORY_GB = 0.5  # resources.INGEST_FUNCTION.memory_mb = 512
DELIVERY_MEMORY_GB = 1.0  # resources.DELIVERY_FUNCTION.memory_mb = 1024
# SQS requests per event per endpoint that our code does not make but the bill has (assumptions):
#   1    the enqueue of SNS's delivery into the endpoint queue, counted as one SQS request
#        (conservative: if AWS does not bill it, subtract $0.40/M per endpoint)
#   0.1  Lambda's poller ReceiveMessage, batches of 10 (full batches: at load)
#   0.1  Lambda's poller DeleteMessageBatch for the successes
PLATFORM_SQS_PER_EVENT_PER_ENDPOINT = 1.2
DELIVERY_BATCH = 10


def _m(x: float) -> float:
    return round(x, 4)


def per_million(part2: dict, delivery_batch_ms: float, endpoints: int, batch_ingest: bool) -> dict:
    """Dollars per 1,000,000 accepted events, every one delivered once to each endpoint."""
    p = PRICES
    n = 1_000_000
    ing = part2["scenarios"]["ingest_batch" if batch_ingest else "ingest_single"]
    per_req = ing["events_per_request"]
    requests = n / per_req
    ingest_ms = math.ceil(ing["handler_ms_median"])
    dlv = part2["scenarios"]["delivery_success_batch10"]["per_event"]
    invocations = n / DELIVERY_BATCH * endpoints
    lines = {
        "api_gateway": requests * p["apigw_rest_per_m_requests"] / 1e6,
        "lambda_ingest": requests * p["lambda_per_m_requests"] / 1e6
        + requests * ingest_ms / 1000 * INGEST_MEMORY_GB * p["lambda_arm64_per_gb_s"],
        "sns": n * ing["per_event"].get("sns_requests", 0) * p["sns_per_m_publishes"] / 1e6,
        "dynamodb_ingest": n
        * (
            ing["per_event"].get("ddb_wru", 0) * p["ddb_per_m_wru"]
            + ing["per_event"].get("ddb_rru", 0) * p["ddb_per_m_rru"]
        )
        / 1e6,
        "sqs": n
        * endpoints
        * (PLATFORM_SQS_PER_EVENT_PER_ENDPOINT + dlv.get("sqs_requests", 0))
        * p["sqs_per_m_requests"]
        / 1e6,
        "lambda_delivery": invocations * p["lambda_per_m_requests"] / 1e6
        + invocations * math.ceil(delivery_batch_ms) / 1000 * DELIVERY_MEMORY_GB * p["lambda_arm64_per_gb_s"],
        "dynamodb_delivery": n
        * endpoints
        * (dlv.get("ddb_wru", 0) * p["ddb_per_m_wru"] + dlv.get("ddb_rru", 0) * p["ddb_per_m_rru"])
        / 1e6,
    }
    total = sum(lines.values())
    eventbridge = (
        n * p["eventbridge_per_m_custom_events"] + n * endpoints * p["eventbridge_per_m_api_destination_invocations"]
    ) / 1e6
    return {
        "endpoints": endpoints,
        "ingest": "batch of 100" if batch_ingest else "single",
        "ingest_handler_ms": ingest_ms,
        "delivery_batch_ms": math.ceil(delivery_batch_ms),
        "lines": {k: _m(v) for k, v in lines.items()},
        "total": _m(total),
        "total_without_api_gateway": _m(total - lines["api_gateway"]),
        "eventbridge_api_destinations": _m(eventbridge),
    }


def model(part2: dict, part1: dict | None) -> dict:
    instant_ms = part2["scenarios"]["delivery_success_batch10"]["handler_ms_median"]
    slow_ms = None
    if part1:
        slow = [c for c in part1["cases"] if c["batch"] == 10 and c["receiver"] == "50ms"]
        slow_ms = slow[0]["ours_wall_ms"] if slow else None
    rows = []
    for endpoints in (1, 3):
        for batch in (False, True):
            row = per_million(part2, instant_ms, endpoints, batch)
            row["receiver"] = "instant"
            rows.append(row)
    if slow_ms is not None:
        for endpoints in (1, 3):
            row = per_million(part2, slow_ms, endpoints, True)
            row["receiver"] = "50 ms"
            rows.append(row)
    return {
        "prices": PRICES,
        "prices_as_of": PRICES_AS_OF,
        "price_sources": {
            k: {"usd": v, "holds_for": t, "checked": CHECKED, "source": src} for k, (v, t, src) in PRICE_SOURCES.items()
        },
        "assumptions": {
            "ingest_memory_gb": INGEST_MEMORY_GB,
            "delivery_memory_gb": DELIVERY_MEMORY_GB,
            "delivery_batch": DELIVERY_BATCH,
            "platform_sqs_requests_per_event_per_endpoint": PLATFORM_SQS_PER_EVENT_PER_ENDPOINT,
            "handler_durations": "measured in-process on moto (part 2 ingest; part 2 / part 1 delivery batch of 10); "
            "deployed durations add real AWS round trips",
            "eventbridge": "PutEvents per event (<= 64 KB) + one API destination invocation per endpoint; "
            "no API Gateway, no storage/replay, no per-endpoint DLQ accounting",
        },
        "rows": rows,
    }
