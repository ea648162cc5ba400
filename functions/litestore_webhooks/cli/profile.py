"""Where each running local runtime leaves its URL and credentials, so `--local` needs no flags.

Every `litestore-webhooks local` writes its own profile, ``<port>.json`` under
``$XDG_CACHE_HOME/litestore-webhooks/local/``, with its pid, and removes only that file when it
stops. The CLI's ``--local`` takes the one runtime that is up, or with ``--local PORT`` the one on
that port; a profile whose process is gone (killed, crashed) is skipped and removed. Profiles
hold throwaway local credentials only (never AWS keys), and are written owner-readable because
the admin token still grants full control of the local API.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class LocalProfile:
    """How to reach one local runtime."""

    url: str
    api_key: str
    admin_token: str
    port: int
    pid: int
    path: Path


def profile_dir() -> Path:
    """``$XDG_CACHE_HOME/litestore-webhooks/local`` (``~/.cache`` when XDG_CACHE_HOME is unset)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "litestore-webhooks" / "local"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` so that only the owner can read it, atomically: a temp file created 0600 (the
    mode is set on the open descriptor, so neither the umask nor an older temp file widens it),
    then renamed over ``path``; readers never see a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_local_profile(url: str, api_key: str, admin_token: str, *, pid: int | None = None) -> Path:
    """Record how to reach the local runtime serving ``url`` (its port names the file); returns the file."""
    port = urlsplit(url).port or 80
    folder = profile_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{port}.json"
    body = {
        "url": url,
        "apiKey": api_key,
        "adminToken": admin_token,
        "port": port,
        "pid": os.getpid() if pid is None else pid,
    }
    write_private(path, json.dumps(body, indent=2) + "\n")
    return path


def remove_local_profile(path: Path, *, pid: int | None = None) -> bool:
    """Delete the profile at ``path`` if it is still this process's (another runtime may since have
    taken the port and written its own); True when it was removed."""
    profile = _read(path)
    if profile is None or profile.pid != (os.getpid() if pid is None else pid):
        return False
    path.unlink(missing_ok=True)
    return True


def running_local_profiles() -> list[LocalProfile]:
    """The profiles of runtimes whose process is alive, by port; those of dead ones are removed."""
    found = []
    for path in sorted(profile_dir().glob("*.json")):
        profile = _read(path)
        if profile is None:
            continue
        if _alive(profile.pid):
            found.append(profile)
        else:
            path.unlink(missing_ok=True)
    return sorted(found, key=lambda p: p.port)


def _read(path: Path) -> LocalProfile | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LocalProfile(data["url"], data["apiKey"], data["adminToken"], int(data["port"]), int(data["pid"]), path)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # gone meanwhile, or not a profile


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
