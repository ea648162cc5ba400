#!/usr/bin/env python3
"""CDK app: `python app.py` (make synth) or `cdk synth` / `cdk deploy` via cdk.json."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# jsii runs on Node 20 here; keep its end-of-life banners out of synth output (the
# END_OF_LIFE variable takes a list of Node major versions).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
ROOT = Path(__file__).resolve().parent
# `python app.py` writes the cloud assembly to ./cdk.out (the CDK CLI sets its own CDK_OUTDIR).
os.environ.setdefault("CDK_OUTDIR", str(ROOT / "cdk.out"))
for path in (ROOT, ROOT / "functions"):  # infra/ and litestore_webhooks without an install
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import aws_cdk as cdk  # noqa: E402
from aws_cdk import cx_api  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402
from infra.context import StackSettings, cdk_json_context, stack_name  # noqa: E402
from infra.stack import LitestoreWebhooksStack  # noqa: E402


def build(app: cdk.App, settings: StackSettings | None = None) -> LitestoreWebhooksStack:
    """The stack plus cdk-nag (AwsSolutions) as a policy-validation plugin (cdk-nag 3 API)."""
    settings = settings or StackSettings.from_context(app.node)
    stack = LitestoreWebhooksStack(
        app,
        stack_name(settings.prefix),
        settings=settings,
        description="Litestore webhooks: signed, retried webhook delivery (API Gateway, SNS, SQS, Lambda)",
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def summary(assembly: cx_api.CloudAssembly, stack: LitestoreWebhooksStack) -> list[str]:
    """What `make synth` ends with: where the template went, its size, and what cdk-nag found
    (the policy-validation report lists only plugins with findings; errors stop the synth before this)."""
    artifact = assembly.get_stack_by_name(stack.stack_name)
    lines = [
        f"synthesized {stack.stack_name}: {artifact.template_full_path} ({len(artifact.template['Resources'])} resources)"
    ]
    report = Path(assembly.directory) / "policy-validation-report.json"
    plugins = json.loads(report.read_text()).get("pluginReports", []) if report.exists() else []
    found = [v for p in plugins if p["summary"]["pluginName"] == "AwsSolutions" for v in p.get("violations", [])]
    if not found:
        return [*lines, "cdk-nag (AwsSolutions): no findings"]
    counts = {s: sum(v.get("severity") == s for v in found) for s in ("error", "warning")}
    return [*lines, f"cdk-nag (AwsSolutions): {counts['error']} error(s), {counts['warning']} warning(s); see {report}"]


def main() -> None:
    app = cdk.App(context=cdk_json_context())
    try:
        settings = StackSettings.from_context(app.node)
    except ValueError as exc:  # a context value the stack cannot use: say which and why, no traceback
        sys.exit(f"error: {exc}")
    stack = build(app, settings)
    assembly = app.synth()
    print("\n".join(summary(assembly, stack)))


if __name__ == "__main__":
    main()
