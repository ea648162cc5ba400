"""The key that signs console session tokens: a Secrets Manager secret the stack creates.

Read with GetSecretValue and kept for CACHE_S, so the authorizer does not call Secrets
Manager on every console request; rotating (PutSecretValue with a fresh random value)
invalidates every portal link and session: at once in the process that rotated, within
CACHE_S everywhere else. Locally the runtime creates the same secret in moto.
"""

from __future__ import annotations

import secrets
import threading
import time

from botocore.exceptions import BotoCoreError, ClientError

from litestore_webhooks.aws import clients

CACHE_S = 60.0
KEY_BYTES = 48
_lock = threading.Lock()
_cache: dict[str, tuple[float, bytes]] = {}


class KeyUnavailable(Exception):
    """The signing key could not be read or written (missing secret, no permission, AWS down)."""


def current(secret_id: str) -> bytes:
    """The key's bytes (the secret string, UTF-8): cached for CACHE_S."""
    if not secret_id:
        raise KeyUnavailable("no console key is configured (LSW_CONSOLE_KEY_SECRET is unset)")
    now = time.monotonic()
    with _lock:
        cached = _cache.get(secret_id)
        if cached and now - cached[0] < CACHE_S:
            return cached[1]
    try:
        value = clients.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    except (BotoCoreError, ClientError, KeyError) as exc:
        raise KeyUnavailable(f"cannot read the console key: {type(exc).__name__}") from exc
    key = value.encode("utf-8")
    with _lock:
        _cache[secret_id] = (now, key)
    return key


def rotate(secret_id: str) -> None:
    """Replace the key with a fresh random one: every token signed with the old one stops working."""
    try:
        clients.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=new_value())
    except (BotoCoreError, ClientError) as exc:
        raise KeyUnavailable(f"cannot rotate the console key: {type(exc).__name__}") from exc
    forget()


def new_value() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def forget() -> None:
    """Drop cached keys (after a rotation, and when the local runtime restarts against a new moto)."""
    with _lock:
        _cache.clear()
