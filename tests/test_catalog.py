"""Catalog data, the schema-subset validator, and subscription patterns."""

from __future__ import annotations

import copy

import pytest

import seed_catalog as catalog
from litestore_webhooks.core.errors import ApiError, ValidationFailed
from litestore_webhooks.core.schema import MAX_PROBLEMS, validate

DOCUMENTED = [
    "content.submitted",
    "content.approved",
    "content.rejected",
    "product.purchased",
    "order.completed",
    "order.updated",
    "review.created",
    "review.approved",
    "creator.registered",
    "commission.earned",
    "user.registered",
]


def example_data(name: str) -> dict:
    return copy.deepcopy(catalog.get(name).example["data"])


def test_every_documented_type_is_present_and_nothing_else():
    assert catalog.event_names() == sorted(DOCUMENTED)
    assert set(catalog.CATALOG) == set(DOCUMENTED)


@pytest.mark.parametrize("name", DOCUMENTED)
def test_example_is_a_full_envelope_that_validates(name):
    event_type = catalog.get(name)
    assert event_type.name == name and event_type.description
    assert list(event_type.example) == ["event", "id", "timestamp", "data"]
    assert event_type.example["event"] == name
    assert catalog.validate_data(name, event_type.example["data"]) == []


def test_examples_keep_the_documents_ids_and_timestamps():
    example = catalog.get("product.purchased").example
    assert example["id"] == "evt_product_purchased_126"
    assert example["timestamp"] == "2024-01-15T14:30:00Z"
    assert catalog.get("user.registered").example["id"] == "evt_user_registered_132"


def test_order_updated_is_marked_as_derived():
    assert "not documented" in catalog.get("order.updated").description.lower()


def test_documents_minimal_test_payload_is_accepted():
    # The document's curl example sends content.submitted with only these two fields.
    assert catalog.validate_data("content.submitted", {"contentId": "content-123", "creatorId": "creator-456"}) == []


def test_string_amount_is_rejected_with_its_path():
    data = example_data("product.purchased")
    data["price"]["amount"] = "49.99"
    assert catalog.validate_data("product.purchased", data) == [
        {"path": "data.price.amount", "message": "expected number"}
    ]


def test_missing_nested_required_fields():
    data = example_data("order.completed")
    del data["total"]["currency"]
    del data["items"][1]["productId"]
    del data["shipping"]["address"]["city"]
    assert catalog.validate_data("order.completed", data) == [
        {"path": "data.total.currency", "message": "is required"},
        {"path": "data.items[1].productId", "message": "is required"},
        {"path": "data.shipping.address.city", "message": "is required"},
    ]


def test_booleans_are_not_numbers():
    data = example_data("product.purchased")
    data["quantity"] = True
    data["price"]["amount"] = False
    assert catalog.validate_data("product.purchased", data) == [
        {"path": "data.quantity", "message": "expected integer"},
        {"path": "data.price.amount", "message": "expected number"},
    ]


@pytest.mark.parametrize(
    ("rating", "message"),
    [(0, "must be >= 1"), (6, "must be <= 5"), (4.5, "expected integer"), ("5", "expected integer")],
)
def test_rating_bounds(rating, message):
    data = example_data("review.created")
    data["rating"] = rating
    assert catalog.validate_data("review.created", data) == [{"path": "data.rating", "message": message}]


def test_integral_float_counts_as_integer():
    data = example_data("review.created")
    data["rating"] = 5.0
    assert catalog.validate_data("review.created", data) == []


def test_formats_and_arrays():
    data = example_data("review.created")
    data["createdAt"] = "15/01/2024"
    data["photos"] = ["https://ok.example/p.jpg", "not a url", 3]
    data["verified"] = "yes"
    assert catalog.validate_data("review.created", data) == [
        {"path": "data.verified", "message": "expected boolean"},
        {"path": "data.photos[1]", "message": "not an absolute URI"},
        {"path": "data.photos[2]", "message": "expected string"},
        {"path": "data.createdAt", "message": "not an ISO-8601 date-time"},
    ]


