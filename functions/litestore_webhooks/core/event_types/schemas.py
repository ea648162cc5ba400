"""JSON Schema 2020-12 for event `data`: compile a type's schema, find an event's problems, refuse hostile schemas.

jsonschema-rs (Rust; docs/catalog.md says why) decides every validity question; this module decides
where to look and how to say it. Its own `iter_errors` builds every error of an instance before the
first is returned (1.3 s for 40,000 bad array items), so a hostile event could cost seconds. Instead,
`DataValidator.problems` asks the library which subtrees are invalid (`is_valid`, microseconds,
stops at the first failure) and descends only into those, so finding the first MAX_PROBLEMS problems
costs at most the size of the event times its nesting depth, and the messages stay today's
(`data.price.amount: expected number`).

Operator schemas are bounded before they are compiled (`check_schema`): local `$ref`s only (nothing is
fetched), no recursion, at most MAX_WIDTH subschemas applied to any one value of an event, patterns
compiled by a linear-time engine (Rust's `regex`: no lookaround, no backreferences).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any
from urllib.parse import quote, unquote

import jsonschema_rs

from litestore_webhooks.core.errors import shown_key
from litestore_webhooks.core.schema import MAX_PROBLEMS, _is_uri, parse_date_time

DIALECT = "https://json-schema.org/draft/2020-12/schema"
MAX_SCHEMA_BYTES = 64 * 1024
MAX_SCHEMA_DEPTH = 32
MAX_SUBSCHEMAS = 2_000  # counted with every $ref expanded in place
MAX_WIDTH = 32  # subschemas applied to one value of an event; validation costs at most this x its size
MAX_REF_DEPTH = 64
CHUNK = 256  # array items / object fields the descent clears with one library call

Problem = dict[str, str]

# Formats the validator asserts (an event breaking one is refused), with the message it gets.
ASSERTED_FORMATS: dict[str, str] = {
    "date-time": "not an ISO-8601 date-time",
    "date": "not an ISO-8601 date",
    "time": "not an ISO-8601 time",
    "duration": "not an ISO-8601 duration",
    "email": "not an email address",
    "hostname": "not a host name",
    "ipv4": "not an IPv4 address",
    "ipv6": "not an IPv6 address",
    "uri": "not an absolute URI",
    "uri-reference": "not a URI reference",
    "uuid": "not a UUID",
}
# OpenAPI's format registry for numbers and binary strings: descriptive only, accepted and not asserted.
ANNOTATION_FORMATS = frozenset({"int32", "int64", "float", "double", "byte", "binary", "password"})

# Our own checks where the library's differ from what the catalog has always enforced: RFC 3339 with
# an explicit offset, and absolute URIs with a host (a relative reference is useless in an event).
_FORMATS = {"date-time": lambda value: parse_date_time(value) is not None, "uri": _is_uri}
_ROOT_URI = "urn:litestore:event-type-schema"
_REGEX = jsonschema_rs.RegexOptions(size_limit=1 << 20)
_OPTIONS: dict[str, Any] = {
    "formats": _FORMATS,
    "validate_formats": True,
    "ignore_unknown_formats": True,  # only ANNOTATION_FORMATS get here: check_schema refuses the rest
    "pattern_options": _REGEX,
    "offline": True,
}

# Keywords whose subschemas apply to the same value (in place) or to its children.
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_MANY = ("allOf", "anyOf", "oneOf")
_CHILD_ONE = ("additionalProperties", "items", "contains", "propertyNames", "unevaluatedProperties", "unevaluatedItems")
_CHILD_MAP = ("properties", "patternProperties")
_SUBSCHEMA_ONE = _IN_PLACE_ONE + _CHILD_ONE + ("contentSchema",)
_SUBSCHEMA_MAP = _CHILD_MAP + ("$defs", "dependentSchemas")
_SUBSCHEMA_LIST = _IN_PLACE_MANY + ("prefixItems",)
_SUBSCHEMAS = frozenset(_SUBSCHEMA_ONE + _SUBSCHEMA_MAP + _SUBSCHEMA_LIST)
_REFUSED_KEYWORDS = {
    "$id": "sets a base URI; refer to parts of this schema with local $refs such as #/$defs/Name",
    "$anchor": "use a JSON pointer $ref such as #/$defs/Name",
    "$dynamicRef": "dynamic references are not supported",
    "$dynamicAnchor": "dynamic references are not supported",
    "$recursiveRef": "recursive references are not supported",
    "$recursiveAnchor": "recursive references are not supported",
    "$vocabulary": "only meta-schemas declare vocabularies",
}


class SchemaRefused(ValueError):
    """The schema cannot be compiled; `problems` say where and why (paths start at "schema")."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p['path']}: {p['message']}" for p in problems[:3]))
        self.problems = problems


