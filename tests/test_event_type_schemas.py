"""core/event_types/schemas.py: event data checked with jsonschema-rs, today's messages, bounded cost."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import jsonschema_rs
import pytest

import seed_catalog as catalog
from litestore_webhooks.core.event_types import schemas
from litestore_webhooks.core.event_types.schemas import (
    MAX_PROBLEMS,
    MAX_WIDTH,
    DataValidator,
    SchemaRefused,
    check_schema,
    compile_schema,
    evaluation_width,
)

SEEDED = sorted(catalog.CATALOG)


def example_data(name: str) -> dict[str, Any]:
    return copy.deepcopy(catalog.get(name).example["data"])


def problems(name: str, data: Any) -> list[dict[str, str]]:
    return DataValidator(catalog.get(name).schema).problems(data)


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


# --- the same answers as core/schema.py gave (tests/test_catalog.py pins those) ------------------------------


@pytest.mark.parametrize("name", SEEDED)
def test_every_seeded_schema_is_accepted_and_its_example_is_valid(name):
    assert check_schema(catalog.get(name).schema) == []
    assert problems(name, example_data(name)) == []


def test_string_amount_is_refused_with_its_path():
    data = example_data("product.purchased")
    data["price"]["amount"] = "49.99"
    assert problems("product.purchased", data) == [{"path": "data.price.amount", "message": "expected number"}]


def test_missing_nested_required_fields_in_schema_order():
    data = example_data("order.completed")
    del data["total"]["currency"]
    del data["items"][1]["productId"]
    del data["shipping"]["address"]["city"]
    assert problems("order.completed", data) == [
        {"path": "data.total.currency", "message": "is required"},
        {"path": "data.items[1].productId", "message": "is required"},
        {"path": "data.shipping.address.city", "message": "is required"},
    ]


def test_booleans_are_not_numbers():
    data = example_data("product.purchased")
    data["quantity"] = True
    data["price"]["amount"] = False
    assert problems("product.purchased", data) == [
        {"path": "data.quantity", "message": "expected integer"},
        {"path": "data.price.amount", "message": "expected number"},
    ]


@pytest.mark.parametrize(
    ("rating", "expected"),
    [(0, ["must be >= 1"]), (6, ["must be <= 5"]), (4.5, ["expected integer"]), ("5", ["expected integer"]), (5.0, [])],
)
def test_rating_bounds_and_integral_floats(rating, expected):
    data = example_data("review.created")
    data["rating"] = rating
    assert [p["message"] for p in problems("review.created", data)] == expected


def test_formats_and_arrays():
    data = example_data("review.created")
    data["createdAt"] = "15/01/2024"
    data["photos"] = ["https://ok.example/p.jpg", "not a url", 3]
    data["verified"] = "yes"
    assert problems("review.created", data) == [
        {"path": "data.verified", "message": "expected boolean"},
        {"path": "data.photos[1]", "message": "not an absolute URI"},
        {"path": "data.photos[2]", "message": "expected string"},
        {"path": "data.createdAt", "message": "not an ISO-8601 date-time"},
    ]


@pytest.mark.parametrize("value", ["2024-01-15T10:30:00Z", "2024-01-15T10:30:00.123Z", "2024-01-15T10:30:00+02:00"])
def test_date_time_accepted(value):
    assert DataValidator({"type": "string", "format": "date-time"}).problems(value) == []


@pytest.mark.parametrize("value", ["2024-01-15", "2024-02-30T10:00:00Z", "2024-01-15T10:30:00", "yesterday"])
def test_date_time_refused_as_today(value):
    assert DataValidator({"type": "string", "format": "date-time"}).problems(value) == [
        {"path": "data", "message": "not an ISO-8601 date-time"}
    ]


def test_keywords_messages_and_unknown_fields_last():
    schema = {
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"enum": ["x", "y"]}, "b": {"type": "string", "minLength": 2, "maxLength": 3}},
        "additionalProperties": False,
    }
    assert DataValidator(schema).problems({"a": "z", "b": "abcd", "c": 1}, "") == [
        {"path": "a", "message": 'must be one of ["x", "y"]'},
        {"path": "b", "message": "must be at most 3 characters"},
        {"path": "c", "message": "unknown field"},
    ]
    assert DataValidator({"properties": {"a": {"enum": [1]}}}).problems({"a": True}) == [
        {"path": "data.a", "message": "must be one of [1]"}
    ]


def test_problems_are_capped_and_the_data_must_be_an_object():
    capped = DataValidator({"type": "array", "items": {"type": "number"}}).problems(["x"] * 200)
    assert len(capped) == MAX_PROBLEMS and capped[0] == {"path": "data[0]", "message": "expected number"}
    assert problems("review.approved", ["x"]) == [{"path": "data", "message": "expected object"}]


# --- what the hand-written subset could not say -------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        ({"const": "v1"}, "v2", [("data", 'must be "v1"')]),
        ({"type": "number", "exclusiveMinimum": 0}, 0, [("data", "must be > 0")]),
        ({"type": "number", "multipleOf": 0.5}, 0.3, [("data", "must be a multiple of 0.5")]),
        ({"type": "string", "pattern": "^[A-Z]{3}$"}, "usd", [("data", 'must match the pattern "^[A-Z]{3}$"')]),
        ({"type": "array", "uniqueItems": True}, [1, 1], [("data", "must not contain duplicate items")]),
        ({"type": "array", "maxItems": 1}, [1, 2], [("data", "must have at most 1 item")]),
        ({"type": "object", "minProperties": 2}, {"a": 1}, [("data", "must have at least 2 fields")]),
        ({"type": ["string", "null"]}, 3, [("data", "expected string or null")]),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, 3, [("data", "expected string or null")]),
        ({"type": "string", "format": "email"}, "nope", [("data", "not an email address")]),
        ({"type": "string", "format": "uuid"}, "nope", [("data", "not a UUID")]),
        ({"not": {"type": "string"}}, "s", [("data", "must not match the excluded shape (not)")]),
        (obj(a=False), {"a": 1}, [("data.a", "is not allowed")]),
        ({"dependentRequired": {"card": ["cvc"]}}, {"card": "4242"}, [("data.cvc", "is required")]),
    ],
)
def test_2020_12_keywords_get_plain_messages(schema, value, expected):
    assert [(p["path"], p["message"]) for p in DataValidator(schema).problems(value)] == expected


def test_any_of_and_one_of_say_what_each_option_missed():
    schema = obj(
        y={"oneOf": [{"type": "object", "required": ["a"]}, {"type": "object", "required": ["b"]}]},
        z={"anyOf": [{"type": "integer"}, {"type": "string", "minLength": 2}]},
    )
    assert DataValidator(schema).problems({"y": {}, "z": "x"}) == [
        {"path": "data.y", "message": "matches none of the 2 allowed shapes (oneOf): #1 data.y.a: is required; #2 data.y.b: is required"},
        {"path": "data.z", "message": "matches none of the 2 allowed shapes (anyOf): #1 expected integer; #2 must be at least 2 characters"},
    ]  # fmt: skip
    assert DataValidator(schema).problems({"y": {"a": 1, "b": 2}}) == [
        {"path": "data.y", "message": "matches more than one of the allowed shapes (oneOf: #1, #2)"}
    ]


def test_refs_all_of_and_conditionals_are_followed_to_the_field():
    schema = {
        "type": "object",
        "$defs": {"money": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}}},
        "properties": {"price": {"$ref": "#/$defs/money"}},
        "allOf": [{"required": ["price"]}, {"required": ["price", "kind"]}],
        "if": {"properties": {"kind": {"const": "refund"}}, "required": ["kind"]},
        "then": {"required": ["reason"]},
    }
    validator = DataValidator(schema)
    assert validator.problems({"price": {"amount": "1"}}) == [
        {"path": "data.kind", "message": "is required"},
        {"path": "data.price.amount", "message": "expected number"},
    ]  # the repeated "price is required" of two allOf branches would show once
    assert validator.problems({"price": {"amount": 1}, "kind": "refund"}) == [
        {"path": "data.reason", "message": "is required"}
    ]


def test_pattern_and_additional_properties_schemas():
    schema = {
        "type": "object",
        "properties": {"id": {"type": "string"}},
        "patternProperties": {"^x-": {"type": "string"}},
        "additionalProperties": {"type": "integer"},
    }
    assert DataValidator(schema).problems({"id": "a", "x-trace": 1, "count": "many"}) == [
        {"path": "data.x-trace", "message": "expected string"},
        {"path": "data.count", "message": "expected integer"},
    ]


def test_keywords_the_descent_cannot_see_are_reported_by_the_library():
    schema = {
        "type": "object",
        "properties": {"tags": {"type": "array", "contains": {"const": "primary"}}},
        "propertyNames": {"maxLength": 5},
        "unevaluatedProperties": False,
        "allOf": [{"properties": {"note": {"type": "string"}}}],
    }
    validator = DataValidator(schema)
    assert validator.problems({"tags": ["x"], "note": "n"}) == [
        {"path": "data.tags", "message": "must contain a matching item"}
    ]
    assert validator.problems({"tags": ["primary"], "extra": 1}) == [{"path": "data.extra", "message": "unknown field"}]
    assert validator.problems({"tags": ["primary"], "note": 5}) == [{"path": "data.note", "message": "expected string"}]


# --- cost: the answer to a hostile event is bounded ---------------------------------------------------------


def test_many_bad_items_cost_what_the_first_fifty_cost():
    """jsonschema-rs builds every error before the first: 80,000 bad items take it ~0.5 s. We stop at 50."""
    schema = obj(items={"type": "array", "items": {"type": "integer"}})
    event = {"items": ["zz"] * 80_000}
    validator = DataValidator(schema)
    start = time.perf_counter()
    found = validator.problems(event)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    everything = list(jsonschema_rs.validator_for(schema).iter_errors(event))
    library = time.perf_counter() - start
    assert len(found) == MAX_PROBLEMS and found[0] == {"path": "data.items[0]", "message": "expected integer"}
    assert len(everything) == 80_000
    assert ours * 20 < library, (ours, library)


def test_a_catastrophic_pattern_runs_in_linear_time():
    # Python's re needs exponential time for this on a non-matching string; Rust's regex does not backtrack.
    validator = compile_schema(obj(s={"type": "string", "pattern": "^(a|a)*$"}))
    start = time.perf_counter()
    assert validator.problems({"s": "a" * 250_000 + "b"}) == [
        {"path": "data.s", "message": 'must match the pattern "^(a|a)*$"'}
    ]
    assert time.perf_counter() - start < 0.5


def test_the_widest_schema_allowed_validates_a_largest_event_in_bounded_time():
    branches = [{"type": "array", "items": {"type": "string", "maxLength": 1 + i}} for i in range(MAX_WIDTH - 2)]
    schema = obj(v={"anyOf": branches})
    assert check_schema(schema) == [] and evaluation_width(schema) == MAX_WIDTH - 1
    event = {"v": ["a"] * 65_000 + [1]}  # about 261 KB, the largest event SNS carries
    start = time.perf_counter()
    found = DataValidator(schema).problems(event)
    assert time.perf_counter() - start < 2.0
    assert found[0]["path"] == "data.v" and found[0]["message"].startswith("matches none of the 30 allowed shapes")


# --- operator schemas: refused with the reason and the place ------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "path", "fragment"),
    [
        ([], "schema", "expected object"),
        ({"type": "array"}, "schema.type", 'must be "object"'),
        (obj(a={"type": "strin"}), "schema.properties.a.type", "not a JSON Schema type"),
        (obj(a={"minLength": -1}), "schema.properties.a.minLength", "must be >= 0"),
        ({"type": "object", "required": "a"}, "schema.required", "expected array"),
        (obj(a={"$ref": "https://example.com/money.json"}), "schema.properties.a.$ref", "nothing is fetched"),
        (obj(a={"$ref": "#/$defs/missing"}), "schema.properties.a.$ref", "names nothing"),
        ({"type": "object", "$id": "https://example.com/x"}, "schema.$id", "base URI"),
        ({"type": "object", "$schema": "http://json-schema.org/draft-07/schema#"}, "schema.$schema", "2020-12"),
        (obj(a={"format": "color"}), "schema.properties.a.format", "unsupported format 'color'"),
        (obj(a={"pattern": "(?=a)b"}), "schema.properties.a.pattern", "linear-time engine"),
        ({"type": "object", "patternProperties": {"(a)\\1": {}}}, "schema.patternProperties.(a)\\1", "linear-time"),
        (
            {"type": "object", "$defs": {"n": obj(child={"$ref": "#/$defs/n"})}, "$ref": "#/$defs/n"},
            "schema.$defs.n.properties.child.$ref",
            "recursive schemas are not supported",
        ),
        ({"type": "object", "anyOf": [{"required": [str(i)]} for i in range(40)]}, "schema", "more than 32 subschemas"),
    ],
)
def test_operator_schemas_refused_by_path(schema, path, fragment):
    found = check_schema(schema)
    assert any(p["path"] == path and fragment in p["message"] for p in found), found
    with pytest.raises(SchemaRefused):
        compile_schema(schema)


def test_references_that_multiply_are_counted_expanded():
    """Each definition uses the previous one twice: 25 small definitions describe 2^25 subschemas."""
    defs = {"d0": {"type": "integer"}}
    for i in range(1, 25):
        defs[f"d{i}"] = {"allOf": [{"$ref": f"#/$defs/d{i - 1}"}, {"$ref": f"#/$defs/d{i - 1}"}]}
    schema = {"type": "object", "$defs": defs, "properties": {"n": {"$ref": "#/$defs/d24"}}}
    assert len(json.dumps(schema)) < 3000
    assert check_schema(schema) == [
        {"path": "schema", "message": "has more than 2000 subschemas with its $refs expanded"}
    ]


def test_size_and_depth_are_bounded_before_anything_else():
    deep: dict[str, Any] = {"type": "object"}
    for _ in range(40):
        deep = obj(a=deep)
    assert check_schema(deep) == [{"path": "schema", "message": "nests more than 32 levels deep"}]
    wide = obj(**{f"field{i}": {"type": "string", "description": "x" * 100} for i in range(1000)})
    [problem] = check_schema(wide)
    assert problem["path"] == "schema" and "at most 65536 are allowed" in problem["message"]


def test_every_problem_at_once_and_local_refs_in_defs_are_fine():
    schema = {
        "type": "object",
        "$defs": {"money": {"type": "object", "properties": {"amount": {"type": "number"}}}},
        "properties": {"a": {"$ref": "#/$defs/money"}, "b": {"$ref": "#"}, "c": {"format": "colour"}},
    }
    found = check_schema(schema)
    assert [p["path"] for p in found] == ["schema.properties.c.format"]
    schema["properties"].pop("c")
    assert check_schema(schema) == [
        {"path": "schema.properties.b.$ref", "message": "refers back to itself: recursive schemas are not supported"}
    ]


def test_annotation_only_formats_are_accepted_and_not_asserted():
    validator = compile_schema(obj(n={"type": "integer", "format": "int64"}, s={"type": "string", "format": "byte"}))
    assert validator.problems({"n": 2**40, "s": "not base64 at all"}) == []


def test_refused_lists_the_samples_a_schema_turns_away():
    validator = DataValidator(obj(amount={"type": "number"}))
    assert schemas.refused(validator, {"evt_1": {"amount": 1}, "evt_2": {"amount": "1"}}) == {
        "evt_2": [{"path": "data.amount", "message": "expected number"}]
    }
