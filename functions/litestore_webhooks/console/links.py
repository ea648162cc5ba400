"""Portal link URLs: `<API base>/console#token=<link token>` (the fragment never reaches a server)."""

from __future__ import annotations

import time

from litestore_webhooks.aws import console_key
from litestore_webhooks.config import settings
from litestore_webhooks.core import portal

OPERATOR_TTL_S = 8 * 3600


def url(api_base: str, token: str | None = None) -> str:
    return f"{api_base}/console" + (f"#token={token}" if token else "")


def operator_link(api_base: str, ttl_s: int = OPERATOR_TTL_S) -> str:
    """A single-use, unscoped link signed in this process (the local runtime's banner, the demo's
    last line); anywhere else links come from POST /portal/sessions."""
    claims = portal.new_link(int(time.time()), ttl_s)
    return url(api_base, portal.sign(claims, console_key.current(settings().console_key_secret)))
