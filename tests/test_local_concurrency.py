"""Concurrent requests to the local runtime each get their own answer.

A Lambda execution environment runs one invocation at a time, so the handlers keep per-request
state on module-level objects (Powertools' resolver holds the current event). The local
runtime serves requests on threads: without one invocation at a time per function, a page
loading its files side by side got other requests' answers (a stylesheet answered with JSON).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tests.local_stack import rt  # noqa: F401 - rt: the module-scoped runtime

from litestore_webhooks.console import assets


def fetch(url: str) -> tuple[str, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=20) as resp:
            return url, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return url, f"HTTP {exc.code} {exc.headers.get('Content-Type')}", exc.read()


def test_concurrent_requests_each_get_their_own_answer(rt):
    version = assets.version()
    names = sorted(assets.FILES)
    urls = [f"{rt.base_url}/console/assets/{version}/{name}" for name in names] * 6 + [
        f"{rt.base_url}/openapi.json"
    ] * 8
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(fetch, urls))
    wrong = []
    for url, content_type, body in answers:
        name = url.rsplit("/", 1)[-1]
        if name == "openapi.json":
            ok = content_type.startswith("application/json") and json.loads(body)["info"]["title"]
        else:
            ok = content_type == assets.FILES[name] and body == (assets.STATIC / name).read_bytes()
        if not ok:
            wrong.append((name, content_type, body[:60]))
    assert wrong == []
