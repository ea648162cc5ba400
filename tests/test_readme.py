"""The README's receiver examples run as written against our signer."""

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

from litestore_webhooks.core.signing import generate_secret, signature_headers

README = Path(__file__).resolve().parents[1] / "README.md"


def _node_snippet() -> str:
    text = README.read_text()
    match = re.search(r"```js\n// verify-litestore\.js\n(.*?)```", text, re.S)
    assert match, "README lost its Node verification example"
    return match.group(1)


def test_readme_node_example_verifies_our_signatures_and_rejects_tampering(tmp_path):
    node = shutil.which("node")
    assert node, "node is required"
    (tmp_path / "verify-litestore.js").write_text(_node_snippet())
    cases = []
    for secret, wrong in ((generate_secret(), generate_secret()), ("order-secret-123", "order-secret-124")):
        body = (
            '{"event":"user.registered","id":"evt_1","timestamp":"2024-01-15T08:30:00Z","data":{"name":"Zoë"}}'.encode()
        )
        headers = signature_headers(
            body=body,
            event_id="evt_1",
            event_type="user.registered",
            attempt=1,
            secrets=[secret],
            timestamp=int(time.time()),
        )
        lower = {k.lower(): v for k, v in headers.items()}
        cases.append({"body": body.decode(), "headers": lower, "secret": secret, "expect": True})
        cases.append({"body": body.decode().replace("Zoë", "Zoe"), "headers": lower, "secret": secret, "expect": False})
        cases.append({"body": body.decode(), "headers": lower, "secret": wrong, "expect": False})
    script = """
const { verifyLitestoreWebhook } = require(process.argv[1]);
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
console.log(JSON.stringify(cases.map(c => {
  try { verifyLitestoreWebhook(Buffer.from(c.body, 'utf8'), c.headers, c.secret); return true; } catch (e) { return false; }
})));
"""
    out = subprocess.run(
        [node, "-e", script, str(tmp_path / "verify-litestore.js")],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == [c["expect"] for c in cases]


def test_readme_python_example_verifies_our_signatures_and_refuses_replays_and_downgrades():
    match = re.search(r"\*\*Python\*\*.*?```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README lost its Python verification example"
    namespace: dict = {}
    exec(match.group(1), namespace)  # noqa: S102 - the README's own code, as a reader would paste it
    namespace["SECRET"] = secret = generate_secret()
    body = b'{"event":"order.updated","id":"evt_1","timestamp":"2024-01-15T11:00:00Z","data":{}}'

    def delivery(age_s: int) -> dict[str, str]:
        return signature_headers(
            body=body,
            event_id="evt_1",
            event_type="order.updated",
            attempt=1,
            secrets=[secret],
            timestamp=int(time.time()) - age_s,
        )

    stripped = {k: v for k, v in delivery(30 * 86400).items() if not k.startswith("webhook-")}
    assert [
        namespace["handle"](b, h)
        for b, h in [
            (body, delivery(0)),
            (body + b" ", delivery(0)),
            (body, delivery(400)),
            (body, stripped),
        ]
    ] == [200, 401, 401, 401]


def _readme_cli_commands() -> list[list[str]]:
    import shlex

    commands = []
    for line in README.read_text().splitlines():
        for match in re.finditer(r"(?:\.venv/bin/)?litestore-webhooks ((?:--local |--stack \S+ )?[a-z][^`|]*)", line):
            text = match.group(1).strip()
            if text.endswith(","):
                continue
            commands.append(shlex.split(text, comments=True))
    return commands


def test_every_cli_command_in_the_readme_parses():
    import argparse

    from litestore_webhooks.cli import build_parser
    from litestore_webhooks.local import cli as local_cli

    commands = _readme_cli_commands()
    assert len(commands) >= 12, commands
    for argv in commands:
        parser = build_parser()
        if argv[0] == "local":  # `local` hands its arguments to the local runtime's own parser
            parser = argparse.ArgumentParser()
            local_cli.add_parser(parser.add_subparsers(dest="command", required=True))
        try:
            parser.parse_args(argv)
        except SystemExit as exc:  # argparse exits on an unknown command or flag
            raise AssertionError(f"README command does not parse: litestore-webhooks {' '.join(argv)}") from exc


def test_the_readme_quick_start_is_the_one_test_demo_runs():
    """tests/test_demo.py runs demo.quick_start() live; the README must show those very commands."""
    from litestore_webhooks.demo import quick_start

    shown = " ".join(README.read_text().replace("\\\n", " ").split())
    for command in quick_start():
        assert " ".join(command.split()) in shown, f"README quick start lost or changed: {command}"


def _triage_commands() -> list[list[str]]:
    """The README's "find why deliveries fail" row: `stats NAME` then `attempts NAME --status failed ...`."""
    import shlex

    (row,) = [line for line in README.read_text().splitlines() if line.startswith("| find why deliveries fail")]
    return [shlex.split(cmd) for cmd in re.findall(r"`litestore-webhooks ([^`]+)`", row)]


def test_the_readme_triage_commands_show_the_failures(capsys):
    """Two 503s, then a delivery: `stats` counts 2 failed and `attempts --status failed` lists both."""
    from tests.local_stack import FAST_RETRIES, create_endpoint, event, settle
    from tests.receivers import Receiver, Reply
    from tests.test_local_runtime import ingest

    from litestore_webhooks import cli
    from litestore_webhooks.local.runtime import LocalRuntime

    stats_cmd, attempts_cmd = _triage_commands()
    assert stats_cmd[0] == "stats" and attempts_cmd[:4] == ["attempts", stats_cmd[1], "--status", "failed"]
    script = [Reply(200)] * 3 + [Reply(503), Reply(503)]  # then 200s
    with LocalRuntime(port=0, allow_insecure=True) as rt, Receiver(*script) as rx:
        endpoint = create_endpoint(rt, stats_cmd[1], rx.url(), ["order.*"], retryPolicy=FAST_RETRIES)
        for n in range(3):  # older healthy deliveries
            assert ingest(rt, event("order.completed", f"evt_readme_ok_{n}"))[0] == 202
            rx.wait_for(n + 1, timeout=20)
        assert ingest(rt, event("order.updated", "evt_readme_triage"))[0] == 202
        rx.wait_for(6, timeout=20)  # 503, 503, then delivered
        settle(rt, [endpoint["id"]])
        for n in range(3):  # newer ones: a filter applied after paging (limit 2) would show none of the failures
            assert ingest(rt, event("order.completed", f"evt_readme_after_{n}"))[0] == 202
        rx.wait_for(9, timeout=20)
        settle(rt, [endpoint["id"]])
        capsys.readouterr()

        assert cli.main(["--local", *stats_cmd]) == 0
        assert re.search(r"^failed\s+2$", capsys.readouterr().out, re.M)
        assert cli.main(["--local", *attempts_cmd, "--limit", "2"]) == 0
        shown = capsys.readouterr()
        rows = [line.split() for line in shown.out.splitlines()[1:]]
        assert [(r[1], r[4], r[5]) for r in rows] == [("evt_readme_triage", "retry_scheduled", "503")] * 2, shown


def _config_section() -> str:
    text = README.read_text()
    return text[text.index("### The endpoint config file") : text.index("The same operations are a REST admin API")]


def test_the_readme_config_example_is_valid_and_its_table_has_every_field_and_default():
    from litestore_webhooks.core.endpoint import EndpointSpec, RetryPolicy, parse_endpoint_configs

    section = _config_section()
    example = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    (spec,) = parse_endpoint_configs(example)
    assert set(example) == set(EndpointSpec.model_fields) and set(example["retryPolicy"]) == set(
        RetryPolicy.model_fields
    )
    rows = dict(re.findall(r"^\| `([\w.]+)` \| ([^|]+) \|", section, re.M))
    expected = set(EndpointSpec.model_fields) - {"retryPolicy"} | {f"retryPolicy.{f}" for f in RetryPolicy.model_fields}
    assert set(rows) == expected
    defaults = {name: field.default for name, field in EndpointSpec.model_fields.items() if name != "retryPolicy"}
    defaults |= {f"retryPolicy.{name}": field.default for name, field in RetryPolicy.model_fields.items()}
    for name, default in defaults.items():
        if isinstance(default, (bool, int, float)):  # the literal defaults; the others are described
            assert rows[name].startswith(f"`{json.dumps(default)}`"), (name, rows[name], default)


def test_the_readme_applies_the_sample_the_package_ships(capsys):
    from importlib.resources import files

    from litestore_webhooks import cli
    from litestore_webhooks.local.runtime import LocalRuntime

    (command,) = re.findall(r"^litestore-webhooks (--local endpoints apply \S+ --yes)$", _config_section(), re.M)
    argv = command.split()
    sample = files("litestore_webhooks") / "examples" / "webhooks.json"
    assert (README.parent / argv[3]).read_bytes() == sample.read_bytes()  # the README's path is the shipped file
    names = [e["name"] for e in json.loads(sample.read_text())]
    with LocalRuntime(port=0):  # the sample's https:// URLs pass the deployed rules, no local allowances
        assert cli.main([*argv[:3], str(README.parent / argv[3]), *argv[4:]]) == 0
        assert f"plan: {len(names)} to create" in capsys.readouterr().out
        assert cli.main(["--local", "--json", "endpoints", "list"]) == 0
        assert sorted(e["name"] for e in json.loads(capsys.readouterr().out)["data"]) == sorted(names)
        assert cli.main(["--local", "endpoints", "apply", str(sample), "--yes"]) == 0
        assert f"plan: 0 to create, 0 to update, 0 to delete, {len(names)} unchanged" in capsys.readouterr().out
