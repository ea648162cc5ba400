"""IAM conformance: each function's synthesized policy grants exactly what its code calls.

One end-to-end run through the local runtime, driven over HTTP (every admin route, ingest single
and batch, deliveries that succeed, retry, dead-letter and pause the endpoint on 410), then the
stack-delete cleanup. Every AWS call is recorded per function (tests/iam_policy.Recorder) and
checked against that function's statements in the synthesized template:

- missing: a call no statement allows (it would be AccessDenied on AWS);
- unused: a statement's action on a resource that no call needed (privilege creep);
- condition keys the action does not support, and "*" for actions that have resource types.

The event source mappings go through the deployed adapter (LambdaEventSources) on a botocore
client that tests/local_lambda_api.py answers from the local registry, so the Lambda calls and
their lambda:FunctionArn are the real ones.
"""

from __future__ import annotations

import copy
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import iam_policy as iam  # noqa: E402
from tests.local_lambda_api import LambdaApiOverRegistry  # noqa: E402
from tests.local_stack import FAST_RETRIES, attempts, dead_letters, event, poll, settle, stats  # noqa: E402
from tests.receivers import Receiver, Reply  # noqa: E402
from tests.test_local_runtime import admin, call, ingest  # noqa: E402
from tests.test_reliability_faults import Faults  # noqa: E402

from litestore_webhooks import config  # noqa: E402
from litestore_webhooks import resources as r  # noqa: E402
from litestore_webhooks.aws import clients, console_key, event_sources  # noqa: E402
from litestore_webhooks.aws.store import Store  # noqa: E402
from litestore_webhooks.core import portal  # noqa: E402
from litestore_webhooks.handlers import catalog_seed, cleanup  # noqa: E402
from litestore_webhooks.local import invoke  # noqa: E402
from litestore_webhooks.local.runtime import LocalRuntime  # noqa: E402

SECRET = "iam-conformance-secret-1"
CLEANUP = "cleanup"  # the cleanup function's key in the policies (its name is generated)
SEED = "catalog-seed"  # the deploy-time catalog seed's, likewise
# Calls made as no function, and why: the test's own write (a create that crashed half-way), the
# registry's queue lookup when a mapping is made, the local poller handing back messages it
# received for a mapping that was disabled meanwhile (on AWS, Lambda's own business), and the test
# taking a seeded type out of the catalog so that the deploy-time seed has one to write.
HARNESS_CALLS = {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "sqs:GetQueueUrl", "sqs:ChangeMessageVisibilityBatch"}


def _template() -> dict:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
    import aws_cdk as cdk
    from infra.context import StackSettings, cdk_json_context
    from infra.stack import LitestoreWebhooksStack

    app = cdk.App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": []})
    stack = LitestoreWebhooksStack(app, "IamConformance", settings=StackSettings())
    return app.synth().get_stack_by_name(stack.stack_name).template


