"""The web console in a real headless Chromium against the local runtime, as an operator uses it.

An endpoint is created through the form (after the API's validation error shows on the URL
field), an event is published and its attempt appears live, the secret is rotated and the
next delivery verifies with the new one, a rejected event is dead-lettered (its hostile
response excerpt shown as text, never run) and redriven from the screen. A read-only portal
link shows no changes and the server refuses them too; expired and used links are refused; a
link embedded in a cross-site iframe works (the session held in page memory). Every page is
checked for console errors and CSP violations, readable at 360 px and usable from the keyboard.

Numbers printed (run with -s): the first render and page weight. Screenshots go to a temporary
folder, or to docs/console/ with LSW_UPDATE_SCREENSHOTS=1 (`make screenshots`).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import expect
from tests.browser import accessibility_violations, browser, open_page  # noqa: F401 - browser: the module-scoped Chromium
from tests.local_stack import event
from tests.receivers import Receiver, Reply
from tests.test_local_runtime import admin, ingest

from litestore_webhooks import config
from litestore_webhooks.aws import console_key
from litestore_webhooks.console import assets
from litestore_webhooks.core import portal
from litestore_webhooks.local.runtime import LocalRuntime

ROOT = Path(__file__).resolve().parent.parent
PAGE_BUDGET_KB = 300
FIRST_RENDER_BUDGET_MS = 1000
# Markup a receiver might answer with; shown as text, it must never become elements or run.
HOSTILE = (
    b'<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    b'<a href="javascript:window.__pwned=3">click</a> &lt;ok&gt;'
)


@pytest.fixture(scope="module")
def rt():
    """The local runtime, its delivery reading endpoints uncached: a rotated secret signs the very next
    delivery (deployed, a change reaches delivery within the endpoint cache's 30 s)."""
    saved = os.environ.get("LSW_ENDPOINT_CACHE_TTL_S")
    os.environ["LSW_ENDPOINT_CACHE_TTL_S"] = "0"
    try:
        with LocalRuntime(port=0, allow_insecure=True, write_profile=False) as runtime:
            yield runtime
    finally:
        os.environ.pop("LSW_ENDPOINT_CACHE_TTL_S") if saved is None else os.environ.__setitem__(
            "LSW_ENDPOINT_CACHE_TTL_S", saved
        )


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    if os.environ.get("LSW_UPDATE_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "console"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("console-screenshots")


def link(rt, **scope) -> str:
    status, body = admin(rt, "POST", "/portal/sessions", scope)
    assert status == 201, body
    return body["url"]


def screen(page, shots: Path, name: str) -> None:
    """A screenshot for docs/console.md, and axe-core's WCAG 2.1 AA check of the same screen."""
    page.screenshot(path=str(shots / f"{name}.png"))
    assert accessibility_violations(page) == [], name


def ready(page) -> float:
    """Wait for the first screen's data; returns the first-render mark (ms since navigation started)."""
    page.wait_for_selector("html[data-ready='1']", timeout=15_000)
    return page.evaluate("performance.getEntriesByName('lsw:first-render')[0].startTime")


def new_endpoint_form(rt, page) -> None:
    """Sign in with a fresh link and open the New endpoint form."""
    page.goto(link(rt))
    ready(page)
    page.get_by_role("link", name="Endpoints").click()
    page.get_by_role("link", name="New endpoint").click()


def no_errors(watched, *, expected_http: tuple[int, ...] = ()) -> None:
    """No console error and no CSP violation, except the browser's note on HTTP answers the test caused."""
    expected = tuple(f"the server responded with a status of {status} " for status in expected_http)
    errors = [e for e in watched.errors if not any(x in e for x in expected)]
    assert errors == [] and watched.violations() == [], (errors, watched.violations())


def controls_without_a_name(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
        .filter((el) => el.offsetParent !== null || el.type === 'radio')
        .filter((el) => !((el.labels && el.labels.length) || el.getAttribute('aria-label') || el.textContent.trim()))
        .map((el) => el.outerHTML.slice(0, 120))""")


def test_first_render_and_page_weight(rt, browser):
    wire: dict[str, int] = {}  # URL -> body bytes as transferred (gzip)
    renders = []
    for n in range(6):  # the first load warms the server's caches; the median of the other five is the figure
        watched = open_page(browser)
        page = watched.page
        if n == 0:

            def transferred(req) -> None:
                url = req.url.split("#")[0]
                if "/console/assets/" in url or url.endswith("/console"):
                    wire[url] = max(wire.get(url, 0), req.sizes()["responseBodySize"])

            page.on("requestfinished", transferred)
        page.goto(link(rt))
        renders.append(ready(page))
        no_errors(watched)
        page.context.close()
    total_kb = sum(wire.values()) / 1024
    warm = statistics.median(renders[1:])
    print(
        f"\nconsole page weight: {len(wire)} files, {total_kb:.1f} KB transferred (gzip); first render: "
        f"first load {renders[0]:.0f} ms, median of the next five {warm:.0f} ms ({', '.join(f'{r:.0f}' for r in renders[1:])})"
    )
    assert len(wire) == len(assets.FILES) + 1  # the page and every file it lists, nothing else
    # Chromium fetches the favicon itself and does not always report its size (it is 0.3 KB).
    assert [url for url, size in wire.items() if size <= 0 and not url.endswith("icon.svg")] == []
    assert total_kb < PAGE_BUDGET_KB
    assert warm < FIRST_RENDER_BUDGET_MS


def test_an_operator_creates_an_endpoint_watches_deliveries_rotates_and_redrives(rt, browser, shots):
    watched = open_page(browser)
    page = watched.page
    with Receiver() as rx:
        new_endpoint_form(rt, page)
        page.get_by_label("Name").fill("Order Processing")
        page.get_by_label("URL").fill("ftp://orders.example/hooks")
        page.get_by_label("All order.*").check()
        page.get_by_label("Description").fill("Updates the order processor")
        page.get_by_role("button", name="Create endpoint").click()
        # The API's own validation message, on the field it is about.
        url_field = page.get_by_label("URL")
        expect(url_field).to_have_attribute("aria-invalid", "true")
        error_id = url_field.get_attribute("aria-describedby")
        expect(page.locator(f"#{error_id}")).to_contain_text("https://")
        screen(page, shots, "endpoint-form-error")

        url_field.fill(rx.url("/webhooks/litestore"))
        page.get_by_role("button", name="Create endpoint").click()
        expect(page.get_by_role("heading", name="Endpoint created")).to_be_visible()
        secret = page.locator("code.secret").inner_text()
        rx.secret = secret
        page.get_by_role("link", name="Open Order Processing").click()
        endpoint_id = page.locator("main code", has_text="ep_").first.inner_text()
        assert admin(rt, "GET", f"/endpoints/{endpoint_id}")[1]["events"] == ["order.*"]

        # Publish; the attempt appears by itself (the first page follows new attempts).
        assert ingest(rt, event("order.updated", "evt_console_1"))[0] == 202
        row = page.locator("table.attempts tbody tr", has_text="evt_console_1")
        expect(row).to_contain_text("delivered", timeout=20_000)
        assert rx.wait_for(1)[0].verified is True

        # Rotate with the default 24 h overlap; the next delivery verifies with the new secret.
        page.get_by_role("button", name="Signing secret").click()
        page.get_by_role("button", name="Rotate secret").click()
        new_secret = page.get_by_test_id("new-secret").inner_text()
        assert new_secret != secret and admin(rt, "GET", f"/endpoints/{endpoint_id}/secret")[1]["secret"] == new_secret
        page.get_by_role("button", name="Reveal secret").click()
        expect(page.get_by_test_id("secret")).to_have_text(new_secret)
        page.keyboard.press("Escape")  # the dialog closes from the keyboard
        expect(page.get_by_role("dialog")).to_be_hidden()
        rx.secret = new_secret
        assert ingest(rt, event("order.completed", "evt_console_2"))[0] == 202
        expect(page.locator("table.attempts tbody tr", has_text="evt_console_2")).to_contain_text(
            "delivered", timeout=20_000
        )
        assert rx.wait_for(2)[1].verified is True

        # A rejected event is dead-lettered at once; its hostile excerpt is shown as text.
        rx.default = Reply(400, {"Content-Type": "text/html"}, HOSTILE)
        fetched: list[tuple[float, str]] = []  # when each attempts answer and stats request reached us
        page.on("response", lambda r: "/attempts" in r.url and fetched.append((time.monotonic(), "attempts")))
        page.on(
            "request", lambda r: r.url.split("?")[0].endswith("/stats") and fetched.append((time.monotonic(), "stats"))
        )
        assert ingest(rt, event("order.updated", "evt_console_dead"))[0] == 202
        dead_row = page.locator("table.attempts tbody tr", has_text="evt_console_dead")
        expect(dead_row).to_contain_text("dead-lettered", timeout=20_000)
        # The numbers above follow a new attempt at once, not at their own next refresh (every 5 s):
        # the answer that brought the row is followed by a stats request within 300 ms.
        shown_by = max(t for t, what in fetched if what == "attempts" and t <= time.monotonic())
        assert any(what == "stats" and 0 <= t - shown_by < 0.3 for t, what in fetched), fetched
        numbers = page.get_by_label("Last 24 hours")
        expect(numbers.locator("div", has_text="Attempts (24 h)").locator("dd")).to_have_text("3")
        expect(numbers.locator("div", has_text="Dead letters").locator("dd")).to_have_text("1")
        dead_row.get_by_role("button", name="Details").click()
        excerpt = page.get_by_label("Response excerpt")
        expect(excerpt).to_have_text(HOSTILE.decode())
        assert excerpt.locator("img, script, a").count() == 0
        assert page.evaluate("window.__pwned") is None
        headers = page.locator("table.headers").first.inner_text()
        assert "X-Litestore-Event-Id\tevt_console_dead" in headers and "(redacted)" in headers
        assert secret not in page.content() and new_secret not in page.content()
        screen(page, shots, "endpoint-attempts")

        # Redrive it from the dead-letter tab once the receiver is fixed.
        rx.default = Reply(200)
        page.get_by_role("link", name="Dead letters").click()
        page.get_by_label("Select evt_console_dead").check()
        screen(page, shots, "endpoint-dead-letters")
        page.get_by_role("button", name="Redrive selected (1)").click()
        expect(page.get_by_role("status").filter(has_text="Redriven 1")).to_be_visible()
        expect(page.get_by_text("No dead letters.")).to_be_visible()
        page.get_by_role("link", name="Attempts").click()
        redriven = page.locator("table.attempts tbody tr", has_text="evt_console_dead").first
        expect(redriven).to_contain_text("delivered", timeout=20_000)

        page.get_by_role("link", name="Overview").click()
        expect(page.get_by_text("Success rate")).to_be_visible()
        page.wait_for_timeout(300)  # the chart's first frame
        screen(page, shots, "overview")
        page.get_by_role("link", name="Endpoints").click()
        expect(page.get_by_role("link", name="Order Processing")).to_be_visible()
        screen(page, shots, "endpoints")
        page.get_by_role("link", name="Events").click()
        page.get_by_label("Event id").fill("evt_console_dead")
        page.get_by_role("button", name="Find").click()
        expect(page.get_by_label("Event payload")).to_contain_text('"event": "order.updated"')
        expect(page.locator("main table tbody tr")).to_have_count(2)  # dead-lettered, then delivered on redrive
        screen(page, shots, "events")
        page.get_by_role("link", name="Event catalog").click()
        page.locator("summary", has_text="order.updated").click()
        expect(page.get_by_label("order.updated example")).to_be_visible()
        screen(page, shots, "catalog")
        assert controls_without_a_name(page) == []
    no_errors(watched, expected_http=(400,))  # the form's first submit


def test_endpoint_actions_from_the_screen(rt, browser):
    """Test send (its attempt shown), filters, edit, pause/resume, replay, resend to chosen
    endpoints, and delete behind a typed confirmation."""
    watched = open_page(browser)
    page = watched.page
    with Receiver() as rx:
        status, created = admin(
            rt, "POST", "/endpoints", {"name": "Reviews", "url": rx.url("/r"), "events": ["review.*"]}
        )
        assert status == 201, created
        eid = created["id"]
        assert ingest(rt, event("review.created", "evt_actions_1"))[0] == 202
        rx.wait_for(1)
        page.goto(link(rt))
        ready(page)
        page.goto(page.url.split("#")[0] + f"#/endpoints/{eid}")
        expect(page.get_by_role("heading", name="Reviews")).to_be_visible()

        page.get_by_role("button", name="Send test event").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Event type").select_option("review.approved")
        dialog.get_by_role("button", name="Send").click()
        result = page.locator(".test-result")
        expect(result).to_contain_text("delivered")
        expect(result).to_contain_text("HTTP 200")
        assert rx.wait_for(2)[1].headers["X-Litestore-Test"] == "true"
        page.keyboard.press("Escape")

        page.get_by_role("form", name="Filter attempts").get_by_label("Status").select_option("dead_lettered")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_text("No attempts match.")).to_be_visible()
        page.get_by_role("button", name="Clear").click()
        expect(page.locator("table.attempts tbody tr", has_text="evt_actions_1")).to_be_visible()

        page.get_by_role("button", name="Pause").click()
        expect(page.locator("h1 .badge")).to_have_text("paused (manual)")
        assert admin(rt, "GET", f"/endpoints/{eid}")[1]["pausedReason"] == "manual"
        page.get_by_role("button", name="Resume").click()
        expect(page.locator("h1 .badge")).to_have_text("active")

        page.get_by_role("link", name="Settings").click()
        page.get_by_label("Timeout (ms)").fill("4000")
        page.get_by_label("Max attempts").fill("3")
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("link", name="Attempts")).to_have_attribute("aria-current", "page")
        saved = admin(rt, "GET", f"/endpoints/{eid}")[1]
        assert (saved["timeout"], saved["retryPolicy"]["maxAttempts"], saved["name"]) == (4000, 3, "Reviews")

        page.get_by_role("link", name="Replay").click()
        page.get_by_role("button", name="Replay").click()
        expect(page.get_by_role("status").filter(has_text="Queued 1 events")).to_be_visible()
        rx.wait_for(3)

        page.goto(page.url.split("#")[0] + "#/events/evt_actions_1")
        page.get_by_label("Reviews").check()
        page.get_by_role("button", name="Resend to 1").click()
        expect(page.get_by_role("status").filter(has_text="Queued for 1 endpoint.")).to_be_visible()
        rx.wait_for(4)

        page.goto(page.url.split("#")[0] + f"#/endpoints/{eid}")
        page.get_by_role("button", name="Delete…").click()
        confirm = page.get_by_role("button", name="Delete endpoint")
        expect(confirm).to_be_disabled()
        page.get_by_label("Type Reviews to confirm").fill("Reviews")
        confirm.click()
        expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()
        assert admin(rt, "GET", f"/endpoints/{eid}")[0] == 404
    no_errors(watched, expected_http=(404,))  # a refresh already on its way when the endpoint went


def test_a_read_only_link_shows_no_changes_and_the_server_refuses_them(rt, browser, shots):
    status, created = admin(
        rt, "POST", "/endpoints", {"name": "Analytics", "url": "http://127.0.0.1:9/a", "events": ["*"], "active": False}
    )
    assert status == 201, created
    watched = open_page(browser)
    page = watched.page
    page.goto(link(rt, readOnly=True))
    ready(page)
    expect(page.get_by_label("Your session")).to_contain_text("read-only")
    page.goto(page.url.split("#")[0] + f"#/endpoints/{created['id']}")
    expect(page.get_by_role("heading", name="Analytics")).to_be_visible()
    for action in ("Pause", "Resume", "Delete…", "Signing secret", "Send test event"):
        expect(page.get_by_role("button", name=action)).to_have_count(0)
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    screen(page, shots, "read-only")
    # Hidden buttons are not the protection: the page's own session is refused by the server.
    refused = page.evaluate(
        """async ([base, id]) => {
        const answers = [];
        for (const [method, path] of [["POST", `/endpoints/${id}/resume`], ["GET", `/endpoints/${id}/secret`],
                                      ["DELETE", `/endpoints/${id}`], ["POST", "/endpoints"]]) {
          const r = await fetch(`${base}/console/api${path}`, {method, headers: {"X-Litestore-Console": "1",
            "Content-Type": "application/json"}, body: method === "POST" ? "{}" : undefined});
          answers.push([r.status, (await r.json()).error.code]);
        }
        return answers;
      }""",
        [page.evaluate("document.documentElement.dataset.base"), created["id"]],
    )
    assert refused == [[403, "read_only"]] * 4
    assert admin(rt, "GET", f"/endpoints/{created['id']}")[1]["active"] is False
    no_errors(watched, expected_http=(403,))


def test_expired_and_already_used_links_are_refused(rt, browser):
    key = console_key.current(config.settings().console_key_secret)
    expired = portal.sign(portal.new_link(int(time.time()) - 7200, 3600), key)
    watched = open_page(browser)
    page = watched.page
    page.goto(f"{rt.base_url}/console#token={expired}")
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    assert "#token" not in page.url  # out of the address bar at once
    assert accessibility_violations(page) == []
    used = link(rt)
    page.goto(used)
    ready(page)
    second = open_page(browser).page
    second.goto(used)
    expect(second.get_by_role("alert")).to_contain_text("already used")


def test_a_link_embedded_in_a_cross_site_iframe_works_without_cookies(rt, browser):
    """A store's admin page on another site embeds the link: SameSite=Strict cookies are never sent
    there, so the page keeps its session in memory and sends it as a header."""
    url = link(rt).replace("127.0.0.1", "localhost")  # localhost and 127.0.0.1 are different sites
    page_html = f'<!doctype html><title>Store admin</title><h1>Settings</h1><iframe title="Webhooks" src="{url}" width="1000" height="700"></iframe>'

    class Store(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = page_html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Store)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        watched = open_page(browser)
        page = watched.page
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/settings")
        frame = page.frame_locator("iframe")
        expect(frame.get_by_role("heading", name="Overview")).to_be_visible(timeout=15_000)
        frame.get_by_role("link", name="Endpoints").click()
        expect(frame.get_by_role("heading", name="Endpoints")).to_be_visible()
        assert page.context.cookies() == []  # nothing stored: the session lives in the frame's memory
        no_errors(watched)
    finally:
        server.shutdown()
        server.server_close()


def test_readable_at_360_px_and_usable_from_the_keyboard(rt, browser, shots):
    watched = open_page(browser, width=360, height=760, is_mobile=True, has_touch=True)
    page = watched.page
    page.goto(link(rt))
    ready(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screen(page, shots, "overview-360px")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # Overview, then Endpoints
    expect(page.get_by_role("link", name="Endpoints")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()
    assert page.evaluate("location.hash") == "#/endpoints"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.goto(page.url.split("#")[0] + "#/endpoints/new")
    expect(page.get_by_role("heading", name="New endpoint")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert controls_without_a_name(page) == []
    no_errors(watched)
