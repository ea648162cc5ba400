"""`console`: open the web console with a fresh single-use link (POST /portal/sessions).

The link is minted with the target's admin credentials (the local admin token, or SigV4 for
--stack) and opened in the default browser; without one (a server, a container, --no-open)
its URL is printed instead. The link works once; run the command again for another.
"""

from __future__ import annotations

import argparse
import webbrowser
from collections.abc import Callable
from typing import Any

from litestore_webhooks.cli.context import Context
from litestore_webhooks.cli.times import seconds

Add = Callable[..., argparse.ArgumentParser]
DEFAULT_TTL = "8h"  # an operator's working day (console.links.OPERATOR_TTL_S); embedding links default to 1 h


def register(sub: argparse._SubParsersAction, add: Add) -> None:
    p = add(sub, "console", "open the web console in a browser (a single-use link to a new session)")
    p.add_argument(
        "--ttl",
        type=seconds,
        default=seconds(DEFAULT_TTL),
        metavar="SPAN",
        help=f"how long the session lasts: seconds or 30m, 8h, 7d (default {DEFAULT_TTL}, at most 7d)",
    )
    p.add_argument("--read-only", action="store_true", help="a session that changes nothing and sees no secret")
    p.add_argument(
        "--endpoint",
        action="append",
        metavar="ENDPOINT",
        help="only this endpoint (id or exact name; repeat for more); default: every endpoint",
    )
    p.add_argument("--no-open", action="store_true", help="print the link instead of opening a browser")
    p.add_argument(
        "--revoke-all", action="store_true", help="rotate the console key instead: every link and session stops working"
    )
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    a = ctx.args
    if a.revoke_all:
        result = ctx.client.post("/portal/key/rotate")
        if not ctx.emit(result):
            ctx.out.line(f"console key rotated at {result['rotatedAt']}: every portal link and session is revoked")
        return 0
    body: dict[str, Any] = {"ttl": a.ttl, "readOnly": a.read_only}
    if a.endpoint:
        body["endpointIds"] = [ctx.endpoint_id(ref) for ref in a.endpoint]
    session = ctx.client.post("/portal/sessions", body)
    if ctx.emit(session):
        return 0
    scope = "read-only, " if session["readOnly"] else ""
    scope += f"{len(session['endpointIds'])} endpoint(s)" if session["endpointIds"] else "every endpoint"
    opened = not a.no_open and _open(session["url"])
    ctx.out.line(
        ("Opened the console in your browser" if opened else "Open the console") + f" ({scope}, "
        f"until {session['expiresAt']}; the link works once):"
    )
    ctx.out.line(f"  {session['url']}")
    return 0


def _open(url: str) -> bool:
    """Open `url` in a graphical browser, if this machine has one (a text-mode browser would take
    over the terminal: print the link instead)."""
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    if isinstance(browser, webbrowser.GenericBrowser) and not isinstance(browser, webbrowser.BackgroundBrowser):
        return False
    return bool(browser.open(url, new=2))
