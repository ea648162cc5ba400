"""Provisioning on moto with the local event-source adapter; the Lambda adapter against a Stubber."""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from litestore_webhooks import resources as r
from litestore_webhooks.aws import bus, clients, event_sources, queues
from litestore_webhooks.aws.kms import SecretBox
from litestore_webhooks.core.errors import ApiError, ValidationFailed
from litestore_webhooks.provisioning import RESOURCES, EndpointResources, Provisioner, load_endpoint, secrets_of


@pytest.fixture
def local():
    adapter = event_sources.LocalEventSources()
    event_sources.use(adapter)
    yield adapter
    event_sources.use(None)


@pytest.fixture
def prov(aws, local) -> Provisioner:
    return Provisioner(aws)


_names = itertools.count(1)


def create(prov: Provisioner, events: list[str], **spec: Any):
    """An endpoint with a name of its own (names are unique)."""
    doc = {"url": "https://hooks.example.com/in", "events": events, "name": f"hook {next(_names)}", **spec}
    return prov.create(prov.parse_spec(doc))


def resources_of(prov: Provisioner, endpoint_id: str) -> EndpointResources:
    found = load_endpoint(prov.store, endpoint_id)
    assert found is not None
    return found[1]


def subscription(arn: str) -> dict[str, str]:
    return clients.client("sns").get_subscription_attributes(SubscriptionArn=arn)["Attributes"]


def queue_attributes(url: str) -> dict[str, str]:
    return clients.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def all_subscriptions() -> list[dict[str, str]]:
    return clients.client("sns").list_subscriptions()["Subscriptions"]


def all_queues() -> list[str]:
    return clients.client("sqs").list_queues().get("QueueUrls", [])


# -- create ----------------------------------------------------------------------------


def test_create_provisions_queue_dlq_subscription_and_mapping(aws, prov, local):
    ep = create(prov, ["order.*", "user.registered"], maxConcurrency=7)
    res = resources_of(prov, ep.id)

    assert res.queue_url.endswith(r.endpoint_queue_name(aws.prefix, ep.id))
    assert res.dlq_url.endswith(r.dead_letter_queue_name(aws.prefix, ep.id))
    q = queue_attributes(res.queue_url)
    assert q["VisibilityTimeout"] == str(r.ENDPOINT_QUEUE.visibility_timeout_s)
    assert q["MessageRetentionPeriod"] == str(r.FOURTEEN_DAYS_S)
    assert json.loads(q["RedrivePolicy"]) == {"deadLetterTargetArn": res.dlq_arn, "maxReceiveCount": 10}
    [statement] = [s for s in json.loads(q["Policy"])["Statement"] if s["Effect"] == "Allow"]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": aws.topic_arn}}
    assert statement["Resource"] == res.queue_arn and statement["Action"] == "sqs:SendMessage"
    assert queue_attributes(res.dlq_url)["MessageRetentionPeriod"] == str(r.FOURTEEN_DAYS_S)

    sub = subscription(res.subscription_arn)
    assert sub["Endpoint"] == res.queue_arn and sub["RawMessageDelivery"] == "true"
    assert sub["FilterPolicyScope"] == "MessageAttributes"
    assert json.loads(sub["FilterPolicy"]) == {"event": [{"prefix": "order."}, "user.registered"]}

    [mapping] = local.mappings()
    assert mapping == event_sources.Mapping(
        res.mapping_id,
        res.queue_arn,
        aws.delivery_function,
        r.EVENT_SOURCE.batch_size,
        r.EVENT_SOURCE.max_batching_window_s,
        7,
        True,
        res.queue_url,
    )
    item = prov.store.get_endpoint_item(ep.id)
    assert item[RESOURCES] == res.to_item() and load_endpoint(prov.store, ep.id)[0] == ep


def test_wildcard_subscription_filters_out_only_the_operational_events(prov):
    res = resources_of(prov, create(prov, ["*"]).id)
    assert bus.filter_policy_of(subscription(res.subscription_arn)) == {
        "event": [{"anything-but": {"prefix": "webhooks."}}]
    }


