"""The delivery pipeline: topic, tables, functions and their least-privilege IAM.

Everything is built from `litestore_webhooks.resources` (names, keys, TTL, GSIs, function
handlers/memory/timeouts), so the deployed stack and the local runtime cannot drift apart.
Per-endpoint SQS queues, their SNS subscriptions and their event source mappings are made
at run time by the admin function; IAM here confines that to the stack's name prefix, this
topic and the delivery function.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Aws, Duration, RemovalPolicy, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct, IConstruct

from infra import bundling
from infra.context import StackSettings
from infra.egress import StaticEgress
from infra.secrets_key import OPEN_ACTIONS, SEAL_ACTIONS, SecretsKey
from litestore_webhooks import resources as r

SERVICE_NAME = "litestore-webhooks"

# What each function's code calls, and nothing more: tests/test_iam_conformance.py records every
# AWS call of an end-to-end run per function and fails on a call these do not allow or a grant
# no call used. Add an action here in the same change as the code that calls it.


@dataclass(frozen=True)
class TableAccess:
    """Actions on one table; `index_queries` names the GSIs the function queries."""

    table: r.Table
    actions: tuple[str, ...]
    index_queries: tuple[str, ...] = ()


INGEST_TABLES = (
    # claim (conditional put), release after a failed publish, confirm (25 per batch write)
    TableAccess(r.IDEMPOTENCY_TABLE, ("dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")),
    TableAccess(r.EVENTS_TABLE, ("dynamodb:BatchWriteItem",)),
    # the catalog's stamp per request (GetItem), its types after a change (Query)
    TableAccess(r.EVENT_TYPES_TABLE, ("dynamodb:GetItem", "dynamodb:Query")),
)
# With acceptUnknownEventTypes, ingest records a type on first sight: type, version, stamp in one transaction.
INGEST_FIRST_SIGHT = TableAccess(r.EVENT_TYPES_TABLE, ("dynamodb:PutItem", "dynamodb:UpdateItem"))
DELIVERY_TABLES = (
    # load the endpoint; failure streak and auto-pause
    TableAccess(r.ENDPOINTS_TABLE, ("dynamodb:GetItem", "dynamodb:UpdateItem")),
    # delivered markers: read per batch, written per 2xx (a failed write rides in the attempt-log batch)
    TableAccess(r.IDEMPOTENCY_TABLE, ("dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem")),
    TableAccess(r.ATTEMPTS_TABLE, ("dynamodb:BatchWriteItem",)),
    TableAccess(r.EVENTS_TABLE, ("dynamodb:BatchWriteItem",)),  # operational events are stored like any other
)
ADMIN_TABLES = (
    TableAccess(
        r.ENDPOINTS_TABLE,
        ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan"),
    ),
    # Idempotency-Key claims; delivered markers cleared for resend and replay
    TableAccess(
        r.IDEMPOTENCY_TABLE,
        (
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
        ),
    ),
    # show; replay by day; store operational events
    TableAccess(r.EVENTS_TABLE, ("dynamodb:GetItem", "dynamodb:BatchWriteItem"), index_queries=("byDay",)),
    TableAccess(r.ATTEMPTS_TABLE, ("dynamodb:Query", "dynamodb:BatchWriteItem"), index_queries=("byEvent",)),
    # the catalog: read (stamp, types, history); written in transactions (type, version, stamp, tombstone);
    # a deleted type's history removed in batches
    TableAccess(
        r.EVENT_TYPES_TABLE,
        (
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
        ),
    ),
)
# The deploy-time seed (infra/catalog_seed.py): reads the types and tombstones, writes missing seeded types.
SEED_TABLES = (TableAccess(r.EVENT_TYPES_TABLE, ("dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem")),)

# Queue actions. The admin function manages endpoint queues, sends to them (redrive, resend,
# replay) and browses and purges dead-letter queues; delivery re-sends with a delay (retries) and
# dead-letters, and its event source mapping receives and deletes with its role.
ADMIN_QUEUE_ACTIONS = [
    "sqs:CreateQueue",
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
    "sqs:DeleteQueue",
    "sqs:SendMessage",
]
ADMIN_DEAD_LETTER_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:PurgeQueue"]
DELIVERY_QUEUE_ACTIONS = [
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",  # what an SQS event source mapping needs
]
# Event source mappings of the delivery function only (lambda:FunctionArn). GetEventSourceMapping
# is granted without that condition: the Service Authorization Reference lists the key for it,
# the Lambda developer guide does not, and a condition on a key IAM leaves out of the request
# context denies. Reading a mapping's configuration is all it allows.
ADMIN_MAPPING_ACTIONS = ["lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping"]
DELIVERY_MAPPING_ACTIONS = ["lambda:UpdateEventSourceMapping"]  # auto-pause


def queue_arn_pattern(prefix: str) -> str:
    """arn:<partition>:sqs:<region>:<account>:<prefix>-ep_* — every endpoint queue and DLQ."""
    return f"arn:{Aws.PARTITION}:sqs:{Aws.REGION}:{Aws.ACCOUNT_ID}:{r.endpoint_queue_pattern(prefix)}"


def function_arn(function: r.Function, prefix: str) -> str:
    """Built from the name (not a GetAtt) so a function can carry its own ARN in its env."""
    return f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:{function.name(prefix)}"


def dead_letter_queue_arn_pattern(prefix: str) -> str:
    """arn:...:<prefix>-ep_*-dlq — every endpoint's dead-letter queue."""
    return f"arn:{Aws.PARTITION}:sqs:{Aws.REGION}:{Aws.ACCOUNT_ID}:{r.dead_letter_queue_pattern(prefix)}"


