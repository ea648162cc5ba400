"""Canonical JSON must be byte-identical to JavaScript's JSON.stringify(JSON.parse(x))."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litestore_webhooks.core.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalJSONError,
    canonical_bytes,
    canonical_json,
    parse_json,
)

NODE_ROUNDTRIP = r"""
const rl = require('readline').createInterface({ input: process.stdin, terminal: false });
rl.on('line', (line) => process.stdout.write(JSON.stringify(JSON.parse(line)) + '\n'));
"""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10.0, "10"),
        (25.50, "25.5"),
        (49.99, "49.99"),
        (74.98, "74.98"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (0.00001, "0.00001"),
        (-0.0, "0"),
        (0.0, "0"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e16, "10000000000000000"),
        (123e-20, "1.23e-18"),
        (2.0**60, "1152921504606847000"),
        (-1.5e-7, "-1.5e-7"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.1 + 0.2, "0.30000000000000004"),
        (MAX_SAFE_INTEGER, "9007199254740991"),
        (-MAX_SAFE_INTEGER, "-9007199254740991"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
    ],
)
def test_numbers_and_literals(value: object, expected: str) -> None:
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('quote " backslash \\', r'"quote \" backslash \\"'),
        ("\b\f\n\r\t", r'"\b\f\n\r\t"'),
        ("\x00\x01\x1f", r'"\u0000\u0001\u001f"'),
        ("\x7f\u2028\u2029", '"\x7f\u2028\u2029"'),  # JSON.stringify leaves these raw
        ("café 😀 日本", '"café 😀 日本"'),
        ("</script>", '"</script>"'),
    ],
)
def test_string_escaping(value: str, expected: str) -> None:
    assert canonical_json(value) == expected


def test_array_index_keys_come_first_like_js() -> None:
    value = {"b": 1, "2": 2, "1": 3, "01": 4, "4294967294": 5, "4294967295": 6}
    assert canonical_json(value) == '{"1":3,"2":2,"4294967294":5,"b":1,"01":4,"4294967295":6}'


DOC_EXAMPLES = [
    (
        b'{"event": "content.approved", "id": "evt_content_approved_124", "data": {"commission": '
        b'{"amount": 25.50, "currency": "USD", "status": "pending"}}}',
        b'{"event":"content.approved","id":"evt_content_approved_124","data":{"commission":'
        b'{"amount":25.5,"currency":"USD","status":"pending"}}}',
    ),
    (
        b'{"event": "order.completed", "data": {"total": {"amount": 74.98, "currency": "USD"},\n'
        b'  "items": [{"productId": "prod-123", "quantity": 1, "price": 49.99},'
        b' {"productId": "prod-456", "quantity": 1, "price": 24.99}], "shipping": {"cost": 9.99}}}',
        b'{"event":"order.completed","data":{"total":{"amount":74.98,"currency":"USD"},'
        b'"items":[{"productId":"prod-123","quantity":1,"price":49.99},'
        b'{"productId":"prod-456","quantity":1,"price":24.99}],"shipping":{"cost":9.99}}}',
    ),
]


@pytest.mark.parametrize(("raw", "expected"), DOC_EXAMPLES)
def test_document_examples(raw: bytes, expected: bytes) -> None:
    assert canonical_bytes(parse_json(raw)) == expected


def test_duplicate_keys_last_wins_at_first_position() -> None:
    assert canonical_json(parse_json('{"a":1,"b":2,"a":3}')) == '{"a":3,"b":2}'


@pytest.mark.parametrize(
    ("raw", "path", "fragment"),
    [
        (b'{"data":{"quantity":9007199254740993}}', "data.quantity", "integer 9007199254740993 is outside"),
        (b'{"data":{"items":[1,2,{"price":-9007199254740992}]}}', "data.items[2].price", "outside"),
        (b'{"a":[NaN]}', "a[0]", "NaN"),
        (b'{"a":Infinity}', "a", "Infinity"),
        (b"[-Infinity]", "[0]", "-Infinity"),
        (b'{"a":1e400}', "a", "overflows"),
        (b'{"s":"\\ud800"}', "s", "lone UTF-16 surrogate"),
        (b'{"x":["ok","\\udfff tail"]}', "x[1]", "lone UTF-16 surrogate"),
        (b'{"ok":{"\\ud800":1}}', "ok", "object key contains a lone UTF-16 surrogate"),
        (b'{"a b":{"c":"\\udc00"}}', '["a b"].c', "surrogate"),
        (b'{"a":"\xff"}', "", "body is not valid UTF-8"),
        (b'{"a":', "", "invalid JSON"),
        (b"1" * 5000, "", "outside the JavaScript safe range"),
    ],
)
def test_parse_errors(raw: bytes, path: str, fragment: str) -> None:
    with pytest.raises(CanonicalJSONError) as info:
        parse_json(raw)
    assert info.value.path == path
    assert fragment in str(info.value)
    assert len(str(info.value)) < 200


def test_paired_surrogate_escapes_are_fine() -> None:
    assert canonical_bytes(parse_json(b'"\\ud83d\\ude00"')) == '"😀"'.encode()


def test_deep_nesting_fails_fast() -> None:
    body = b"[" * 10_000 + b"]" * 10_000
    start = time.perf_counter()
    with pytest.raises(CanonicalJSONError, match="nesting depth 10000 exceeds the limit of 64"):
        parse_json(body)
    assert time.perf_counter() - start < 0.5
    # brackets inside strings do not count; exactly max_depth is allowed
    assert parse_json(json.dumps(["[[[[" * 100]))
    assert parse_json("[" * 64 + "]" * 64) is not None
    with pytest.raises(CanonicalJSONError, match="depth 65"):
        parse_json("[" * 65 + "]" * 65)


@pytest.mark.parametrize(
    ("value", "path", "fragment"),
    [
        ({"data": {"quantity": 2**53}}, "data.quantity", "integer 9007199254740992 is outside"),
        ([1, float("nan")], "[1]", "nan"),
        ({"x": float("inf")}, "x", "inf"),
        ({"s": "ok\ud800"}, "s", "surrogate"),
        ({"when": object()}, "when", "unsupported type object"),
        ({1: "x"}, "", "not a string"),
    ],
)
def test_canonical_errors(value: object, path: str, fragment: str) -> None:
    for fn in (canonical_json, canonical_bytes):
        with pytest.raises(CanonicalJSONError) as info:
            fn(value)
        assert info.value.path == path
        assert fragment in str(info.value)


def test_deep_python_value_is_a_clean_error() -> None:
    value: list = []
    for _ in range(10_000):
        value = [value]
    with pytest.raises(CanonicalJSONError, match="nested too deeply"):
        canonical_json(value)


# --------------------------------------------------------------------------- property test vs Node

_keys = st.one_of(
    st.text(max_size=8),
    st.from_regex(r"(0|[1-9][0-9]{0,10}|0[0-9]{1,3})", fullmatch=True),
    st.sampled_from(["4294967294", "4294967295", "__proto__", "constructor"]),
)
_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),  # any scalar value: astral, controls, U+2028...
        st.characters(max_codepoint=0x1F),
    ),
    max_size=12,
)
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 1e21, 1e-7, 1e-6, 5e-324, 2.0**60, 123e-20, 25.5, 49.99]),
    _text,
)
_json = st.recursive(
    _leaves,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(_keys, children, max_size=5)),
    max_leaves=25,
)


@pytest.fixture(scope="module")
def node() -> Iterator[subprocess.Popen[bytes]]:
    exe = shutil.which("node")
    assert exe, "node is required for the JavaScript equivalence tests"
    proc = subprocess.Popen([exe, "-e", NODE_ROUNDTRIP], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    yield proc
    proc.stdin.close()  # type: ignore[union-attr]
    proc.wait(timeout=10)


def _node_roundtrip(node: subprocess.Popen[bytes], value: object) -> bytes:
    assert node.stdin and node.stdout
    node.stdin.write(json.dumps(value, ensure_ascii=True).encode("ascii") + b"\n")
    node.stdin.flush()
    line = node.stdout.readline()
    assert line.endswith(b"\n"), "node exited"
    return line[:-1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_json)
def test_matches_javascript_byte_for_byte(node: subprocess.Popen[bytes], value: object) -> None:
    expected = _node_roundtrip(node, value)
    assert canonical_bytes(value) == expected
    try:
        reparsed = parse_json(expected)
    except CanonicalJSONError as exc:
        # An integral float >= 2**53 prints as an integer literal (JS does the same), which the
        # strict parser then refuses as an unsafe integer: that is the one permitted difference.
        assert "safe range" in str(exc)
        return
    assert canonical_bytes(reparsed) == expected
