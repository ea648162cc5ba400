"""The console's files: vendored libraries unchanged from npm, our code CSP-clean, the page weight
within budget, and the page and its files served as the CSP expects (tests/test_console_browser.py
checks the same in a browser)."""

from __future__ import annotations

import gzip
import hashlib
import json
import re

from admin_api import call
from litestore_webhooks.console import assets

BUDGET_BYTES = 300 * 1024
OURS = [name for name in assets.FILES if name.endswith(".js") and name in assets.APP_MODULES]


def test_vendored_files_are_the_npm_packages_files_with_their_licences():
    manifest = json.loads((assets.STATIC / "licenses" / "vendored.json").read_text())
    assert set(manifest) == set(assets.VENDOR_SCRIPTS) | {"uPlot.min.css"}
    for name, entry in manifest.items():
        assert hashlib.sha256((assets.STATIC / name).read_bytes()).hexdigest() == entry["sha256"], name
        assert (assets.STATIC / entry["licenseFile"]).read_text().strip(), name


def test_our_code_imports_only_our_files_and_never_parses_markup_or_code():
    for name in OURS:
        source = (assets.STATIC / name).read_text()
        for target in re.findall(r'^import .* from "([^"]+)";$', source, re.M):
            assert target.startswith("./") and target[2:] in assets.FILES, (name, target)
        for forbidden in (
            "innerHTML",
            "outerHTML",
            "dangerouslySetInnerHTML",
            "insertAdjacentHTML",
            "eval(",
            "new Function",
            "document.write",
            "localStorage",
            "sessionStorage",
            "http://",
            "https://",
        ):
            assert forbidden not in source.replace("https://your-app.example", ""), (name, forbidden)


def test_the_page_weighs_less_than_300_kb_gzip():
    page = assets.page("https://api.example", "/v1").body.encode()
    total = len(gzip.compress(page)) + sum(len(assets._gzipped(name)) for name in assets.FILES)
    print(f"console page weight: {total / 1024:.1f} KB gzip over {len(assets.FILES) + 1} files")
    assert total < BUDGET_BYTES


def get(target: str, headers: dict[str, str] | None = None) -> tuple[int, object, dict[str, str]]:
    status, body, given = call("GET", target, headers=headers)
    return status, body, {k: v[-1] if isinstance(v, list) else v for k, v in given.items()}


def test_the_page_has_no_inline_script_and_a_strict_csp():
    status, page, headers = get("/console")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assets_path = f"https://localhost/prod/console/assets/{assets.version()}/"
    assert f"script-src {assets_path};" in csp and f"style-src {assets_path};" in csp and "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []  # every script has a src
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
    for name in (*assets.VENDOR_SCRIPTS, *assets.STYLES, *assets.APP_MODULES):
        assert f'"/prod/console/assets/{assets.version()}/{name}"' in page, name


def test_assets_are_served_compressed_and_cached_by_version_and_nothing_else_is():
    version = assets.version()
    status, _, headers = get(f"/console/assets/{version}/app.js", {"Accept-Encoding": "gzip, br"})
    assert status == 200 and headers["Content-Encoding"] == "gzip" and "immutable" in headers["Cache-Control"]
    assert "javascript" in headers["Content-Type"]
    status, body, headers = get("/console/assets/old/app.js")
    assert status == 200 and headers["Cache-Control"] == "no-cache" and "Content-Encoding" not in headers
    for name in ("../routes.py", "licenses", "vendored.json", "..%2Froutes.py"):
        assert get(f"/console/assets/{version}/{name}")[0] == 404, name


def test_the_page_escapes_where_it_is_served_from():
    page = assets.page('https://x"><script>', '/v1"onload="x').body
    assert 'data-base="/v1&quot;onload=&quot;x"' in page and '"onload="' not in page