def test_inactive_endpoint_gets_a_disabled_mapping(prov, local):
    create(prov, ["*"], active=False)
    assert [m.enabled for m in local.mappings()] == [False]


def test_provisioning_twice_changes_nothing(prov, local):
    ep = create(prov, ["order.completed"])
    before = (resources_of(prov, ep.id), all_queues(), all_subscriptions(), local.mappings())
    assert prov.reconcile(ep.id) == []
    assert prov.reconcile() == []
    assert (resources_of(prov, ep.id), all_queues(), all_subscriptions(), local.mappings()) == before


def test_spec_validation_uses_the_deployment_url_rules(aws, local):
    with pytest.raises(ValidationFailed) as err:
        Provisioner(aws).parse_spec({"url": "http://127.0.0.1:9/x", "events": ["*"]})
    assert err.value.details[0]["path"] == "url"
    insecure = Provisioner(aws.__class__(**{**aws.__dict__, "allow_insecure": True}))
    assert insecure.parse_spec({"url": "http://127.0.0.1:9/x", "events": ["*"]}).url == "http://127.0.0.1:9/x"


# -- update / pause / resume -----------------------------------------------------------


def test_update_changes_filter_concurrency_and_state_in_place(prov, local):
    ep = create(prov, ["order.completed"])
    before = resources_of(prov, ep.id)
    updated = prov.update(ep.id, {"events": ["*"], "maxConcurrency": 3, "description": "all", "timeout": 5000})
    assert (updated.events, updated.maxConcurrency, updated.description, updated.timeout) == (["*"], 3, "all", 5000)
    assert resources_of(prov, ep.id) == before
    assert bus.filter_policy_of(subscription(before.subscription_arn)) == {
        "event": [{"anything-but": {"prefix": "webhooks."}}]
    }
    assert local.get(before.mapping_id)["max_concurrency"] == 3

    prov.update(ep.id, {"events": ["user.registered"], "active": False})
    assert json.loads(subscription(before.subscription_arn)["FilterPolicy"]) == {"event": ["user.registered"]}
    stored, _ = load_endpoint(prov.store, ep.id)
    assert (stored.active, stored.pausedReason, local.get(before.mapping_id)["enabled"]) == (False, "manual", False)
    assert prov.reconcile(ep.id) == []


def _failing(code: str = "ThrottlingException"):
    def fail(*args: Any, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "UpdateEventSourceMapping")

    return fail