# --- paths and messages -------------------------------------------------------------------------------


def child_path(path: str, part: str | int) -> str:
    """`data.price` + "amount" -> `data.price.amount`; + 3 -> `data.price[3]` (keys cut as errors echo them)."""
    if isinstance(part, int):
        return f"{path}[{part}]"
    key = shown_key(part)
    return f"{path}.{key}" if path else key


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _json_cut(value: Any, width: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


def _number(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


_K = jsonschema_rs.ValidationErrorKind
_LIMIT_MESSAGES: dict[type, tuple[str, str]] = {
    _K.Minimum: ("must be >= {}", "number"),
    _K.Maximum: ("must be <= {}", "number"),
    _K.ExclusiveMinimum: ("must be > {}", "number"),
    _K.ExclusiveMaximum: ("must be < {}", "number"),
    _K.MinLength: ("must be at least {}", "character"),
    _K.MaxLength: ("must be at most {}", "character"),
    _K.MinItems: ("must have at least {}", "item"),
    _K.MaxItems: ("must have at most {}", "item"),
    _K.AdditionalItems: ("must have at most {}", "item"),
    _K.MinProperties: ("must have at least {}", "field"),
    _K.MaxProperties: ("must have at most {}", "field"),
}


_FIXED_MESSAGES: dict[type, str] = {
    _K.UniqueItems: "must not contain duplicate items",
    _K.FalseSchema: "is not allowed",
    _K.Contains: "must contain a matching item",
    _K.Not: "must not match the excluded shape (not)",
    _K.AnyOf: "matches none of the allowed shapes (anyOf)",
    _K.OneOfNotValid: "matches none of the allowed shapes (oneOf)",
    _K.OneOfMultipleValid: "matches more than one of the allowed shapes (oneOf)",
    _K.BacktrackLimitExceeded: "could not be checked: the pattern is too costly",
    _K.RegexEngineFailure: "could not be checked: the pattern is too costly",
}


def _problems_of(error: jsonschema_rs.ValidationError, path: str) -> Iterator[Problem]:
    """Our wording for one library error; `path` is where the validated value sits in the event."""
    for part in error.instance_path:
        path = child_path(path, part)
    kind = error.kind
    if isinstance(kind, _K.Type):
        yield {"path": path, "message": "expected " + " or ".join(kind.types)}
    elif isinstance(kind, _K.Required):
        yield {"path": child_path(path, kind.property), "message": "is required"}
    elif isinstance(kind, (_K.AdditionalProperties, _K.UnevaluatedProperties)):
        for key in sorted(kind.unexpected)[:MAX_PROBLEMS]:
            yield {"path": child_path(path, key), "message": "unknown field"}
    elif isinstance(kind, _K.UnevaluatedItems):
        for index in kind.unexpected[:MAX_PROBLEMS]:
            yield {"path": child_path(path, index), "message": "unexpected item"}
    elif type(kind) in _LIMIT_MESSAGES:
        template, noun = _LIMIT_MESSAGES[type(kind)]
        limit: Any = kind.limit  # type: ignore[attr-defined]  # every kind in _LIMIT_MESSAGES has one
        shown = _number(limit) if noun == "number" else _count(int(limit), noun)
        yield {"path": path, "message": template.format(shown)}
    else:
        yield {"path": path, "message": _message(kind)}


def _message(kind: Any) -> str:
    if isinstance(kind, _K.Enum):
        return f"must be one of {_json_cut(kind.options)}"
    if isinstance(kind, _K.Constant):
        return f"must be {_json_cut(kind.expected_value)}"
    if isinstance(kind, _K.Format):
        return ASSERTED_FORMATS.get(kind.format, f"not a valid {kind.format}")
    if isinstance(kind, _K.Pattern):
        return f"must match the pattern {_json_cut(kind.pattern)}"
    if isinstance(kind, _K.MultipleOf):
        return f"must be a multiple of {_number(kind.multiple_of)}"
    if type(kind) in _FIXED_MESSAGES:
        return _FIXED_MESSAGES[type(kind)]
    if isinstance(kind, _K.PropertyNames):
        inner = next(_problems_of(kind.error, ""), {"message": "is not allowed"})
        return f"field name {_json_cut(kind.error.instance, 80)}: {inner['message']}"
    return f"fails the schema's {kind.name!r} keyword"


# --- schema navigation ---------------------------------------------------------------------------------


def _escape(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def _pointer(base: str, *parts: str | int) -> str:
    return base + "".join("/" + _escape(part) for part in parts)


def _ref(pointer: str) -> str:
    """A `$ref` to `pointer` ("#/a/b") in this schema as the registry holds it (percent-encoded as URIs need)."""
    return _ROOT_URI + "#" + quote(pointer[1:], safe="/~!$&'()*+,;=:@-._")


def ref_target(root: Any, ref: str) -> tuple[tuple[str | int, ...], Any] | None:
    """(path inside `root`, subschema) a local `$ref` ("#" or "#/a/b") names; None when it names nothing."""
    if not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        return None
    node = root
    parts: list[str | int] = []
    for raw in fragment.split("/")[1:] if fragment else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
            parts.append(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            parts.append(int(part))
        else:
            return None
    return tuple(parts), node


def resolve_ref(root: Any, ref: str) -> tuple[str, Any] | None:
    """(JSON pointer, subschema) a local `$ref` names, the pointer spelled as the validator map spells it."""
    target = ref_target(root, ref)
    return None if target is None else (_pointer("#", *target[0]), target[1])


def subschemas(node: Any) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """(relative path, subschema) for each schema directly inside `node`."""
    if not isinstance(node, dict):
        return
    for keyword in _SUBSCHEMA_ONE:
        if keyword in node:
            yield (keyword,), node[keyword]
    for keyword in _SUBSCHEMA_MAP:
        value = node.get(keyword)
        if isinstance(value, dict):
            for key, sub in value.items():
                yield (keyword, key), sub
    for keyword in _SUBSCHEMA_LIST:
        value = node.get(keyword)
        if isinstance(value, list):
            for index, sub in enumerate(value):
                yield (keyword, index), sub


def map_subschemas(node: dict[str, Any], change: Callable[[Any], Any]) -> dict[str, Any]:
    """A copy of `node` with `change` applied to each schema directly inside it (not to enum values)."""
    out: dict[str, Any] = {}
    for keyword, value in node.items():
        if keyword in _SUBSCHEMA_ONE:
            out[keyword] = change(value)
        elif keyword in _SUBSCHEMA_MAP and isinstance(value, dict):
            out[keyword] = {key: change(sub) for key, sub in value.items()}
        elif keyword in _SUBSCHEMA_LIST and isinstance(value, list):
            out[keyword] = [change(sub) for sub in value]
        else:
            out[keyword] = value
    return out


def node_validator(node: Any) -> jsonschema_rs.Validator:
    """A validator for a self-contained subschema (no $ref), with the catalog's formats and regex engine."""
    return jsonschema_rs.validator_for(node, **_OPTIONS)


# --- the validator -------------------------------------------------------------------------------------


def _shallow(node: dict[str, Any]) -> dict[str, Any]:
    """`node` with every subschema made `true`: what it says about the value itself, not its children."""
    out: dict[str, Any] = {}
    for keyword, value in node.items():
        if keyword in _CHILD_MAP and isinstance(value, dict):
            out[keyword] = dict.fromkeys(value, True)
        elif keyword == "prefixItems" and isinstance(value, list):
            out[keyword] = [True] * len(value)
        elif keyword in ("additionalProperties", "items"):
            out[keyword] = value if value is False else True
        elif keyword not in _SUBSCHEMAS and not keyword.startswith("$"):
            out[keyword] = value
    return out


class DataValidator:
    """One compiled schema: `is_valid` for the fast path, `problems` for the answer to a bad event."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        try:
            self._map = jsonschema_rs.validator_map_for(schema, **_OPTIONS)
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
            raise SchemaRefused(
                [{"path": "schema", "message": f"cannot be compiled: {str(exc).splitlines()[0]}"}]
            ) from None
        self._root = self._map["#"]
        self._own: dict[str, jsonschema_rs.Validator] = {}
        self._patterns: dict[str, jsonschema_rs.Validator] = {}
        self._chunks: dict[str, jsonschema_rs.Validator] = {}
        self._registry: jsonschema_rs.Registry | None = None

    def is_valid(self, instance: Any) -> bool:
        return self._root.is_valid(instance)

    def problems(self, instance: Any, path: str = "data", limit: int = MAX_PROBLEMS) -> list[Problem]:
        """The first `limit` problems (schema order, duplicates dropped) as {"path", "message"}; [] when valid."""
        if self._root.is_valid(instance):
            return []
        return list(islice(_unique(self._walk("#", self.schema, instance, path, invalid=True)), limit))

    def _validator(self, pointer: str, node: Any) -> jsonschema_rs.Validator:
        found = self._map.get(pointer)
        if found is None:  # the map holds every subschema; this is for one it might spell differently
            found = self._compile({"$ref": _ref(pointer)})
        return found

    def _compile(self, wrapper: dict[str, Any]) -> jsonschema_rs.Validator:
        """A validator for `wrapper`, whose $refs (`_ref`) name parts of this schema."""
        if self._registry is None:
            self._registry = jsonschema_rs.Registry([(_ROOT_URI, self.schema)])
        return jsonschema_rs.validator_for(wrapper, registry=self._registry, **_OPTIONS)

    def _chunk(self, key: str, wrapper: dict[str, Any]) -> jsonschema_rs.Validator:
        found = self._chunks.get(key)
        if found is None:
            found = self._chunks[key] = self._compile(wrapper)
        return found

    def _valid(self, pointer: str, node: Any, instance: Any) -> bool:
        if isinstance(node, bool):
            return node
        return self._validator(pointer, node).is_valid(instance)

    def _walk(self, pointer: str, node: Any, instance: Any, path: str, invalid: bool = False) -> Iterator[Problem]:
        """The problems of `instance` under the subschema at `pointer`; `invalid` when the caller knows it fails."""
        if node is True:
            return
        if node is False:
            yield {"path": path, "message": "is not allowed"}
            return
        validator = self._validator(pointer, node)
        if not invalid and validator.is_valid(instance):
            return
        found = False
        for problem in self._descend(pointer, node, instance, path):
            found = True
            yield problem
        if not found:
            # What the descent cannot see (contains, propertyNames, unevaluated*): the library reports this
            # node. Every subtree below it is valid by now, so its errors are this node's own few.
            for error in validator.iter_errors(instance):
                yield from _problems_of(error, path)

    def _descend(self, pointer: str, node: dict[str, Any], instance: Any, path: str) -> Iterator[Problem]:
        own = list(self._own_errors(pointer, node, instance))
        wrong_type = next((error for error in own if isinstance(error.kind, _K.Type)), None)
        if wrong_type is not None:  # every other keyword assumes the right type
            declared = node.get("type")
            kinds = [declared] if isinstance(declared, str) else list(declared or [])
            yield {"path": path, "message": "expected " + " or ".join(kinds)}  # in the schema's order
            return
        unknown = [e for e in own if isinstance(e.kind, _K.AdditionalProperties)]
        for error in own:
            if not isinstance(error.kind, _K.AdditionalProperties):
                yield from _problems_of(error, path)
        yield from self._in_place(pointer, node, instance, path)
        if isinstance(instance, dict):
            yield from self._properties(pointer, node, instance, path)
        elif isinstance(instance, list):
            yield from self._items(pointer, node, instance, path)
        for error in unknown:
            yield from _problems_of(error, path)

    def _own_errors(self, pointer: str, node: dict[str, Any], instance: Any) -> Iterator[jsonschema_rs.ValidationError]:
        """The node's errors about the value itself (its subschemas made `true`): a few, however big the value."""
        own = self._own.get(pointer)
        if own is None:
            own = self._own[pointer] = jsonschema_rs.validator_for(_shallow(node), **_OPTIONS)
        return own.iter_errors(instance)

    def _in_place(self, pointer: str, node: dict[str, Any], instance: Any, path: str) -> Iterator[Problem]:
        ref = node.get("$ref")
        if isinstance(ref, str) and (target := resolve_ref(self.schema, ref)) is not None:
            yield from self._walk(target[0], target[1], instance, path)
        for index, sub in enumerate(node.get("allOf", [])):
            yield from self._walk(_pointer(pointer, "allOf", index), sub, instance, path)
        for keyword in ("anyOf", "oneOf"):
            branches = node.get(keyword)
            if branches is None:
                continue
            valid = [i for i, sub in enumerate(branches) if self._valid(_pointer(pointer, keyword, i), sub, instance)]
            if not valid:
                yield {"path": path, "message": self._none_matched(pointer, keyword, branches, instance, path)}
            elif keyword == "oneOf" and len(valid) > 1:
                shown = ", ".join(f"#{i + 1}" for i in valid)
                yield {"path": path, "message": f"matches more than one of the allowed shapes (oneOf: {shown})"}
        if "not" in node and self._valid(_pointer(pointer, "not"), node["not"], instance):
            yield {"path": path, "message": "must not match the excluded shape (not)"}
        if "if" in node:
            branch = "then" if self._valid(_pointer(pointer, "if"), node["if"], instance) else "else"
            if branch in node:
                yield from self._walk(_pointer(pointer, branch), node[branch], instance, path)
        if isinstance(instance, dict):
            for key, sub in node.get("dependentSchemas", {}).items():
                if key in instance:
                    yield from self._walk(_pointer(pointer, "dependentSchemas", key), sub, instance, path)

    def _none_matched(self, pointer: str, keyword: str, branches: list[Any], instance: Any, path: str) -> str:
        """One line for a failed anyOf/oneOf: the types wanted, or what the first three options missed."""
        wanted = [self._wrong_type(_pointer(pointer, keyword, i), sub, instance) for i, sub in enumerate(branches)]
        if all(kinds is not None for kinds in wanted):
            return "expected " + " or ".join(dict.fromkeys(kind for kinds in wanted if kinds for kind in kinds))
        shown = []
        for i, sub in enumerate(branches[:3]):
            walk = self._walk(_pointer(pointer, keyword, i), sub, instance, path, invalid=True)
            first = next(walk, {"path": path, "message": "does not match"})
            where = "" if first["path"] == path else f"{first['path']}: "
            shown.append(f"#{i + 1} {where}{first['message']}")
        more = f"; and {len(branches) - 3} more" if len(branches) > 3 else ""
        return f"matches none of the {len(branches)} allowed shapes ({keyword}): {'; '.join(shown)}{more}"

    def _wrong_type(self, pointer: str, node: Any, instance: Any) -> list[str] | None:
        """The types `node` declares when `instance` is of none of them (a cheap check of the node alone)."""
        if not isinstance(node, dict) or "type" not in node:
            return None
        if not any(isinstance(error.kind, _K.Type) for error in self._own_errors(pointer, node, instance)):
            return None
        return [node["type"]] if isinstance(node["type"], str) else list(node["type"])

    def _properties(self, pointer: str, node: dict[str, Any], instance: dict[str, Any], path: str) -> Iterator[Problem]:
        properties = node.get("properties", {})
        for key, sub in properties.items():
            if key in instance:
                yield from self._walk(_pointer(pointer, "properties", key), sub, instance[key], child_path(path, key))
        patterns = node.get("patternProperties", {})
        additional = node.get("additionalProperties", True)
        if not patterns and isinstance(additional, bool):
            return  # `false` is reported as unknown fields by the node itself
        # The other fields, CHUNK at a time: the library clears a valid chunk at once, and only a failing
        # chunk is looked at field by field (so 30,000 fields cost 120 calls, not 30,000).
        wrapper: dict[str, Any] = {"properties": dict.fromkeys(properties, True)}
        if patterns:
            wrapper["patternProperties"] = {
                p: {"$ref": _ref(_pointer(pointer, "patternProperties", p))} for p in patterns
            }
        if isinstance(additional, dict):
            wrapper["additionalProperties"] = {"$ref": _ref(_pointer(pointer, "additionalProperties"))}
        others = self._chunk(pointer + "#fields", wrapper)
        keys = [key for key in instance if key not in properties]
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            if others.is_valid({key: instance[key] for key in chunk}):
                continue
            for key in chunk:
                value = instance[key]
                matched = [p for p in patterns if self._pattern(p).is_valid(key)]
                for pattern in matched:
                    at = _pointer(pointer, "patternProperties", pattern)
                    yield from self._walk(at, patterns[pattern], value, child_path(path, key))
                if not matched and isinstance(additional, dict):
                    at = _pointer(pointer, "additionalProperties")
                    yield from self._walk(at, additional, value, child_path(path, key))

    def _items(self, pointer: str, node: dict[str, Any], instance: list[Any], path: str) -> Iterator[Problem]:
        prefix = node.get("prefixItems", [])
        for index, sub in enumerate(prefix[: len(instance)]):
            yield from self._walk(
                _pointer(pointer, "prefixItems", index), sub, instance[index], child_path(path, index)
            )
        items = node.get("items")
        if not isinstance(items, dict):
            return
        at = _pointer(pointer, "items")
        chunks = self._chunk(pointer + "#items", {"items": {"$ref": _ref(at)}})
        for start in range(len(prefix), len(instance), CHUNK):
            chunk = instance[start : start + CHUNK]
            if chunks.is_valid(chunk):  # CHUNK items cleared by one call into the library
                continue
            for offset, value in enumerate(chunk):
                yield from self._walk(at, items, value, child_path(path, start + offset))

    def _pattern(self, pattern: str) -> jsonschema_rs.Validator:
        found = self._patterns.get(pattern)
        if found is None:
            found = self._patterns[pattern] = jsonschema_rs.validator_for({"pattern": pattern}, **_OPTIONS)
        return found


def _unique(problems: Iterator[Problem]) -> Iterator[Problem]:
    """Drop repeats (two allOf branches requiring the same field), keeping the first's place."""
    seen: set[tuple[str, str]] = set()
    for problem in problems:
        key = (problem["path"], problem["message"])
        if key not in seen:
            seen.add(key)
            yield problem


# --- checking an operator's schema ---------------------------------------------------------------------


def _schema_path(parts: tuple[str | int, ...] | list[str | int], base: str = "schema") -> str:
    path = base
    for part in parts:
        path = child_path(path, part)
    return path


def _depth_exceeded(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests deeper than `limit` (iterative: a hostile document cannot overflow us)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


_META: jsonschema_rs.Validator | None = None


def _meta_problems(schema: dict[str, Any], base: str) -> list[Problem]:
    global _META
    if _META is None:
        _META = jsonschema_rs.validator_for({"$ref": DIALECT}, offline=True)
    problems = []
    for error in islice(_META.iter_errors(schema), MAX_PROBLEMS):
        if error.instance_path and error.instance_path[-1] == "type" and isinstance(error.kind, _K.AnyOf):
            message = "not a JSON Schema type: use array, boolean, integer, null, number, object or string"
            problems.append({"path": _schema_path(error.instance_path, base), "message": message})
        else:
            problems.extend(_problems_of(error, base))
    return problems[:MAX_PROBLEMS]


@dataclass
class _Walk:
    """What check_schema learns in one pass over every subschema."""

    root: dict[str, Any]
    base: str
    problems: list[Problem]


def _check_nodes(walk: _Walk) -> None:
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), walk.root)]
    while stack:
        parts, node = stack.pop()
        if not isinstance(node, dict):
            continue
        here = _schema_path(parts, walk.base)
        for keyword, reason in _REFUSED_KEYWORDS.items():
            if keyword in node:
                walk.problems.append({"path": child_path(here, keyword), "message": reason})
        if "$schema" in node and (parts or node["$schema"] != DIALECT):
            message = f"must be {DIALECT}" if not parts else "only the root may name a dialect"
            walk.problems.append({"path": child_path(here, "$schema"), "message": message})
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#"):
                message = "only local references (#/$defs/Name) are allowed: nothing is fetched at run time"
                walk.problems.append({"path": child_path(here, "$ref"), "message": message})
            elif resolve_ref(walk.root, ref) is None:
                walk.problems.append({"path": child_path(here, "$ref"), "message": f"{ref!r:.120} names nothing"})
        fmt = node.get("format")
        if isinstance(fmt, str) and fmt not in ASSERTED_FORMATS and fmt not in ANNOTATION_FORMATS:
            message = f"unsupported format {fmt!r:.80}; supported: {', '.join(ASSERTED_FORMATS)}"
            walk.problems.append({"path": child_path(here, "format"), "message": message})
        patterns: list[tuple[tuple[str | int, ...], str]] = []
        if isinstance(node.get("pattern"), str):
            patterns.append((("pattern",), node["pattern"]))
        patterns += [(("patternProperties", p), p) for p in node.get("patternProperties", {})]
        for where, pattern in patterns:
            try:
                jsonschema_rs.validator_for({"pattern": pattern}, pattern_options=_REGEX)
            except jsonschema_rs.ValidationError:
                message = "not a regular expression the linear-time engine accepts (no lookaround or backreferences)"
                walk.problems.append({"path": _schema_path(where, here), "message": message})
        stack.extend(((*parts, *relative), sub) for relative, sub in reversed(list(subschemas(node))))


def _expanded_size(root: dict[str, Any], base: str) -> tuple[int, list[Problem]]:
    """Subschemas counted with every $ref expanded in place, or the reference cycle / depth that forbids it."""
    sizes: dict[tuple[str | int, ...], int] = {}
    active: list[tuple[str | int, ...]] = []

    def size(node: Any, parts: tuple[str | int, ...], depth: int) -> int:
        if depth > MAX_REF_DEPTH:
            raise _Refused(parts, f"references nest more than {MAX_REF_DEPTH} deep")
        if not isinstance(node, dict):
            return 1
        total = 1
        ref = node.get("$ref")
        if isinstance(ref, str) and (target := ref_target(root, ref)) is not None:
            where, sub = target
            if where in active:
                raise _Refused((*parts, "$ref"), "refers back to itself: recursive schemas are not supported")
            if where not in sizes:
                active.append(where)
                sizes[where] = size(sub, where, depth + 1)
                active.pop()
            total += sizes[where]
        for relative, sub in subschemas(node):
            if relative[0] != "$defs":  # a definition costs only where it is referred to
                total += size(sub, (*parts, *relative), depth + 1)
            if total > MAX_SUBSCHEMAS:
                return total
        return total

    try:
        return size(root, (), 0), []
    except _Refused as refused:
        return 0, [{"path": _schema_path(refused.parts, base), "message": refused.message}]


class _Refused(Exception):
    def __init__(self, parts: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.parts = parts
        self.message = message


def _in_place_closure(root: dict[str, Any], nodes: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = list(nodes)
    while stack and len(out) <= MAX_WIDTH:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        out.append(node)
        for keyword in _IN_PLACE_MANY:
            stack.extend(node.get(keyword, []))
        stack.extend(node[keyword] for keyword in _IN_PLACE_ONE if keyword in node)
        stack.extend(node.get("dependentSchemas", {}).values())
        ref = node.get("$ref")
        if isinstance(ref, str) and (target := resolve_ref(root, ref)) is not None:
            stack.append(target[1])
    return out


def evaluation_width(root: dict[str, Any]) -> int:
    """The most subschemas that can apply to one value of an event (needs a non-recursive schema).

    Validation visits each (subschema, value) pair at most once, so an event costs at most this many
    checks per value it holds; check_schema caps it at MAX_WIDTH.
    """

    def width(nodes: list[Any]) -> int:
        applied = _in_place_closure(root, nodes)
        best = len(applied)
        if best > MAX_WIDTH:
            return best
        keys = {key for node in applied for key in node.get("properties", {})}
        open_ended = [
            sub
            for node in applied
            for sub in [
                *node.get("patternProperties", {}).values(),
                node.get("additionalProperties"),
                node.get("unevaluatedProperties"),
            ]
            if isinstance(sub, dict)
        ]
        slots = [
            [node["properties"][key] for node in applied if key in node.get("properties", {})] + open_ended
            for key in sorted(keys)
        ]
        slots.append(open_ended)
        slots.append([node["propertyNames"] for node in applied if "propertyNames" in node])
        slots.append(
            [
                sub
                for node in applied
                for sub in [*node.get("prefixItems", []), node.get("items"), node.get("contains")]
                + [node.get("unevaluatedItems")]
                if isinstance(sub, dict)
            ]
        )
        for slot in slots:
            if slot:
                best = max(best, width(slot))
                if best > MAX_WIDTH:
                    break
        return best

    return width([root])


def check_schema(schema: Any, base: str = "schema") -> list[Problem]:
    """Why an operator's schema for `data` cannot be used ([] when it can); paths start at `base`.

    In order, each step only when the ones before passed: a JSON object small and shallow enough,
    valid JSON Schema 2020-12, the rules of this catalog (root `"type": "object"`, local `$ref`s,
    supported formats, linear-time patterns), no recursion, and a bounded evaluation cost.
    """
    if not isinstance(schema, dict):
        return [{"path": base, "message": "expected object (a JSON Schema for the event's data)"}]
    if _depth_exceeded(schema, MAX_SCHEMA_DEPTH):
        return [{"path": base, "message": f"nests more than {MAX_SCHEMA_DEPTH} levels deep"}]
    size = len(json.dumps(schema, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_SCHEMA_BYTES:
        return [{"path": base, "message": f"is {size} bytes; at most {MAX_SCHEMA_BYTES} are allowed"}]
    problems = _meta_problems(schema, base)
    if problems:
        return problems
    if schema.get("type") != "object":
        problems.append({"path": child_path(base, "type"), "message": 'must be "object": data is a JSON object'})
    walk = _Walk(schema, base, problems)
    _check_nodes(walk)
    if problems:
        return problems
    expanded, problems = _expanded_size(schema, base)
    if problems:
        return problems
    if expanded > MAX_SUBSCHEMAS:
        return [{"path": base, "message": f"has more than {MAX_SUBSCHEMAS} subschemas with its $refs expanded"}]
    width = evaluation_width(schema)
    if width > MAX_WIDTH:
        message = f"applies more than {MAX_WIDTH} subschemas to one value (allOf/anyOf/oneOf/$ref): simplify it"
        return [{"path": base, "message": message}]
    try:
        DataValidator(schema)
    except SchemaRefused as refused:
        return [{**p, "path": p["path"].replace("schema", base, 1)} for p in refused.problems]
    return []


def compile_schema(schema: Any) -> DataValidator:
    """A validator for an operator's schema; SchemaRefused with every problem check_schema found."""
    problems = check_schema(schema)
    if problems:
        raise SchemaRefused(problems)
    return DataValidator(schema)


def refused(
    validator: DataValidator, samples: Mapping[str, Any], limit: int = MAX_PROBLEMS
) -> dict[str, list[Problem]]:
    """For each sample `data` (keyed by a label such as the event id) the new schema refuses, its problems."""
    out: dict[str, list[Problem]] = {}
    for label, data in samples.items():
        if len(out) >= limit:
            break
        problems = validator.problems(data, "data", limit=3)
        if problems:
            out[label] = problems
    return out
