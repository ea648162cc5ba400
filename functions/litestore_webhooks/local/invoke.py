"""Calling a handler the way Lambda does: resolved from the shared function definition,
with a Lambda-like context object (Powertools reads its fields into every log line)."""

from __future__ import annotations

import contextvars
import importlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from litestore_webhooks import resources as r

LOCAL_ACCOUNT = "123456789012"  # moto's default account
_logger = Logger()  # any Powertools logger: the thread-local keys it sets are shared by all
Handler = Callable[[dict[str, Any], Any], Any]
# The Lambda function whose role an AWS call would run under; handlers' worker threads copy
# it with their context (delivery does). The IAM conformance test attributes calls by it.
_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("lsw_function", default=None)


def current_function() -> str | None:
    """The name of the function this code runs as, None outside any invocation."""
    return _function.get()


@contextmanager
def acting_as(function_name: str | None) -> Iterator[None]:
    """Run as `function_name`: inside its invocation, or as its event source mapping's poller
    (None: as no function, for an emulator's own calls)."""
    token = _function.set(function_name)
    try:
        yield
    finally:
        _function.reset(token)


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def function_arn(fn: r.Function, prefix: str) -> str:
    return f"arn:aws:lambda:{region()}:{LOCAL_ACCOUNT}:function:{fn.name(prefix)}"


@dataclass
class LambdaContext:
    """The attributes of Lambda's Python context object that handlers and Powertools use."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    @classmethod
    def for_function(cls, fn: r.Function, prefix: str) -> LambdaContext:
        return cls(fn.name(prefix), fn.memory_mb, function_arn(fn, prefix), fn.timeout_s)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(fn: r.Function) -> Handler | None:
    """The function's handler, or None while its module does not exist yet (e.g. admin)."""
    module_name, attr = fn.handler.rsplit(".", 1)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return getattr(module, attr)


def invoke(handler: Handler, event: dict[str, Any], context: LambdaContext) -> Any:
    """Call a handler as Lambda would, with its log lines naming this invocation."""
    with _invocation_log_keys(event, context), acting_as(context.function_name):
        return handler(event, context)


@contextmanager
def _invocation_log_keys(event: dict[str, Any], context: LambdaContext) -> Iterator[None]:
    """Lambda runs one invocation per process; here ingest, admin and delivery invocations run
    at once in threads, and Powertools' `inject_lambda_context` keeps the function keys
    process-wide, so every line would name whichever invocation started last. Powertools'
    thread-local keys win over the process-wide ones: set this invocation's there."""
    keys: dict[str, Any] = {
        "function_name": context.function_name,
        "function_memory_size": context.memory_limit_in_mb,
        "function_arn": context.invoked_function_arn,
        "function_request_id": context.aws_request_id,
    }
    request_id = (event.get("requestContext") or {}).get("requestId")
    if request_id:  # what correlation_paths.API_GATEWAY_REST reads
        keys["correlation_id"] = request_id
    _logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        _logger.thread_safe_remove_keys(keys)
