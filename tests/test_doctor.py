"""`litestore-webhooks doctor` against the local runtime, and the `--stack` target resolved from a
CloudFormation stack and an API Gateway key in the runtime's own moto (no AWS account here)."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC

import boto3
import pytest
from tests.local_stack import create_endpoint, rt  # noqa: F401 - rt: the module-scoped runtime
from tests.receivers import Receiver, Reply
from tests.test_local_runtime import admin

from litestore_webhooks import cli, config
from litestore_webhooks.aws.store import Store


def doctor(capsys, *argv: str) -> tuple[int, list[list[str]], str]:
    """Exit code, the checklist as [status, check name, detail] rows, and stdout + stderr."""
    code = cli.main([*argv, "doctor"] if "doctor" not in argv else list(argv))
    out = capsys.readouterr()
    rows = [
        re.split(r"\s{2,}", line.strip(), maxsplit=2)
        for line in out.out.splitlines()
        if re.match(r"(ok|FAIL|skip)\s", line)
    ]
    return code, rows, out.out + out.err


@pytest.fixture
def orders(rt):
    with Receiver() as rx:
        endpoint = create_endpoint(rt, "Orders", rx.url("/hooks"), ["order.*"])
        yield endpoint, rx
        admin(rt, "DELETE", f"/endpoints/{endpoint['id']}")


def test_every_step_passes_on_the_local_runtime_and_the_test_event_arrives(rt, orders, capsys):
    endpoint, rx = orders
    code, rows, text = doctor(capsys, "--local", "doctor", "--endpoint", "Orders")
    assert code == 0, text
    assert [(r[0], r[1]) for r in rows] == [
        ("ok", "target"),
        ("ok", "API reachable"),
        ("ok", "admin access"),
        ("ok", "API key"),
        ("ok", "event catalog"),
        ("ok", "test send"),
    ]
    assert rows[0][2] == f"local runtime at {rt.base_url}"
    assert "400" in rows[3][2] and "nothing was published" in rows[3][2]
    assert rows[5][2].startswith("order.completed to Orders") and "delivered, HTTP 200" in rows[5][2]
    (request,) = rx.wait_for(1, timeout=10)
    assert request.headers["X-Litestore-Test"] == "true"
    assert text.rstrip().endswith("all checks passed")


def test_the_probe_event_is_refused_and_never_stored(rt, capsys):
    assert doctor(capsys, "--local")[0] == 0
    probes = [i for i in Store(config.settings()).events_between(*_today()) if i["event"] == "doctor.probe"]
    assert probes == []


def _today():
    from datetime import datetime, timedelta

    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(minutes=1)


def test_json_lists_each_check_and_the_test_sends_attempt(rt, orders, capsys):
    code = cli.main(["--local", "--json", "doctor", "--endpoint", "Orders", "--event", "order.updated"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"] is True
    assert [c["name"] for c in report["checks"]] == [
        "target",
        "API reachable",
        "admin access",
        "API key",
        "event catalog",
        "test send",
    ]
    attempt = report["checks"][-1]["attempt"]
    assert (attempt["status"], attempt["eventType"], attempt["test"]) == ("delivered", "order.updated", True)


def test_a_failing_endpoint_fails_the_test_send_with_its_answer(rt, capsys):
    with Receiver(default=Reply(503, body=b"down")) as rx:
        endpoint = create_endpoint(rt, "Down", rx.url(), ["review.*"])
        try:
            code, rows, text = doctor(capsys, "--local", "doctor", "--endpoint", "Down")
        finally:
            admin(rt, "DELETE", f"/endpoints/{endpoint['id']}")
    assert code == 1
    assert (
        rows[-1][:2] == ["FAIL", "test send"] and "review.approved to Down" in rows[-1][2] and "HTTP 503" in rows[-1][2]
    )
    assert f"hint: litestore-webhooks attempts {endpoint['id']} --status failed" in text
    assert "1 of 6 checks failed" in text


def test_wrong_credentials_fail_their_steps_with_a_hint_and_skip_what_needs_them(rt, capsys):
    code, rows, text = doctor(capsys, "--local", "--admin-token", "wrong", "--api-key", "wrong")
    assert code == 1
    assert [(r[0], r[1]) for r in rows] == [
        ("ok", "target"),
        ("ok", "API reachable"),
        ("FAIL", "admin access"),
        ("FAIL", "API key"),
        ("skip", "event catalog"),
    ]
    assert "hint: check --admin-token (or LITESTORE_WEBHOOKS_ADMIN_TOKEN)" in text
    assert "HTTP 403" in rows[3][2] and "hint: check --api-key (or LITESTORE_WEBHOOKS_API_KEY)" in text


def test_an_unreachable_api_fails_first_and_skips_the_rest(capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, rows, text = doctor(capsys, "--url", f"http://127.0.0.1:{port}/v1", "--admin-token", "t")
    assert code == 1 and rows[1][:2] == ["FAIL", "API reachable"] and "connection refused" in rows[1][2]
    assert [r[0] for r in rows[2:]] == ["skip"] * 3


# -- --stack: outputs from CloudFormation, the key from API Gateway (the runtime's moto) -------------
@pytest.fixture
def stack(rt):
    """A stack whose outputs point at the local runtime, as a deployed stack's point at its API."""
    cfn, apigw = (boto3.client(service, region_name="eu-west-1") for service in ("cloudformation", "apigateway"))
    key = apigw.create_api_key(name="ingest", value=rt.api_key, enabled=True)["id"]
    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"ApiUrl": {"Value": rt.base_url + "/"}, "ApiKeyId": {"Value": key}},
    }
    cfn.create_stack(StackName="DoctorStack", TemplateBody=json.dumps(template))
    yield "DoctorStack"
    cfn.delete_stack(StackName="DoctorStack")
    apigw.delete_api_key(apiKey=key)


def test_stack_target_reads_its_outputs_and_key_and_says_what_admin_access_needs(rt, stack, capsys):
    code, rows, text = doctor(capsys, "--stack", stack, "--region", "eu-west-1")
    assert code == 1  # the local API wants a bearer token, not SigV4: as an identity without the IAM policy
    assert rows[0] == ["ok", "target", f"stack DoctorStack: {rt.base_url}/ (region eu-west-1)"]
    assert (rows[1][0], rows[2][:2], rows[3][0]) == ("ok", ["FAIL", "admin access"], "ok")  # key from API Gateway
    assert "hint: your AWS identity needs execute-api:Invoke on the stack's AdminApiArn output" in text


def test_stack_in_another_region_is_not_found_there(rt, stack, capsys):
    code, rows, text = doctor(capsys, "--stack", stack)  # AWS_REGION is us-east-1 in the tests
    assert code == 1 and rows[0][:2] == ["FAIL", "target"]
    assert "cannot read stack DoctorStack in us-east-1" in rows[0][2]


def test_stack_without_a_region_says_how_to_set_one(monkeypatch, tmp_path, capsys):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert cli.main(["--stack", "LitestoreWebhooks", "endpoints", "list"]) == 2
    assert capsys.readouterr().err == (
        "error: cannot read stack LitestoreWebhooks: no AWS region is set; set AWS_REGION or pass --region\n"
    )
    code, rows, text = doctor(capsys, "--stack", "LitestoreWebhooks")
    assert code == 1 and rows[0][:2] == ["FAIL", "target"] and "hint: set AWS_REGION or pass --region" in text
