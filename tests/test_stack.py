"""The CDK stack, synthesized once per module (bundling skipped), asserted resource by resource.

Four stacks share one App and one synth: the default stack (cdk.json context), a dev stack
(prefix "lsw-dev", destroyData=true, alarmEmail set, reserved concurrency for ingest and delivery),
one with the longest prefix allowed (50 characters) and one with static egress IPs on (prefix
"lsw-egress"). cdk-nag (AwsSolutions) runs as a policy-validation plugin during that synth;
cfn-lint runs on all four templates.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

# Before aws_cdk is imported anywhere in this process: no Node 20 end-of-life banners.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "functions"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import app as cdk_app  # noqa: E402
import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Match, Template  # noqa: E402
from infra import api as api_mod  # noqa: E402
from infra.context import StackSettings, cdk_json_context, stack_name  # noqa: E402
from infra.stack import LitestoreWebhooksStack  # noqa: E402

from litestore_webhooks import resources as r  # noqa: E402
from litestore_webhooks.core import pacing  # noqa: E402

DEV_PREFIX = "lsw-dev"
LONGEST_PREFIX = "lsw-longest-".ljust(50, "x")
EGRESS_PREFIX = "lsw-egress"
PREFIXES = {"default": r.DEFAULT_PREFIX, "dev": DEV_PREFIX, "longest": LONGEST_PREFIX, "egress": EGRESS_PREFIX}
SERVICE = "litestore-webhooks"
# cfn-lint checks ignored, with the reason:
#   W3005: CDK adds an explicit DependsOn on a function's role although the GetAtt already
#          orders them (harmless redundancy in generated code).
CFN_LINT_IGNORES = ["W3005"]


# ---------------------------------------------------------------------------------------------
# one synth per module
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("cdk.out")
    context = {**cdk_json_context(), "aws:cdk:bundling-stacks": [], "@aws-cdk/core:validationReportJson": True}
    app = cdk.App(context=context, outdir=str(outdir))
    default = cdk_app.build(app)  # also adds the cdk-nag plugin to the app
    dev = LitestoreWebhooksStack(
        app,
        stack_name(DEV_PREFIX),
        settings=StackSettings(
            prefix=DEV_PREFIX,
            destroy_data=True,
            alarm_email="ops@example.com",
            stage_name="dev",
            throttle_rate_limit=5,
            throttle_burst_limit=10,
            log_retention_days=7,
            log_level="DEBUG",
            ingest_reserved_concurrency=20,
            delivery_reserved_concurrency=100,
            accept_unknown_event_types=True,
        ),
    )
    # the longest prefix context/resources allow: cfn-lint checks every name made from it
    longest = LitestoreWebhooksStack(app, stack_name(LONGEST_PREFIX), settings=StackSettings(prefix=LONGEST_PREFIX))
    egress = LitestoreWebhooksStack(
        app, stack_name(EGRESS_PREFIX), settings=StackSettings(prefix=EGRESS_PREFIX, static_egress_ips=True)
    )
    assembly = app.synth()  # raises if cdk-nag reports an unacknowledged error
    stacks = {"default": default, "dev": dev, "longest": longest, "egress": egress}
    templates = {name: assembly.get_stack_by_name(stack.stack_name).template for name, stack in stacks.items()}
    return {
        "outdir": outdir,
        "assembly": assembly,
        "stacks": stacks,
        "json": templates,
        "t": {name: Template.from_json(tpl) for name, tpl in templates.items()},
    }


@pytest.fixture(scope="module")
def tpl(synth) -> dict:
    return synth["json"]["default"]


@pytest.fixture(scope="module")
def t(synth) -> Template:
    return synth["t"]["default"]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def flat(value) -> str:
    """Render an intrinsic as text: Fn::Join joined, Ref -> ${X}, GetAtt -> ${X.Attr}."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(flat(p) for p in parts)
        if "Ref" in value:
            return "${" + value["Ref"] + "}"
        if "Fn::GetAtt" in value:
            return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    return json.dumps(value, sort_keys=True)


def resources(tpl: dict, rtype: str) -> dict[str, dict]:
    return {k: v for k, v in tpl["Resources"].items() if v["Type"] == rtype}


def logical_id(tpl: dict, rtype: str, **props) -> str:
    found = [
        k for k, v in resources(tpl, rtype).items() if all(v["Properties"].get(p) == want for p, want in props.items())
    ]
    assert len(found) == 1, (rtype, props, found)
    return found[0]


def table_id(tpl: dict, spec: r.Table, prefix: str = r.DEFAULT_PREFIX) -> str:
    return logical_id(tpl, "AWS::DynamoDB::Table", TableName=spec.name(prefix))


def function_id(tpl: dict, spec: r.Function, prefix: str = r.DEFAULT_PREFIX) -> str:
    return logical_id(tpl, "AWS::Lambda::Function", FunctionName=spec.name(prefix))


