"""CLI for custom headers and rate limits (issue 19 items 2, 3): flags send what the API takes,
a sensitive value is never printed, `endpoints apply` compares what it can read back."""

from __future__ import annotations

import getpass
import json

from test_cli import EP1, SECRET, api, endpoint, page, run, write  # noqa: F401 - fixtures

SHOWN = {"headers": {"X-Tenant": "acme"}, "sensitiveHeaders": {"Authorization": "[redacted]"}, "rateLimit": 2.5}


def test_create_with_headers_and_a_rate_limit_and_show_redacts(api, run):
    created = {**endpoint(EP1, "Orders", "https://a.example/h", ["*"], **SHOWN), "secret": SECRET}
    api.on("POST", "/endpoints", created, status=201)
    code, out, _ = run(
        "endpoints",
        "create",
        "https://a.example/h",
        "--events",
        "*",
        "--rate-limit",
        "2.5",
        "--header",
        "X-Tenant=acme",
        "--sensitive-header",
        "Authorization=Bearer cli-tok-55",
    )
    assert code == 0
    assert api.seen[0].body == {
        "url": "https://a.example/h",
        "events": ["*"],
        "rateLimit": 2.5,
        "headers": {"X-Tenant": "acme"},
        "sensitiveHeaders": {"Authorization": "Bearer cli-tok-55"},
    }
    assert "2.5/s" in out and "X-Tenant: acme, Authorization: [redacted]" in out and "cli-tok-55" not in out


def test_a_sensitive_header_without_a_value_is_asked_for_without_echo(api, run, monkeypatch):
    asked = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or "typed-secret")
    api.on("GET", f"/endpoints/{EP1}", endpoint(EP1, "A", "https://a.example/h", ["*"]))
    api.on("PATCH", f"/endpoints/{EP1}", endpoint(EP1, "A", "https://a.example/h", ["*"], **SHOWN))
    code, out, _ = run("endpoints", "update", EP1, "--sensitive-header", "X-Api-Key", "--no-rate-limit")
    assert code == 0 and asked == ["value of X-Api-Key: "]
    assert api.seen[-1].body == {"sensitiveHeaders": {"X-Api-Key": "typed-secret"}, "rateLimit": None}
    assert "typed-secret" not in out


def test_update_can_remove_headers(api, run):
    api.on("PATCH", f"/endpoints/{EP1}", endpoint(EP1, "A", "https://a.example/h", ["*"]))
    code, _, _ = run("--json", "endpoints", "update", EP1, "--no-headers", "--no-sensitive-headers")
    assert code == 0 and api.seen[-1].body == {"headers": {}, "sensitiveHeaders": {}}


def test_a_header_flag_without_a_value_is_a_usage_error(api, run):
    code, _, err = run("endpoints", "create", "https://a.example/h", "--events", "*", "--header", "X-Tenant")
    assert code == 2 and "expected NAME=VALUE" in err and api.seen == []


def test_apply_sends_headers_and_rate_limit_and_sensitive_values_only_when_names_change(api, run, tmp_path):
    current = endpoint(EP1, "A", "https://a.example/h", ["*"], **SHOWN)
    api.on("GET", "/endpoints", page(current))
    api.on("PATCH", f"/endpoints/{EP1}", current)
    same = {
        "name": "A",
        "url": "https://a.example/h",
        "events": ["*"],
        "rateLimit": 2.5,
        "headers": {"X-Tenant": "acme"},
        "sensitiveHeaders": {"Authorization": "Bearer file-tok-1"},
    }
    code, out, _ = run("endpoints", "apply", write(tmp_path, json.dumps([same])), "--yes")
    assert code == 0 and out.endswith("nothing to do\n")  # the value cannot be compared: names match
    code, out, err = run("endpoints", "apply", write(tmp_path, json.dumps([same])), "--yes", "--send-sensitive-headers")
    assert code == 0 and api.seen[-1].body == {"sensitiveHeaders": {"Authorization": "Bearer file-tok-1"}}
    changed = {**same, "rateLimit": 4, "headers": {}, "sensitiveHeaders": {"X-Api-Key": "file-tok-2"}}
    code, out, err = run("endpoints", "apply", write(tmp_path, json.dumps([changed])), "--yes")
    assert code == 0
    assert api.seen[-1].body == {"headers": {}, "rateLimit": 4.0, "sensitiveHeaders": {"X-Api-Key": "file-tok-2"}}
    assert "file-tok" not in out + err
