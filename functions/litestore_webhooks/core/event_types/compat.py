"""Would a new schema refuse events the previous one accepted? Reasons by path, and the evidence.

`breaking_changes(old, new)` compares two schemas keyword by keyword. It is sound, not complete: when
it returns [] every value the old schema accepts is accepted by the new one (tests/
test_event_type_compat.py checks that on random schema pairs); a keyword it cannot decide is reported
as "cannot prove compatible: ...", so the operator must pass `force`, as for a real tightening.
`check_change` adds the evidence: the previous version's examples and any stored events the caller
passes, run through the new schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from litestore_webhooks.core.event_types.schemas import (
    ANNOTATION_FORMATS,
    DataValidator,
    Problem,
    child_path,
    map_subschemas,
    node_validator,
    ref_target,
    refused,
)

_ALL_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
_OPTIONS = ("anyOf", "oneOf")
# Compared only for equality: a change to one of these cannot be proven compatible here.
_OPAQUE = ("not", "if", "then", "else", "contains", "minContains", "maxContains", "propertyNames")
_OPAQUE_MORE = ("dependentSchemas", "unevaluatedItems")
_IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas")
_ANNOTATIONS = frozenset(
    {"title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly", "$comment", "$defs"}
    | {"$schema", "contentMediaType", "contentEncoding", "contentSchema"}
)
_ASSERTIONS = frozenset(
    {"type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"}
    | {"maxLength", "minLength", "pattern", "format", "maxItems", "minItems", "uniqueItems", "maxContains"}
    | {"minContains", "maxProperties", "minProperties", "required", "dependentRequired", "prefixItems", "items"}
    | {"contains", "properties", "patternProperties", "additionalProperties", "propertyNames", "unevaluatedItems"}
    | {"unevaluatedProperties", "$ref", *_IN_PLACE}
)
_MAX_DEPTH = 64


@dataclass(frozen=True)
class Compatibility:
    """The answer to a schema change: `reasons` from the schemas, `refused` samples with their problems."""

    reasons: list[Problem] = field(default_factory=list)
    refused: dict[str, list[Problem]] = field(default_factory=dict)

    @property
    def compatible(self) -> bool:
        return not self.reasons and not self.refused

    def details(self) -> list[dict[str, str]]:
        """One list for an error answer: each reason, then each refused sample's problems (with `sample`)."""
        out = [dict(reason) for reason in self.reasons]
        for label, problems in self.refused.items():
            out.extend({**problem, "sample": label} for problem in problems)
        return out


class _TooDeep(Exception):
    pass


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _asserts(node: Any) -> bool:
    """Whether `node` constrains anything (annotations and unknown keywords do not)."""
    return node is False or (isinstance(node, dict) and any(keyword in _ASSERTIONS for keyword in node))


def _expand(node: Any, root: dict[str, Any], depth: int = 0) -> Any:
    """`node` with every local $ref replaced by what it names, so two schemas compare as text."""
    if depth > _MAX_DEPTH:
        raise _TooDeep
    if not isinstance(node, dict):
        return node
    out = map_subschemas(
        {k: v for k, v in node.items() if k not in ("$ref", "$defs")}, lambda sub: _expand(sub, root, depth + 1)
    )
    ref = node.get("$ref")
    target = ref_target(root, ref) if isinstance(ref, str) else None
    if target is None:
        return out
    named = _expand(target[1], root, depth + 1)
    if not _asserts(out):
        return named
    return _merge(out, named) or {**out, "allOf": [*out.get("allOf", []), named]}


# Keywords that read each other: merged from two schemas, they would say something neither said.
_GROUPS = (
    frozenset({"properties", "patternProperties", "additionalProperties"}),
    frozenset({"prefixItems", "items"}),
    frozenset({"contains", "minContains", "maxContains"}),
    frozenset({"if", "then", "else"}),
)


def _merge(a: dict[str, Any], b: Any) -> dict[str, Any] | None:
    """One schema meaning `a` and `b` together when they constrain different keywords; None otherwise."""
    if not isinstance(b, dict) or any(
        k in node for node in (a, b) for k in ("unevaluatedProperties", "unevaluatedItems")
    ):
        return None
    for group in _GROUPS:
        if group & a.keys() and group & b.keys() and not (group & a.keys() == group & b.keys() == {"properties"}):
            return None
    out = dict(a)
    for keyword, value in b.items():
        if keyword in _ANNOTATIONS:
            continue
        if keyword not in out or _same(out[keyword], value):
            out[keyword] = value
        elif keyword == "required":
            out[keyword] = list(dict.fromkeys([*out[keyword], *value]))
        elif keyword == "properties" and not set(out[keyword]) & set(value):
            out[keyword] = {**out[keyword], **value}
        else:
            return None
    return out


