"""Admin API for custom headers and rate limits (issue 19 items 2, 3): clear 400s naming the
header, sensitive values never in an answer, a listing, the logs or an error, and PATCH applies."""

from __future__ import annotations

import pytest

from admin_api import call
from litestore_webhooks import config
from litestore_webhooks.aws.kms import SecretBox
from litestore_webhooks.provisioning import load_endpoint_item, secrets_of
from test_admin import admin, create, store  # noqa: F401 - the fixture

TOKEN = "Bearer adm-8c41f0e2-never-shown"


def problems(body: dict) -> list[dict]:
    return body["error"]["details"]


def test_sensitive_values_are_redacted_everywhere_and_sealed(admin, capsys, caplog):
    made = create(headers={"X-Tenant": "acme"}, sensitiveHeaders={"Authorization": TOKEN})
    assert made["sensitiveHeaders"] == {"Authorization": "[redacted]"} and made["headers"] == {"X-Tenant": "acme"}
    shown = [
        call("GET", f"/endpoints/{made['id']}")[1],
        call("GET", "/endpoints")[1],
        call("PATCH", f"/endpoints/{made['id']}", {"description": "x"})[1],
        call("POST", f"/endpoints/{made['id']}/secret/rotate", {})[1],
    ]
    assert shown[0]["sensitiveHeaders"] == {"Authorization": "[redacted]"}
    assert all("8c41f0e2" not in str(answer) for answer in shown)
    assert "8c41f0e2" not in capsys.readouterr().out + caplog.text
    item = load_endpoint_item(store(), made["id"])
    assert "8c41f0e2" not in str(item)
    # ... and still there after the rotation, for deliveries
    assert secrets_of(item, SecretBox(config.settings().secrets_key_arn)).sensitiveHeaders == {"Authorization": TOKEN}


@pytest.mark.parametrize(
    ("field", "headers", "path", "says"),
    [
        ("headers", {"Host": "evil.example"}, "body.headers", "Host: set by the sender"),
        ("headers", {"content-length": "1"}, "body.headers", "set by the sender"),
        ("headers", {"Connection": "close"}, "body.headers", "set by the sender"),
        ("headers", {"webhook-signature": "v1,x"}, "body.headers", "set by the sender"),
        ("headers", {"X-Litestore-Signature": "x"}, "body.headers", "set by the sender"),
        ("headers", {"Bad Name": "x"}, "body.headers", "RFC 7230 token"),
        ("headers", {"X-A": "line\r\nInjected: 1"}, "body.headers", "no line breaks"),
        ("sensitiveHeaders", {"Authorization": "[redacted]"}, "body.sensitiveHeaders", "how listings hide"),
        ("headers", {f"X-H{n}": "v" for n in range(11)}, "body", "at most 10"),
        ("headers", {"X-Big": "v" * 1025}, "body.headers", "1 to 1024 characters"),
    ],
)
def test_bad_headers_are_400_naming_the_header_never_its_value(admin, field, headers, path, says):
    status, body, _ = call(
        "POST",
        "/endpoints",
        {"url": "https://hooks.example.com/in", "events": ["*"], "name": "bad headers", field: headers},
    )
    assert status == 400, body
    (problem,) = problems(body)
    assert problem["path"] == path and says in problem["message"], problem
    assert "evil.example" not in str(body) and "Injected" not in str(body)


def test_the_same_header_twice_across_the_maps_is_400(admin):
    status, body, _ = call(
        "POST",
        "/endpoints",
        {
            "url": "https://hooks.example.com/in",
            "events": ["*"],
            "headers": {"authorization": "a"},
            "sensitiveHeaders": {"Authorization": "b"},
        },
    )
    assert status == 400 and "the same header more than once" in body["error"]["message"]


def test_patch_headers_and_rate_limit(admin):
    made = create(maxConcurrency=2)
    status, body, _ = call(
        "PATCH",
        f"/endpoints/{made['id']}",
        {"rateLimit": 3, "headers": {"X-Region": "eu"}, "sensitiveHeaders": {"X-Api-Key": "k-991"}},
    )
    assert status == 200, body
    assert body["rateLimit"] == 3 and body["headers"] == {"X-Region": "eu"}
    assert body["sensitiveHeaders"] == {"X-Api-Key": "[redacted]"}
    status, body, _ = call("PATCH", f"/endpoints/{made['id']}", {"sensitiveHeaders": {"Host": "x"}})
    assert status == 400 and problems(body)[0]["path"] == "sensitiveHeaders"
    status, body, _ = call("PATCH", f"/endpoints/{made['id']}", {"rateLimit": None, "sensitiveHeaders": {}})
    assert status == 200 and body["rateLimit"] is None and body["sensitiveHeaders"] == {}


def test_a_rate_limit_too_low_for_the_concurrency_says_what_to_change(admin):
    status, body, _ = call(
        "POST",
        "/endpoints",
        {"url": "https://hooks.example.com/in", "events": ["*"], "rateLimit": 0.2, "maxConcurrency": 10},
    )
    assert status == 400
    message = body["error"]["message"]
    assert "raise rateLimit to at least 0.5 or lower maxConcurrency to at most 4" in message, message
    made = create(maxConcurrency=10)
    status, body, _ = call("PATCH", f"/endpoints/{made['id']}", {"rateLimit": 0.2})
    assert status == 400 and "lower maxConcurrency to at most 4" in body["error"]["message"]
    status, body, _ = call(
        "POST", "/endpoints", {"url": "https://hooks.example.com/in", "events": ["*"], "rateLimit": 0}
    )
    assert status == 400 and problems(body)[0]["path"] == "body.rateLimit"
