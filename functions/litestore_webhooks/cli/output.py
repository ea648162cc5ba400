r"""Everything the CLI shows: tables and fields for people, the API's JSON for scripts.

Results go to stdout; errors, prompts and progress bars go to stderr so ``--json`` output
stays parseable. Colour and progress bars appear only on a terminal (and colour never when
NO_COLOR is set or ``--no-color`` is given).

Text from the API can carry what a receiver answered, so every character that would steer a
terminal is printed escaped, never raw: C0 controls, DEL, C1 controls (8-bit CSI/OSC) and the
bidirectional overrides that reorder what is shown (``\x1b]0;title\x07`` prints as those
characters). ``--json`` stays exact JSON; those characters are written as ``\uXXXX`` escapes.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33"}
_GOOD = {"delivered", "active", "create", "accepted"}
_BAD = {"failed", "dead_lettered", "delete", "rejected", "paused (gone)", "paused (auto-disabled)"}
_WARN = {"retry_scheduled", "paused", "paused (manual)", "update", "duplicate"}
_CELL_LIMIT = 60
# C0 (tab and newline included: a cell is one line), DEL, C1, and the bidi marks, embeddings,
# overrides and isolates (U+061C, U+200E/F, U+202A-E, U+2066-9).
_BIDI = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(rf"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_UNSAFE_IN_LINES = re.compile(rf"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI}]")  # the same, newlines kept
_JSON_UNSAFE = re.compile(rf"[\x7f-\x9f{_BIDI}]")  # json.dumps escapes C0 itself
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def safe(text: str, *, multiline: bool = False) -> str:
    """``text`` with every terminal-steering character replaced by its escape (``\\x1b``, ``\\u202e``)."""
    return (_UNSAFE_IN_LINES if multiline else _UNSAFE).sub(_escape, text)


def to_json(payload: Any, indent: int | None = 2) -> str:
    """Exact JSON (what json.loads gives back is ``payload``), printable: non-ASCII text stays as it is,
    but DEL, C1 and bidi controls are ``\\uXXXX`` escapes, as JSON already writes C0 ones. These
    characters can only occur inside JSON strings, where the escape means the same character."""
    text = json.dumps(payload, indent=indent, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class Painted(str):
    """Text this module styled itself: printed as it is (it is escaped before the colour is added)."""


class CliError(Exception):
    """A failure reported as one line on stderr; ``details`` are shown with -v only."""

    def __init__(self, message: str, *, details: Any = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.exit_code = exit_code


def cell(value: Any) -> str:
    """One table cell, on one line and escaped: "-" for nothing, comma-joined lists, compact JSON for objects."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(cell(item) for item in value) or "-"
    if isinstance(value, dict):
        return safe(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    return safe(str(value))


class Output:
    def __init__(
        self,
        *,
        as_json: bool,
        verbose: bool,
        no_color: bool,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.as_json = as_json
        self.verbose = verbose
        self.out = stdout or sys.stdout
        self.err = stderr or sys.stderr
        self.color = not no_color and "NO_COLOR" not in os.environ and _isatty(self.out)

    # -- scripts ---------------------------------------------------------------
    def json(self, payload: Any) -> None:
        """The API's JSON, unchanged (pretty-printed)."""
        self.out.write(to_json(payload) + "\n")

    # -- people ------------------------------------------------------------------
    def paint(self, text: str, style: str) -> Painted:
        """``text`` escaped, then styled (on a terminal with colour)."""
        text = safe(text)
        return Painted(f"\x1b[{_STYLES[style]}m{text}\x1b[0m" if self.color and style else text)

    def status(self, text: str) -> Painted:
        """Colour a status word by meaning: green good, red bad, yellow in between."""
        key = text.lower()
        style = "green" if key in _GOOD else "red" if key in _BAD else "yellow" if key in _WARN else ""
        return self.paint(text, style)

    def line(self, *parts: str) -> None:
        """One line of output from parts: Painted ones as they are, the others escaped (newlines stay)."""
        self.out.write("".join(p if isinstance(p, Painted) else safe(p, multiline=True) for p in parts) + "\n")

    def note(self, text: str) -> None:
        """A hint for people (stderr, so it never pollutes piped output)."""
        self.err.write(self.paint(text, "dim") + "\n")

    def table(
        self,
        rows: Iterable[dict[str, Any]],
        columns: Sequence[tuple[str, str]],
        *,
        status_column: str | None = None,
        empty: str = "(none)",
    ) -> None:
        """Aligned columns; ``columns`` are (key, header) pairs; long cells are cut unless -v."""
        cells = [[self._cut(cell(row.get(key))) for key, _ in columns] for row in rows]
        if not cells:
            self.line(empty)
            return
        headers = [header for _, header in columns]
        widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
        self.line(self.paint("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), "bold"))
        keys = [key for key, _ in columns]
        for row in cells:  # cells are escaped already: painting them again changes nothing
            parts = []
            for i, text in enumerate(row):
                padded = text.ljust(widths[i])
                parts.append(self.status(text) + padded[len(text) :] if keys[i] == status_column else padded)
            self.line(Painted("  ".join(parts).rstrip()))

    def fields(self, pairs: Sequence[tuple[str, Any]], *, status_key: str | None = None) -> None:
        """A vertical "key: value" listing for a single record."""
        width = max((len(label) for label, _ in pairs), default=0)
        for label, value in pairs:
            text = cell(value)
            shown = self.status(text) if label == status_key else Painted(text)
            self.line(self.paint(label.ljust(width), "bold"), Painted("  "), shown)

    def _cut(self, text: str) -> str:
        if self.verbose or len(text) <= _CELL_LIMIT:
            return text
        return text[: _CELL_LIMIT - 1] + "…"

    # -- errors, prompts, progress ------------------------------------------------------
    def error(self, exc: CliError) -> None:
        self.err.write(f"error: {safe(exc.message)}\n")
        if self.verbose and exc.details not in (None, [], {}):
            self.err.write(to_json(exc.details) + "\n")

    def confirm(self, question: str, *, assume_yes: bool) -> None:
        """Ask before a destructive change; refuse (usage error) when nobody can answer."""
        if assume_yes:
            return
        if not _isatty(sys.stdin):
            raise CliError("stdin is not a terminal; pass --yes to confirm", exit_code=2)
        self.err.write(f"{safe(question)} [y/N] ")
        self.err.flush()
        if sys.stdin.readline().strip().lower() not in {"y", "yes"}:
            raise CliError("aborted; nothing was changed")

    def progress(self, total: int, label: str) -> Progress:
        return Progress(self.err, total, label, enabled=_isatty(self.err))


class Progress:
    """A one-line bar on stderr, redrawn in place; silent when stderr is not a terminal."""

    WIDTH = 28

    def __init__(self, stream: TextIO, total: int, label: str, *, enabled: bool) -> None:
        self.stream, self.total, self.label, self.enabled = stream, max(total, 1), label, enabled
        self.done = 0

    def advance(self, step: int = 1) -> None:
        self.done = min(self.done + step, self.total)
        if self.enabled:
            filled = self.WIDTH * self.done // self.total
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