def _flatten(node: Any) -> Any:
    """Fold allOf branches into the node where they constrain different keywords (the common composition)."""
    if not isinstance(node, dict) or not isinstance(node.get("allOf"), list):
        return node
    merged = {k: v for k, v in node.items() if k != "allOf"}
    kept = []
    for branch in node["allOf"]:
        branch = _flatten(branch)
        combined = _merge(merged, branch)
        if combined is None:
            kept.append(branch)
        else:
            merged = combined
    if kept:
        merged["allOf"] = kept
    return merged


def _types(node: dict[str, Any]) -> tuple[str, ...] | None:
    declared = node.get("type")
    if declared is None:
        return None
    return tuple(sorted([declared] if isinstance(declared, str) else declared))


def _covered(kind: str, accepted: tuple[str, ...] | None) -> bool:
    return accepted is None or kind in accepted or (kind == "integer" and "number" in accepted)


def _describe(kinds: tuple[str, ...] | None) -> str:
    return "any type" if kinds is None else " or ".join(kinds)


def _bound(node: dict[str, Any], low: bool) -> tuple[Fraction, bool] | None:
    """The tightest lower (or upper) bound on numbers as (value, exclusive)."""
    sign = 1 if low else -1
    bounds = [
        (sign * Fraction(str(node[keyword])), exclusive)
        for keyword, exclusive in (
            (("minimum", False), ("exclusiveMinimum", True))
            if low
            else (("maximum", False), ("exclusiveMaximum", True))
        )
        if isinstance(node.get(keyword), (int, float)) and not isinstance(node.get(keyword), bool)
    ]
    if not bounds:
        return None
    value, exclusive = max(bounds)
    return sign * value, exclusive


def _bound_text(bound: tuple[Fraction, bool] | None, low: bool) -> str:
    if bound is None:
        return "none"
    value, exclusive = bound
    shown = str(value.numerator) if value.denominator == 1 else str(float(value))
    return (">" if low else "<") + ("" if exclusive else "=") + " " + shown


def _tighter(before: tuple[Fraction, bool] | None, after: tuple[Fraction, bool], low: bool) -> bool:
    if before is None:
        return True
    if after[0] != before[0]:
        return after[0] > before[0] if low else after[0] < before[0]
    return after[1] and not before[1]


def _disjoint_types(options: list[Any]) -> bool:
    """Whether no value can match two of `options` because each takes different JSON types."""
    seen: set[str] = set()
    for option in options:
        kinds = _types(option) if isinstance(option, dict) else None
        if kinds is None:
            return False
        covers = set(kinds) | ({"integer"} if "number" in kinds else set())
        if covers & seen:
            return False
        seen |= covers
    return True