def statements_of(tpl: dict, role_logical_id: str) -> list[dict]:
    out = []
    for policy in resources(tpl, "AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]:
            out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return out


def role_of(tpl: dict, function_logical_id: str) -> str:
    return tpl["Resources"][function_logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]


def actions(stmt: dict) -> list[str]:
    a = stmt["Action"]
    return [a] if isinstance(a, str) else a


def res(stmt: dict) -> list[str]:
    v = stmt["Resource"]
    return [flat(x) for x in (v if isinstance(v, list) else [v])]


QUEUE_ARN = (
    f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{r.endpoint_queue_pattern(r.DEFAULT_PREFIX)}"
)
DLQ_ARN = QUEUE_ARN + "-dlq"
MAPPING_ARN = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:event-source-mapping:*"
DELIVERY_ARN = (
    f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:"
    f"{r.DELIVERY_FUNCTION.name(r.DEFAULT_PREFIX)}"
)


# ---------------------------------------------------------------------------------------------
# inventory
# ---------------------------------------------------------------------------------------------
def test_every_resource_is_accounted_for(t):
    n_admin, n_ingest = len(api_mod.ADMIN_ROUTES), len(api_mod.INGEST_ROUTES)
    n_admin += len(api_mod.PUBLIC_ROUTES) + len(api_mod.CONSOLE_ROUTES)  # also the admin function's
    expected = {
        "AWS::DynamoDB::Table": len(r.TABLES),
        "AWS::Lambda::Function": len(r.FUNCTIONS) + 2,  # + stack-delete cleanup + catalog seed
        "AWS::Logs::LogGroup": len(r.FUNCTIONS) + 3,  # + cleanup + catalog seed + API access logs
        "AWS::IAM::Role": len(r.FUNCTIONS) + 3,  # + cleanup + catalog seed + API Gateway CloudWatch role
        "AWS::IAM::Policy": len(r.FUNCTIONS) + 2,
        "AWS::SNS::Topic": 2,  # events + alarms
        "AWS::SNS::TopicPolicy": 2,
        "AWS::SNS::Subscription": 0,  # email only when alarmEmail is set
        "AWS::SQS::Queue": 0,  # endpoint queues are made at run time
        "AWS::ApiGateway::RestApi": 1,
        "AWS::ApiGateway::Stage": 1,
        "AWS::ApiGateway::Deployment": 1,
        "AWS::ApiGateway::Account": 1,
        "AWS::ApiGateway::Method": n_admin + n_ingest,
        "AWS::ApiGateway::ApiKey": 1,
        "AWS::ApiGateway::UsagePlan": 1,
        "AWS::ApiGateway::UsagePlanKey": 1,
        "AWS::ApiGateway::RequestValidator": 1,
        "AWS::ApiGateway::Model": 0,  # bodies arrive as binary: validated in the functions
        "AWS::Lambda::Permission": n_admin + n_ingest + 1,  # + API Gateway invoking the console authorizer
        "AWS::ApiGateway::Authorizer": 1,
        "AWS::ApiGateway::GatewayResponse": len(api_mod.GATEWAY_ERRORS),
        "AWS::SecretsManager::Secret": 1,  # the console session key
        "AWS::CloudWatch::Dashboard": 1,
        "AWS::CloudWatch::Alarm": 4 + 2 * len(r.FUNCTIONS) + 1,
        "Custom::LitestoreRuntimeCleanup": 1,
        "Custom::LitestoreCatalogSeed": 1,
        "AWS::KMS::Key": 1,  # seals endpoint secrets
        "AWS::KMS::Alias": 1,
    }
    for rtype, count in expected.items():
        t.resource_count_is(rtype, count)


# ---------------------------------------------------------------------------------------------
# resources.py is the single definition
# ---------------------------------------------------------------------------------------------
def test_tables_match_resources_py(tpl):
    for spec in r.TABLES:
        props = tpl["Resources"][table_id(tpl, spec)]["Properties"]
        keys = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
        if spec.sort_key:
            keys.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
        assert props["KeySchema"] == keys
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        attrs = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
        assert set(attrs.values()) == {"S"}
        if spec.ttl_attribute:
            assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in props
        pitr = props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled", False)
        assert pitr is spec.point_in_time_recovery
        gsis = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
        assert set(gsis) == {ix.name for ix in spec.indexes}
        for ix in spec.indexes:
            want = [{"AttributeName": ix.partition_key, "KeyType": "HASH"}]
            if ix.sort_key:
                want.append({"AttributeName": ix.sort_key, "KeyType": "RANGE"})
            assert gsis[ix.name]["KeySchema"] == want
            assert gsis[ix.name]["Projection"] == {"ProjectionType": "ALL"}
            assert {ix.partition_key, *([ix.sort_key] if ix.sort_key else [])} <= set(attrs)


def test_functions_match_resources_py(tpl):
    for spec in r.FUNCTIONS:
        props = tpl["Resources"][function_id(tpl, spec)]["Properties"]
        assert props["Handler"] == spec.handler
        assert props["MemorySize"] == spec.memory_mb
        assert props["Timeout"] == spec.timeout_s
        assert props["Description"] == spec.description
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
    # delivery: the longest endpoint timeout fits in one invocation, with margin
    assert r.DELIVERY_FUNCTION.timeout_s * 1000 > r.MAX_ENDPOINT_TIMEOUT_MS
    assert r.ENDPOINT_QUEUE.visibility_timeout_s >= 6 * r.DELIVERY_FUNCTION.timeout_s
    # a rate-limited invocation starts its POSTs within the pacing window, and its last one may take
    # the longest endpoint timeout: both fit, with 10 s for the bookkeeping (core/pacing.py)
    assert pacing.PACE_WINDOW_S + r.MAX_ENDPOINT_TIMEOUT_MS / 1000 + 10 <= r.DELIVERY_FUNCTION.timeout_s


def test_newest_python_runtime_is_used():
    from aws_cdk import aws_lambda

    newest = max(
        (
            tuple(int(p) for p in name.split("_")[1:])
            for name in dir(aws_lambda.Runtime)
            if name.startswith("PYTHON_3_")
        ),
    )
    assert f"python{newest[0]}.{newest[1]}" == "python3.14"


def test_topic_matches_resources_py_and_is_ssl_only(tpl, t):
    topic = logical_id(tpl, "AWS::SNS::Topic", TopicName=r.topic_name(r.DEFAULT_PREFIX))
    assert flat(tpl["Resources"][topic]["Properties"]["KmsMasterKeyId"]).endswith("alias/aws/sns")
    logical_id(tpl, "AWS::SNS::Topic", TopicName=r.alarm_topic_name(r.DEFAULT_PREFIX))
    for policy in resources(tpl, "AWS::SNS::TopicPolicy").values():
        stmts = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in stmts
        )
    t.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic}],
        },
    )


def _topic_policy(tpl, topic_name: str) -> list[dict]:
    topic = logical_id(tpl, "AWS::SNS::Topic", TopicName=topic_name)
    (policy,) = [
        p for p in resources(tpl, "AWS::SNS::TopicPolicy").values() if p["Properties"]["Topics"] == [{"Ref": topic}]
    ]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_cloudwatch_may_publish_to_the_alarm_topic_for_this_stacks_alarms_only(synth):
    """enforce_ssl writes a TopicPolicy that replaces SNS's default one: without an explicit
    Allow, CloudWatch alarm actions are refused and no alarm ever notifies."""
    for name, tpl in synth["json"].items():
        prefix = PREFIXES[name]
        alarm_topic = logical_id(tpl, "AWS::SNS::Topic", TopicName=r.alarm_topic_name(prefix))
        stmts = _topic_policy(tpl, r.alarm_topic_name(prefix))
        allows = [s for s in stmts if s["Effect"] == "Allow"]
        (allow,) = allows
        assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert actions(allow) == ["sns:Publish"]
        assert allow["Resource"] == {"Ref": alarm_topic}
        assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        alarm_arns = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
        assert sorted(alarm_arns, key=json.dumps) == sorted(
            ({"Fn::GetAtt": [k, "Arn"]} for k in resources(tpl, "AWS::CloudWatch::Alarm")), key=json.dumps
        )


def test_event_topic_policy_denies_plain_http_and_grants_nothing(tpl):
    """Only this stack's roles publish (ingest, admin replay) and subscribe (admin), all in the
    account and granted by their identity policies; the topic policy adds no principal."""
    stmts = _topic_policy(tpl, r.topic_name(r.DEFAULT_PREFIX))
    assert [(s["Effect"], s["Condition"]) for s in stmts] == [("Deny", {"Bool": {"aws:SecureTransport": "false"}})]


# ---------------------------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------------------------
def test_function_environment(tpl):
    topic = logical_id(tpl, "AWS::SNS::Topic", TopicName=r.topic_name(r.DEFAULT_PREFIX))
    for spec in r.FUNCTIONS:
        env = tpl["Resources"][function_id(tpl, spec)]["Properties"]["Environment"]["Variables"]
        assert set(env) - {r.CONSOLE_KEY_ENV} == {  # the console key: see test_console_key_...
            "LSW_PREFIX",
            "LSW_TOPIC_ARN",
            "LSW_DELIVERY_FUNCTION",
            r.SECRETS_KEY_ENV,
            *(tbl.env_var for tbl in r.TABLES),
            "POWERTOOLS_SERVICE_NAME",
            "POWERTOOLS_METRICS_NAMESPACE",
            "POWERTOOLS_LOG_LEVEL",
        }
        assert env["LSW_PREFIX"] == r.DEFAULT_PREFIX
        assert env["LSW_TOPIC_ARN"] == {"Ref": topic}
        for tbl in r.TABLES:
            assert env[tbl.env_var] == {"Ref": table_id(tpl, tbl)}
        assert flat(env["LSW_DELIVERY_FUNCTION"]) == DELIVERY_ARN
        assert env[r.SECRETS_KEY_ENV] == {"Fn::GetAtt": [key_id(tpl), "Arn"]}
        assert env["POWERTOOLS_SERVICE_NAME"] == SERVICE
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == r.METRICS_NAMESPACE
        assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_no_function_allows_insecure_delivery(synth):
    for tpl in synth["json"].values():
        for fn in resources(tpl, "AWS::Lambda::Function").values():
            env = fn["Properties"].get("Environment", {}).get("Variables", {})
            assert "LSW_ALLOW_INSECURE" not in env
            assert "LSW_LOCAL_RUNTIME" not in env


