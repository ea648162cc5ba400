"""The `prefix` context is checked at synth against every name made from it (infra/context.py,
resources.derived_names), so a stack that deploys can also create its endpoints' queues."""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import app as cdk_app  # noqa: E402
import aws_cdk as cdk  # noqa: E402
from infra.context import StackSettings, cdk_json_context  # noqa: E402

from litestore_webhooks import resources as r  # noqa: E402
from litestore_webhooks.core.endpoint import ENDPOINT_ID_PATTERN, new_endpoint_id  # noqa: E402

LONGEST = 50  # what the names below leave room for; the dead-letter queue's 80 characters bind


def _build(prefix: str) -> None:
    cdk_app.build(cdk.App(context={**cdk_json_context(), "prefix": prefix, "aws:cdk:bundling-stacks": []}))


def test_a_prefix_too_long_for_an_endpoints_dead_letter_queue_is_refused_at_synth():
    """51-55 characters used to deploy, and then every endpoint create failed in CreateQueue."""
    with pytest.raises(ValueError) as refused:
        _build("a" * (LONGEST + 1))
    message = str(refused.value)
    assert message.startswith(
        f"context prefix '{'a' * (LONGEST + 1)}' is {LONGEST + 1} characters, at most {LONGEST} fit"
    )
    assert "an endpoint's dead-letter queue would be named" in message
    assert "81 characters, and SQS queue names have at most 80" in message


@pytest.mark.parametrize("length", [56, 65, 200])
def test_longer_prefixes_are_refused_for_the_same_reason(length):
    with pytest.raises(ValueError, match=f"at most {LONGEST} fit: an endpoint's dead-letter queue"):
        StackSettings(prefix="p" * length)


def test_the_longest_prefix_is_computed_from_every_derived_name():
    from infra.context import derived_names

    assert r.max_prefix_length(derived_names) == LONGEST
    names = derived_names("p" * LONGEST)
    assert {n.what for n in names} >= {
        "the endpoints table",
        "the idempotency table",
        "the events table",
        "the attempts table",
        "the ingest function",
        "the delivery function",
        "the admin function",
        "the delivery function's log group",
        "the event topic",
        "the alarm topic",
        "an endpoint's queue",
        "an endpoint's dead-letter queue",
        "the stack",
    }
    assert all(n.problem() is None for n in names)
    (binding,) = [n for n in names if len(n.name) == n.max_length]
    assert binding.what == "an endpoint's dead-letter queue"
    # the queues are sized with the longest endpoint id there can be
    assert len(new_endpoint_id()) == r.ENDPOINT_ID_LENGTH
    assert not re.fullmatch(ENDPOINT_ID_PATTERN, r.ENDPOINT_ID_PREFIX + "a" * (r.ENDPOINT_ID_LENGTH - 2))


def test_names_at_the_longest_prefix_are_accepted_by_the_services_one_more_character_is_not():
    """moto applies SQS's, SNS's and CloudWatch Logs' own name rules (Lambda's 64 and the stack
    names are checked by cfn-lint on the max-prefix stack in tests/test_stack.py)."""
    longest = "p" * LONGEST
    with mock_aws():
        sqs, sns, logs = (boto3.client(s, region_name="us-east-1") for s in ("sqs", "sns", "logs"))
        for n in r.derived_names(longest):
            if n.service == "SQS queue":
                sqs.create_queue(QueueName=n.name)
            elif n.service == "SNS topic":
                sns.create_topic(Name=n.name)
            elif n.service == "CloudWatch Logs log group":
                logs.create_log_group(logGroupName=n.name)
        dlq = r.dead_letter_queue_name(longest + "p", new_endpoint_id())
        with pytest.raises(sqs.exceptions.ClientError, match="1 to 80 in length"):
            sqs.create_queue(QueueName=dlq)


@pytest.mark.parametrize(
    "prefix, names",
    [
        (
            "my_stack",
            "the stack would be named 'LitestoreWebhooks-my_stack', and CloudFormation stack names may not contain '_'",
        ),
        (
            "my.stack",
            "the ingest function would be named 'my.stack-ingest', and Lambda function names may not contain '.'",
        ),
        ("my stack", "may not contain ' '"),
        ("stack/1", "may not contain '/'"),
        ("lsw-*", "may not contain '*'"),
        ("café", "may not contain 'é'"),
    ],
)
def test_characters_a_derived_name_cannot_hold_are_refused_naming_that_name(prefix, names):
    with pytest.raises(ValueError) as refused:
        StackSettings(prefix=prefix)
    assert f"context prefix {prefix!r} may have only ASCII letters, digits and hyphens: " in str(refused.value)
    assert names in str(refused.value)


def test_every_allowed_character_passes_and_no_other_printable_one_does():
    allowed = string.ascii_letters + string.digits + "-"
    StackSettings(prefix=allowed[:LONGEST])
    StackSettings(prefix=allowed[LONGEST:])
    for ch in sorted(set(string.printable) - set(allowed)):
        with pytest.raises(ValueError):
            StackSettings(prefix=f"a{ch}b")


def test_cdk_synth_prints_the_reason_not_a_traceback():
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({**cdk_json_context(), "prefix": "a" * 60, "aws:cdk:bundling-stacks": []}),
    }
    proc = subprocess.run([sys.executable, str(ROOT / "app.py")], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: context prefix 'aaaa")
    assert "at most 50 fit" in proc.stderr
