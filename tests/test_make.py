"""What `make` prints (issue 14 items 7 and 12): the install says what it does and how long it takes,
as the README does; `make synth` ends with where the template went, its size and cdk-nag's verdict."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_install_says_what_it_does_before_it_starts_and_how_long_it_takes(tmp_path):
    """The real recipe of the install stamp, with a stand-in Python so it runs in a second: each
    phase announces itself, and the first line gives the same first-run figure as the README."""
    log = tmp_path / "calls.log"
    fake = tmp_path / "python"
    fake.write_text(f"""#!/bin/sh
echo "$0 $*" >> {log}
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
fi
""")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    venv = tmp_path / "venv"
    proc = subprocess.run(
        ["make", "--no-print-directory", "-B", f"{venv}/.installed", f"VENV={venv}", f"PYTHON={fake}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    first = re.fullmatch(
        rf"installing litestore-webhooks and its dependencies into {venv} \(first run only, "
        r"about (\d+) min on a fresh machine; later runs skip this\)",
        lines[0],
    )
    assert first, lines
    assert [re.sub(r"\(.*", "", line).strip() for line in lines[1:4]] == [
        f"[1/3] creating {venv}",
        "[2/3] upgrading pip",
        "[3/3] installing the package with [infra,dev] extras",
    ]
    assert re.fullmatch(r"installed in \d+ s", lines[4]) and len(lines) == 5, lines
    calls = log.read_text().splitlines()
    assert len(calls) == 3 and calls[0].endswith(f"-m venv {venv}") and "-e .[infra,dev]" in calls[2]
    assert (venv / ".installed").is_file()
    readme = (ROOT / "README.md").read_text()
    assert f"about {first.group(1)} min" in readme, "README and the install line disagree on the first-run time"


def test_make_synth_ends_with_the_template_its_resources_and_cdk_nags_verdict(tmp_path):
    out = tmp_path / "cdk.out"
    proc = subprocess.run(
        ["make", "--no-print-directory", "synth", f"CDK_OUT={out}"],
        cwd=ROOT,
        timeout=600,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    template = out / "LitestoreWebhooks.template.json"
    resources = len(json.loads(template.read_text())["Resources"])
    assert lines[-2:] == [
        f"synthesized LitestoreWebhooks: {template} ({resources} resources)",
        "cdk-nag (AwsSolutions): no findings",
    ], lines[-5:]
    shown = re.search(
        r"^synthesized LitestoreWebhooks: \S+ \((\d+) resources\)$", (ROOT / "README.md").read_text(), re.M
    )
    assert shown and int(shown.group(1)) == resources, "the README's `make synth` example shows another count"
    noise = [line for line in lines if re.search(r"\bpip\b", line, re.I) or line.startswith(("WARNING", "Collecting"))]
    assert noise == [], noise