def fail_next_call(service: str, operation: str, times: int = 1) -> None:
    """The next `times` calls of one operation on the shared client fail as AWS would, unapplied."""
    left = [times]

    def answer(**_: Any) -> Any:
        if left[0] <= 0:
            return None
        left[0] -= 1
        return AWSResponse("https://injected.invalid/", 500, {}, None), {
            "Error": {"Code": "InternalError", "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        }

    clients.client(service).meta.events.register(f"before-call.{service}.{operation}", answer)


PATCH = {"events": ["user.*"], "maxConcurrency": 5, "url": "https://hooks.example.com/v2", "description": "v2"}


def _state(prov: Provisioner, endpoint_id: str, local: event_sources.LocalEventSources) -> tuple[Any, ...]:
    """What a delivery sees of an endpoint: the stored item, the subscription's filter, the mapping."""
    stored, res = load_endpoint(prov.store, endpoint_id)
    mapping = local.get(res.mapping_id)
    return (
        stored.events,
        stored.maxConcurrency,
        stored.url,
        stored.description,
        stored.active,
        bus.filter_policy_of(subscription(res.subscription_arn)),
        mapping["max_concurrency"],
        mapping["enabled"],
    )


def test_a_patch_whose_mapping_update_fails_changes_nothing_and_says_retry(prov, local, monkeypatch):
    """PATCH used to save first, then converge: a failed mapping update left the item saying one thing
    (maxConcurrency 5, new filter, new URL) and the subscription or mapping doing another."""
    ep = create(prov, ["order.*"], maxConcurrency=2)
    before = _state(prov, ep.id, local)
    monkeypatch.setattr(local, "update", _failing())
    with pytest.raises(ApiError) as refused:
        prov.update(ep.id, PATCH)
    assert (refused.value.status, refused.value.code, refused.value.details) == (
        503,
        "provisioning_failed",
        {"retryable": True},
    )
    assert "not updated" in refused.value.message and "ThrottlingException" in refused.value.message
    assert "retry" in refused.value.message
    assert _state(prov, ep.id, local) == before  # the filter was changed, then put back

    monkeypatch.undo()
    prov.update(ep.id, PATCH)  # the retry the answer asks for applies everything
    assert _state(prov, ep.id, local) == (
        ["user.*"],
        5,
        "https://hooks.example.com/v2",
        "v2",
        True,
        {"event": [{"prefix": "user."}]},
        5,
        True,
    )
    assert prov.reconcile(ep.id) == []


@pytest.mark.parametrize(
    "service, operation",
    [
        ("sns", "SetSubscriptionAttributes"),  # the filter policy cannot change
        ("dynamodb", "UpdateItem"),  # the resources changed, the item's write fails: they are put back
    ],
)
def test_a_patch_whose_subscription_or_item_update_fails_changes_nothing(prov, local, service, operation):
    ep = create(prov, ["order.*"], maxConcurrency=2)
    before = _state(prov, ep.id, local)
    fail_next_call(service, operation)
    with pytest.raises(ApiError) as refused:
        prov.update(ep.id, {**PATCH, "active": False})
    assert (refused.value.status, refused.value.code) == (503, "provisioning_failed")
    assert _state(prov, ep.id, local) == before


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_a_pause_or_resume_whose_mapping_update_fails_changes_nothing(prov, local, monkeypatch, action):
    """They used to save the item first: a failed mapping update left a "paused" endpoint still
    delivering (its batches handed back until the redrive policy dead-lettered them), or an
    "active" one whose events stayed queued."""
    ep = create(prov, ["*"])
    if action == "resume":
        prov.pause(ep.id)
    before = _state(prov, ep.id, local)
    monkeypatch.setattr(local, "update", _failing("ResourceInUseException"))
    with pytest.raises(ApiError) as refused:
        getattr(prov, action)(ep.id)
    assert (refused.value.status, refused.value.code) == (503, "provisioning_failed")
    assert _state(prov, ep.id, local) == before


def test_a_patch_whose_rollback_fails_too_says_so_and_the_retry_converges(prov, local, monkeypatch):
    ep = create(prov, ["order.*"], maxConcurrency=2)
    monkeypatch.setattr(local, "update", _failing())
    calls = []
    real = bus.set_filter_policy

    def set_once(arn: str, policy: Any) -> None:  # the change applies, putting it back fails
        calls.append(policy)
        if len(calls) > 1:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "SetSubscriptionAttributes")
        real(arn, policy)

    monkeypatch.setattr(bus, "set_filter_policy", set_once)
    with pytest.raises(ApiError) as refused:
        prov.update(ep.id, PATCH)
    assert refused.value.status == 503 and "may still differ" in refused.value.message
    monkeypatch.undo()
    prov.update(ep.id, PATCH)
    assert _state(prov, ep.id, local)[:7] == (
        ["user.*"],
        5,
        "https://hooks.example.com/v2",
        "v2",
        True,
        {"event": [{"prefix": "user."}]},
        5,
    )


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"maxConcurrency": 1}, "maxConcurrency"),
        ({"secret": "x"}, "secret"),
        ({"url": "http://example.com"}, "url"),
        ({"retryPolicy": {"maxAttempts": "5"}}, "retryPolicy.maxAttempts"),
    ],
)
def test_invalid_updates_are_refused_and_change_nothing(prov, changes, path):
    ep = create(prov, ["*"])
    with pytest.raises(ValidationFailed) as err:
        prov.update(ep.id, changes)
    assert err.value.details[0]["path"] == path
    assert load_endpoint(prov.store, ep.id)[0] == ep


