"""One error shape for every API response, so clients parse failures the same way everywhere."""

from __future__ import annotations

from typing import Any

_SUMMARY_LIMIT = 3


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