def test_context_flows_into_dev_stack(synth):
    tpl = synth["json"]["dev"]
    for spec in r.FUNCTIONS:
        env = tpl["Resources"][function_id(tpl, spec, DEV_PREFIX)]["Properties"]["Environment"]["Variables"]
        assert env["LSW_PREFIX"] == DEV_PREFIX
        assert env["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    stage = next(iter(resources(tpl, "AWS::ApiGateway::Stage").values()))["Properties"]
    assert stage["StageName"] == "dev"
    plan = next(iter(resources(tpl, "AWS::ApiGateway::UsagePlan").values()))["Properties"]
    assert plan["Throttle"] == {"RateLimit": 5, "BurstLimit": 10}
    assert {g["Properties"].get("RetentionInDays") for g in resources(tpl, "AWS::Logs::LogGroup").values()} == {7}
    subs = resources(tpl, "AWS::SNS::Subscription")
    assert [s["Properties"]["Protocol"] for s in subs.values()] == ["email"]
    assert next(iter(subs.values()))["Properties"]["Endpoint"] == "ops@example.com"


def test_reserved_concurrency_is_off_by_default_and_set_from_context(tpl, synth):
    """0 (the default) reserves nothing, so a new account (quota 10, or 1,000 with Lambda's 100
    unreserved minimum) can deploy; set, ingest and delivery each get their own reservation."""
    reserved = {
        name: {
            spec.suffix: t["Resources"][function_id(t, spec, prefix)]["Properties"].get("ReservedConcurrentExecutions")
            for spec in r.FUNCTIONS
        }
        for name, t, prefix in (("default", tpl, r.DEFAULT_PREFIX), ("dev", synth["json"]["dev"], DEV_PREFIX))
    }
    assert reserved == {
        "default": {"ingest": None, "delivery": None, "admin": None, "console-auth": None},
        "dev": {"ingest": 20, "delivery": 100, "admin": None, "console-auth": None},
    }


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({}, (0, 0)),
        ({"ingestReservedConcurrency": 0, "deliveryReservedConcurrency": 0}, (0, 0)),
        ({"ingestReservedConcurrency": "", "deliveryReservedConcurrency": ""}, (0, 0)),  # -c key= (unset)
        ({"ingestReservedConcurrency": "50", "deliveryReservedConcurrency": "200"}, (50, 200)),  # -c values are text
        ({"ingestReservedConcurrency": 1, "deliveryReservedConcurrency": 10}, (1, 10)),
    ],
)
def test_reserved_concurrency_context_values(context, expected):
    settings = StackSettings.from_context(cdk.App(context=context).node)
    assert (settings.ingest_reserved_concurrency, settings.delivery_reserved_concurrency) == expected


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"ingestReservedConcurrency": -5},
            "context ingestReservedConcurrency must be a whole number of concurrent "
            "executions, 0 for no reservation (got -5)",
        ),
        ({"ingestReservedConcurrency": "lots"}, "ingestReservedConcurrency must be a whole number"),
        ({"deliveryReservedConcurrency": 12.5}, "deliveryReservedConcurrency must be a whole number"),
        ({"deliveryReservedConcurrency": True}, "deliveryReservedConcurrency must be a whole number"),
        (
            {"deliveryReservedConcurrency": 5},
            "context deliveryReservedConcurrency 5 is below one endpoint's default maxConcurrency (10)",
        ),
    ],
)
def test_reserved_concurrency_context_errors_say_what_to_set(context, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        StackSettings.from_context(cdk.App(context=context).node)


# ---------------------------------------------------------------------------------------------
# deletion policies
# ---------------------------------------------------------------------------------------------
def test_deletion_policies_default_retains_endpoints_table(tpl):
    for spec in r.TABLES:
        table = tpl["Resources"][table_id(tpl, spec)]
        want = "Retain" if spec.retain_by_default else "Delete"
        assert table["DeletionPolicy"] == want, spec.suffix
        assert table["UpdateReplacePolicy"] == want, spec.suffix
    assert r.ENDPOINTS_TABLE.retain_by_default
    for group in resources(tpl, "AWS::Logs::LogGroup").values():
        assert group["DeletionPolicy"] == "Delete"


def test_deletion_policies_destroy_data_deletes_everything(synth):
    tpl = synth["json"]["dev"]
    for spec in r.TABLES:
        assert tpl["Resources"][table_id(tpl, spec, DEV_PREFIX)]["DeletionPolicy"] == "Delete"
    retained = {k for k, v in tpl["Resources"].items() if v.get("DeletionPolicy") == "Retain"}
    # only the account-wide API Gateway logging role/setting survives (shared by every API in the region)
    assert {tpl["Resources"][k]["Type"] for k in retained} <= {"AWS::IAM::Role", "AWS::ApiGateway::Account"}


# ---------------------------------------------------------------------------------------------
# IAM: least privilege with prefix / function conditions
# ---------------------------------------------------------------------------------------------
def _stmts(tpl, spec):
    return statements_of(tpl, role_of(tpl, function_id(tpl, spec)))


def test_no_managed_policies_on_function_roles(tpl):
    for spec in r.FUNCTIONS:
        role = tpl["Resources"][role_of(tpl, function_id(tpl, spec))]["Properties"]
        assert "ManagedPolicyArns" not in role


def test_sqs_access_is_confined_to_prefix_queues(tpl):
    for spec in r.FUNCTIONS:
        for s in _stmts(tpl, spec):
            for a in actions(s):
                if a.startswith("sqs:"):
                    assert res(s) in ([QUEUE_ARN], [DLQ_ARN]), (spec.suffix, a)
                assert a != "sqs:*"


def _by_action(stmts) -> dict[str, list[dict]]:
    by_action: dict[str, list[dict]] = {}
    for s in stmts:
        for a in actions(s):
            by_action.setdefault(a, []).append(s)
    return by_action


def _tables_granted(tpl, stmts) -> dict[str, set[str]]:
    """{table suffix (or suffix/index/name): actions} from the statements."""
    out: dict[str, set[str]] = {}
    for spec in r.TABLES:
        arn = f"${{{table_id(tpl, spec)}.Arn}}"
        for s in stmts:
            for x in res(s):
                if x.startswith(arn):
                    out.setdefault(spec.suffix + x[len(arn) :], set()).update(actions(s))
    return out


def test_admin_iam(tpl):
    by_action = _by_action(_stmts(tpl, r.ADMIN_FUNCTION))
    for a in ("sqs:CreateQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes", "sqs:SendMessage"):
        assert [res(s) for s in by_action[a]] == [[QUEUE_ARN]], a
    for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:PurgeQueue"):
        assert [res(s) for s in by_action[a]] == [[DLQ_ARN]], a  # only dead-letter queues are browsed
    topic = logical_id(tpl, "AWS::SNS::Topic", TopicName=r.topic_name(r.DEFAULT_PREFIX))
    (subscribe,) = by_action["sns:Subscribe"]
    assert res(subscribe) == ["${" + topic + "}"]
    assert subscribe["Condition"]["StringEquals"] == {"sns:Protocol": "sqs"}
    assert flat(subscribe["Condition"]["StringLike"]["sns:Endpoint"]) == QUEUE_ARN
    for a in ("lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping"):
        (s,) = by_action[a]
        assert flat(s["Condition"]["StringEquals"]["lambda:FunctionArn"]) == DELIVERY_ARN, a
        if a != "lambda:CreateEventSourceMapping":  # no resource type for Create
            assert res(s) == [MAPPING_ARN]
    # Get: no lambda:FunctionArn condition (documented for it in one AWS reference, not the other)
    (get,) = by_action["lambda:GetEventSourceMapping"]
    assert res(get) == [MAPPING_ARN] and "Condition" not in get
    assert not any(a.startswith("iam:") for a in by_action)
    assert kms_grants(tpl, _stmts(tpl, r.ADMIN_FUNCTION)) == {"kms:GenerateDataKey", "kms:Decrypt"}
    # replay and redrive write the endpoint's own queue; the topic gets only operational events
    (publish,) = by_action["sns:Publish"]
    assert res(publish) == ["${" + logical_id(tpl, "AWS::SNS::Topic", TopicName=r.topic_name(r.DEFAULT_PREFIX)) + "}"]
    assert _tables_granted(tpl, _stmts(tpl, r.ADMIN_FUNCTION)) == {
        "endpoints": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:Scan",
        },
        "idempotency": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
        },
        "events": {"dynamodb:GetItem", "dynamodb:BatchWriteItem"},  # BatchWriteItem: operational events
        "events/index/byDay": {"dynamodb:Query"},
        "attempts": {"dynamodb:Query", "dynamodb:BatchWriteItem"},
        "attempts/index/byEvent": {"dynamodb:Query"},
        "event-types": {
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
        },
    }


