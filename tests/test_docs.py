"""Issue 14 item 2: the Swagger UI works in a browser. /docs and /openapi.json are public, the
document declares the admin and API-key schemes (Swagger UI's Authorize button) and the ingest
routes, and the page loads only its own files under a CSP without inline script."""

from __future__ import annotations

import json
import time
import urllib.request

from tests.browser import browser, open_page  # noqa: F401 - browser: the module-scoped Chromium
from tests.local_stack import rt  # noqa: F401 - rt: the module-scoped runtime


def get(rt, path: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(rt.base_url + path, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_docs_and_the_openapi_document_open_without_credentials(rt):
    for path in ("/docs", "/openapi.json"):
        status, body, _ = get(rt, path)
        assert status == 200, (path, body[:200])


def test_the_document_declares_admin_and_api_key_schemes_and_the_ingest_routes(rt):
    doc = json.loads(get(rt, "/openapi.json")[1])
    schemes = doc["components"]["securitySchemes"]
    assert schemes["admin"] == {
        **schemes["admin"],
        "type": "http",
        "scheme": "bearer",
    }  # local runtime: the admin token
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "x-api-key"}
    assert doc["security"] == [{"admin": []}]
    for path in ("/events", "/events/batch"):
        operation = doc["paths"][path]["post"]
        assert operation["security"] == [{"apiKey": []}], path
        assert operation["requestBody"]["content"]["application/json"]["schema"], path
    assert doc["paths"]["/console/session"]["post"]["security"] == [{"consoleSession": []}]


def test_deployed_the_admin_scheme_is_sigv4(monkeypatch):
    """On AWS the admin routes are IAM: OpenAPI has no SigV4 type, so AWS's own extension says it."""
    from admin_api import call
    from litestore_webhooks import config

    monkeypatch.delenv("LSW_LOCAL_RUNTIME", raising=False)
    config.settings.cache_clear()
    try:
        doc = call("GET", "/openapi.json")[1]
    finally:
        config.settings.cache_clear()
    admin = doc["components"]["securitySchemes"]["admin"]
    assert admin["type"] == "apiKey" and admin["name"] == "Authorization"
    assert admin["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_swagger_ui_shows_authorize_and_the_ingest_routes_in_a_browser(rt, browser):
    watched = open_page(browser)
    page = watched.page
    loaded = []
    page.on("response", lambda r: loaded.append(r.url))
    started = time.monotonic()
    page.goto(rt.base_url + "/docs")
    page.get_by_role("button", name="Authorize").wait_for(timeout=15_000)
    page.locator(".opblock-summary-path", has_text="/events/batch").first.wait_for()
    print(f"docs page ready in {time.monotonic() - started:.2f} s")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/events" in [p.strip() for p in paths] and "/endpoints" in [p.strip() for p in paths]
    page.get_by_role("button", name="Authorize").click()
    dialog = page.locator(".modal-ux")
    dialog.wait_for()
    text = dialog.inner_text()
    assert "admin" in text and "apiKey" in text and "x-api-key" in text
    assert all(url.startswith(rt.base_url.rsplit("/", 1)[0]) for url in loaded), loaded  # nothing from a CDN
    assert watched.violations() == [] and watched.errors == []
