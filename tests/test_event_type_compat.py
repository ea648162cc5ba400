"""core/event_types/compat.py: which schema changes may refuse what the previous version accepted."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import seed_catalog as catalog
from litestore_webhooks.core.event_types.compat import breaking_changes, check_change
from litestore_webhooks.core.event_types.schemas import DataValidator


def obj(required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


STR = {"type": "string"}
NUM = {"type": "number"}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (obj(a=STR), obj(["a"], a=STR), [("data.a", "new required property")]),
        (
            {**obj(a=STR, b=STR), "additionalProperties": False},
            {**obj(a=STR), "additionalProperties": False},
            [("data.b", "property removed while fields not listed are refused")],
        ),
        (
            {**obj(a=STR, b=STR), "unevaluatedProperties": False},
            {**obj(a=STR), "unevaluatedProperties": False},
            [("data.b", "property removed while fields not listed are refused")],
        ),
        (obj(a=STR), {**obj(a=STR), "additionalProperties": False}, [("data", "fields not listed are now refused (additionalProperties: false)")]),
        (obj(a={"type": ["string", "null"]}), obj(a=STR), [("data.a", "type narrowed from null or string to string")]),
        (obj(a=NUM), obj(a={"type": "integer"}), [("data.a", "type narrowed from number to integer")]),
        (obj(a={"enum": ["x", "y"]}), obj(a={"enum": ["x"]}), [("data.a", 'no longer accepts ["y"]')]),
        (obj(a={"const": "v1"}), obj(a={"const": "v2"}), [("data.a", 'no longer accepts ["v1"]')]),
        (obj(a=STR), obj(a={"type": "string", "enum": ["x"]}), [("data.a", 'enum added: only ["x"] accepted')]),
        (obj(a={**NUM, "minimum": 0}), obj(a={**NUM, "minimum": 1}), [("data.a", "minimum tightened from >= 0 to >= 1")]),
        (obj(a={**NUM, "minimum": 0}), obj(a={**NUM, "exclusiveMinimum": 0}), [("data.a", "minimum tightened from >= 0 to > 0")]),
        (obj(a=NUM), obj(a={**NUM, "maximum": 5}), [("data.a", "maximum tightened from none to <= 5")]),
        (obj(a=NUM), obj(a={**NUM, "multipleOf": 2}), [("data.a", "multipleOf 2 added")]),
        (obj(a={**STR, "maxLength": 9}), obj(a={**STR, "maxLength": 3}), [("data.a", "maxLength lowered from 9 to 3 characters")]),
        (obj(a=STR), obj(a={**STR, "minLength": 1}), [("data.a", "minLength raised from 0 to 1 characters")]),
        (obj(a=STR), obj(a={**STR, "format": "uri"}), [("data.a", "format uri added")]),
        (obj(a=STR), obj(a={**STR, "pattern": "^x"}), [("data.a", 'pattern "^x" added')]),
        (obj(a={"type": "array"}), obj(a={"type": "array", "minItems": 1}), [("data.a", "minItems raised from 0 to 1 items")]),
        (obj(a={"type": "array"}), obj(a={"type": "array", "uniqueItems": True}), [("data.a", "uniqueItems added: repeated items are refused")]),
        (obj(a={"type": "array", "items": NUM}), obj(a={"type": "array", "items": {"type": "integer"}}), [("data.a[]", "type narrowed from number to integer")]),
        (
            obj(a={"anyOf": [STR, NUM]}),
            obj(a={"anyOf": [STR]}),
            [("data.a", "previously accepted values match none of the new anyOf options")],
        ),
        (
            obj(a={"oneOf": [STR, NUM]}),
            obj(a={"oneOf": [STR]}),
            [("data.a", "previously accepted values match none of the new oneOf options")],
        ),
        ({**obj(card=STR), "dependentRequired": {}}, {**obj(card=STR), "dependentRequired": {"card": ["cvc"]}}, [("data.card", "when present, now requires cvc")]),
        (obj(), obj(locale=STR), [("data.locale", "type narrowed from any type to string")]),
        (
            {**obj(m={"$ref": "#/$defs/money"}), "$defs": {"money": obj(amount=NUM)}},
            {**obj(m={"$ref": "#/$defs/money"}), "$defs": {"money": obj(["amount"], amount=NUM)}},
            [("data.m.amount", "new required property")],
        ),
        (obj(a={}), obj(a=False), [("data.a", "now refuses every value")]),
        # what the checker cannot decide, it says so: the operator must force
        (obj(a={"not": STR}), obj(a={"not": NUM}), [("data.a", "cannot prove compatible: not changed")]),
        (obj(a={"type": "array"}), obj(a={"type": "array", "contains": NUM}), [("data.a", "cannot prove compatible: contains changed")]),
        (obj(), {**obj(), "propertyNames": {"maxLength": 3}}, [("data", "cannot prove compatible: propertyNames changed")]),
        (obj(), {**obj(), "patternProperties": {"^x": STR}}, [("data", "cannot prove compatible: patternProperties changed")]),
        (obj(a=STR), obj(a={"oneOf": [STR, {"minLength": 1}]}), [("data.a", "cannot prove compatible: oneOf changed")]),
        (obj(a={"oneOf": [STR, {}]}), obj(a={"oneOf": [STR, NUM]}), [("data.a", "previously accepted values match none of the new oneOf options")]),
        (obj(a={}), obj(a={"if": STR, "then": {"minLength": 1}}), [("data.a", "cannot prove compatible: if changed"), ("data.a", "cannot prove compatible: then changed")]),
    ],
)  # fmt: skip
def test_breaking_changes_are_named_by_path(old, new, expected):
    assert [(p["path"], p["message"]) for p in breaking_changes(old, new)] == expected


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (obj(["a"], a=STR), obj(a=STR)),  # no longer required
        (obj(a={**STR, "maxLength": 3}), obj(a={**STR, "maxLength": 9})),
        (obj(a={**NUM, "minimum": 1}), obj(a={**NUM, "minimum": 0})),
        (obj(a={**NUM, "exclusiveMinimum": 0}), obj(a={**NUM, "minimum": 0})),
        (obj(a={**NUM, "multipleOf": 4}), obj(a={**NUM, "multipleOf": 2})),
        (obj(a={"enum": ["x"]}), obj(a={"enum": ["x", "y"]})),
        (obj(a={"enum": ["x", "y"]}), obj(a={**STR, "maxLength": 1})),  # decided value by value
        (obj(a={"type": "integer"}), obj(a=NUM)),
        (obj(a=STR), obj(a={"type": ["string", "null"]})),
        (obj(a={"type": ["string", "null"]}), obj(a={"anyOf": [STR, {"type": "null"}]})),
        (obj(a={"anyOf": [STR, {"type": "null"}]}), obj(a={"type": ["string", "null"]})),
        (obj(a={"oneOf": [STR, NUM]}), obj(a={"oneOf": [STR, NUM, {"type": "null"}]})),
        (obj(a={"type": "boolean"}), obj(a={"enum": [True, False]})),
        ({**obj(a=STR), "additionalProperties": False}, obj(a=STR)),
        (obj(a=STR), obj(a={**STR, "description": "the id", "examples": ["x"], "format": "int64"})),
        (obj(a={**STR, "format": "uri"}), obj(a=STR)),
        (obj(a=STR), {**obj(a={"$ref": "#/$defs/s"}), "$defs": {"s": STR}}),  # refactored into $defs
        (obj(a=STR), {**obj(), "allOf": [obj(a=STR)]}),
        (obj(a=STR, b=NUM), obj(a=STR)),  # an unlisted field may be anything
    ],
)
def test_loosening_and_refactoring_are_compatible(old, new):
    assert breaking_changes(old, new) == []


def test_document_schemas_compare_equal_to_themselves_and_a_real_tightening_lists_every_reason():
    for name in catalog.CATALOG:
        assert breaking_changes(catalog.get(name).schema, catalog.get(name).schema) == []
    old = catalog.get("order.completed").schema
    new = copy.deepcopy(old)
    new["required"].append("shipping")
    new["properties"]["total"]["properties"]["amount"]["minimum"] = 1
    new["properties"]["items"]["items"]["additionalProperties"] = False
    new["properties"]["customer"]["properties"]["email"]["format"] = "email"
    assert breaking_changes(old, new) == [
        {"path": "data.shipping", "message": "new required property"},
        {"path": "data.total.amount", "message": "minimum tightened from >= 0 to >= 1"},
        {"path": "data.items[]", "message": "fields not listed are now refused (additionalProperties: false)"},
        {"path": "data.customer.email", "message": "format email added"},
    ]


def test_evidence_lists_the_samples_the_new_schema_refuses():
    old = obj(amount=NUM)
    new = obj(["currency"], amount=NUM, currency=STR)
    result = check_change(old, new, {"evt_1": {"amount": 1, "currency": "USD"}, "evt_2": {"amount": 2}})
    assert not result.compatible
    assert result.reasons == [
        {"path": "data.currency", "message": "new required property"},
        {"path": "data.currency", "message": "type narrowed from any type to string"},  # it could have been anything
    ]
    assert result.refused == {"evt_2": [{"path": "data.currency", "message": "is required"}]}
    assert result.details()[-1] == {"path": "data.currency", "message": "is required", "sample": "evt_2"}


# --- the property: "compatible" is never wrong -------------------------------------------------------------

KEYS = ("a", "b", "c")
SCALARS = ("string", "integer", "number", "boolean", "null")


def leaf_schemas() -> st.SearchStrategy[dict[str, Any]]:
    bound = st.integers(-5, 5)
    return st.one_of(
        st.just({}),
        st.builds(lambda lo, span: {"type": "string", "minLength": lo, "maxLength": lo + span}, st.integers(0, 3), st.integers(0, 3)),
        st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3, unique=True).map(lambda e: {"type": "string", "enum": e}),
        st.builds(lambda lo, span: {"type": "integer", "minimum": lo, "maximum": lo + span}, bound, st.integers(0, 6)),
        st.builds(lambda lo: {"type": "number", "exclusiveMinimum": lo}, bound),
        st.sampled_from(SCALARS).map(lambda t: {"type": t}),
        st.lists(st.sampled_from(SCALARS), min_size=2, max_size=3, unique=True).map(lambda ts: {"type": ts}),
    )  # fmt: skip


def schemas() -> st.SearchStrategy[dict[str, Any]]:
    def extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        objects = st.builds(
            lambda props, required, closed: {
                "type": "object",
                "properties": props,
                "required": [k for k in required if k in props],
                **({"additionalProperties": False} if closed else {}),
            },
            st.dictionaries(st.sampled_from(KEYS), children, max_size=3),
            st.lists(st.sampled_from(KEYS), unique=True, max_size=2),
            st.booleans(),
        )
        arrays = st.builds(
            lambda items, lo: {"type": "array", "items": items, "minItems": lo, "maxItems": lo + 3},
            children,
            st.integers(0, 2),
        )
        options = st.lists(children, min_size=1, max_size=3).map(lambda os: {"anyOf": os})
        return st.one_of(objects, arrays, options)

    return st.recursive(leaf_schemas(), extend, max_leaves=6)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.sampled_from(["", "x", "yz", "hello"])),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "x"]), kids, max_size=3),
    max_leaves=5,
)


def instances(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the schema accepts (mostly: the test keeps only those the old validator accepts)."""
    if "anyOf" in schema:
        return st.one_of([instances(option) for option in schema["anyOf"]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([instances({"type": k}) for k in kind])
    if kind is None:
        return JSON
    if kind == "string":
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        return st.text("ab", min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 5))
    if kind == "integer":
        return st.integers(schema.get("minimum", -10), schema.get("maximum", 10))
    if kind == "number":
        low = schema.get("exclusiveMinimum", -10)
        return st.floats(low, low + 20, exclude_min="exclusiveMinimum" in schema, allow_nan=False) | st.integers(
            low + 1, low + 20
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        lo = schema.get("minItems", 0)
        return st.lists(instances(schema.get("items", {})), min_size=lo, max_size=schema.get("maxItems", lo + 3))

    @st.composite
    def objects(draw: st.DrawFn) -> dict[str, Any]:
        out = {}
        for key, sub in schema.get("properties", {}).items():
            if key in schema.get("required", []) or draw(st.booleans()):
                out[key] = draw(instances(sub))
        if schema.get("additionalProperties", True) is not False and draw(st.booleans()):
            extra = draw(st.sampled_from(KEYS))
            if extra not in schema.get("properties", {}):
                out[extra] = draw(JSON)
        return out

    return objects()


def nodes(schema: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(schema, dict):
        for key, sub in schema.get("properties", {}).items():
            out += nodes(sub, (*path, "properties", key))
        if isinstance(schema.get("items"), dict):
            out += nodes(schema["items"], (*path, "items"))
        for index, sub in enumerate(schema.get("anyOf", [])):
            out += nodes(sub, (*path, "anyOf", index))
    return out


def at(schema: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        schema = schema[part]
    return schema


def applicable(node: dict[str, Any]) -> list[str]:
    """The edits that change `node`: loosenings first, then edits that may or may not break."""
    kind = node.get("type")
    edits = [
        ("drop required", bool(node.get("required"))),
        ("raise max", any(k in node for k in ("maxLength", "maximum", "maxItems"))),
        ("lower min", any(k in node for k in ("minLength", "minimum", "minItems"))),
        ("add enum value", "enum" in node),
        ("add type", isinstance(kind, str) and kind in SCALARS and "enum" not in node),
        ("open", node.get("additionalProperties") is False),
        ("add option", "anyOf" in node),
        ("replace", True),
        ("add required", kind == "object"),
        ("close", kind == "object" and "additionalProperties" not in node),
        ("narrow type", isinstance(kind, list)),
        ("remove property", bool(node.get("properties"))),
        ("tighten", any(k in node for k in ("minLength", "minimum", "minItems", "maxLength", "maximum", "maxItems"))),
    ]
    return [edit for edit, ok in edits if ok]


LOOSENINGS = frozenset({"drop required", "raise max", "lower min", "add enum value", "add type", "open", "add option"})


def mutate(draw: st.DrawFn, old: dict[str, Any]) -> tuple[dict[str, Any], str]:
    new = copy.deepcopy(old)
    path = draw(st.sampled_from(nodes(new)))
    node = at(new, path)
    edit = draw(st.sampled_from(applicable(node)))
    if edit == "drop required":
        node["required"].pop(draw(st.integers(0, len(node["required"]) - 1)))
    elif edit in ("raise max", "lower min", "tighten"):
        step = draw(st.integers(1, 3))
        for key in ("minLength", "minimum", "minItems", "maxLength", "maximum", "maxItems"):
            if key in node:
                up = key.startswith("max") == (edit != "tighten")
                node[key] = (
                    node[key] + step if up else (node[key] - step if key == "minimum" else max(0, node[key] - step))
                )
    elif edit == "add enum value":
        node["enum"] = [*node["enum"], "w"]
    elif edit == "add type":
        node["type"] = [node["type"], "null" if node["type"] != "null" else "string"]
    elif edit == "open":
        del node["additionalProperties"]
    elif edit == "add option":
        node["anyOf"].append(draw(leaf_schemas()))
    elif edit == "replace":
        replacement = draw(schemas())
        if not path:
            return replacement, edit
        at(new, path[:-1])[path[-1]] = replacement
    elif edit == "add required":
        node["required"] = list(dict.fromkeys([*node.get("required", []), draw(st.sampled_from(KEYS))]))
    elif edit == "close":
        node["additionalProperties"] = False
    elif edit == "narrow type":
        node["type"] = node["type"][0]
    elif edit == "remove property":
        node["properties"].pop(draw(st.sampled_from(sorted(node["properties"]))))
    return new, edit


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.data())
def test_compatible_means_every_old_value_is_still_accepted(data):
    old = data.draw(schemas(), label="old")
    new, edit = mutate(data.draw, old)
    note(f"new={new} edit={edit}")
    reasons = breaking_changes(old, new)
    if edit in LOOSENINGS:  # the checker must not cry wolf on a pure loosening
        assert reasons == [], reasons
    if reasons:
        return
    before, after = DataValidator(old), DataValidator(new)
    for _ in range(5):
        value = data.draw(instances(old), label="value")
        if before.is_valid(value):
            assert after.is_valid(value), (value, after.problems(value))
