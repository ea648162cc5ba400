"""The operator CLI end to end: the `litestore-webhooks` console script, run as a subprocess
against a real local runtime (tests/test_cli.py pins the same commands against a fake API).

The endpoints come from the document's own "Multiple Endpoints" JavaScript literal, applied with
`endpoints apply`; receivers are real HTTP servers. Targeting is what an operator would type:
LITESTORE_WEBHOOKS_URL / _ADMIN_TOKEN / _API_KEY in the environment, or --url/--admin-token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.local_stack import dead_letters, poll, rt, settle  # noqa: F401 - rt: the module-scoped runtime
from tests.receivers import Receiver, Reply

import seed_catalog as catalog
from litestore_webhooks import verify

CLI = Path(sys.executable).with_name("litestore-webhooks")
SECRETS = {
    "Order Processing": "order-secret-123",
    "Email Service": "email-secret-456",
    "Analytics": "analytics-secret-789",
}

# The document's "Multiple Endpoints" block, pasted as written (bare keys, comment), URLs made local;
# the Email Service gets a short retry policy so its failures reach the dead-letter queue quickly.
DOCUMENT = """const webhooks = [
{
name: "Order Processing",
url: "%(orders)s",
events: ["product.purchased", "order.updated"],
secret: "order-secret-123"
},
{
name: "Email Service",
url: "%(email)s",
events: ["user.registered", "review.created"],
secret: "email-secret-456",
retryPolicy: { maxAttempts: 2, initialDelay: 100 }
},
{
name: "Analytics",
url: "%(analytics)s",
events: ["*"], // All events
secret: "analytics-secret-789"
}
]
"""


def run(rt, *args: str, env: dict[str, str] | None = None, code: int = 0) -> subprocess.CompletedProcess[str]:
    """Run the console script; by default targeted through the environment, as an operator would."""
    target = {
        "LITESTORE_WEBHOOKS_URL": rt.base_url,
        "LITESTORE_WEBHOOKS_ADMIN_TOKEN": rt.admin_token,
        "LITESTORE_WEBHOOKS_API_KEY": rt.api_key,
    }
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("LITESTORE_WEBHOOKS_")}
    full_env = {**inherited, **(target if env is None else env), "NO_COLOR": "1"}
    proc = subprocess.run([str(CLI), *args], env=full_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == code, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture(scope="module")
def receivers():
    rxs = {
        "orders": Receiver(),
        "email": Receiver(default=Reply(400, body=b"unknown template")),
        "analytics": Receiver(),
    }
    yield rxs
    for rx in rxs.values():
        rx.close()


@pytest.fixture(scope="module")
def applied(rt, receivers, tmp_path_factory):
    """The document's endpoints, applied once through the CLI: (the apply output, {name: id})."""
    config = tmp_path_factory.mktemp("cli") / "webhooks.js"
    config.write_text(DOCUMENT % {name: rx.url(f"/{name}") for name, rx in receivers.items()})
    first = run(rt, "endpoints", "apply", str(config), "--yes")
    listed = json.loads(run(rt, "endpoints", "list", "--all", "--json").stdout)["data"]
    return config, first.stdout, {e["name"]: e["id"] for e in listed}


def publish(rt, event_type: str, event_id: str) -> str:
    data = json.dumps(catalog.CATALOG[event_type].example["data"])
    return run(rt, "events", "publish", "--type", event_type, "--data", data, "--id", event_id).stdout


def ids(rx: Receiver) -> list[str]:
    return [json.loads(q.body)["id"] for q in rx.requests]


def test_apply_creates_the_documents_endpoints_and_is_then_a_no_op(rt, applied):
    config, output, by_name = applied
    assert set(by_name) == set(SECRETS)
    assert "plan: 3 to create, 0 to update, 0 to delete, 0 unchanged" in output and "applied 3 change(s)" in output
    for name, secret in SECRETS.items():
        assert name in output and secret not in output
        assert run(rt, "endpoints", "secret", name).stdout.strip() == secret  # the file's secret was stored
    again = run(rt, "endpoints", "apply", str(config), "--yes", "--json")
    assert json.loads(again.stdout) == {
        "plan": [{"action": "unchanged", "name": n, "id": by_name[n], "changes": []} for n in SECRETS],
        "applied": False,
    }


def test_list_as_table_and_json_never_shows_secrets(rt, applied):
    _, _, by_name = applied
    table = run(rt, "endpoints", "list").stdout
    header, *rows = table.splitlines()
    assert header.split() == ["ID", "NAME", "URL", "EVENTS", "STATUS"]
    for name, endpoint_id in by_name.items():
        (row,) = [r for r in rows if endpoint_id in r]
        assert name in row and row.rstrip().endswith("active")
    flags = ["--url", rt.base_url, "--admin-token", rt.admin_token]
    as_json = run(rt, "endpoints", "list", "--json", *flags, env={}).stdout  # flags instead of the environment
    listed = json.loads(as_json)["data"]
    assert sorted(e["name"] for e in listed) == sorted(SECRETS)
    assert all("secret" not in e and "previousSecrets" not in e for e in listed)
    for secret in SECRETS.values():
        assert secret not in table and secret not in as_json