def _flow(rt: LocalRuntime) -> None:
    """Every route and every delivery outcome once, and the failure paths that make calls of their
    own (injected AWS errors); asserts only what it needs to go on."""
    ok, failing, gone = Receiver(), Receiver(default=Reply(500)), Receiver(default=Reply(410))
    faults = Faults().attach()
    try:
        bearer = {"Authorization": f"Bearer {rt.admin_token}"}
        spec = {"name": "orders", "url": ok.url(), "events": ["order.*"], "secret": SECRET}
        status, a = call(rt, "POST", "/endpoints", spec, {**bearer, "Idempotency-Key": "iam-1"})
        assert status == 201, a
        assert call(rt, "POST", "/endpoints", spec, {**bearer, "Idempotency-Key": "iam-1"})[1]["id"] == a["id"]
        status, b = admin(
            rt,
            "POST",
            "/endpoints",
            {
                "name": "reviews",
                "url": failing.url(),
                "events": ["review.*"],
                "retryPolicy": {**FAST_RETRIES, "maxAttempts": 2},
            },
        )
        assert status == 201, b
        status, c = admin(rt, "POST", "/endpoints", {"name": "users", "url": gone.url(), "events": ["user.registered"]})
        assert status == 201, c
        assert admin(rt, "GET", "/endpoints")[0] == 200
        assert admin(rt, "GET", f"/endpoints/{a['id']}")[0] == 200
        assert admin(rt, "GET", "/event-types")[0] == 200
        # the catalog: every route, a type's whole life, and an event of it
        shipped = {
            "name": "order.shipped",
            "description": "Shipped.",
            "schema": {"type": "object", "required": ["orderId"]},
        }
        assert admin(rt, "POST", "/event-types", shipped)[0] == 201
        assert admin(rt, "PATCH", "/event-types/order.shipped", {"schema": {"type": "object"}})[1]["version"] == 2
        for path in ("/event-types/order.shipped", "/event-types/order.shipped/versions", "/event-types/openapi.json"):
            assert admin(rt, "GET", path)[0] == 200, path
        assert admin(rt, "POST", "/event-types/order.shipped/deprecate", {"message": "Gone soon."})[0] == 200
        assert admin(rt, "POST", "/event-types/order.shipped/restore")[0] == 200
        assert (
            admin(rt, "POST", "/event-types/import", {"eventTypes": [{**shipped, "schema": {"type": "object"}}]})[0]
            == 200
        )
        assert ingest(rt, {"event": "order.shipped", "id": "evt_iam_shipped", "data": {}})[0] == 202
        assert admin(rt, "DELETE", "/event-types/order.shipped")[0] == 204
        assert admin(rt, "DELETE", "/event-types/content.rejected")[0] == 204  # seeded: a tombstone stays
        # the console: mint a portal link, exchange it (console authorizer + admin), use it, rotate the key
        link = admin(rt, "POST", "/portal/sessions", {"ttl": 600})[1]["token"]
        as_console = {portal.CSRF_HEADER: "1"}
        console_key.forget()  # the authorizer runs in its own container on AWS: it reads the key itself
        status, opened = call(
            rt, "POST", "/console/session", {"mode": "header"}, {**as_console, portal.SESSION_HEADER: link}
        )
        assert status == 200, opened
        as_console[portal.SESSION_HEADER] = opened["token"]
        assert call(rt, "GET", f"{r.CONSOLE_API_PREFIX}/endpoints", None, as_console)[0] == 200
        assert admin(rt, "POST", "/portal/key/rotate")[0] == 200

        # a create that fails half-way releases its Idempotency-Key; the retry then creates
        faults.add("sqs.CreateQueue", "error", "-dlq")
        retried = {"url": ok.url(), "events": ["content.*"]}
        assert call(rt, "POST", "/endpoints", retried, {**bearer, "Idempotency-Key": "iam-2"})[0] >= 500
        assert call(rt, "POST", "/endpoints", retried, {**bearer, "Idempotency-Key": "iam-2"})[0] == 201

        first = event("order.updated", "evt_iam_1")
        faults.add("dynamodb.PutItem", "error", "dlv#")  # its delivered marker then rides in the attempt-log batch
        assert ingest(rt, first)[0] == 202
        assert ingest(rt, first)[0] == 200  # a duplicate
        batch = [
            event("order.completed", "evt_iam_2"),
            event("review.created", "evt_iam_3"),
            event("user.registered", "evt_iam_4"),
        ]
        assert call(rt, "POST", "/events/batch", {"events": batch}, {"x-api-key": rt.api_key})[0] == 202
        unpublished = event("order.updated", "evt_iam_5")
        faults.add("sns.PublishBatch", "error", unpublished["id"])  # the claim is released: a retry is not a duplicate
        assert ingest(rt, unpublished)[0] == 503
        assert ingest(rt, unpublished)[0] == 202
        ok.wait_for(3, timeout=20)
        poll(lambda: dead_letters(rt, b["id"]), timeout=20, what="the failing endpoint's dead letter")
        poll(
            lambda: admin(rt, "GET", f"/endpoints/{c['id']}")[1]["pausedReason"] == "gone",
            timeout=20,
            what="the 410 endpoint paused",
        )

        assert attempts(rt, a["id"])
        for path in (f"/events/{first['id']}", f"/events/{first['id']}/attempts", f"/endpoints/{a['id']}/stats"):
            assert admin(rt, "GET", path)[0] == 200, path
        # the failing receiver is fixed, the endpoint's filter and concurrency change, its dead letter is redriven
        failing.default = Reply(200)
        assert (
            admin(
                rt,
                "PATCH",
                f"/endpoints/{b['id']}",
                {"events": ["review.*", "user.*"], "maxConcurrency": 3, "description": "fixed"},
            )[0]
            == 200
        )
        assert admin(rt, "POST", f"/endpoints/{b['id']}/dead-letters/redrive", {"ids": ["evt_iam_3"]})[0] == 200
        failing.wait_for(3, timeout=20)
        assert admin(rt, "DELETE", f"/endpoints/{b['id']}/dead-letters?confirm=true")[0] in (200, 204)
        assert admin(rt, "POST", f"/endpoints/{b['id']}/dead-letters/redrive", {})[0] == 200
        assert admin(rt, "POST", f"/events/{first['id']}/resend", {"endpointIds": [a["id"]]})[0] in (200, 202)
        now = datetime.now(UTC)
        window = {"since": (now - timedelta(minutes=5)).isoformat(), "until": (now + timedelta(minutes=1)).isoformat()}
        assert admin(rt, "POST", f"/endpoints/{a['id']}/replay", window)[0] in (200, 202)
        assert admin(rt, "POST", f"/endpoints/{a['id']}/test", {"event": "order.updated"})[0] == 200
        assert admin(rt, "POST", f"/endpoints/{a['id']}/secret/rotate", {"overlapSeconds": 60})[0] == 200
        assert admin(rt, "GET", f"/endpoints/{a['id']}/secret")[0] == 200
        assert admin(rt, "POST", f"/endpoints/{a['id']}/reconcile")[1]["fixed"] == []
        assert admin(rt, "POST", f"/endpoints/{a['id']}/pause")[0] == 200
        assert admin(rt, "POST", f"/endpoints/{a['id']}/resume")[0] == 200
        assert admin(rt, "PATCH", f"/endpoints/{c['id']}", {"url": ok.url(), "active": True})[0] == 200
        settle(rt, [a["id"], b["id"], c["id"]])
        assert stats(rt, a["id"])["queueDepth"] == 0

        for endpoint in (a, b):
            assert admin(rt, "DELETE", f"/endpoints/{endpoint['id']}")[0] == 204
        # a create that crashed before recording its resources: delete finds them by name and listing
        Store(config.settings()).update_endpoint_fields(c["id"], {"resources": {}})
        assert admin(rt, "DELETE", f"/endpoints/{c['id']}")[0] == 204
        # one more endpoint left for the stack-delete cleanup to remove
        assert admin(rt, "POST", "/endpoints", {"name": "left for cleanup", "url": ok.url(), "events": ["*"]})[0] == 201
    finally:
        for rx in (ok, failing, gone):
            rx.close()