def test_pause_disables_the_mapping_only_and_events_keep_buffering(aws, prov, local):
    ep = create(prov, ["*"])
    res = resources_of(prov, ep.id)
    paused = prov.pause(ep.id, "gone")
    assert (paused.active, paused.pausedReason) == (False, "gone")
    assert local.get(res.mapping_id)["enabled"] is False
    assert subscription(res.subscription_arn)["Endpoint"] == res.queue_arn
    bus.publish(aws.topic_arn, '{"x":1}', "order.completed")
    assert queue_attributes(res.queue_url)["ApproximateNumberOfMessages"] == "1"

    prov.store.update_endpoint_fields(ep.id, {"failingSince": "2026-01-01T00:00:00.000Z", "consecutiveFailures": 12})
    resumed = prov.resume(ep.id)
    assert (resumed.active, resumed.pausedReason, resumed.failingSince, resumed.consecutiveFailures) == (
        True,
        None,
        None,
        0,
    )
    assert load_endpoint(prov.store, ep.id)[0] == resumed
    assert local.get(res.mapping_id)["enabled"] is True


def _race(prov: Provisioner, monkeypatch, meanwhile) -> None:
    """Run `meanwhile` right after the provisioner has read the endpoint item (a concurrent writer)."""
    read = prov.store.get_endpoint_item

    def read_then_race(endpoint_id):
        item = read(endpoint_id)
        monkeypatch.setattr(prov.store, "get_endpoint_item", read)
        meanwhile(endpoint_id)
        return item

    monkeypatch.setattr(prov.store, "get_endpoint_item", read_then_race)


@pytest.mark.parametrize("action", ["pause", "resume", "update"])
def test_lifecycle_writes_do_not_undo_a_concurrent_secret_rotation(prov, monkeypatch, action):
    from litestore_webhooks.admin.secrets import Rotation, rotate

    ep = create(prov, ["*"], active=action != "resume")
    rotated = {}
    box = SecretBox(prov.settings.secrets_key_arn)
    created = secrets_of(prov.store.get_endpoint_item(ep.id), box).secret
    _race(prov, monkeypatch, lambda eid: rotated.update(rotate(prov.store, box, eid, Rotation())))
    {
        "pause": lambda: prov.pause(ep.id),
        "resume": lambda: prov.resume(ep.id),
        "update": lambda: prov.update(ep.id, {"description": "x"}),
    }[action]()

    stored = secrets_of(prov.store.get_endpoint_item(ep.id), box)
    assert stored.secret == rotated["secret"] != created
    assert [p.secret for p in stored.previousSecrets] == [created]


@pytest.mark.parametrize("action", ["pause", "update"])
def test_lifecycle_writes_do_not_reset_concurrent_failure_counts(prov, monkeypatch, action):
    ep = create(prov, ["*"])
    _race(prov, monkeypatch, lambda eid: prov.store.count_endpoint_failures(eid, 3, at="2026-01-01T00:00:00.000Z"))
    {"pause": lambda: prov.pause(ep.id, "auto_disabled"), "update": lambda: prov.update(ep.id, {"timeout": 5000})}[
        action
    ]()

    stored, _ = load_endpoint(prov.store, ep.id)
    assert (stored.consecutiveFailures, stored.failingSince) == (3, "2026-01-01T00:00:00.000Z")


def test_pause_refuses_unknown_reasons(prov):
    ep = create(prov, ["*"])
    with pytest.raises(ValidationFailed):
        prov.pause(ep.id, "bored")


def test_unknown_endpoint_is_404(prov):
    for action in (prov.delete, prov.pause, prov.resume, prov.reconcile, lambda i: prov.update(i, {})):
        with pytest.raises(ApiError) as err:
            action("ep_aaaaaaaaaaaaaaaaaaaaaa")
        assert err.value.status == 404


# -- delete ----------------------------------------------------------------------------


def test_delete_leaves_nothing(aws, prov, local):
    keep = create(prov, ["*"])
    ep = create(prov, ["order.*"])
    prov.delete(ep.id)
    assert load_endpoint(prov.store, ep.id) is None
    assert [m.id for m in local.mappings()] == [resources_of(prov, keep.id).mapping_id]
    assert [s["Endpoint"] for s in all_subscriptions()] == [resources_of(prov, keep.id).queue_arn]
    assert not [u for u in all_queues() if ep.id in u]
    bus.publish(aws.topic_arn, "{}", "order.completed")  # SNS still publishes fine


