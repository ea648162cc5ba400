"""How the local runtime's log lines read: Lambda's JSON lines by default, one readable line each
with ``--pretty``; never a credential either way.

``--pretty`` used to turn on Powertools' development mode (POWERTOOLS_DEV), which prints every
API event whole (bearer token, API key, base64 bodies carrying endpoint secrets), a UserWarning
and "Middleware Stack" blocks. Instead the functions' Powertools logger gets a formatter of ours
(Powertools' documented extension point: a LambdaPowertoolsFormatter subclass that overrides
``serialize``), which prints the same fields the JSON lines carry, as ``key=value``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = "litestore-webhooks"  # POWERTOOLS_SERVICE_NAME: the functions' Powertools logger
TIME_FORMAT = "%H:%M:%S"
# Keys every line carries that a person reading a terminal does not need (the function is shown by name).
_ROUTINE = {
    "level",
    "location",
    "message",
    "timestamp",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "correlation_id",
    "sampling_rate",
    "xray_trace_id",
    "exception",
    "exception_name",
    "stack_trace",
}
# Libraries whose DEBUG lines carry request bodies or route arguments (endpoint secrets, tokens):
# never below INFO, whatever --log-level says.
QUIET = {
    "botocore": logging.WARNING,
    "boto3": logging.WARNING,
    "s3transfer": logging.WARNING,
    "urllib3": logging.INFO,
    "aws_lambda_powertools": logging.INFO,
    "moto": logging.INFO,
    "werkzeug": logging.WARNING,
}


class PrettyFormatter(LambdaPowertoolsFormatter):
    """``12:00:01.234 INFO    delivery delivery attempt endpointId=ep_... status=delivered``."""

    def __init__(self, prefix: str) -> None:
        super().__init__(datefmt=f"{TIME_FORMAT}.%F")
        self.prefix = prefix

    def serialize(self, log: Any) -> str:  # the dict Powertools formats (its signature admits a record too)
        function = str(log.get("function_name") or "-").removeprefix(f"{self.prefix}-")
        extra = " ".join(f"{key}={_value(value)}" for key, value in log.items() if key not in _ROUTINE)
        text = f"{log.get('timestamp')} {str(log.get('level')):<7} {function:<8} {log.get('message')}"
        text += f" {extra}" if extra else ""
        return text + (f"\n{log['exception']}" if log.get("exception") else "")


def _value(value: Any) -> str:
    return value if isinstance(value, str) and value and " " not in value else json.dumps(value, default=str)


def runtime_formatter(pretty: bool) -> logging.Formatter:
    """For the runtime's own (stdlib) log lines."""
    if pretty:
        return logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s", TIME_FORMAT)
    return LambdaPowertoolsFormatter(service=SERVICE)


def use_for_functions(*, pretty: bool, prefix: str) -> Callable[[], None]:
    """Point the functions' Powertools logger at the current ``sys.stdout`` (where function output goes:
    the local CLI sends it to stderr, `make demo` to a file), pretty if asked; returns how to undo it.
    The handler may have been made on import, before the caller redirected stdout."""
    handler = Logger(service=SERVICE).registered_handler
    saved_formatter = handler.formatter
    stream_handler = handler if isinstance(handler, logging.StreamHandler) else None
    saved_stream = stream_handler.setStream(sys.stdout) if stream_handler is not None else None
    if pretty:
        handler.setFormatter(PrettyFormatter(prefix))

    def undo() -> None:
        handler.setFormatter(saved_formatter)
        if stream_handler is not None and saved_stream is not None:
            stream_handler.setStream(saved_stream)

    return undo