@pytest.fixture(scope="module")
def conformance():
    template = _template()
    with LocalRuntime(port=0, allow_insecure=True) as rt:
        world = iam.World(region=invoke.region())
        lambda_api = LambdaApiOverRegistry(rt.registry, lambda name: iam._function_arn(name, world))
        world.mapping_function = lambda_api.function_of
        lambda_api.attach(clients.client("lambda"))
        event_sources.use(event_sources.LambdaEventSources())  # the deployed adapter, answered from the registry
        recorder = iam.Recorder(world)
        remove = clients.add_hook("provide-client-params", recorder)
        try:
            _flow(rt)
            settings = config.settings()
            cleanup_clients = cleanup.make_clients()
            for client in cleanup_clients.values():
                client.meta.events.register("provide-client-params", recorder)
            lambda_api.attach(cleanup_clients["lambda"])
            with invoke.acting_as(CLEANUP):
                removed = cleanup.cleanup(
                    {
                        "Prefix": rt.prefix,
                        "TopicArn": settings.topic_arn,
                        "DeliveryFunctionArn": iam._function_arn(settings.delivery_function, world),
                    },
                    cleanup_clients,
                )
            assert removed == {"subscriptions": 2, "mappings": 2, "queues": 4}  # the last two endpoints
            # the deploy-time seed, after a release whose seed brings a type this catalog lacks
            table = settings.event_types_table
            clients.client("dynamodb").delete_item(
                TableName=table, Key={"pk": {"S": "types"}, "sk": {"S": "order.updated"}}
            )
            with invoke.acting_as(SEED):
                assert catalog_seed.seed_catalog(table)["written"] == {"order.updated": "create"}
        finally:
            remove()
            event_sources.use(rt.registry)
    (key,) = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::KMS::Key"]
    (console_key,) = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::SecretsManager::Secret"]
    policies = iam.role_policies(
        template,
        iam.Resolver(
            template, world, {f"{key}.Arn": settings.secrets_key_arn, console_key: settings.console_key_secret}
        ),
    )
    (cleanup_fn,) = [
        k
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::Lambda::Function" and v["Properties"]["Handler"] == cleanup.__name__ + ".handler"
    ]
    policies[CLEANUP] = policies.pop(cleanup_fn)
    (seed_fn,) = [
        k
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::Lambda::Function" and v["Properties"]["Handler"] == catalog_seed.__name__ + ".handler"
    ]
    policies[SEED] = policies.pop(seed_fn)
    functions = [spec.name(r.DEFAULT_PREFIX) for spec in r.FUNCTIONS] + [CLEANUP, SEED]
    return {"policies": policies, "recorder": recorder, "functions": functions}