def test_published_event_is_delivered_signed_and_shows_in_attempts(rt, applied, receivers):
    _, _, by_name = applied
    assert "accepted evt_cli_order_1 (order.updated)" in publish(rt, "order.updated", "evt_cli_order_1")
    assert "duplicate of an already accepted event evt_cli_order_1" in publish(rt, "order.updated", "evt_cli_order_1")
    request = next(q for q in receivers["orders"].wait_for(1, timeout=15) if b"evt_cli_order_1" in q.body)
    verify(request.body, request.headers, SECRETS["Order Processing"])

    def logged() -> str | None:
        out = run(rt, "attempts", "Order Processing").stdout
        return out if "evt_cli_order_1" in out else None

    table = poll(logged, timeout=10, what="the attempt in `attempts`")
    header, *rows = table.splitlines()
    assert header.split() == ["AT", "EVENT", "TYPE", "#", "STATUS", "HTTP", "MS", "ERROR"]
    (row,) = [r for r in rows if "evt_cli_order_1" in r]
    assert row.split()[2:6] == ["order.updated", "1", "delivered", "200"]
    attempts = json.loads(run(rt, "attempts", "Order Processing", "--json").stdout)["data"]
    assert [(a["eventId"], a["status"], a["endpointId"]) for a in attempts if a["eventId"] == "evt_cli_order_1"] == [
        ("evt_cli_order_1", "delivered", by_name["Order Processing"])
    ]


def test_send_test_event_reports_the_receivers_answer(rt, applied, receivers):
    _, _, by_name = applied
    before = len(receivers["analytics"].requests)
    out = run(rt, "endpoints", "test", "Analytics", "--event", "review.created").stdout
    assert "delivered" in out
    request = receivers["analytics"].wait_for(before + 1, timeout=10)[-1]
    assert request.headers["X-Litestore-Test"] == "true" and request.headers["X-Litestore-Event"] == "review.created"
    verify(request.body, request.headers, SECRETS["Analytics"])
    failed = run(rt, "endpoints", "test", "Email Service", "--event", "user.registered", code=1)
    assert failed.stderr.strip() == f"error: test delivery to {by_name['Email Service']} failed: HTTP 400"


def test_dead_letters_are_listed_then_redriven_once_the_receiver_is_fixed(rt, applied, receivers):
    _, _, by_name = applied
    email = receivers["email"]
    publish(rt, "user.registered", "evt_cli_user_1")
    poll(lambda: dead_letters(rt, by_name["Email Service"]), timeout=15, what="a dead letter")
    table = run(rt, "dlq", "list", "Email Service").stdout
    header, *rows = table.splitlines()
    assert header.split()[:5] == ["ID", "EVENT", "REASON", "LAST", "STATUS"]
    (row,) = [r for r in rows if "evt_cli_user_1" in r]
    assert row.split()[1:5] == ["user.registered", "rejected", "400", "1"]
    listed = json.loads(run(rt, "dlq", "list", "Email Service", "--json").stdout)["data"]
    assert [(d["id"], d["reason"]) for d in listed] == [("evt_cli_user_1", "rejected")]

    email.default = Reply(200)  # the receiver is fixed
    seen = len(email.requests)
    assert run(rt, "dlq", "redrive", "Email Service").stdout.strip() == "redriven 1, remaining 0, failed 0"
    assert json.loads(email.wait_for(seen + 1, timeout=15)[seen].body)["id"] == "evt_cli_user_1"
    settle(rt, [by_name["Email Service"]])
    empty = run(rt, "dlq", "list", "Email Service")
    assert "dead-letter queue is empty" in empty.stdout + empty.stderr


def test_replay_redelivers_a_time_range_to_one_endpoint_only(rt, applied, receivers):
    _, _, by_name = applied
    since = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    orders, analytics = receivers["orders"], receivers["analytics"]
    sent = ["evt_cli_replay_1", "evt_cli_replay_2"]
    for event_id in sent:
        publish(rt, "product.purchased", event_id)
    poll(
        lambda: set(sent) <= set(ids(orders)) and set(sent) <= set(ids(analytics)),
        timeout=15,
        what="both events delivered to both subscribers",
    )
    settle(rt, by_name.values())
    orders_before, analytics_before = len(orders.requests), len(analytics.requests)

    out = run(rt, "replay", "Order Processing", "--since", since).stdout
    assert f"queued 2 event(s) received from {since}" in out
    replayed = orders.wait_for(orders_before + 2, timeout=15)[orders_before:]
    assert sorted(json.loads(q.body)["id"] for q in replayed) == sent
    settle(rt, by_name.values())
    assert len(orders.requests) == orders_before + 2 and len(analytics.requests) == analytics_before


def test_errors_are_one_line_with_the_documented_exit_codes(rt, applied):
    missing = run(rt, "endpoints", "show", "No Such Endpoint", code=1)
    assert missing.stdout == "" and len(missing.stderr.strip().splitlines()) == 1
    assert "no endpoint named 'No Such Endpoint'" in missing.stderr
    unknown = run(rt, "endpoints", "show", "ep_aaaaaaaaaaaaaaaaaaaaaa", code=1)
    assert len(unknown.stderr.strip().splitlines()) == 1 and "does not exist" in unknown.stderr
    wrong_token = {"LITESTORE_WEBHOOKS_URL": rt.base_url, "LITESTORE_WEBHOOKS_ADMIN_TOKEN": "nope"}
    denied = run(rt, "endpoints", "list", env=wrong_token, code=1)
    assert len(denied.stderr.strip().splitlines()) == 1 and rt.admin_token not in denied.stderr
    assert run(rt, "endpoints", "list", env={}, code=2).stderr.startswith("error: no API to talk to")
