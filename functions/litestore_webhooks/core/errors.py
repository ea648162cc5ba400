"""One error shape for every API response, so clients parse failures the same way everywhere."""

from __future__ import annotations

from typing import Any

_SUMMARY_LIMIT = 3
_SHOWN_KEY_WIDTH = 64


def shown_key(key: str) -> str:
    """A client's key as an error echoes it: cut where its JSON spelling passes 64 characters.

    Width counts each character as \\u-escaping JSON writes it (a control character takes 6, an
    emoji 12), so the 5,000 problem paths a batch answer may hold stay well under Lambda's 6 MB
    response limit however the keys are spelled (a 4 MB batch of long keys once answered 21 MB).
    """
    width = 0
    for index, char in enumerate(key):
        if " " <= char <= "~":
            width += 2 if char in '"\\' else 1
        else:
            width += 12 if char > "\uffff" else 6
        if width > _SHOWN_KEY_WIDTH:
            return f"{key[:index]}...({len(key)} characters)"
    return key


class ApiError(Exception):
    """An expected failure that maps to an HTTP status and a stable, machine-readable code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The JSON response body: {"error": {"code", "message", "details"}}."""
        details = [] if self.details is None else self.details
        return {"error": {"code": self.code, "message": self.message, "details": details}}


class ValidationFailed(ApiError):
    """400 carrying every problem found, so a caller can fix them all in one round trip."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        shown = "; ".join(_describe(p) for p in problems[:_SUMMARY_LIMIT])
        more = len(problems) - _SUMMARY_LIMIT
        if more > 0:
            shown += f" (and {more} more)"
        super().__init__(400, "validation_failed", shown, list(problems))


def _describe(problem: dict[str, Any]) -> str:
    path = problem.get("path") or ""
    return f"{path}: {problem['message']}" if path else str(problem["message"])