class Crash(BaseException):
    """The process dying mid-create (a Lambda timeout, a kill): nothing after it runs, no clean-up either."""


def crash(*_: Any, **__: Any) -> None:
    raise Crash


def test_a_create_that_fails_takes_back_what_it_made_so_its_retry_succeeds(prov, local, monkeypatch):
    monkeypatch.setattr(local, "create", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("mapping refused")))
    with pytest.raises(RuntimeError):
        create(prov, ["*"], name="Orders")
    assert (list(prov.store.all_endpoint_items()), all_queues(), all_subscriptions()) == ([], [], [])
    monkeypatch.undo()
    assert create(prov, ["*"], name="Orders").name == "Orders"  # the name was released with the rest


def test_delete_after_a_half_finished_create_still_removes_everything(prov, local, monkeypatch):
    monkeypatch.setattr(local, "create", crash)
    with pytest.raises(Crash):
        create(prov, ["*"])
    [item] = list(prov.store.all_endpoint_items())
    monkeypatch.undo()
    prov.delete(item["id"])
    assert (list(prov.store.all_endpoint_items()), all_queues(), all_subscriptions()) == ([], [], [])


# -- crash recovery and drift ----------------------------------------------------------


def test_reconcile_finishes_a_create_that_crashed_half_way(prov, local, monkeypatch):
    monkeypatch.setattr(local, "create", crash)
    with pytest.raises(Crash):
        create(prov, ["order.completed"])
    [item] = list(prov.store.all_endpoint_items())
    recorded = EndpointResources.from_item(item[RESOURCES])
    assert recorded.queue_url and recorded.subscription_arn and recorded.mapping_id is None
    monkeypatch.undo()

    assert prov.reconcile() == [f"{item['id']}: created event source mapping"]
    res = resources_of(prov, item["id"])
    assert res.mapping_id and len(all_subscriptions()) == 1
    assert prov.reconcile() == []


def test_reconcile_adopts_an_unrecorded_subscription(prov):
    ep = create(prov, ["order.completed"])
    prov.store.update_endpoint_fields(ep.id, {RESOURCES: {}})  # crash before the ids were written
    fixes = prov.reconcile(ep.id)
    assert fixes == [f"{ep.id}: subscribed queue to topic"]
    assert len(all_subscriptions()) == 1 and resources_of(prov, ep.id).subscription_arn


def test_reconcile_repairs_drift_and_reports_it(aws, prov, local):
    ep = create(prov, ["order.completed"], maxConcurrency=4)
    res = resources_of(prov, ep.id)
    sqs = clients.client("sqs")
    bus.set_filter_policy(res.subscription_arn, {"event": ["user.registered"]})
    clients.client("sns").set_subscription_attributes(
        SubscriptionArn=res.subscription_arn, AttributeName="RawMessageDelivery", AttributeValue="false"
    )
    local.update(res.mapping_id, max_concurrency=50, enabled=False)
    sqs.set_queue_attributes(QueueUrl=res.queue_url, Attributes={"VisibilityTimeout": "5", "Policy": ""})
    sqs.delete_queue(QueueUrl=res.dlq_url)

    fixes = prov.reconcile()
    assert sorted(f.split(": ", 1)[1] for f in fixes) == sorted(
        [
            f"created queue {r.dead_letter_queue_name(aws.prefix, ep.id)}",
            f"reset Policy, VisibilityTimeout of queue {r.endpoint_queue_name(aws.prefix, ep.id)}",
            "reset subscription filter policy",
            "re-enabled raw message delivery",
            "set mapping enabled to True",
            "set mapping max_concurrency to 4",
        ]
    )
    after = resources_of(prov, ep.id)
    assert json.loads(queue_attributes(after.queue_url)["RedrivePolicy"])["deadLetterTargetArn"] == after.dlq_arn
    assert prov.reconcile() == []