class _Comparison:
    def compare(self, old: Any, new: Any, path: str, depth: int = 0) -> Iterator[Problem]:
        if depth > _MAX_DEPTH:
            yield {"path": path, "message": "cannot prove compatible: the schemas nest too deep to compare"}
            return
        old, new = _flatten(old), _flatten(new)
        if old is False or not _asserts(new):
            return  # nothing was accepted before, or everything is accepted now
        if new is False:
            yield {"path": path, "message": "now refuses every value"}
            return
        old = {} if old is True else old
        if not isinstance(old, dict) or not isinstance(new, dict) or _same(old, new):
            return
        finite = self._finite(old, new, path)
        if finite is not None:
            yield from finite
            return
        for keyword in _IN_PLACE:  # the same in-place subschema on both sides constrains both alike
            if keyword in old and keyword in new and _same(old[keyword], new[keyword]):
                old = {k: v for k, v in old.items() if k != keyword}
                new = {k: v for k, v in new.items() if k != keyword}
        if any(keyword in old for keyword in _OPTIONS):
            yield from self._old_options(old, new, path, depth)
            return
        if any(keyword in new for keyword in _OPTIONS):
            yield from self._new_options(old, new, path, depth)
        for branch in new.get("allOf", []):
            yield from self.compare(old, branch, path, depth + 1)
        yield from self._keywords(old, new, path, depth)

    def _finite(self, old: dict[str, Any], new: dict[str, Any], path: str) -> list[Problem] | None:
        """An old enum or const is decided exactly: each value it allowed, run through the new schema."""
        kinds = _types(old)
        if "const" in old:
            values = [old["const"]]
        elif isinstance(old.get("enum"), list):
            values = list(old["enum"])
        elif kinds is not None and set(kinds) <= {"boolean", "null"}:
            values = [True, False, None]
        else:
            return None
        before, after = node_validator(old), node_validator(new)
        lost = [value for value in values if before.is_valid(value) and not after.is_valid(value)]
        return [{"path": path, "message": f"no longer accepts {json.dumps(lost)[:200]}"}] if lost else []

    def _old_options(self, old: dict[str, Any], new: dict[str, Any], path: str, depth: int) -> Iterator[Problem]:
        """old = rest and (one of its options): compatible when each option, with the rest, fits the new."""
        keyword = "anyOf" if "anyOf" in old else "oneOf"
        rest = {k: v for k, v in old.items() if k != keyword}
        for option in old[keyword]:
            candidate = _merge(rest, _flatten(option))
            yield from self.compare(option if candidate is None else candidate, new, path, depth + 1)

    def _new_options(self, old: dict[str, Any], new: dict[str, Any], path: str, depth: int) -> Iterator[Problem]:
        """Everything the old accepted must match an option (exactly one, for a oneOf of disjoint types)."""
        if "anyOf" in new and "oneOf" in new:
            yield {"path": path, "message": "cannot prove compatible: anyOf and oneOf together"}
            return
        keyword = "anyOf" if "anyOf" in new else "oneOf"
        options = new[keyword]
        if keyword == "oneOf" and not _disjoint_types(options):
            yield {"path": path, "message": "cannot prove compatible: oneOf changed"}
            return
        kinds = _types(old)
        parts = [old] if kinds is None or len(kinds) == 1 else [{**old, "type": kind} for kind in kinds]
        for part in parts:
            if not any(not list(self.compare(part, option, path, depth + 1)) for option in options):
                what = "" if part is old else f" {part['type']}"
                yield {
                    "path": path,
                    "message": f"previously accepted{what} values match none of the new {keyword} options",
                }

    def _keywords(self, old: dict[str, Any], new: dict[str, Any], path: str, depth: int) -> Iterator[Problem]:
        old_types, new_types = _types(old), _types(new)
        if new_types is not None and any(not _covered(t, new_types) for t in old_types or _ALL_TYPES):
            yield {"path": path, "message": f"type narrowed from {_describe(old_types)} to {_describe(new_types)}"}
        for keyword in ("const", "enum"):
            if keyword in new:
                allowed = [new["const"]] if keyword == "const" else new["enum"]
                yield {"path": path, "message": f"{keyword} added: only {json.dumps(allowed)[:200]} accepted"}
        still = [t for t in (old_types or _ALL_TYPES) if _covered(t, new_types)]
        if "number" in still or "integer" in still:
            yield from self._numbers(old, new, path)
        if "string" in still:
            yield from self._strings(old, new, path)
        if "array" in still:
            yield from self._arrays(old, new, path, depth)
        if "object" in still:
            yield from self._objects(old, new, path, depth)
        for keyword in _OPAQUE + _OPAQUE_MORE:
            if keyword in new and not _same(old.get(keyword), new[keyword]):
                yield {"path": path, "message": f"cannot prove compatible: {keyword} changed"}

    def _numbers(self, old: dict[str, Any], new: dict[str, Any], path: str) -> Iterator[Problem]:
        for low, word in ((True, "minimum"), (False, "maximum")):
            before, after = _bound(old, low), _bound(new, low)
            if after is not None and _tighter(before, after, low):
                message = f"{word} tightened from {_bound_text(before, low)} to {_bound_text(after, low)}"
                yield {"path": path, "message": message}
        step, previous = new.get("multipleOf"), old.get("multipleOf")
        if isinstance(step, (int, float)):
            divides = (
                isinstance(previous, (int, float)) and (Fraction(str(previous)) / Fraction(str(step))).denominator == 1
            )
            if not divides:
                yield {"path": path, "message": f"multipleOf {step} added"}

    def _counts(
        self, old: dict[str, Any], new: dict[str, Any], path: str, keywords: tuple[str, str], noun: str
    ) -> Iterator[Problem]:
        low, high = keywords
        if isinstance(new.get(low), int) and new[low] > old.get(low, 0):
            yield {"path": path, "message": f"{low} raised from {old.get(low, 0)} to {new[low]} {noun}"}
        if isinstance(new.get(high), int) and (not isinstance(old.get(high), int) or new[high] < old[high]):
            yield {"path": path, "message": f"{high} lowered from {old.get(high, 'none')} to {new[high]} {noun}"}

    def _strings(self, old: dict[str, Any], new: dict[str, Any], path: str) -> Iterator[Problem]:
        yield from self._counts(old, new, path, ("minLength", "maxLength"), "characters")
        fmt = new.get("format")
        if isinstance(fmt, str) and fmt not in ANNOTATION_FORMATS and fmt != old.get("format"):
            yield {"path": path, "message": f"format {fmt} added"}
        if "pattern" in new and new["pattern"] != old.get("pattern"):
            yield {"path": path, "message": f"pattern {json.dumps(new['pattern'])} added"}

    def _arrays(self, old: dict[str, Any], new: dict[str, Any], path: str, depth: int) -> Iterator[Problem]:
        yield from self._counts(old, new, path, ("minItems", "maxItems"), "items")
        if new.get("uniqueItems") is True and old.get("uniqueItems") is not True:
            yield {"path": path, "message": "uniqueItems added: repeated items are refused"}
        old_prefix, new_prefix = old.get("prefixItems", []), new.get("prefixItems", [])
        if len(old_prefix) != len(new_prefix):
            yield {"path": path, "message": "cannot prove compatible: prefixItems changed"}
            return
        for index, (before, after) in enumerate(zip(old_prefix, new_prefix)):
            yield from self.compare(before, after, child_path(path, index), depth + 1)
        if "items" in new:
            yield from self.compare(old.get("items", True), new["items"], f"{path}[]", depth + 1)

    def _objects(self, old: dict[str, Any], new: dict[str, Any], path: str, depth: int) -> Iterator[Problem]:
        for key in new.get("required", []):
            if key not in old.get("required", []):
                yield {"path": child_path(path, key), "message": "new required property"}
        old_needs = old.get("dependentRequired", {})
        for key, needs in new.get("dependentRequired", {}).items():
            added = [need for need in needs if need not in old_needs.get(key, [])]
            if added:
                yield {"path": child_path(path, key), "message": f"when present, now requires {', '.join(added)}"}
        yield from self._counts(old, new, path, ("minProperties", "maxProperties"), "fields")
        closed = new.get("unevaluatedProperties")
        changed = closed is not None and not _same(old.get("unevaluatedProperties"), closed)
        if changed and (closed is not False or any(keyword in new for keyword in _IN_PLACE)):
            yield {"path": path, "message": "cannot prove compatible: unevaluatedProperties changed"}
            return
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_patterns, new_patterns = old.get("patternProperties", {}), new.get("patternProperties", {})
        old_rest, new_rest = _other_fields(old), _other_fields(new)
        if set(old_patterns) != set(new_patterns) and (set(new_patterns) - set(old_patterns) or _asserts(new_rest)):
            yield {"path": path, "message": "cannot prove compatible: patternProperties changed"}
            return
        for pattern, after in new_patterns.items():
            yield from self.compare(old_patterns[pattern], after, child_path(path, pattern), depth + 1)
        for key in [*new_props, *(k for k in old_props if k not in new_props)]:
            where = child_path(path, key)
            if key in new_props and key in old_props:
                yield from self.compare(old_props[key], new_props[key], where, depth + 1)
            elif key in new_props:  # newly described: before, whatever governed unlisted fields applied
                yield from self.compare(_governing(old_patterns, old_rest, key), new_props[key], where, depth + 1)
            elif old_props[key] is not False:
                governing = _governing(new_patterns, new_rest, key)
                if governing is False:
                    yield {"path": where, "message": "property removed while fields not listed are refused"}
                else:
                    yield from self.compare(old_props[key], governing, where, depth + 1)
        if new_rest is False and old_rest is not False:
            yield {"path": path, "message": "fields not listed are now refused (additionalProperties: false)"}
        elif new_rest is not False:
            yield from self.compare(old_rest, new_rest, child_path(path, "*"), depth + 1)


