"""Where the local runtime leaves its URL and credentials, so `--local` needs no flags.

The local runtime calls ``write_local_profile`` when it starts; the CLI reads the file on
``--local``. It holds throwaway local credentials only (never AWS keys), and is written
owner-readable because the admin token still grants full control of the local API.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def profile_path() -> Path:
    """``$XDG_CACHE_HOME/litestore-webhooks/local.json`` (``~/.cache`` when XDG_CACHE_HOME is unset)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "litestore-webhooks" / "local.json"


def write_local_profile(url: str, api_key: str, admin_token: str) -> Path:
    """Record how to reach the running local runtime; returns the file written."""
    path = profile_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"url": url, "apiKey": api_key, "adminToken": admin_token}, indent=2) + "\n"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(body)
    os.replace(tmp, path)  # readers never see a half-written file
    return path


def read_local_profile() -> dict[str, Any] | None:
    """``{"url", "apiKey", "adminToken"}`` from the profile, or None when no local runtime wrote one."""
    try:
        data = json.loads(profile_path().read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