def test_every_function_is_granted_exactly_what_it_calls(conformance):
    recorder = conformance["recorder"]
    assert recorder.unmapped == []
    assert set(recorder.by_function) == set(conformance["functions"])  # every function's calls were seen
    assert set(recorder.unattributed) <= HARNESS_CALLS  # no handler call escaped its function
    findings = iam.check(conformance["policies"], recorder.by_function, conformance["functions"])
    assert findings.problems() == [], "\n" + "\n".join(findings.problems())


def test_removing_any_statement_is_reported_as_missing(conformance):
    """Each statement is needed: without it some recorded call would be refused."""
    policies, recorded = conformance["policies"], conformance["recorder"].by_function
    for function in conformance["functions"]:
        for n, statement in enumerate(policies[function]):
            if set(statement.actions) <= set(iam.NOT_CALLED_BY_OUR_CODE):
                continue
            trimmed = {**policies, function: policies[function][:n] + policies[function][n + 1 :]}
            missing = iam.check(trimmed, recorded, [function]).missing
            assert missing and all(m.startswith(f"{function}: missing ") for m in missing), (function, statement)


def test_an_extra_grant_is_reported_as_unused(conformance):
    """The events table for delivery, as main had it: delivery never reads stored events."""
    policies, recorded = conformance["policies"], conformance["recorder"].by_function
    delivery = r.DELIVERY_FUNCTION.name(r.DEFAULT_PREFIX)
    events_table = f"arn:aws:dynamodb:{invoke.region()}:{iam.ACCOUNT}:table/{r.EVENTS_TABLE.name()}"
    extra = iam.Statement("extra", "Allow", ["dynamodb:Scan", "dynamodb:DeleteItem"], [events_table])
    findings = iam.check({**policies, delivery: [*policies[delivery], extra]}, recorded, [delivery])
    assert findings.unused == [
        f"{delivery}: statement extra grants dynamodb:Scan on {events_table}, never used",
        f"{delivery}: statement extra grants dynamodb:DeleteItem on {events_table}, never used",
    ]


def test_a_condition_key_the_action_does_not_support_is_reported(conformance):
    policies, recorded = conformance["policies"], conformance["recorder"].by_function
    admin_fn = r.ADMIN_FUNCTION.name(r.DEFAULT_PREFIX)
    (subscribe,) = [s for s in policies[admin_fn] if "sns:Subscribe" in s.actions]
    wrong = replace(
        subscribe,
        conditions={
            **subscribe.conditions,
            "StringEquals": {**subscribe.conditions["StringEquals"], "sqs:QueueName": ["x"]},
        },
    )
    trimmed = [wrong if s is subscribe else s for s in policies[admin_fn]]
    findings = iam.check({**policies, admin_fn: trimmed}, recorded, [admin_fn])
    assert any(
        "conditions sns:Subscribe on sqs:QueueName, which the action does not support" in c for c in findings.conditions
    )


def test_get_event_source_mapping_is_allowed_with_and_without_lambda_function_arn(conformance):
    """The Service Authorization Reference lists lambda:FunctionArn for GetEventSourceMapping,
    the Lambda developer guide does not; a grant under that condition alone fails one way."""
    policies = conformance["policies"]
    admin_fn = r.ADMIN_FUNCTION.name(r.DEFAULT_PREFIX)
    gets = [q for q in conformance["recorder"].by_function[admin_fn] if q.action == "lambda:GetEventSourceMapping"]
    assert gets and all(dict(q.context).get("lambda:FunctionArn") for q in gets)
    assert all(iam.allowed(policies[admin_fn], q) for q in gets)
    conditioned_only = [copy.deepcopy(s) for s in policies[admin_fn]]
    for s in conditioned_only:
        if "lambda:GetEventSourceMapping" in s.actions:
            s.conditions = {"StringEquals": {"lambda:FunctionArn": [dict(gets[0].context)["lambda:FunctionArn"]]}}
    assert not all(iam.allowed(conditioned_only, q) for q in gets)
