"""`litestore-webhooks console` and the local runtime's console link, against a real local runtime.

The command mints a single-use link (POST /portal/sessions with the target's admin credentials),
opens it in a graphical browser when there is one and prints it otherwise; the link opens a
session once, with the scope the flags asked for. `--revoke-all` rotates the key.
"""

from __future__ import annotations

import io
import json
import re
import webbrowser
from contextlib import redirect_stdout

import pytest
from tests.local_stack import create_endpoint, rt  # noqa: F401 - rt: the module-scoped runtime
from tests.test_console_access import as_session, http

from litestore_webhooks import cli
from litestore_webhooks.core import portal


def console(rt, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["--url", rt.base_url, "--admin-token", rt.admin_token, "--no-color", "console", *args])
    return code, out.getvalue()


def token_in(text: str) -> str:
    (found,) = re.findall(r"#token=(lsw1\.[A-Za-z0-9_.-]+)", text)
    return found


def exchange(rt, token: str) -> tuple[int, dict]:
    status, body, _ = http(rt, "POST", "/console/session", {"mode": "header"}, as_session(token))
    return status, body


def test_without_a_browser_the_link_is_printed_and_opens_one_session(rt, monkeypatch):
    monkeypatch.setattr(webbrowser, "get", lambda *a: (_ for _ in ()).throw(webbrowser.Error("no browser")))
    code, out = console(rt)
    assert code == 0 and out.startswith("Open the console (every endpoint, until ")
    assert f"  {rt.base_url}/console#token=" in out
    token = token_in(out)
    status, body = exchange(rt, token)
    assert status == 200 and body["session"]["readOnly"] is False and body["session"]["endpointIds"] is None
    assert exchange(rt, token)[1]["error"]["code"] == "link_used"


def test_a_graphical_browser_is_sent_the_link(rt, monkeypatch):
    opened = []

    class Browser(webbrowser.BackgroundBrowser):
        def open(self, url, new=0, autoraise=True):
            opened.append((url, new))
            return True

    monkeypatch.setattr(webbrowser, "get", lambda *a: Browser("true"))
    code, out = console(rt)
    assert code == 0 and out.startswith("Opened the console in your browser")
    assert opened == [(out.split()[-1], 2)]
    # A text-mode browser would take over the terminal: print instead.
    monkeypatch.setattr(webbrowser, "get", lambda *a: webbrowser.GenericBrowser("lynx"))
    assert console(rt)[1].startswith("Open the console")


def test_flags_scope_the_session(rt):
    endpoint = create_endpoint(rt, "Console CLI scope", "http://127.0.0.1:9/x", ["*"], active=False)
    code, out = console(rt, "--no-open", "--read-only", "--ttl", "30m", "--endpoint", "Console CLI scope")
    assert code == 0 and "(read-only, 1 endpoint(s), until " in out
    claims = portal.Claims.from_json(json.dumps(_claims(token_in(out))))
    assert (claims.read_only, claims.endpoint_ids, claims.expires_at - claims.issued_at) == (
        True,
        (endpoint["id"],),
        1800,
    )
    code, out = console(rt, "--no-open", "--json")
    assert code == 0 and json.loads(out)["kind"] == "link"


def _claims(token: str) -> dict:
    import base64

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_revoke_all_rotates_the_key(rt):
    code, out = console(rt, "--no-open")
    link = token_in(out)
    code, out = console(rt, "--revoke-all")
    assert code == 0 and "every portal link and session is revoked" in out
    assert exchange(rt, link)[0] == 401


def test_a_bad_ttl_is_a_usage_error(rt, capsys):
    assert cli.main(["--url", rt.base_url, "console", "--ttl", "soon"]) == 2
    assert "invalid duration 'soon'" in capsys.readouterr().err


def test_the_local_runtime_banner_prints_a_working_console_link(rt):
    banner = rt.banner()
    line = next(line for line in banner.splitlines() if line.strip().startswith("Console"))
    assert f"{rt.base_url}/console#token=" in line and "litestore-webhooks --local console" in line
    assert exchange(rt, token_in(line))[0] == 200


@pytest.mark.parametrize("ttl", ["8d", "30s"])
def test_ttl_outside_the_api_bounds_is_refused_with_the_apis_reason(rt, ttl, capsys):
    assert cli.main(["--url", rt.base_url, "--admin-token", rt.admin_token, "console", "--no-open", "--ttl", ttl]) == 1
    assert "ttl" in capsys.readouterr().err
