"""The console's endpoint form for custom headers and the rate limit (issue 19 items 2, 3), in a
real headless Chromium against the local runtime: what the form sends reaches the receiver,
the sensitive value is never on the page again, and an edit that leaves it empty keeps it."""

from __future__ import annotations

from playwright.sync_api import expect
from tests.browser import browser, open_page  # noqa: F401 - browser: the module-scoped Chromium
from tests.local_stack import event
from tests.receivers import Receiver
from tests.test_console_browser import new_endpoint_form, no_errors, rt, screen, shots  # noqa: F401 - fixtures
from tests.test_local_runtime import admin, ingest

TOKEN = "Bearer console-tok-3e91d0"


def test_headers_and_rate_limit_from_the_form_reach_the_receiver_and_the_value_is_never_shown(rt, browser, shots):
    watched = open_page(browser)
    page = watched.page
    with Receiver() as rx:
        new_endpoint_form(rt, page)
        page.get_by_label("Name").fill("Console headers")
        page.get_by_label("URL").fill(rx.url("/in"))
        page.get_by_label("All order.*").check()
        page.get_by_label("Max concurrency").fill("2")
        page.get_by_label("Rate limit (events/s)").fill("4")
        page.get_by_label("Headers", exact=True).fill("X-Tenant: acme")
        page.get_by_label("Sensitive headers", exact=True).fill(f"Authorization: {TOKEN}")
        page.get_by_role("button", name="Create endpoint").click()
        expect(page.get_by_role("heading", name="Endpoint created")).to_be_visible()
        page.get_by_role("link", name="Open Console headers").click()
        endpoint_id = page.locator("main code", has_text="ep_").first.inner_text()
        stored = admin(rt, "GET", f"/endpoints/{endpoint_id}")[1]
        assert stored["rateLimit"] == 4 and stored["headers"] == {"X-Tenant": "acme"}
        assert stored["sensitiveHeaders"] == {"Authorization": "[redacted]"}
        assert ingest(rt, event("order.updated", "evt_console_hdr_1"))[0] == 202
        (request,) = rx.wait_for(1, timeout=20)
        assert request.headers["Authorization"] == TOKEN and request.headers["X-Tenant"] == "acme"
        assert "console-tok" not in page.content()

        # Edit something else, sensitive field left empty: the stored value stays.
        page.get_by_role("link", name="Settings").click()
        expect(page.get_by_label("Sensitive headers", exact=True)).to_have_value("")
        assert "console-tok" not in page.content()
        screen(page, shots, "endpoint-form-headers")
        page.get_by_label("Description").fill("with headers")
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("link", name="Attempts")).to_have_attribute("aria-current", "page")
        assert ingest(rt, event("order.updated", "evt_console_hdr_2"))[0] == 202
        assert rx.wait_for(2, timeout=20)[1].headers["Authorization"] == TOKEN
        assert admin(rt, "GET", f"/endpoints/{endpoint_id}")[1]["description"] == "with headers"
    no_errors(watched)
    admin(rt, "DELETE", f"/endpoints/{endpoint_id}")
