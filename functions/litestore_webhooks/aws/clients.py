"""boto3 clients, created once per process and shared across threads.

boto3 clients are thread-safe once built, but building them is not, hence the lock. The
endpoint comes from the standard `AWS_ENDPOINT_URL` variable, which is how the local
runtime points every handler at moto's server without any code path of its own.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=10,
    max_pool_connections=64,
)
_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """The shared client for `service` ("dynamodb", "sns", "sqs", "lambda", ...)."""
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            _clients[service] = boto3.session.Session().client(service, config=_CONFIG)
        return _clients[service]


def reset() -> None:
    """Forget cached clients (tests and the local runtime call this after changing env)."""
    with _lock:
        _clients.clear()
