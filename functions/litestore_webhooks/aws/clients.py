"""botocore clients, created once per process from one botocore session and shared across threads.

Clients are thread-safe once built, but building them (and the session) is not, hence the
lock. The endpoint comes from the standard `AWS_ENDPOINT_URL` variable, which is how the
local runtime points every handler at moto's server without any code path of its own.

Plain botocore, not boto3: these are the same low-level clients boto3 would hand out, but
importing boto3 also imports s3transfer (~60 ms of every cold start, for S3 transfers no
handler makes). One session for all clients loads botocore's endpoint and partition data
once instead of once per client (~40 ms per client on a cold start).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=10,
    max_pool_connections=64,
)
_lock = threading.Lock()
_clients: dict[str, Any] = {}
_session: botocore.session.Session | None = None  # a new one after reset()
_hooks: list[tuple[str, Callable[..., Any]]] = []  # botocore event handlers every client gets


def client(service: str) -> Any:
    """The shared client for `service` ("dynamodb", "sns", "sqs", "lambda", ...)."""
    global _session
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            if _session is None:
                _session = botocore.session.get_session()
            created = _session.create_client(service, config=_CONFIG)
            for event, handler in _hooks:
                created.meta.events.register(event, handler)
            _clients[service] = created
        return _clients[service]


def add_hook(event: str, handler: Callable[..., Any]) -> Callable[[], None]:
    """Register a botocore event handler (e.g. "provide-client-params") on every shared client,
    those made so far and those made later (also after reset()); returns its remover. The IAM
    conformance test records each function's AWS calls this way."""
    with _lock:
        _hooks.append((event, handler))
        for existing in _clients.values():
            existing.meta.events.register(event, handler)

    def remove() -> None:
        with _lock:
            _hooks.remove((event, handler))
            for existing in _clients.values():
                existing.meta.events.unregister(event, handler)

    return remove


def reset() -> None:
    """Forget cached clients and the session, whose credentials and region came from the
    environment (tests and the local runtime call this after changing env)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None
