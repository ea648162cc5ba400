"""Canonical JSON: the exact bytes JavaScript's ``JSON.stringify(JSON.parse(x))`` produces.

Why: the documented receiver verifies the legacy HMAC over ``JSON.stringify(req.body)``, not
over the raw bytes it received.  If we sign and send exactly those bytes, the receiver's
re-serialisation is a no-op and the signature verifies.  Anything JavaScript cannot represent
losslessly (unsafe integers, NaN, lone surrogates) is rejected up front instead of silently
producing a signature that can never match.

Stdlib only: this runs in every Lambda and in receivers' test suites.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from itertools import accumulate
from json.encoder import encode_basestring as _quote  # C implementation; escapes exactly like JS
from typing import Any

__all__ = ["MAX_SAFE_INTEGER", "CanonicalJSONError", "canonical_bytes", "canonical_json", "parse_json"]

MAX_SAFE_INTEGER = 2**53 - 1

_DIGITS = frozenset("0123456789")
_MAX_ARRAY_INDEX = 2**32 - 2  # JS orders keys "0".."4294967294" numerically, before all others
_IDENT_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")
_SHOWN_KEY_CHARS = 64  # a longer key shows in an error path as its first half and its length (keys can be 4 MB)
_NOT_QUOTE_OR_BRACKET = bytes(b for b in range(256) if b not in b'"[]{}')
_BRACKET_STEP = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")  # +1 / -1 as signed bytes
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")


class CanonicalJSONError(ValueError):
    """A value that cannot be represented identically in JavaScript (or is not JSON at all)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class _Invalid(Exception):
    """Internal fast-path signal; the slow path (`_diagnose`) works out where and why."""


class _Bad:
    """Placeholder the parser leaves in the tree so the error can be reported with its path."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


# --------------------------------------------------------------------------- numbers


def _js_number(x: float) -> str:
    """ECMAScript Number::toString: Python's repr supplies the shortest round-trip digits."""
    if not math.isfinite(x):
        raise _Invalid
    r = float.__repr__(x)
    if "e" not in r:  # repr already uses plain notation for 1e-4 <= |x| < 1e16
        if r[-2:] == ".0":
            return "0" if x == 0 else r[:-2]  # also maps -0.0 to "0", as JS does
        return r
    mantissa, _, exp = r.partition("e")
    sign = ""
    if mantissa[0] == "-":
        sign, mantissa = "-", mantissa[1:]
    digits = mantissa.replace(".", "")  # repr never leaves trailing zeros here
    k = len(digits)
    n = int(exp) + 1  # value = 0.digits * 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    return f"{sign}{digits[0]}{'.' + digits[1:] if k > 1 else ''}e{'+' if e > 0 else '-'}{abs(e)}"


def _is_array_index(key: str) -> bool:
    return key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) <= _MAX_ARRAY_INDEX


# --------------------------------------------------------------------------- encoder (fast path)


def _enc(o: Any) -> str:
    t = type(o)
    if t is str:
        return _quote(o)
    if t is dict:
        return _enc_dict(o)
    if t is int:
        if -MAX_SAFE_INTEGER <= o <= MAX_SAFE_INTEGER:
            return int.__repr__(o)
        raise _Invalid
    if t is float:
        return _js_number(o)
    if t is list or t is tuple:
        return "[" + ",".join([_enc(v) for v in o]) + "]"
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    # Subclasses (StrEnum, IntEnum, OrderedDict, ...) take the slower, explicit route.
    if isinstance(o, str):
        return _quote(str(o))
    if isinstance(o, bool):
        return "true" if o else "false"
    if isinstance(o, int):
        return _enc(int(o))
    if isinstance(o, float):
        return _js_number(float(o))
    if isinstance(o, dict):
        return _enc_dict(o)
    if isinstance(o, (list, tuple)):
        return "[" + ",".join([_enc(v) for v in o]) + "]"
    raise _Invalid


def _enc_dict(d: dict) -> str:
    parts = []
    indexed: list[tuple[int, str]] | None = None
    for k, v in d.items():
        if type(k) is not str:
            if not isinstance(k, str):
                raise _Invalid
            k = str(k)
        part = _quote(k) + ":" + _enc(v)
        if k[:1] in _DIGITS and _is_array_index(k):
            if indexed is None:
                indexed = []
            indexed.append((int(k), part))
        else:
            parts.append(part)
    if indexed:
        indexed.sort()
        parts = [p for _, p in indexed] + parts
    return "{" + ",".join(parts) + "}"


# --------------------------------------------------------------------------- diagnosis (slow path)


def _shown(text: str, limit: int, unit: str) -> str:
    """Client text cut for an error message or path, so the answer stays small."""
    return text if len(text) <= limit else f"{text[: limit // 2]}...({len(text)} {unit})"


