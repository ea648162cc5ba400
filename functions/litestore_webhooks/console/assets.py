"""The console page and its files, read from `static/` on the first console request.

Only the files listed in FILES are served (no path ever reaches the file system). Their URLs
carry VERSION, a hash of their contents, so they are cached for a year and a new release is
fetched at once; the page itself is never cached. Everything is gzip-compressed when the
browser accepts it (Powertools' compress=True). The page's CSP allows scripts and styles
from the assets path only: no inline script, no eval, no other origin.
"""

from __future__ import annotations

import gzip
import hashlib
import html
from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response

from litestore_webhooks.core.errors import ApiError

STATIC = Path(__file__).with_name("static")
_JS, _CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
# What the page loads, in order. Vendored libraries are byte-identical to their npm packages
# (docs/console.md lists versions and licences).
VENDOR_SCRIPTS = ("preact.umd.js", "hooks.umd.js", "htm.umd.js", "uPlot.iife.min.js")
STYLES = ("uPlot.min.css", "console.css")
APP_MODULES = (
    "app.js",
    "api.js",
    "ui.js",
    "overview.js",
    "endpoints.js",
    "endpoint.js",
    "events.js",
    "catalog.js",
    "vendor.js",
)
FILES: dict[str, str] = {
    **dict.fromkeys(VENDOR_SCRIPTS, _JS),
    **dict.fromkeys(APP_MODULES, _JS),
    **dict.fromkeys(STYLES, _CSS),
    "icon.svg": "image/svg+xml",
}
# Who may frame the console: any page, so a store can embed a portal link in an iframe. Safe:
# an operator's cookie session is SameSite=Strict (never sent to a cross-site frame), and a
# framed page holds only the session its own link opened.
FRAME_ANCESTORS = "*"


@cache
def _read(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@cache
def _gzipped(name: str) -> bytes:
    """Compressed once per process, not on every request (the files never change while it runs)."""
    return gzip.compress(_read(name), 9, mtime=0)


@cache
def version() -> str:
    digest = hashlib.sha256()
    for name in sorted(FILES):
        digest.update(name.encode() + b"\0" + _read(name))
    return digest.hexdigest()[:16]


def csp(origin: str, assets: str) -> str:
    src = f"{origin}{assets}/"
    return (
        f"default-src 'none'; script-src {src}; style-src {src}; img-src {src} data:; connect-src 'self'; "
        f"base-uri 'none'; form-action 'none'; frame-ancestors {FRAME_ANCESTORS}"
    )


def page(origin: str, base: str) -> Response:
    """The console's HTML: no data in it, only where its files and its API are."""
    assets = f"{base}/console/assets/{version()}"
    a, b = html.escape(assets, quote=True), html.escape(base, quote=True)
    scripts = "\n".join(f'<script defer src="{a}/{name}"></script>' for name in VENDOR_SCRIPTS)
    styles = "\n".join(f'<link rel="stylesheet" href="{a}/{name}">' for name in STYLES)
    # Every module up front: the browser fetches them side by side instead of import by import.
    preloads = "\n".join(f'<link rel="modulepreload" href="{a}/{name}">' for name in APP_MODULES if name != "app.js")
    body = f"""<!DOCTYPE html>
<html lang="en" data-base="{b}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Webhooks · Litestore</title>
<link rel="icon" href="{a}/icon.svg" type="image/svg+xml">
{styles}
{preloads}
{scripts}
<script type="module" src="{a}/app.js"></script>
</head>
<body>
<div id="app"><p class="boot">Loading the webhooks console…</p></div>
<noscript><p>The console needs JavaScript.</p></noscript>
</body>
</html>
"""
    headers = {
        "Content-Security-Policy": csp(origin, assets),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    return Response(200, "text/html; charset=utf-8", body, headers=headers, compress=True)


def asset(given_version: str, name: str, accept_encoding: str = "") -> Response:
    if name not in FILES:
        raise ApiError(404, "not_found", f"no console file {name}")
    cache_control = "public, max-age=31536000, immutable" if given_version == version() else "no-cache"
    headers = {"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding"}
    if "gzip" in accept_encoding.lower():
        return Response(200, FILES[name], _gzipped(name), headers={**headers, "Content-Encoding": "gzip"})
    return Response(200, FILES[name], _read(name), headers=headers)