def test_delivery_iam(tpl):
    """Delivery had read/write, Scan and DeleteItem on all four tables; it uses three, and not all of that."""
    stmts = _stmts(tpl, r.DELIVERY_FUNCTION)
    acts = {a for s in stmts for a in actions(s)}
    assert {"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= acts
    assert not acts & {
        "sqs:CreateQueue",
        "sqs:DeleteQueue",
        "sns:Subscribe",
        "lambda:CreateEventSourceMapping",
        "lambda:DeleteEventSourceMapping",
        "lambda:GetEventSourceMapping",
        "lambda:ListEventSourceMappings",
        "dynamodb:Scan",
        "dynamodb:DeleteItem",
    }
    (publish,) = [s for s in stmts if "sns:Publish" in actions(s)]  # operational events only
    assert actions(publish) == ["sns:Publish"]
    assert res(publish) == ["${" + logical_id(tpl, "AWS::SNS::Topic", TopicName=r.topic_name(r.DEFAULT_PREFIX)) + "}"]
    (update,) = [s for s in stmts if "lambda:UpdateEventSourceMapping" in actions(s)]
    assert res(update) == [MAPPING_ARN]
    assert flat(update["Condition"]["StringEquals"]["lambda:FunctionArn"]) == DELIVERY_ARN
    assert _tables_granted(tpl, stmts) == {
        "endpoints": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "idempotency": {"dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"},
        "attempts": {"dynamodb:BatchWriteItem"},
        "events": {"dynamodb:BatchWriteItem"},  # operational events, stored like any other
    }


def key_id(tpl: dict) -> str:
    (found,) = resources(tpl, "AWS::KMS::Key")
    return found


ENDPOINT_CONTEXT = {"StringLike": {f"kms:EncryptionContext:{r.SECRETS_CONTEXT_KEY}": "ep_*"}}


def kms_grants(tpl: dict, stmts: list[dict]) -> set[str]:
    """The role's KMS actions; each statement only on the secrets key, only for endpoint data keys."""
    found = set()
    for s in stmts:
        kms = [a for a in actions(s) if a.startswith("kms:")]
        if kms:
            assert res(s) == ["${" + key_id(tpl) + ".Arn}"] and s["Condition"] == ENDPOINT_CONTEXT, s
            found |= set(kms)
    return found


def test_secrets_key_is_rotated_and_only_admin_and_delivery_may_use_it(tpl, synth):
    key = tpl["Resources"][key_id(tpl)]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert (
        key["DeletionPolicy"],
        synth["json"]["dev"]["Resources"][key_id(synth["json"]["dev"])]["DeletionPolicy"],
    ) == ("Retain", "Delete")  # kept with the endpoints table unless destroyData
    (alias,) = resources(tpl, "AWS::KMS::Alias").values()
    assert alias["Properties"]["AliasName"] == r.secrets_key_alias(r.DEFAULT_PREFIX)
    roles = {spec.suffix: role_of(tpl, function_id(tpl, spec)) for spec in r.FUNCTIONS}
    use: dict[str, set[str]] = {}
    for stmt in key["Properties"]["KeyPolicy"]["Statement"]:
        assert stmt["Effect"] == "Allow" and stmt["Resource"] == "*"
        principal = flat(stmt["Principal"]["AWS"])
        if principal.endswith(":root"):  # the account: administers, never encrypts, decrypts or grants
            assert not {
                "kms:*",
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:ReEncrypt*",
                "kms:Create*",
                "kms:CreateGrant",
            } & set(actions(stmt))
            assert "Condition" not in stmt
            continue
        (role,) = [name for name, rid in roles.items() if principal == "${" + rid + ".Arn}"]
        assert stmt["Condition"] == ENDPOINT_CONTEXT
        use.setdefault(role, set()).update(actions(stmt))
    assert use == {"admin": {"kms:GenerateDataKey", "kms:Decrypt"}, "delivery": {"kms:Decrypt"}}
    for name, spec in (("admin", r.ADMIN_FUNCTION), ("delivery", r.DELIVERY_FUNCTION), ("ingest", r.INGEST_FUNCTION)):
        assert kms_grants(tpl, _stmts(tpl, spec)) == use.get(name, set()), name


def test_ingest_iam(tpl):
    stmts = _stmts(tpl, r.INGEST_FUNCTION)
    acts = {a for s in stmts for a in actions(s)}
    assert not any(a.startswith(("sqs:", "lambda:")) for a in acts)
    topic = logical_id(tpl, "AWS::SNS::Topic", TopicName=r.topic_name(r.DEFAULT_PREFIX))
    assert [res(s) for s in stmts if "sns:Publish" in actions(s)] == [["${" + topic + "}"]]
    assert _tables_granted(tpl, stmts) == {
        "idempotency": {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"},
        "events": {"dynamodb:BatchWriteItem"},
        "event-types": {"dynamodb:GetItem", "dynamodb:Query"},  # the stamp per request, the types after a change
    }


def test_ingest_may_record_first_sight_types_only_when_the_stack_accepts_unknown_types(synth, tpl):
    dev = synth["json"]["dev"]  # deployed with acceptUnknownEventTypes
    ingest_fn = function_id(dev, r.INGEST_FUNCTION, DEV_PREFIX)
    table = f"${{{table_id(dev, r.EVENT_TYPES_TABLE, DEV_PREFIX)}.Arn}}"
    granted = {a for st in statements_of(dev, role_of(dev, ingest_fn)) if table in res(st) for a in actions(st)}
    assert granted == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert dev["Resources"][ingest_fn]["Properties"]["Environment"]["Variables"][r.ACCEPT_UNKNOWN_ENV] == "1"
    default_fn = function_id(tpl, r.INGEST_FUNCTION)
    assert r.ACCEPT_UNKNOWN_ENV not in tpl["Resources"][default_fn]["Properties"]["Environment"]["Variables"]


def test_the_catalog_seed_runs_on_deploy_with_only_what_it_writes(tpl):
    (seed,) = [v for v in tpl["Resources"].values() if v["Type"] == "Custom::LitestoreCatalogSeed"]
    assert seed["Properties"]["TableName"] == {"Ref": table_id(tpl, r.EVENT_TYPES_TABLE)}
    assert len(seed["Properties"]["SeedDigest"]) == 16
    (fn_id,) = [
        k
        for k, v in tpl["Resources"].items()
        if v["Type"] == "AWS::Lambda::Function"
        and v["Properties"]["Handler"] == "litestore_webhooks.handlers.catalog_seed.handler"
    ]
    role = tpl["Resources"][fn_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    stmts = [
        s
        for v in tpl["Resources"].values()
        if v["Type"] == "AWS::IAM::Policy" and {"Ref": role} in v["Properties"]["Roles"]
        for s in v["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert _tables_granted(tpl, stmts) == {"event-types": {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}}


def test_index_grants_name_each_gsi(tpl):
    stmts = _stmts(tpl, r.ADMIN_FUNCTION)
    for spec in r.TABLES:
        for ix in spec.indexes:
            want = f"${{{table_id(tpl, spec)}.Arn}}/index/{ix.name}"
            assert any(want in res(s) for s in stmts), want
    assert not any(x.endswith("/index/*") for s in stmts for x in res(s))


# ---------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------
def _method_paths(tpl) -> dict[tuple[str, str], dict]:
    api_res = resources(tpl, "AWS::ApiGateway::Resource")

    def path(ref) -> str:
        if "Fn::GetAtt" in ref:  # the root resource
            return ""
        node = api_res[ref["Ref"]]["Properties"]
        return path(node["ParentId"]) + "/" + node["PathPart"]

    return {
        (path(m["Properties"]["ResourceId"]), m["Properties"]["HttpMethod"]): m["Properties"]
        for m in resources(tpl, "AWS::ApiGateway::Method").values()
    }


def test_api_routes_and_auth(tpl):
    methods = _method_paths(tpl)
    assert set(methods) == (
        set(api_mod.ADMIN_ROUTES)
        | set(api_mod.INGEST_ROUTES)
        | set(api_mod.PUBLIC_ROUTES)
        | set(api_mod.CONSOLE_ROUTES)
    )
    admin_fn, ingest_fn = function_id(tpl, r.ADMIN_FUNCTION), function_id(tpl, r.INGEST_FUNCTION)
    for route in api_mod.INGEST_ROUTES:
        m = methods[route]
        assert m["AuthorizationType"] == "NONE" and m["ApiKeyRequired"] is True, route
        assert m["RequestValidatorId"] and "RequestModels" not in m
        assert m["RequestParameters"] == {"method.request.header.Content-Type": True}
        assert f"${{{ingest_fn}.Arn}}" in flat(m["Integration"]["Uri"])
    for route in api_mod.ADMIN_ROUTES:
        m = methods[route]
        assert m["AuthorizationType"] == "AWS_IAM", route
        assert not m.get("ApiKeyRequired"), route
        assert f"${{{admin_fn}.Arn}}" in flat(m["Integration"]["Uri"])
    (authorizer_id,) = resources(tpl, "AWS::ApiGateway::Authorizer")
    for route in api_mod.PUBLIC_ROUTES:  # the docs and the console's files: nothing secret, no credentials
        m = methods[route]
        assert m["AuthorizationType"] == "NONE" and not m.get("ApiKeyRequired") and "AuthorizerId" not in m, route
        assert f"${{{admin_fn}.Arn}}" in flat(m["Integration"]["Uri"])
    for route in api_mod.CONSOLE_ROUTES:  # console sessions: only through the console authorizer
        m = methods[route]
        assert m["AuthorizationType"] == "CUSTOM" and m["AuthorizerId"] == {"Ref": authorizer_id}, route
        assert f"${{{admin_fn}.Arn}}" in flat(m["Integration"]["Uri"])
    paths = {p for p, _ in methods}
    assert {
        "/endpoints",
        "/endpoints/{proxy+}",
        "/events/{id}",
        "/events/{id}/{proxy+}",
        "/event-types",
        "/event-types/{proxy+}",
        "/dead-letters",
        "/dead-letters/{proxy+}",
        "/stats",
        "/portal/sessions",
        "/portal/key/rotate",
        "/openapi.json",
        "/docs",
        "/docs/{asset}",
        "/console",
        "/console/assets/{proxy+}",
        "/console/session",
        "/console/api/{proxy+}",
        "/events",
        "/events/batch",
    } == paths
    # Every anonymous route is one the admin function serves as public (admin/access.py), nothing more.
    assert {p for p, m in methods.items() if m["AuthorizationType"] == "NONE" and not m.get("ApiKeyRequired")} == set(
        r.PUBLIC_ROUTES
    )


def test_console_authorizer_checks_every_call_with_the_console_function(tpl):
    (authorizer,) = resources(tpl, "AWS::ApiGateway::Authorizer").values()
    props = authorizer["Properties"]
    assert props["Type"] == "REQUEST" and props["AuthorizerResultTtlInSeconds"] == 0
    assert not props.get("IdentitySource")  # cookie or header; nothing cached, so none is needed
    fn = function_id(tpl, r.CONSOLE_AUTHORIZER_FUNCTION)
    assert f"${{{fn}.Arn}}" in flat(props["AuthorizerUri"])
    fn_props = tpl["Resources"][fn]["Properties"]
    assert fn_props["Handler"] == "litestore_webhooks.handlers.console_authorizer.handler"
    responses = {
        g["Properties"]["ResponseType"]: g["Properties"]
        for g in resources(tpl, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {"UNAUTHORIZED", "ACCESS_DENIED"}
    for kind, code in (("UNAUTHORIZED", "unauthorized"), ("ACCESS_DENIED", "forbidden")):
        template = responses[kind]["ResponseTemplates"]["application/json"]
        assert f'"code":"{code}"' in template and "$context.error.messageString" in template


def test_console_key_is_read_by_the_authorizer_and_admin_and_written_by_admin_only(tpl):
    (secret_id,) = resources(tpl, "AWS::SecretsManager::Secret")
    secret = tpl["Resources"][secret_id]["Properties"]
    assert secret["Name"] == r.console_key_secret_name(r.DEFAULT_PREFIX)
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32
    grants = {}
    for spec in r.FUNCTIONS:
        env = tpl["Resources"][function_id(tpl, spec)]["Properties"]["Environment"]["Variables"]
        on_key = sorted(a for s in _stmts(tpl, spec) if res(s) == [f"${{{secret_id}}}"] for a in actions(s))
        assert not any(
            a.startswith("secretsmanager:")
            for s in _stmts(tpl, spec)
            for a in actions(s)
            if res(s) != [f"${{{secret_id}}}"]
        ), spec.suffix
        grants[spec.suffix] = (on_key, env.get(r.CONSOLE_KEY_ENV) == {"Ref": secret_id})
    assert grants == {
        "ingest": ([], False),
        "delivery": ([], False),
        "admin": (["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"], True),
        "console-auth": (["secretsmanager:GetSecretValue"], True),
    }
    auth_acts = {a for s in _stmts(tpl, r.CONSOLE_AUTHORIZER_FUNCTION) for a in actions(s)}
    assert auth_acts <= {"secretsmanager:GetSecretValue", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_api_passes_bodies_as_exact_bytes_and_validates_only_parameters(tpl):
    # binaryMediaTypes */*: API Gateway base64-encodes every body instead of transcoding it,
    # so invalid UTF-8 reaches the functions (and is refused there with 400).
    (api,) = resources(tpl, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["BinaryMediaTypes"] == ["*/*"]
    (validator,) = resources(tpl, "AWS::ApiGateway::RequestValidator").values()
    assert validator["Properties"]["ValidateRequestParameters"] is True
    assert not validator["Properties"].get("ValidateRequestBody")


def test_api_stage_logging_metrics_and_throttles(t, tpl):
    stage = next(iter(resources(tpl, "AWS::ApiGateway::Stage").values()))["Properties"]
    assert stage["StageName"] == "v1"
    assert stage["TracingEnabled"] is True
    (settings,) = stage["MethodSettings"]
    assert settings["MetricsEnabled"] is True
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["DataTraceEnabled"] is False
    assert settings["ThrottlingRateLimit"] == 100 and settings["ThrottlingBurstLimit"] == 200
    fmt = json.loads(stage["AccessLogSetting"]["Format"])
    assert {"requestId", "ip", "status", "resourcePath", "httpMethod"} <= set(fmt)
    access_logs = stage["AccessLogSetting"]["DestinationArn"]
    group = flat(access_logs).split(":log-group:")[1].strip("${}")
    assert tpl["Resources"][group]["Properties"]["RetentionInDays"] == 30
    t.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Throttle": {"RateLimit": 100, "BurstLimit": 200},
            "ApiStages": [Match.object_like({"Stage": Match.any_value()})],
        },
    )
    key = logical_id(tpl, "AWS::ApiGateway::ApiKey", Description="Litestore event ingest key")
    t.has_resource_properties("AWS::ApiGateway::UsagePlanKey", {"KeyId": {"Ref": key}, "KeyType": "API_KEY"})


def test_function_log_groups_have_retention(tpl):
    for spec in r.FUNCTIONS:
        fn = tpl["Resources"][function_id(tpl, spec)]["Properties"]
        group = fn["LoggingConfig"]["LogGroup"]["Ref"]
        props = tpl["Resources"][group]["Properties"]
        assert props["LogGroupName"] == f"/aws/lambda/{spec.name(r.DEFAULT_PREFIX)}"
        assert props["RetentionInDays"] == 30


# ---------------------------------------------------------------------------------------------
# dashboard and alarms
# ---------------------------------------------------------------------------------------------
def test_dashboard_has_every_widget(tpl, synth):
    (dash,) = resources(tpl, "AWS::CloudWatch::Dashboard").values()
    assert dash["Properties"]["DashboardName"] == synth["stacks"]["default"].stack_name
    body = flat(dash["Properties"]["DashboardBody"])
    titles = [
        "Ingest requests",
        "Ingest 4xx / 5xx",
        "Ingest latency (ms)",
        "Events published",
        "Deliveries",
        "Delivery latency (ms)",
        "Delivered per endpoint",
        "Failed per endpoint",
        "Retried per endpoint",
        "Dead-lettered per endpoint",
        "Auto-paused per endpoint",
        "Delivery latency p90 per endpoint (ms)",
        "Dead-letter queue depth per endpoint",
        "Dead-letter oldest message age per endpoint (s)",
        "Endpoint queue oldest message age (s)",
        "Lambda errors",
        "Lambda throttles",
        "Lambda duration p90 (ms)",
        "Lambda concurrent executions",
        "Alarms",
    ]
    for title in titles:
        assert f'"title":"{title}"' in body, title
    # API Gateway stage metrics
    for metric in ("Count", "4XXError", "5XXError", "Latency"):
        assert f'"AWS/ApiGateway","{metric}"' in body, metric
    for p in ("p50", "p90", "p99"):
        assert f'"stat":"{p}"' in body
    # EMF metrics: aggregate {service} series
    for metric in ("Published", "Delivered", "Failed", "Retried", "DeadLettered", "DeliveryLatency"):
        assert f'"{r.METRICS_NAMESPACE}","{metric}","service","{SERVICE}"' in body, metric
    # per-endpoint {service, endpoint} series via SEARCH
    for metric in ("Delivered", "Failed", "Retried", "DeadLettered", "AutoPaused", "DeliveryLatency"):
        assert (
            f'SEARCH(\'{{{r.METRICS_NAMESPACE},endpoint,service}} MetricName=\\"{metric}\\" service=\\"{SERVICE}\\"\''
        ) in body, metric
    # run-time queues via Metrics Insights over the prefix
    like = f"{r.DEFAULT_PREFIX}-{r.ENDPOINT_ID_PREFIX}%"
    for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"):
        assert (
            f'SELECT MAX({metric}) FROM SCHEMA(\\"AWS/SQS\\", QueueName) '
            f"WHERE QueueName LIKE '{like}-dlq' GROUP BY QueueName"
        ) in body, metric
    assert f"WHERE QueueName LIKE '{like}' AND QueueName NOT LIKE '%-dlq' GROUP BY QueueName" in body
    # Lambda metrics, one line per function
    for metric in ("Errors", "Throttles", "Duration", "ConcurrentExecutions"):
        for spec in r.FUNCTIONS:
            fid = function_id(tpl, spec)
            assert f'"AWS/Lambda","{metric}","FunctionName","${{{fid}}}"' in body, (metric, spec.suffix)


def _alarms(tpl) -> list[dict]:
    return [a["Properties"] for a in resources(tpl, "AWS::CloudWatch::Alarm").values()]


def _emf(alarm: dict) -> str | None:
    """The EMF metric an alarm watches directly (single MetricStat), else None."""
    metrics = alarm.get("Metrics", [])
    if len(metrics) == 1 and "MetricStat" in metrics[0]:
        stat = metrics[0]["MetricStat"]
        if stat["Metric"]["Namespace"] == r.METRICS_NAMESPACE:
            assert stat["Metric"]["Dimensions"] == [{"Name": "service", "Value": SERVICE}]
            alarm.update(Statistic=stat["Stat"], Period=stat["Period"])
            return stat["Metric"]["MetricName"]
    return None


def test_every_alarm_goes_to_the_alarm_topic(tpl):
    alarm_topic = logical_id(tpl, "AWS::SNS::Topic", TopicName=r.alarm_topic_name(r.DEFAULT_PREFIX))
    for alarm in _alarms(tpl):
        assert alarm["AlarmActions"] == [{"Ref": alarm_topic}]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_alarms(tpl):
    alarms = _alarms(tpl)
    by_emf = {m: a for a in alarms if (m := _emf(a))}
    dl = by_emf["DeadLettered"]
    assert (dl["Statistic"], dl["Period"], dl["Threshold"], dl["EvaluationPeriods"]) == ("Sum", 300, 1, 1)
    assert dl["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    ap = by_emf["AutoPaused"]
    assert (ap["Statistic"], ap["Threshold"]) == ("Sum", 1)

    (ratio,) = [
        a
        for a in alarms
        if any("failed / (delivered + failed)" in m.get("Expression", "") for m in a.get("Metrics", []))
    ]
    assert ratio["Threshold"] == 20 and ratio["ComparisonOperator"] == "GreaterThanThreshold"
    stats = {m["Id"]: m["MetricStat"] for m in ratio["Metrics"] if "MetricStat" in m}
    assert {s["Metric"]["MetricName"] for s in stats.values()} == {"Delivered", "Failed"}
    assert {s["Period"] for s in stats.values()} == {900}

    (api5xx,) = [a for a in alarms if a.get("MetricName") == "5XXError"]
    assert api5xx["Namespace"] == "AWS/ApiGateway" and api5xx["Threshold"] == 1
    assert {d["Name"] for d in api5xx["Dimensions"]} == {"ApiName", "Stage"}

    for metric in ("Errors", "Throttles"):
        fns = {
            flat(d["Value"])
            for a in alarms
            if a.get("MetricName") == metric and a["Namespace"] == "AWS/Lambda"
            for d in a["Dimensions"]
        }
        assert fns == {f"${{{function_id(tpl, spec)}}}" for spec in r.FUNCTIONS}, metric

    (oldest,) = [a for a in alarms if any(m.get("Expression", "").startswith("SELECT") for m in a.get("Metrics", []))]
    (query,) = oldest["Metrics"]
    assert query["Expression"] == (
        'SELECT MAX(ApproximateAgeOfOldestMessage) FROM SCHEMA("AWS/SQS", QueueName) '
        f"WHERE QueueName LIKE '{r.DEFAULT_PREFIX}-{r.ENDPOINT_ID_PREFIX}%' AND QueueName NOT LIKE '%-dlq'"
    )
    assert query["Period"] == 300
    assert oldest["Threshold"] == 15 * 60 and oldest["ComparisonOperator"] == "GreaterThanThreshold"


# ---------------------------------------------------------------------------------------------
# clean destroy
# ---------------------------------------------------------------------------------------------
def test_cleanup_custom_resource(tpl):
    ((cr_id, cr),) = resources(tpl, "Custom::LitestoreRuntimeCleanup").items()
    props = cr["Properties"]
    topic = logical_id(tpl, "AWS::SNS::Topic", TopicName=r.topic_name(r.DEFAULT_PREFIX))
    assert props["Prefix"] == r.DEFAULT_PREFIX
    assert props["TopicArn"] == {"Ref": topic}
    assert flat(props["DeliveryFunctionArn"]) == DELIVERY_ARN
    assert cr["DeletionPolicy"] == "Delete"
    assert function_id(tpl, r.DELIVERY_FUNCTION) in cr["DependsOn"]  # runs before the delivery fn goes
    service_token = props["ServiceToken"]["Fn::GetAtt"][0]
    fn = tpl["Resources"][service_token]["Properties"]
    assert fn["Handler"] == "litestore_webhooks.handlers.cleanup.handler"
    # CloudFormation waits ServiceTimeout (default: an hour) for an answer that never comes when
    # the function dies; the handler stops working ANSWER_RESERVE_S before its own timeout.
    assert fn["Timeout"] == 600
    assert int(props["ServiceTimeout"]) == fn["Timeout"] + 60
    assert fn["Runtime"] == "python3.14" and fn["Architectures"] == ["arm64"]
    stmts = statements_of(tpl, role_of(tpl, service_token))
    (delete_q,) = [s for s in stmts if "sqs:DeleteQueue" in actions(s)]
    assert res(delete_q) == [QUEUE_ARN]
    (delete_m,) = [s for s in stmts if "lambda:DeleteEventSourceMapping" in actions(s)]
    assert flat(delete_m["Condition"]["StringEquals"]["lambda:FunctionArn"]) == DELIVERY_ARN
    assert any("sns:Unsubscribe" in actions(s) for s in stmts)


# ---------------------------------------------------------------------------------------------
# static egress IPs (context staticEgressIps)
# ---------------------------------------------------------------------------------------------
# Every EC2 resource the option may add: a VPC, its subnets and routes, an internet gateway, the
# NAT gateways, their Elastic IPs and the delivery function's security group. Anything else
# (VPC endpoints, peering, transit gateway, VPN, another network interface) would give the
# delivery function something internal to reach by address.
EGRESS_EC2_TYPES = {
    "AWS::EC2::VPC": 1,
    "AWS::EC2::InternetGateway": 1,
    "AWS::EC2::VPCGatewayAttachment": 1,
    "AWS::EC2::Subnet": 4,
    "AWS::EC2::RouteTable": 4,
    "AWS::EC2::SubnetRouteTableAssociation": 4,
    "AWS::EC2::Route": 4,
    "AWS::EC2::NatGateway": 2,
    "AWS::EC2::EIP": 2,
    "AWS::EC2::SecurityGroup": 1,
}


def test_static_egress_is_off_by_default(synth):
    for name in ("default", "dev", "longest"):
        tpl = synth["json"][name]
        assert not [k for k, v in tpl["Resources"].items() if v["Type"].startswith("AWS::EC2::")], name
        assert not [k for k, v in resources(tpl, "AWS::Lambda::Function").items() if "VpcConfig" in v["Properties"]]
        assert "EgressIps" not in tpl["Outputs"]
        stmts = _stmts_in(tpl, r.DELIVERY_FUNCTION, PREFIXES[name])
        assert not [a for s in stmts for a in actions(s) if a.startswith("ec2:")]


def _stmts_in(tpl, spec, prefix):
    return statements_of(tpl, role_of(tpl, function_id(tpl, spec, prefix)))


def test_static_egress_adds_only_a_vpc_with_nat_gateways_and_elastic_ips(synth):
    tpl = synth["json"]["egress"]
    ec2 = {}
    for v in tpl["Resources"].values():
        if v["Type"].startswith("AWS::EC2::"):
            ec2[v["Type"]] = ec2.get(v["Type"], 0) + 1
    assert ec2 == EGRESS_EC2_TYPES
    added = sum(EGRESS_EC2_TYPES.values())
    assert len(tpl["Resources"]) == len(synth["json"]["default"]["Resources"]) + added
    assert f"it adds {added} resources" in (ROOT / "README.md").read_text().replace("\n", " ")
    # each NAT gateway has one of the stack's Elastic IPs, and the output lists exactly those
    eips = sorted(resources(tpl, "AWS::EC2::EIP"))
    assert (
        sorted(
            n["Properties"]["AllocationId"]["Fn::GetAtt"][0] for n in resources(tpl, "AWS::EC2::NatGateway").values()
        )
        == eips
    )
    assert all(e["Properties"]["Domain"] == "vpc" for e in resources(tpl, "AWS::EC2::EIP").values())
    assert tpl["Outputs"]["EgressIps"]["Value"] == {"Fn::Join": [",", [{"Ref": e} for e in eips]]}
    assert "allowlist" in tpl["Outputs"]["EgressIps"]["Description"]


def test_static_egress_puts_only_delivery_in_the_vpc_behind_the_nat_gateways(synth):
    tpl = synth["json"]["egress"]
    in_vpc = {
        k: v["Properties"]["VpcConfig"]
        for k, v in resources(tpl, "AWS::Lambda::Function").items()
        if "VpcConfig" in v["Properties"]
    }
    assert list(in_vpc) == [function_id(tpl, r.DELIVERY_FUNCTION, EGRESS_PREFIX)]
    (config,) = in_vpc.values()
    (group,) = resources(tpl, "AWS::EC2::SecurityGroup")
    assert config["SecurityGroupIds"] == [{"Fn::GetAtt": [group, "GroupId"]}]
    # the function's subnets route everything through a NAT gateway, and nothing else anywhere
    routes = resources(tpl, "AWS::EC2::Route").values()
    assert all(
        set(rt["Properties"]) == {"DestinationCidrBlock", "RouteTableId", "NatGatewayId"}
        or set(rt["Properties"]) == {"DestinationCidrBlock", "RouteTableId", "GatewayId"}
        for rt in routes
    )
    assert {rt["Properties"]["DestinationCidrBlock"] for rt in routes} == {"0.0.0.0/0"}
    tables_of = {
        a["Properties"]["SubnetId"]["Ref"]: a["Properties"]["RouteTableId"]["Ref"]
        for a in resources(tpl, "AWS::EC2::SubnetRouteTableAssociation").values()
    }
    nat_routes = {rt["Properties"]["RouteTableId"]["Ref"] for rt in routes if "NatGatewayId" in rt["Properties"]}
    assert {tables_of[s["Ref"]] for s in config["SubnetIds"]} == nat_routes and len(nat_routes) == 2
    # nothing may connect in; out: TCP to the internet only
    props = tpl["Resources"][group]["Properties"]
    assert "SecurityGroupIngress" not in props
    assert [(e["CidrIp"], e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in props["SecurityGroupEgress"]] == [
        ("0.0.0.0/0", "tcp", 1, 65535)
    ]
    assert not [v for v in resources(tpl, "AWS::EC2::Subnet").values() if v["Properties"].get("MapPublicIpOnLaunch")]


def test_static_egress_grants_delivery_the_network_interface_calls_inline(synth):
    """Lambda makes the function's network interfaces with its role: the actions of the managed
    AWSLambdaVPCAccessExecutionRole, granted inline (no role carries a managed policy), before
    the function is created."""
    from infra.egress import VPC_ACCESS_ACTIONS

    tpl, default = synth["json"]["egress"], synth["json"]["default"]
    fn = function_id(tpl, r.DELIVERY_FUNCTION, EGRESS_PREFIX)
    role = role_of(tpl, fn)
    assert "ManagedPolicyArns" not in tpl["Resources"][role]["Properties"]

    def grants(statements):  # (action, resource) pairs: CDK merges statements on the same resource
        return {
            (a, flat(x))
            for s in statements
            for a in actions(s)
            for x in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        }

    with_vpc, without = grants(statements_of(tpl, role)), grants(_stmts(default, r.DELIVERY_FUNCTION))
    assert {(a, x) for a, x in with_vpc if a.startswith("ec2:")} == {(a, "*") for a in VPC_ACCESS_ACTIONS}
    prefixed = {(a, x.replace(EGRESS_PREFIX, r.DEFAULT_PREFIX)) for a, x in with_vpc if not a.startswith("ec2:")}
    assert len(prefixed) == len(without)  # nothing else changes
    (policy,) = [k for k, v in resources(tpl, "AWS::IAM::Policy").items() if {"Ref": role} in v["Properties"]["Roles"]]
    assert policy in tpl["Resources"][fn]["DependsOn"]
    for spec in r.FUNCTIONS:
        if spec is not r.DELIVERY_FUNCTION:
            assert not [a for s in _stmts_in(tpl, spec, EGRESS_PREFIX) for a in actions(s) if a.startswith("ec2:")]


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({}, (False, 2)),
        ({"staticEgressIps": "true", "staticEgressZones": "1"}, (True, 1)),
        ({"staticEgressIps": True, "staticEgressZones": 2}, (True, 2)),
    ],
)
def test_static_egress_context_values(context, expected):
    settings = StackSettings.from_context(cdk.App(context=context).node)
    assert (settings.static_egress_ips, settings.static_egress_zones) == expected


@pytest.mark.parametrize("zones", [0, 3, "two", True])
def test_static_egress_zones_out_of_range_says_what_to_set(zones):
    with pytest.raises(
        ValueError,
        match=r"context staticEgressZones must be 1 or 2: one NAT gateway and Elastic IP "
        r"per zone; 2 keeps delivery going when a zone fails \(got ",
    ):
        StackSettings.from_context(cdk.App(context={"staticEgressZones": zones}).node)


# ---------------------------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------------------------
def test_outputs(tpl):
    outputs = tpl["Outputs"]
    assert {
        "ApiUrl",
        "ApiKeyId",
        "ConsoleUrl",
        "DashboardUrl",
        "TopicArn",
        *(f"{s.construct_id}Name" for s in r.TABLES),
    } <= set(outputs)
    assert flat(outputs["ConsoleUrl"]["Value"]).endswith("/console")
    for spec in r.TABLES:
        assert outputs[f"{spec.construct_id}Name"]["Value"] == {"Ref": table_id(tpl, spec)}
    key = logical_id(tpl, "AWS::ApiGateway::ApiKey", Description="Litestore event ingest key")
    assert outputs["ApiKeyId"]["Value"] == {"Ref": key}
    assert "get-api-key" in outputs["ApiKeyId"]["Description"]
    assert flat(outputs["DashboardUrl"]["Value"]).endswith("#dashboards:name=LitestoreWebhooks")
    stage = logical_id(tpl, "AWS::ApiGateway::Stage", StageName="v1")
    assert flat(outputs["ApiUrl"]["Value"]).endswith(f"/${{{stage}}}/")


def test_admin_api_arn_output_is_the_stages_execute_api_resource(tpl):
    """What an operator's IAM policy grants execute-api:Invoke on (docs/deploy.md, "Admin access")."""
    output = tpl["Outputs"]["AdminApiArn"]
    rest_api = logical_id(tpl, "AWS::ApiGateway::RestApi")
    stage = logical_id(tpl, "AWS::ApiGateway::Stage", StageName="v1")  # a Ref to it is the stage name
    assert flat(output["Value"]) == (
        f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{rest_api}}}/${{{stage}}}/*/*"
    )
    iam_methods = [
        m
        for m in resources(tpl, "AWS::ApiGateway::Method").values()
        if m["Properties"].get("AuthorizationType") == "AWS_IAM"
    ]
    assert iam_methods and "execute-api:Invoke" in output["Description"]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_the_pinned_cdk_cli_can_deploy_this_cloud_assembly(synth):
    """`make deploy` runs node_modules/.bin/cdk: it must be at least the assembly's minimumCliVersion."""
    installed = ROOT / "node_modules" / "aws-cdk" / "package.json"
    if not installed.exists():
        pytest.skip("node_modules is absent: `make test` and `make install` install the pinned CDK CLI (npm ci)")
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/aws-cdk"]["version"]
    version = json.loads(installed.read_text())["version"]
    assert pinned == locked == version, "package.json pins one exact version, the lock file and node_modules agree"
    manifest = json.loads((synth["outdir"] / "manifest.json").read_text())
    assert _version(version) >= _version(manifest["minimumCliVersion"]), (version, manifest["minimumCliVersion"])
    proc = subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "cdk"), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true"},
    )
    assert proc.returncode == 0 and proc.stdout.startswith(version), proc.stdout + proc.stderr


def test_deploy_md_explains_every_output(synth):
    first_cells = re.findall(r"^\| ([^|]+) \|", (ROOT / "docs" / "deploy.md").read_text(), re.M)
    documented = {name for cell in first_cells for name in re.findall(r"`(\w+)(?:…)?`", cell)}
    for tpl in (synth["json"]["default"], synth["json"]["egress"]):  # EgressIps only with staticEgressIps
        named = {key for key in tpl["Outputs"] if not key.startswith("ApiRestApiEndpoint")}  # CDK's own, documented
        assert named <= documented and "ApiRestApiEndpoint" in documented


def test_make_bootstrap_deploy_destroy_run_the_pinned_cli_after_a_region_check():
    proc = subprocess.run(
        ["make", "-n", "bootstrap", "deploy", "destroy", "CDK_ARGS=-c prefix=x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = proc.stdout.splitlines()
    for action in ("bootstrap", "deploy", "destroy"):
        assert f"npx --no-install cdk {action} -c prefix=x" in lines
    assert any("AWS_REGION" in line for line in lines)


# ---------------------------------------------------------------------------------------------
# cdk-nag, cfn-lint, cdk.json
# ---------------------------------------------------------------------------------------------
def test_cdk_nag_has_no_unacknowledged_errors(synth):
    report = json.loads((synth["outdir"] / "policy-validation-report.json").read_text())
    errors = [
        (v["ruleName"], [x["constructPath"] for x in v["violatingResources"]])
        for plugin in report["pluginReports"]
        for v in plugin["violations"]
        if v["severity"] == "error"
    ]
    assert errors == []
    for plugin in report["pluginReports"]:
        assert plugin["summary"]["status"] != "failure"
    for stack in synth["stacks"].values():
        msgs = synth["assembly"].get_stack_by_name(stack.stack_name).messages
        assert [m for m in msgs if m.level.value == "error"] == []


def test_cfn_lint_passes(synth):
    files = [str(synth["outdir"] / f"{s.stack_name}.template.json") for s in synth["stacks"].values()]
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", *CFN_LINT_IGNORES, "--", *files],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cdk_json():
    cfg = json.loads((ROOT / "cdk.json").read_text())
    assert cfg["app"].endswith("app.py")
    ctx = cfg["context"]
    assert ctx["prefix"] == r.DEFAULT_PREFIX
    assert (ctx["stageName"], ctx["throttleRateLimit"], ctx["throttleBurstLimit"]) == ("v1", 100, 200)
    assert (ctx["logLevel"], ctx["destroyData"], ctx["logRetentionDays"]) == ("INFO", False, 30)
    assert (ctx["ingestReservedConcurrency"], ctx["deliveryReservedConcurrency"]) == (0, 0)
    assert (ctx["staticEgressIps"], ctx["staticEgressZones"]) == (False, 2)
    assert "alarmEmail" in ctx
    flags = [k for k in ctx if k.startswith("@aws-cdk")]
    assert len(flags) > 50  # the recommended feature flags of `cdk init`
    assert ctx["@aws-cdk/aws-lambda:recognizeLayerVersion"] is True
    defaults = StackSettings.from_context(cdk.App(context=ctx).node)
    assert defaults == StackSettings()


@pytest.mark.bundling
def test_real_bundling_contains_dependencies_for_lambda(tmp_path):
    """Bundles for real (pip for manylinux2014_aarch64 / CPython 3.14) through a full synth."""
    app = cdk.App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": ["**"]}, outdir=str(tmp_path))
    stack = LitestoreWebhooksStack(app, "BundlingProbe", settings=StackSettings())
    assembly = app.synth()
    tpl = assembly.get_stack_by_name(stack.stack_name).template
    keys = {fn["Properties"]["Code"]["S3Key"] for fn in resources(tpl, "AWS::Lambda::Function").values()}
    assert len(keys) == 1  # one shared code asset
    manifest = json.loads((tmp_path / f"{stack.stack_name}.assets.json").read_text())
    (entry,) = [f for f in manifest["files"].values() if f["source"]["path"].startswith("asset.")]
    asset = tmp_path / entry["source"]["path"]
    assert (asset / "aws_lambda_powertools").is_dir()
    assert (asset / "requests").is_dir()
    assert (asset / "idna").is_dir()  # core/urls.py: IDNA 2008 host names
    assert list((asset / "jsonschema_rs").glob("*.so"))  # core/event_types: a glibc 2.28 wheel (PIP_PLATFORMS)
    sos = list((asset / "pydantic_core").glob("_pydantic_core*.so"))
    assert sos and all("aarch64" in so.name and "cpython-314" in so.name for so in sos)
    rust = list((asset / "cryptography" / "hazmat" / "bindings").glob("_rust*.so"))  # AES-GCM for sealed secrets
    assert rust and rust[0].read_bytes()[18:20] == b"\xb7\x00"  # ELF e_machine: AArch64
    assert (asset / "_cffi_backend.cpython-314-aarch64-linux-gnu.so").is_file()
    pkg = asset / "litestore_webhooks"
    assert (pkg / "resources.py").is_file() and (pkg / "handlers" / "cleanup.py").is_file()
    from litestore_webhooks.console import assets

    # The console's files and the docs page's script ship with the code that serves them.
    assert all((pkg / "console" / "static" / name).is_file() for name in assets.FILES)
    assert (pkg / "admin" / "docs_static" / "swagger-init.js").is_file()
    assert not (pkg / "local").exists() and not (pkg / "cli").exists() and not (pkg / "cli.py").exists()
    assert not list(pkg.rglob("__pycache__"))
    assert not (asset / "botocore").exists()  # provided by the Lambda runtime
