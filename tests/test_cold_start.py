"""What the handlers import when Lambda starts them: nothing that only some requests need.

Each check runs in a fresh interpreter, as a cold start does (bench/cold_start.py measures the time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HANDLERS = [f"litestore_webhooks.handlers.{name}" for name in ("ingest", "delivery", "admin", "console_authorizer")]


def fresh(code: str, **env: str | None) -> dict:
    environ = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    out = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_handlers_import_no_sdk_or_module_that_only_some_requests_need():
    never = [
        "boto3",
        "s3transfer",
        "requests",
        "aws_xray_sdk.core",  # botocore is the SDK the handlers use
        "idna",
    ]  # core/urls.py imports it for the first non-ASCII host only (~8 ms)
    code = """if True:
        import importlib, json, sys
        out = {}
        for handler in %r:
            before = set(sys.modules)
            importlib.import_module(handler)
            out[handler] = sorted(set(sys.modules) - before)
        print(json.dumps(out))
    """ % (HANDLERS,)
    loaded = fresh(code)
    for handler, modules in loaded.items():
        assert not [m for m in never if m in modules], handler
    # ~20 ms: aws/kms.py imports it on a container's first seal or open of endpoint secrets.
    assert not [h for h, modules in loaded.items() if "cryptography" in modules]
    admin = set(loaded["litestore_webhooks.handlers.admin"])
    # The test route's delivery path, and the docs' OpenAPI models, load on their first request only.
    assert not admin & {
        "litestore_webhooks.delivery",
        "litestore_webhooks.core.sender",
        "aws_lambda_powertools.event_handler.openapi.models",
    }
    assert "pydantic" not in loaded["litestore_webhooks.handlers.ingest"]  # ingest validates its body itself
    # The console's files are read by console requests only.
    assert "litestore_webhooks.console.assets" not in admin
    # The console authorizer runs before every console call: no web framework, no models.
    authorizer = set(loaded["litestore_webhooks.handlers.console_authorizer"])
    assert not authorizer & {"pydantic", "aws_lambda_powertools.event_handler", "litestore_webhooks.admin.access"}


def test_in_lambda_the_tracer_is_real_and_patches_only_what_the_handlers_call():
    code = """if True:
        import json, sys
        from litestore_webhooks import delivery
        from aws_xray_sdk.core import patcher
        print(json.dumps({"type": type(delivery.tracer).__name__, "disabled": delivery.tracer.disabled,
                          "patched": sorted(patcher._PATCHED_MODULES), "requests": "requests" in sys.modules}))
    """
    lam = fresh(code, LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED=None, AWS_DEFAULT_REGION="us-east-1")
    assert lam == {"type": "Tracer", "disabled": False, "patched": ["botocore", "httplib"], "requests": False}

    off = fresh(
        """if True:
        import json, sys
        from litestore_webhooks import delivery
        print(json.dumps({"type": type(delivery.tracer).__name__, "xray": "aws_xray_sdk.core" in sys.modules}))
    """,
        LAMBDA_TASK_ROOT=None,
    )
    assert off == {"type": "DisabledTracer", "xray": False}


def test_our_tracing_rule_is_powertools_rule(monkeypatch):
    """tracing.enabled() restates Powertools' private Tracer._is_tracer_disabled; they must agree."""
    import itertools

    import pytest
    from aws_lambda_powertools.tracing.tracer import Tracer as PowertoolsTracer

    from litestore_webhooks import tracing

    powertools_rule = getattr(PowertoolsTracer, "_is_tracer_disabled", None)
    if powertools_rule is None:
        pytest.skip("this Powertools has no _is_tracer_disabled to compare with")
    settings = {
        "POWERTOOLS_TRACE_DISABLED": [None, "true", "1", "false", "0", "off", "Yes", "maybe"],
        "LAMBDA_TASK_ROOT": [None, "/var/task"],
        "AWS_SAM_LOCAL": [None, "true"],
        "AWS_CHALICE_CLI_MODE": [None, "true"],
    }
    for values in itertools.product(*settings.values()):
        for name, value in zip(settings, values):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        try:
            expected: object = not powertools_rule()
        except ValueError:
            expected = ValueError
        if expected is ValueError:
            with pytest.raises(ValueError):
                tracing.enabled()
        else:
            assert tracing.enabled() is expected, dict(zip(settings, values))