def _join_key(path: str, key: str) -> str:
    key = _shown(key, _SHOWN_KEY_CHARS, "characters")  # a cut key is never an identifier: it shows in [...]
    if _IDENT_RE.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _has_lone_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _leaf_problem(o: Any) -> str | None:
    if isinstance(o, _Bad):
        return o.message
    if isinstance(o, str):
        return "string contains a lone UTF-16 surrogate" if _has_lone_surrogate(o) else None
    if o is None or isinstance(o, bool):
        return None
    if isinstance(o, int):
        if -MAX_SAFE_INTEGER <= o <= MAX_SAFE_INTEGER:
            return None
        return f"integer {o} is outside the JavaScript safe range ±(2^53-1)"
    if isinstance(o, float):
        return None if math.isfinite(o) else f"{o!r} is not representable in JSON"
    return f"unsupported type {type(o).__name__}"


def _diagnose(o: Any, path: str = "") -> tuple[str, str] | None:
    """First problem in document order as (path, message), or None."""
    if isinstance(o, dict):
        for k, v in o.items():
            if not isinstance(k, str):
                return path, f"object key {k!r} is not a string"
            if _has_lone_surrogate(k):
                return path, "object key contains a lone UTF-16 surrogate"
            found = _diagnose(v, _join_key(path, k))
            if found:
                return found
        return None
    if isinstance(o, (list, tuple)):
        for i, v in enumerate(o):
            found = _diagnose(v, f"{path}[{i}]")
            if found:
                return found
        return None
    msg = _leaf_problem(o)
    return (path, msg) if msg else None


def _raise_diagnosed(obj: Any, cause: BaseException) -> None:
    found = _diagnose(obj)
    if found is None:
        raise cause
    raise CanonicalJSONError(*found) from None


# --------------------------------------------------------------------------- public API


def _dump(obj: Any) -> tuple[str, bytes]:
    try:
        text = _enc(obj)
        return text, text.encode("utf-8")  # the encode doubles as the lone-surrogate check
    except RecursionError:
        raise CanonicalJSONError("", "value is nested too deeply (or is circular)") from None
    except (_Invalid, UnicodeEncodeError) as exc:
        _raise_diagnosed(obj, exc)
        raise  # unreachable; keeps type checkers happy


def canonical_json(obj: Any) -> str:
    """Serialise `obj` exactly as JavaScript's JSON.stringify would."""
    return _dump(obj)[0]


def canonical_bytes(obj: Any) -> bytes:
    """UTF-8 of `canonical_json(obj)`: the bytes we sign and send."""
    return _dump(obj)[1]


def _depth(body: bytes) -> int:
    """The deepest bracket nesting outside strings, in a fixed number of linear C-level passes.

    Escaped backslashes go first, then escaped quotes, so every quote left delimits a string;
    then everything but quotes and brackets. A bracket is inside a string when an odd number of
    quotes precedes it: deleting adjacent quote pairs keeps that parity (no bracket sits between
    them), and what remains splits on quotes into outside/inside pieces. An unclosed string runs
    to the end. Nothing here backtracks or rescans, whatever the body holds.
    """
    marks = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_QUOTE_OR_BRACKET)
    marks = marks.replace(b'""', b"")
    if b'"' in marks:
        marks = b"".join(marks.split(b'"')[::2])
    return max(accumulate(array("b", marks.translate(_BRACKET_STEP))), default=0)


def _check_depth(body: bytes, max_depth: int) -> None:
    """Reject deep nesting before json.loads recurses into it (RecursionError, slow)."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return  # cannot be deeper than its number of opening brackets
    depth = _depth(body)
    if depth > max_depth:
        raise CanonicalJSONError("", f"JSON nesting depth {depth} exceeds the limit of {max_depth}")


def parse_json(raw: bytes | bytearray | memoryview | str, *, max_depth: int = 64) -> Any:
    """Strictly parse a request body into values that JavaScript would read back identically.

    Rejects invalid UTF-8, NaN/Infinity, numbers that overflow a double, integers outside
    ±(2^53-1), lone surrogates and nesting deeper than `max_depth`.  Duplicate keys: last
    value wins, at the position of the first occurrence (as JSON.parse does).
    """
    if isinstance(raw, str):
        text, body = raw, raw.encode("utf-8", "surrogatepass")
    else:
        body = bytes(raw)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise CanonicalJSONError("", "body is not valid UTF-8") from None
    _check_depth(body, max_depth)

    flagged = False

    def parse_int(s: str) -> int | _Bad:
        nonlocal flagged
        if len(s) <= 17:
            v = int(s)
            if -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                return v
        flagged = True
        return _Bad(f"integer {_shown(s, 40, 'digits')} is outside the JavaScript safe range ±(2^53-1)")

    def parse_float(s: str) -> float | _Bad:
        nonlocal flagged
        v = float(s)
        if math.isfinite(v):
            return v
        flagged = True
        return _Bad(f"number {_shown(s, 40, 'characters')} overflows a double")

    def parse_constant(s: str) -> _Bad:
        nonlocal flagged
        flagged = True
        return _Bad(f"{s} is not valid JSON")

    try:
        value = json.loads(text, parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant)
    except json.JSONDecodeError as exc:
        raise CanonicalJSONError("", f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise CanonicalJSONError("", "JSON is nested too deeply") from None
    if flagged or _SURROGATE_ESCAPE_RE.search(text):
        found = _diagnose(value)
        if found:
            raise CanonicalJSONError(*found)
    return value
