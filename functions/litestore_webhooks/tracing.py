"""The Powertools Tracer, built only where it traces.

Building a Powertools `Tracer` imports the X-Ray SDK even when tracing is off, and outside
Lambda the SDK's recorder builds two botocore X-Ray clients for its sampler as it is
imported: ~100 ms of every handler's cold start on the bench machine, for nothing, since
Powertools turns tracing off outside Lambda anyway (tests, the local runtime and the bench
also set POWERTOOLS_TRACE_DISABLED). So `Tracer()` decides the way Powertools does:

- tracing on (in Lambda, the stack sets tracing ACTIVE): the real Tracer, patching only
  botocore and httplib -- every AWS call and every webhook POST (urllib3 runs on http.client)
  is traced as with patch_all, without importing `requests` and `sqlite3` (~20 ms in Lambda)
  just to patch libraries the handlers never call;
- tracing off: a stand-in whose decorators return the function unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.tracing.tracer import Tracer as _PowertoolsTracer

PATCHED_MODULES = ("botocore", "httplib")


class DisabledTracer:
    """What a disabled Powertools Tracer does, without importing the X-Ray SDK."""

    disabled = True

    @staticmethod
    def _passthrough(function: Callable | None) -> Any:
        return function if function is not None else (lambda fn: fn)

    def capture_lambda_handler(
        self,
        lambda_handler: Callable | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Any:
        return self._passthrough(lambda_handler)

    def capture_method(
        self, method: Callable | None = None, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Any:
        return self._passthrough(method)

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        return None


_TRUE, _FALSE = ("1", "y", "yes", "t", "true", "on"), ("0", "n", "no", "f", "false", "off")


def enabled() -> bool:
    """Powertools' own rule (its private `Tracer._is_tracer_disabled`, restated on the documented
    variables so a Powertools upgrade cannot break every handler's import; a test keeps the two
    equal): in Lambda, not under SAM or Chalice, and POWERTOOLS_TRACE_DISABLED not true."""
    disabled = os.getenv("POWERTOOLS_TRACE_DISABLED", "false").lower()
    if disabled not in _TRUE + _FALSE:
        raise ValueError(f"invalid truth value {disabled!r} in POWERTOOLS_TRACE_DISABLED")
    if disabled in _TRUE:
        return False
    in_lambda = bool(os.getenv("LAMBDA_TASK_ROOT"))
    emulated = bool(os.getenv("AWS_SAM_LOCAL") or os.getenv("AWS_CHALICE_CLI_MODE"))
    return in_lambda and not emulated


def Tracer() -> Any:  # noqa: N802 - a drop-in for `aws_lambda_powertools.Tracer()`
    return _PowertoolsTracer(patch_modules=PATCHED_MODULES) if enabled() else DisabledTracer()
