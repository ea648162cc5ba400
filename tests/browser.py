"""A real headless Chromium (Debian's, which the Makefile installs) driven by Playwright for Python.

Playwright's own browser download does not work on these machines, so it launches
/usr/bin/chromium (LSW_CHROMIUM overrides) with the flags this closed network needs, in a
fresh profile. A missing browser fails the tests that need it: they must not pass without it.
Every page records its console errors and Content-Security-Policy violations, so a test can
assert there were none.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM = os.environ.get("LSW_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Reported by the page itself, before any of its scripts run.
_WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(
  {directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample}));
"""


@dataclass
class Watched:
    page: Any
    errors: list[str] = field(default_factory=list)

    def violations(self) -> list[dict[str, str]]:
        return self.page.evaluate("window.__violations || []")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def accessibility_violations(page: Any) -> list[str]:
    """axe-core's WCAG 2.1 A and AA rules on the page as it is now (axe-core ships inside
    axe-playwright-python; it is injected through the DevTools protocol, which the CSP does not govern)."""
    from axe_playwright_python.sync_playwright import Axe

    tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": tags}})
    return [f"{v['id']} ({v['impact']}): {v['nodes'][0]['html'][:120]}" for v in results.response["violations"]]


def open_page(browser: Any, *, width: int = 1200, height: int = 800, **context: Any) -> Watched:
    """A page in its own context (its own cookies), watching for console errors and CSP violations."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, **context)
    ctx.add_init_script(_WATCH)
    page = ctx.new_page()
    watched = Watched(page)
    page.on("console", lambda m: m.type == "error" and watched.errors.append(f"{m.text} [{m.location.get('url')}]"))
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    page.on("dialog", lambda d: (watched.errors.append(f"dialog opened: {d.message}"), d.dismiss()))
    return watched