def test_quantity_minimum_and_empty_items():
    data = example_data("order.completed")
    data["items"] = []
    assert catalog.validate_data("order.completed", data) == [
        {"path": "data.items", "message": "must have at least 1 item"}
    ]
    data = example_data("product.purchased")
    data["quantity"] = 0
    assert catalog.validate_data("product.purchased", data) == [{"path": "data.quantity", "message": "must be >= 1"}]


def test_additional_properties_are_allowed():
    data = example_data("user.registered")
    data["locale"] = "en-US"
    assert catalog.validate_data("user.registered", data) == []


def test_data_must_be_an_object():
    assert catalog.validate_data("review.approved", ["x"]) == [{"path": "data", "message": "expected object"}]


@pytest.mark.parametrize(
    "value",
    ["2024-01-15T10:30:00Z", "2024-01-15T10:30:00.123Z", "2024-01-15T10:30:00+02:00"],
)
def test_date_time_accepted(value):
    assert validate(value, {"type": "string", "format": "date-time"}) == []


@pytest.mark.parametrize("value", ["2024-01-15", "2024-02-30T10:00:00Z", "2024-01-15T10:30:00", "yesterday"])
def test_date_time_rejected(value):
    assert validate(value, {"type": "string", "format": "date-time"}) == [
        {"path": "data", "message": "not an ISO-8601 date-time"}
    ]


def test_validator_keywords():
    schema = {
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"enum": ["x", "y"]}, "b": {"type": "string", "minLength": 2, "maxLength": 3}},
        "additionalProperties": False,
    }
    assert validate({"a": "z", "b": "abcd", "c": 1}, schema, "") == [
        {"path": "a", "message": 'must be one of ["x", "y"]'},
        {"path": "b", "message": "must be at most 3 characters"},
        {"path": "c", "message": "unknown field"},
    ]
    assert validate({"a": True}, {"properties": {"a": {"enum": [1]}}}) == [
        {"path": "data.a", "message": "must be one of [1]"}
    ]


def test_problems_are_capped():
    problems = validate(["x"] * 200, {"type": "array", "items": {"type": "number"}})
    assert len(problems) == MAX_PROBLEMS
    assert problems[0] == {"path": "data[0]", "message": "expected number"}


def test_get_unknown_lists_known_types():
    with pytest.raises(ValidationFailed) as caught:
        catalog.get("order.shipped")
    error = caught.value
    assert error.status == 400 and error.code == "validation_failed"
    assert "order.shipped" in error.message and "order.completed" in error.message


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*", "user.registered", True),
        ("order.*", "order.updated", True),
        ("order.*", "product.purchased", False),
        ("order.*", "orders.updated", False),
        ("review.created", "review.created", True),
        ("review.created", "review.approved", False),
    ],
)
def test_matches(pattern, name, expected):
    assert catalog.matches(pattern, name) is expected


def test_expand():
    assert catalog.expand(["*"]) == sorted(DOCUMENTED)
    assert catalog.expand(["order.*", "user.registered"]) == ["order.completed", "order.updated", "user.registered"]
    assert catalog.expand(["order.*", "order.updated"]) == ["order.completed", "order.updated"]


def test_validate_patterns_accepts_known():
    catalog.validate_patterns(["*"])
    catalog.validate_patterns(["content.*", "product.purchased"])


@pytest.mark.parametrize(
    ("patterns", "path", "fragment"),
    [
        ([], "events", "at least one"),
        (["order.shipped"], "events[0]", "known types: commission.earned"),
        (["*", "foo.*"], "events[1]", "no event type in namespace 'foo'"),
        (["order.*", 7], "events[1]", "expected string"),
    ],
)
def test_validate_patterns_rejects(patterns, path, fragment):
    with pytest.raises(ValidationFailed) as caught:
        catalog.validate_patterns(patterns)
    [problem] = caught.value.details
    assert problem["path"] == path and fragment in problem["message"]


def test_error_body_shape():
    assert ApiError(404, "not_found", "No such endpoint; list endpoints first.").body() == {
        "error": {"code": "not_found", "message": "No such endpoint; list endpoints first.", "details": []}
    }
    failed = ValidationFailed([{"path": "data.price.amount", "message": "expected number"}])
    assert failed.message == "data.price.amount: expected number"
    assert failed.body()["error"]["details"] == [{"path": "data.price.amount", "message": "expected number"}]
