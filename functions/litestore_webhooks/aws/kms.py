"""Endpoint signing secrets sealed at rest: envelope encryption under the stack's KMS key.

seal: KMS GenerateDataKey (AES-256) with the encryption context {"endpointId": <id>}, then
AES-256-GCM of the secrets' JSON under that data key, the endpoint id as associated data. The
stored string carries the encrypted data key, the nonce and the ciphertext; the plaintext data
key is never stored. open: KMS Decrypt of the data key (same context, same key), then AES-GCM.
So the item holds no secret, and a sealed value copied into another endpoint's item does not
open there (neither KMS nor AES-GCM accepts the other endpoint id).

Decrypted data keys are kept in a DataKeyCache by (key, endpoint id, encrypted data key):
delivery passes one that lives as long as its container, so a warm container calls KMS once
per data key (a new one comes with each write of the secrets), not per batch.

`cryptography` is imported on first use: it costs ~20 ms, which only the first seal or open
of a container pays, never a handler's import (tests/test_cold_start.py).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections import OrderedDict
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from litestore_webhooks import resources as r
from litestore_webhooks.aws import clients
from litestore_webhooks.core.endpoint import SigningSecrets

FORMAT = "kms1"  # <FORMAT>.<encrypted data key>.<nonce>.<ciphertext + tag>, each part base64
_NONCE_BYTES = 12
DATA_KEYS_KEPT = 256


class SealError(Exception):
    """Secrets could not be sealed or opened (KMS refused or failed, or the value is not ours).

    The message names the endpoint and the cause, never a secret or key material."""


class DataKeyCache:
    """Plaintext data keys by (KMS key, endpoint id, encrypted data key), newest kept; thread-safe."""

    def __init__(self, max_keys: int = DATA_KEYS_KEPT) -> None:
        self.max_keys = max_keys
        self._keys: OrderedDict[tuple[str, str, bytes], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, bytes]) -> bytes | None:
        with self._lock:
            found = self._keys.get(key)
            if found is not None:
                self._keys.move_to_end(key)
            return found

    def put(self, key: tuple[str, str, bytes], data_key: bytes) -> None:
        with self._lock:
            self._keys[key] = data_key
            self._keys.move_to_end(key)
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)


class SecretBox:
    """Seals and opens one stack's endpoint secrets; `key_arn` is the stack's KMS key."""

    def __init__(self, key_arn: str, kms: Any = None, cache: DataKeyCache | None = None) -> None:
        self.key_arn = key_arn
        self._kms = kms
        self.cache = cache if cache is not None else DataKeyCache()

    @property
    def kms(self) -> Any:
        return self._kms or clients.client("kms")  # looked up late: the shared client follows clients.reset()

    def seal(self, endpoint_id: str, secrets: SigningSecrets) -> str:
        if not self.key_arn:
            raise SealError(f"endpoint {endpoint_id}: no KMS key configured ({r.SECRETS_KEY_ENV} is empty)")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            answer = self.kms.generate_data_key(
                KeyId=self.key_arn, KeySpec="AES_256", EncryptionContext=_context(endpoint_id)
            )
        except (ClientError, BotoCoreError) as exc:
            raise SealError(f"endpoint {endpoint_id}: KMS GenerateDataKey failed: {_cause(exc)}") from None
        data_key, encrypted_key = answer["Plaintext"], answer["CiphertextBlob"]
        self.cache.put((self.key_arn, endpoint_id, encrypted_key), data_key)
        nonce = os.urandom(_NONCE_BYTES)
        plaintext = json.dumps(secrets.model_dump(), separators=(",", ":")).encode()
        sealed = AESGCM(data_key).encrypt(nonce, plaintext, _aad(endpoint_id))
        return ".".join([FORMAT, *(base64.b64encode(part).decode() for part in (encrypted_key, nonce, sealed))])

    def open(self, endpoint_id: str, value: str) -> SigningSecrets:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            version, *parts = value.split(".")
            encrypted_key, nonce, sealed = (base64.b64decode(part, validate=True) for part in parts)
            if version != FORMAT:
                raise ValueError(version)
        except ValueError:
            raise SealError(f"endpoint {endpoint_id}: stored secrets are not in the {FORMAT} format") from None
        data_key = self._data_key(endpoint_id, encrypted_key)
        try:
            plaintext = AESGCM(data_key).decrypt(nonce, sealed, _aad(endpoint_id))
        except InvalidTag:
            why = "altered, or another endpoint's"
            raise SealError(f"endpoint {endpoint_id}: stored secrets do not open ({why})") from None
        return SigningSecrets.model_validate(json.loads(plaintext))

    def _data_key(self, endpoint_id: str, encrypted_key: bytes) -> bytes:
        cache_key = (self.key_arn, endpoint_id, encrypted_key)
        found = self.cache.get(cache_key)
        if found is not None:
            return found
        try:
            answer = self.kms.decrypt(
                CiphertextBlob=encrypted_key, KeyId=self.key_arn, EncryptionContext=_context(endpoint_id)
            )
        except (ClientError, BotoCoreError) as exc:
            raise SealError(f"endpoint {endpoint_id}: KMS Decrypt failed: {_cause(exc)}") from None
        self.cache.put(cache_key, answer["Plaintext"])
        return answer["Plaintext"]


def _context(endpoint_id: str) -> dict[str, str]:
    return {r.SECRETS_CONTEXT_KEY: endpoint_id}


def _aad(endpoint_id: str) -> bytes:
    return f"{FORMAT}:{endpoint_id}".encode()


def _cause(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") or type(exc).__name__
    return type(exc).__name__
