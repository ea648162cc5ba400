"""build_envelope: the gate between a store's POST and the pipeline."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta

import pytest

import seed_catalog as catalog
from litestore_webhooks.core.envelope import ID_PATTERN, Envelope, build_envelope, new_event_id
from litestore_webhooks.core.errors import ValidationFailed

# The document's examples are dated 2024-01-15; validate them as if received the next morning.
NOW = datetime(2024, 1, 16, 9, 0, tzinfo=UTC)


def example(name: str = "content.approved") -> dict:
    return copy.deepcopy(catalog.get(name).example)


def problems(raw, **kwargs) -> list[dict]:
    with pytest.raises(ValidationFailed) as caught:
        build_envelope(raw, catalog.SNAPSHOT, now=NOW, **kwargs)
    return caught.value.details


@pytest.mark.parametrize("name", catalog.event_names())
def test_document_examples_pass_through_unchanged(name):
    assert build_envelope(example(name), catalog.SNAPSHOT, now=NOW).to_dict() == example(name)


def test_to_dict_key_order_matches_document():
    envelope = build_envelope(example(), catalog.SNAPSHOT, now=NOW)
    assert list(envelope.to_dict()) == ["event", "id", "timestamp", "data"]


def test_body_is_compact_canonical_json():
    body = build_envelope(example("content.approved"), catalog.SNAPSHOT, now=NOW).body()
    assert body == (
        b'{"event":"content.approved","id":"evt_content_approved_124","timestamp":"2024-01-15T11:00:00Z",'
        b'"data":{"contentId":"content-456","approvedBy":"admin-999","approvedAt":"2024-01-15T11:00:00Z",'
        b'"commission":{"amount":25.5,"currency":"USD","status":"pending"}}}'
    )


# --- id ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw_id", [None, "absent"])
def test_id_generated_when_absent_or_null(raw_id):
    raw = example()
    if raw_id == "absent":
        del raw["id"]
    else:
        raw["id"] = None
    event_id = build_envelope(raw, catalog.SNAPSHOT, now=NOW).id
    assert re.fullmatch(r"evt_[a-z2-7]{26}", event_id)


def test_new_event_ids_are_unique_and_valid():
    ids = {new_event_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(ID_PATTERN.fullmatch(i) for i in ids)


@pytest.mark.parametrize("event_id", ["test-event-123", "a", "ord:777.v2_x-1", "x" * 128])
def test_valid_id_kept(event_id):
    raw = example()
    raw["id"] = event_id
    assert build_envelope(raw, catalog.SNAPSHOT, now=NOW).id == event_id


@pytest.mark.parametrize(
    "event_id", ["", "../etc/passwd", "..", ".", "a/b", "a b", "evt\n1", "evt\x00", "x" * 129, "x" * 10_000, "évt"]
)
def test_invalid_id_rejected(event_id):
    raw = example()
    raw["id"] = event_id
    [problem] = problems(raw)
    assert problem["path"] == "id" and "1-128 characters" in problem["message"]


def test_non_string_id_rejected():
    raw = example()
    raw["id"] = 123
    assert problems(raw) == [{"path": "id", "message": "expected string"}]


# --- timestamp --------------------------------------------------------------------------------


@pytest.mark.parametrize("timestamp", ["2024-01-15T11:00:00Z", "2024-01-15T11:00:00.123456Z", "2024-01-16T09:59:59Z"])
def test_z_timestamp_kept_byte_identical(timestamp):
    raw = example()
    raw["timestamp"] = timestamp
    assert build_envelope(raw, catalog.SNAPSHOT, now=NOW).timestamp == timestamp


def test_plus_zero_offset_normalised_to_z():
    raw = example()
    raw["timestamp"] = "2024-01-15T11:00:00.250+00:00"
    assert build_envelope(raw, catalog.SNAPSHOT, now=NOW).timestamp == "2024-01-15T11:00:00.250Z"


def test_timestamp_generated_when_absent():
    raw = example()
    del raw["timestamp"]
    now = datetime(2024, 1, 16, 9, 0, 1, 234567, tzinfo=UTC)
    assert build_envelope(raw, catalog.SNAPSHOT, now=now).timestamp == "2024-01-16T09:00:01.234Z"


@pytest.mark.parametrize(
    "timestamp", ["2024-01-15T12:00:00+02:00", "2024-01-15 11:00:00Z", "2024-01-15", "2024-02-30T00:00:00Z", "soon"]
)
def test_malformed_or_non_utc_timestamp_rejected(timestamp):
    raw = example()
    raw["timestamp"] = timestamp
    assert problems(raw) == [
        {"path": "timestamp", "message": "must be an ISO-8601 UTC date-time such as 2024-01-15T10:30:00Z"}
    ]


def test_future_timestamp_rejected():
    raw = example()
    raw["timestamp"] = "2024-01-16T10:00:01Z"
    assert problems(raw) == [{"path": "timestamp", "message": "2024-01-16T10:00:01Z is more than 1 hour in the future"}]


def test_old_timestamp_rejected():
    raw = example()
    raw["timestamp"] = "2014-01-01T00:00:00Z"
    assert problems(raw) == [
        {"path": "timestamp", "message": "2014-01-01T00:00:00Z is more than 3650 days in the past"}
    ]
    raw["timestamp"] = "2023-12-01T00:00:00Z"  # weeks old: a backfill or the document's test event, accepted
    assert build_envelope(raw, catalog.SNAPSHOT, now=NOW).timestamp == "2023-12-01T00:00:00Z"


def test_window_is_configurable():
    raw = example()
    raw["timestamp"] = "2023-12-01T00:00:00Z"
    assert problems(raw, max_age=timedelta(days=30)) == [
        {"path": "timestamp", "message": "2023-12-01T00:00:00Z is more than 30 days in the past"}
    ]
    raw["timestamp"] = "2024-01-16T09:10:00Z"
    assert problems(raw, max_skew_future=timedelta(minutes=5)) == [
        {"path": "timestamp", "message": "2024-01-16T09:10:00Z is more than 5 minutes in the future"}
    ]


# --- event, data, shape -----------------------------------------------------------------------


def test_unknown_event_lists_known_types():
    raw = example()
    raw["event"] = "content.deleted"
    [problem] = problems(raw)
    assert problem["path"] == "event"
    assert "'content.deleted'" in problem["message"] and "content.approved" in problem["message"]


def test_unknown_top_level_key_rejected():
    raw = example()
    raw["evnt"] = "content.approved"
    assert problems(raw) == [{"path": "evnt", "message": "unknown field"}]


def test_data_validated_against_the_event_schema():
    raw = example("product.purchased")
    raw["data"]["price"]["amount"] = "49.99"
    assert problems(raw) == [{"path": "data.price.amount", "message": "expected number"}]


@pytest.mark.parametrize("raw", [None, [], "{}", 42, True])
def test_non_object_rejected(raw):
    assert problems(raw) == [{"path": "", "message": "expected object"}]


def test_every_problem_is_reported_at_once():
    raw = {"event": ["x"], "id": "../x", "timestamp": 5, "data": "nope", "extra": 1}
    assert problems(raw) == [
        {"path": "event", "message": "expected string"},
        {
            "path": "id",
            "message": "must be 1-128 characters of A-Z a-z 0-9 _ . : - including at least one letter or digit",
        },
        {"path": "timestamp", "message": "expected string"},
        {"path": "data", "message": "expected object"},
        {"path": "extra", "message": "unknown field"},
    ]


def test_required_fields():
    assert problems({}) == [
        {"path": "event", "message": "is required"},
        {"path": "data", "message": "is required"},
    ]


def test_envelope_is_frozen():
    envelope = Envelope(event="review.approved", id="evt_1", timestamp="2024-01-15T16:30:00Z", data={})
    with pytest.raises(AttributeError):
        envelope.id = "evt_2"  # type: ignore[misc]