def _other_fields(node: dict[str, Any]) -> Any:
    """The schema fields outside `properties` and `patternProperties` get.

    `unevaluatedProperties: false` counts only without in-place subschemas, whose properties it would also
    let through: with them, the old side is taken as open (more than it accepted: still sound).
    """
    rest = node.get("additionalProperties", True)
    if rest is True and node.get("unevaluatedProperties") is False and not any(k in node for k in _IN_PLACE):
        return False
    return rest


def _governing(patterns: dict[str, Any], rest: Any, key: str) -> Any:
    """The schema a key not in `properties` gets: its matching patternProperties (all), else the rest's."""
    matched = [sub for pattern, sub in patterns.items() if node_validator({"pattern": pattern}).is_valid(key)]
    if not matched:
        return rest
    return matched[0] if len(matched) == 1 else {"allOf": matched}


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "data") -> list[Problem]:
    """Why `new` may refuse values `old` accepted, by path; [] proves it does not. Both must pass check_schema."""
    try:
        old_expanded, new_expanded = _expand(old, old), _expand(new, new)
    except _TooDeep:
        return [{"path": path, "message": "cannot prove compatible: references nest too deep to compare"}]
    seen: set[tuple[str, str]] = set()
    out = []
    for problem in _Comparison().compare(old_expanded, new_expanded, path):
        key = (problem["path"], problem["message"])
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


def check_change(
    old: dict[str, Any],
    new: dict[str, Any],
    samples: Mapping[str, Any] | None = None,
    validator: DataValidator | None = None,
) -> Compatibility:
    """The reasons `new` may refuse what `old` accepted, and which `samples` (label -> data) it refuses."""
    new_validator = validator or DataValidator(new)
    return Compatibility(reasons=breaking_changes(old, new), refused=refused(new_validator, samples or {}))