def mapping_arn_pattern() -> str:
    return f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:event-source-mapping:*"


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """One cdk-nag finding acknowledged on one construct, with its reason."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


class Pipeline(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        prefix = settings.prefix
        self.settings = settings
        self.queue_arn_pattern = queue_arn_pattern(prefix)
        self.dead_letter_queue_arn_pattern = dead_letter_queue_arn_pattern(prefix)
        self.delivery_function_arn = function_arn(r.DELIVERY_FUNCTION, prefix)

        # --- SNS topic: SSL only, encrypted with the AWS managed SNS key ---------------------
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=r.topic_name(prefix),
            enforce_ssl=True,
            master_key=kms.Alias.from_alias_name(self, "SnsManagedKey", "alias/aws/sns"),
        )

        # --- DynamoDB tables -----------------------------------------------------------------
        self.tables: dict[str, dynamodb.Table] = {}
        for table in r.TABLES:
            self.tables[table.construct_id] = self._table(table)

        # --- KMS key sealing endpoint secrets (kept with the endpoints table) -----------------
        self.secrets_key = SecretsKey(
            self,
            "SecretsKey",
            prefix=prefix,
            retain=r.ENDPOINTS_TABLE.retain_by_default and not settings.destroy_data,
        )

        # --- Functions -----------------------------------------------------------------------
        code = self.code = bundling.lambda_code()  # one asset, shared by every function
        env = {
            "LSW_PREFIX": prefix,
            "LSW_TOPIC_ARN": self.topic.topic_arn,
            r.SECRETS_KEY_ENV: self.secrets_key.key_arn,
            **{t.env_var: self.tables[t.construct_id].table_name for t in r.TABLES},
            "LSW_DELIVERY_FUNCTION": self.delivery_function_arn,
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": r.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": settings.log_level,
            **({r.ACCEPT_UNKNOWN_ENV: "1"} if settings.accept_unknown_event_types else {}),
        }
        # --- Static egress IPs (off by default): the delivery function in a VPC of its own ----
        self.egress = (
            StaticEgress(self, "Egress", zones=settings.static_egress_zones) if settings.static_egress_ips else None
        )

        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        for spec in r.FUNCTIONS:
            self.functions[spec.construct_id] = self._function(spec, code, env)

        self._grant_ingest()
        self._grant_delivery()
        self._grant_admin()
        # The secrets key, in one place: admin seals (create, rotate) and opens (show, test send);
        # delivery only opens; ingest never touches it.
        self.secrets_key.grant(self.roles[r.ADMIN_FUNCTION.construct_id], SEAL_ACTIONS)
        self.secrets_key.grant(self.roles[r.DELIVERY_FUNCTION.construct_id], OPEN_ACTIONS)

    # -- builders ------------------------------------------------------------------------------
    def _table(self, spec: r.Table) -> dynamodb.Table:
        retain = spec.retain_by_default and not self.settings.destroy_data
        table = dynamodb.Table(
            self,
            spec.construct_id,
            table_name=spec.name(self.settings.prefix),
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=(
                dynamodb.Attribute(name=spec.sort_key, type=dynamodb.AttributeType.STRING) if spec.sort_key else None
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=spec.ttl_attribute,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=spec.point_in_time_recovery,
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.partition_key, type=dynamodb.AttributeType.STRING),
                sort_key=(
                    dynamodb.Attribute(name=index.sort_key, type=dynamodb.AttributeType.STRING)
                    if index.sort_key
                    else None
                ),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        if not spec.point_in_time_recovery:
            acknowledge(
                table,
                "AwsSolutions-DDB3",
                f"{spec.suffix} holds TTL-expiring, re-creatable data; resources.py opts it out of PITR",
            )
        return table

    def _function(self, spec: r.Function, code: lambda_.Code, env: dict[str, str]) -> lambda_.Function:
        name = spec.name(self.settings.prefix)
        role = iam.Role(
            self,
            f"{spec.construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{name}: least-privilege execution role",
        )
        log_group = logs.LogGroup(
            self,
            f"{spec.construct_id}Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=self.settings.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        fn = lambda_.Function(
            self,
            spec.construct_id,
            function_name=name,
            description=spec.description,
            runtime=bundling.RUNTIME,
            architecture=bundling.ARCHITECTURE,
            handler=spec.handler,
            code=code,
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            environment=env,
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=self.settings.reserved_concurrency(spec),
            **self._network(spec, role),
        )
        # tracing=ACTIVE adds xray:PutTraceSegments/PutTelemetryRecords on "*"; static egress adds
        # the network-interface actions Lambda calls with the delivery role (infra/egress.py).
        in_vpc = self.egress is not None and spec is r.DELIVERY_FUNCTION
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray trace writes and list/describe calls without resource-level permissions need '*'"
            + (
                "; so do the VPC network-interface calls Lambda makes with this role (AWSLambdaVPCAccessExecutionRole's"
                " actions)"
                if in_vpc
                else ""
            ),
        )
        self.roles[spec.construct_id] = role
        return fn

    def _network(self, spec: r.Function, role: iam.Role) -> dict:
        """VPC settings for the delivery function when static egress IPs are on; none otherwise."""
        if self.egress is None or spec is not r.DELIVERY_FUNCTION:
            return {}
        self.egress.grant_network_interfaces(role)  # before the function: Lambda checks them on create
        return {
            "vpc": self.egress.vpc,
            "vpc_subnets": self.egress.subnets,
            "security_groups": [self.egress.security_group],
            "allow_public_subnet": False,
        }

    def grant_tables(self, role: iam.Role, access: tuple[TableAccess, ...]) -> None:
        for grant in access:
            table = self.tables[grant.table.construct_id]
            role.add_to_principal_policy(iam.PolicyStatement(actions=list(grant.actions), resources=[table.table_arn]))
            if grant.index_queries:
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        actions=["dynamodb:Query"],
                        resources=[f"{table.table_arn}/index/{name}" for name in grant.index_queries],
                    )
                )

    def _publish_statement(self) -> iam.PolicyStatement:
        # Not topic.grant_publish(): that would add kms:GenerateDataKey*/Decrypt on key/*, which
        # the AWS managed SNS key does not need (its key policy admits callers via SNS).
        return iam.PolicyStatement(actions=["sns:Publish"], resources=[self.topic.topic_arn])

    def _queue_statement(self, actions: list[str], *, dead_letter_queues_only: bool = False) -> iam.PolicyStatement:
        pattern = self.dead_letter_queue_arn_pattern if dead_letter_queues_only else self.queue_arn_pattern
        return iam.PolicyStatement(actions=actions, resources=[pattern])

    def mapping_statement(self, actions: list[str]) -> iam.PolicyStatement:
        """Event source mapping calls, only for mappings that point at the delivery function."""
        return iam.PolicyStatement(
            actions=actions,
            resources=[mapping_arn_pattern()],
            conditions={"StringEquals": {"lambda:FunctionArn": self.delivery_function_arn}},
        )

    def ack_queue_patterns(self, role: iam.Role) -> None:
        for pattern in (
            r.endpoint_queue_pattern(self.settings.prefix),
            r.dead_letter_queue_pattern(self.settings.prefix),
        ):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:{pattern}]",
                "per-endpoint queues are created at run time; the wildcard is confined to the stack prefix",
            )

    def ack_mapping_pattern(self, role: iam.Role) -> None:
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:"
            "event-source-mapping:*]",
            "mapping ids are assigned at run time; lambda:FunctionArn pins them to the delivery function",
        )

    # -- grants --------------------------------------------------------------------------------
    def _grant_ingest(self) -> None:
        role = self.roles[r.INGEST_FUNCTION.construct_id]
        role.add_to_principal_policy(self._publish_statement())
        self.grant_tables(role, INGEST_TABLES)
        if self.settings.accept_unknown_event_types:
            self.grant_tables(role, (INGEST_FIRST_SIGHT,))

    def _grant_delivery(self) -> None:
        role = self.roles[r.DELIVERY_FUNCTION.construct_id]
        self.grant_tables(role, DELIVERY_TABLES)
        role.add_to_principal_policy(self._publish_statement())  # operational events (operational.py)
        role.add_to_principal_policy(self._queue_statement(DELIVERY_QUEUE_ACTIONS))
        role.add_to_principal_policy(self.mapping_statement(DELIVERY_MAPPING_ACTIONS))
        self.ack_queue_patterns(role)
        self.ack_mapping_pattern(role)

    def _grant_admin(self) -> None:
        role = self.roles[r.ADMIN_FUNCTION.construct_id]
        self.grant_tables(role, ADMIN_TABLES)
        role.add_to_principal_policy(self._publish_statement())  # operational events (operational.py)
        role.add_to_principal_policy(self._queue_statement(ADMIN_QUEUE_ACTIONS))
        role.add_to_principal_policy(self._queue_statement(ADMIN_DEAD_LETTER_ACTIONS, dead_letter_queues_only=True))
        # Subscribe: only this topic, only SQS, only endpoint queues under the prefix.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sns:Subscribe"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"sns:Protocol": "sqs"},
                    "StringLike": {"sns:Endpoint": self.queue_arn_pattern},
                },
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sns:ListSubscriptionsByTopic"],
                resources=[self.topic.topic_arn],  # repairs: find by queue
            )
        )
        # Subscription-level calls have no resource-level permissions in IAM.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sns:Unsubscribe", "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes"],
                resources=["*"],
            )
        )
        role.add_to_principal_policy(self.mapping_statement(ADMIN_MAPPING_ACTIONS))
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["lambda:GetEventSourceMapping"],
                resources=[mapping_arn_pattern()],
            )
        )
        # CreateEventSourceMapping has no resource type: the condition is the only scope.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["lambda:CreateEventSourceMapping"],
                resources=["*"],
                conditions={"StringEquals": {"lambda:FunctionArn": self.delivery_function_arn}},
            )
        )
        # No resource-level permissions (finding a mapping by queue).
        role.add_to_principal_policy(iam.PolicyStatement(actions=["lambda:ListEventSourceMappings"], resources=["*"]))
        self.ack_queue_patterns(role)
        self.ack_mapping_pattern(role)