def test_reconcile_recreates_missing_subscription_and_mapping(prov, local):
    ep = create(prov, ["order.completed"])
    res = resources_of(prov, ep.id)
    bus.unsubscribe(res.subscription_arn)
    local.delete(res.mapping_id)
    assert prov.reconcile(ep.id) == [
        f"{ep.id}: re-created missing subscription",
        f"{ep.id}: created event source mapping",
    ]
    after = resources_of(prov, ep.id)
    assert after.subscription_arn != res.subscription_arn and after.mapping_id != res.mapping_id
    assert subscription(after.subscription_arn)["RawMessageDelivery"] == "true"
    assert prov.reconcile(ep.id) == []


TLS_DENY = {
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "sqs:*",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def policy_statements(url: str) -> list[dict[str, Any]]:
    policy = queue_attributes(url).get("Policy")
    return json.loads(policy)["Statement"] if policy else []


def test_endpoint_queues_refuse_requests_not_made_over_tls(aws, prov):
    """The same aws:SecureTransport Deny cdk-nag demands of a stack's queues, on the queue and its
    DLQ; the topic's SendMessage on the queue stays allowed."""
    ep = create(prov, ["*"])
    res = resources_of(prov, ep.id)
    for url, arn in ((res.queue_url, res.queue_arn), (res.dlq_url, res.dlq_arn)):
        stmts = [{k: v for k, v in s.items() if k != "Sid"} for s in policy_statements(url)]
        assert {**TLS_DENY, "Resource": arn} in stmts, url
    allows = [s for s in policy_statements(res.queue_url) if s["Effect"] == "Allow"]
    assert [(s["Principal"], s["Action"], s["Condition"]) for s in allows] == [
        ({"Service": "sns.amazonaws.com"}, "sqs:SendMessage", {"ArnEquals": {"aws:SourceArn": aws.topic_arn}})
    ]
    assert not [s for s in policy_statements(res.dlq_url) if s["Effect"] == "Allow"]


def test_reconcile_adds_the_tls_deny_to_queues_made_by_older_versions(aws, prov):
    ep = create(prov, ["*"])
    res = resources_of(prov, ep.id)
    sqs = clients.client("sqs")
    older = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TopicDelivers",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": res.queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": aws.topic_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=res.queue_url, Attributes={"Policy": json.dumps(older)})
    sqs.set_queue_attributes(QueueUrl=res.dlq_url, Attributes={"Policy": ""})

    assert sorted(prov.reconcile()) == sorted(
        [
            f"{ep.id}: reset Policy of queue {r.dead_letter_queue_name(aws.prefix, ep.id)}",
            f"{ep.id}: reset Policy of queue {r.endpoint_queue_name(aws.prefix, ep.id)}",
        ]
    )
    for url in (res.queue_url, res.dlq_url):
        assert any(s["Effect"] == "Deny" for s in policy_statements(url)), url
    assert prov.reconcile() == []


def test_ensure_queue_is_idempotent(aws):
    first = queues.ensure_endpoint_queues(aws.prefix, "ep_x", aws.topic_arn)
    second = queues.ensure_endpoint_queues(aws.prefix, "ep_x", aws.topic_arn)
    assert second == (first[0], []) and len(first[1]) == 2
    queues.delete_endpoint_queues(aws.prefix, "ep_x")
    queues.delete_endpoint_queues(aws.prefix, "ep_x")
    assert all_queues() == []


# -- event-source adapters -------------------------------------------------------------

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:litestore-webhooks-ep_x"
M1, M2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:litestore-webhooks-delivery"


@pytest.fixture
def lambda_stub():
    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stub:
        yield event_sources.LambdaEventSources(client), stub
        stub.assert_no_pending_responses()


def test_a_rate_limited_endpoints_mapping_is_capped_at_its_max_concurrency(prov, local):
    """The rate limit's pacing (core/pacing.py) counts on the mapping running at most maxConcurrency
    deliveries: the cap is set on create and follows a change; a change of rateLimit alone leaves the
    mapping as it is (deliveries read the rate from the endpoint, per batch)."""
    ep = prov.create(
        prov.parse_spec(
            {
                "url": "https://hooks.example.com/in",
                "events": ["*"],
                "name": "paced",
                "rateLimit": 3,
                "maxConcurrency": 3,
            }
        )
    )
    mapping_id = resources_of(prov, ep.id).mapping_id
    assert local.get(mapping_id)["max_concurrency"] == 3
    assert prov.update(ep.id, {"rateLimit": 10}).rateLimit == 10
    assert local.get(mapping_id)["max_concurrency"] == 3
    prov.update(ep.id, {"maxConcurrency": 2})
    assert local.get(mapping_id)["max_concurrency"] == 2


def test_lambda_adapter_create_sends_the_exact_mapping(lambda_stub):
    adapter, stub = lambda_stub
    stub.add_response(
        "create_event_source_mapping",
        {"UUID": M1},
        {
            "EventSourceArn": QUEUE_ARN,
            "FunctionName": "litestore-webhooks-delivery",
            "Enabled": False,
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 0,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": 5},
        },
    )
    assert (
        adapter.create(
            QUEUE_ARN,
            "litestore-webhooks-delivery",
            batch_size=10,
            max_batching_window_s=0,
            max_concurrency=5,
            enabled=False,
        )
        == M1
    )


def test_lambda_adapter_update_sends_only_what_changed_and_waits_out_in_use(lambda_stub, monkeypatch):
    adapter, stub = lambda_stub
    monkeypatch.setattr(event_sources.time, "sleep", lambda s: None)
    stub.add_client_error("update_event_source_mapping", "ResourceInUseException")
    stub.add_response("update_event_source_mapping", {}, {"UUID": M1, "ScalingConfig": {"MaximumConcurrency": 3}})
    stub.add_response("update_event_source_mapping", {}, {"UUID": M1, "Enabled": True, "BatchSize": 5})
    adapter.update(M1, max_concurrency=3)
    adapter.update(M1, enabled=True, batch_size=5)
    adapter.update(M1)  # nothing to change: no call


def test_lambda_adapter_get_find_delete(lambda_stub):
    adapter, stub = lambda_stub
    stub.add_response(
        "get_event_source_mapping",
        {
            "UUID": M1,
            "EventSourceArn": QUEUE_ARN,
            "FunctionArn": FUNCTION_ARN,
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 0,
            "ScalingConfig": {"MaximumConcurrency": 5},
            "State": "Disabled",
        },
        {"UUID": M1},
    )
    stub.add_client_error("get_event_source_mapping", "ResourceNotFoundException", expected_params={"UUID": M2})
    stub.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": [{"UUID": M1}]},
        {"EventSourceArn": QUEUE_ARN, "FunctionName": "fn"},
    )
    stub.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": []},
        {"EventSourceArn": QUEUE_ARN, "FunctionName": "other"},
    )
    stub.add_response("delete_event_source_mapping", {}, {"UUID": M1})
    stub.add_client_error("delete_event_source_mapping", "ResourceNotFoundException", expected_params={"UUID": M1})

    assert adapter.get(M1) == {
        "id": M1,
        "queue_arn": QUEUE_ARN,
        "function": FUNCTION_ARN,
        "batch_size": 10,
        "max_batching_window_s": 0,
        "max_concurrency": 5,
        "enabled": False,
    }
    assert adapter.get(M2) is None
    assert adapter.find(QUEUE_ARN, "fn") == M1
    assert adapter.find(QUEUE_ARN, "other") is None
    adapter.delete(M1)
    adapter.delete(M1)  # already gone is fine


def test_local_registry_wakes_waiters_on_change(aws):
    local = event_sources.LocalEventSources()
    seen: list[int] = []
    start = local.version
    waiter = threading.Thread(target=lambda: seen.append(local.wait_for_change(start, timeout=5)))
    waiter.start()
    mid = local.create(QUEUE_ARN, "fn", batch_size=10, max_batching_window_s=0, max_concurrency=2, enabled=True)
    waiter.join(5)
    assert seen == [start + 1]
    local.update(mid, enabled=False)
    assert local.get(mid)["enabled"] is False and local.find(QUEUE_ARN, "fn") == mid
    local.delete(mid)
    assert local.mappings() == [] and local.get(mid) is None and local.version == start + 3
