"""The delivery pipeline: topic, tables, functions and their least-privilege IAM.

Everything is built from `litestore_webhooks.resources` (names, keys, TTL, GSIs, function
handlers/memory/timeouts), so the deployed stack and the local runtime cannot drift apart.
Per-endpoint SQS queues, their SNS subscriptions and their event source mappings are made
at run time by the admin function; IAM here confines that to the stack's name prefix, this
topic and the delivery function.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Aws, Duration, RemovalPolicy, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra import bundling
from infra.context import StackSettings
from infra.secrets_key import OPEN_ACTIONS, SEAL_ACTIONS, SecretsKey
from litestore_webhooks import resources as r

SERVICE_NAME = "litestore-webhooks"

TABLE_READ = [
    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
    "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
]
TABLE_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]

# Queue actions: the admin function manages endpoint queues (create/configure/delete, DLQ
# browsing and redrive, replay sends); the delivery function consumes, re-sends with a delay
# (retries) and dead-letters.
ADMIN_QUEUE_ACTIONS = [
    "sqs:CreateQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes", "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl", "sqs:TagQueue", "sqs:UntagQueue", "sqs:ListQueueTags", "sqs:PurgeQueue",
    "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
    "sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks", "sqs:CancelMessageMoveTask",
]
DELIVERY_QUEUE_ACTIONS = [
    "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
]
ADMIN_MAPPING_ACTIONS = [
    "lambda:UpdateEventSourceMapping",
    "lambda:DeleteEventSourceMapping", "lambda:GetEventSourceMapping",
]
DELIVERY_MAPPING_ACTIONS = ["lambda:UpdateEventSourceMapping", "lambda:GetEventSourceMapping"]


def queue_arn_pattern(prefix: str) -> str:
    """arn:<partition>:sqs:<region>:<account>:<prefix>-ep_* — every endpoint queue and DLQ."""
    return f"arn:{Aws.PARTITION}:sqs:{Aws.REGION}:{Aws.ACCOUNT_ID}:{r.endpoint_queue_pattern(prefix)}"


def function_arn(function: r.Function, prefix: str) -> str:
    """Built from the name (not a GetAtt) so a function can carry its own ARN in its env."""
    return f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:{function.name(prefix)}"


def mapping_arn_pattern() -> str:
    return f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:event-source-mapping:*"


def acknowledge(scope: Construct, rule: str, reason: str) -> None:
    """One cdk-nag finding acknowledged on one construct, with its reason."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


class Pipeline(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        prefix = settings.prefix
        self.settings = settings
        self.queue_arn_pattern = queue_arn_pattern(prefix)
        self.delivery_function_arn = function_arn(r.DELIVERY_FUNCTION, prefix)

        # --- SNS topic: SSL only, encrypted with the AWS managed SNS key ---------------------
        self.topic = sns.Topic(
            self, "Topic",
            topic_name=r.topic_name(prefix),
            enforce_ssl=True,
            master_key=kms.Alias.from_alias_name(self, "SnsManagedKey", "alias/aws/sns"),
        )

        # --- DynamoDB tables -----------------------------------------------------------------
        self.tables: dict[str, dynamodb.Table] = {}
        for spec in r.TABLES:
            self.tables[spec.construct_id] = self._table(spec)

        # --- KMS key sealing endpoint secrets (kept with the endpoints table) -----------------
        self.secrets_key = SecretsKey(
            self, "SecretsKey", prefix=prefix,
            retain=r.ENDPOINTS_TABLE.retain_by_default and not settings.destroy_data,
        )

        # --- Functions -----------------------------------------------------------------------
        code = self.code = bundling.lambda_code()  # one asset, shared by every function
        env = {
            "LSW_PREFIX": prefix,
            "LSW_TOPIC_ARN": self.topic.topic_arn,
            r.SECRETS_KEY_ENV: self.secrets_key.key_arn,
            **{spec.env_var: self.tables[spec.construct_id].table_name for spec in r.TABLES},
            "LSW_DELIVERY_FUNCTION": self.delivery_function_arn,
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": r.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": settings.log_level,
        }
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
            self, spec.construct_id,
            table_name=spec.name(self.settings.prefix),
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=(
                dynamodb.Attribute(name=spec.sort_key, type=dynamodb.AttributeType.STRING)
                if spec.sort_key else None
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
                    if index.sort_key else None
                ),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        if not spec.point_in_time_recovery:
            acknowledge(
                table, "AwsSolutions-DDB3",
                f"{spec.suffix} holds TTL-expiring, re-creatable data; resources.py opts it out of PITR",
            )
        return table

    def _function(self, spec: r.Function, code: lambda_.Code, env: dict[str, str]) -> lambda_.Function:
        name = spec.name(self.settings.prefix)
        role = iam.Role(
            self, f"{spec.construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{name}: least-privilege execution role",
        )
        log_group = logs.LogGroup(
            self, f"{spec.construct_id}Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=self.settings.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        fn = lambda_.Function(
            self, spec.construct_id,
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
        )
        # tracing=ACTIVE adds xray:PutTraceSegments/PutTelemetryRecords on "*".
        acknowledge(
            role, "AwsSolutions-IAM5[Resource::*]",
            "X-Ray trace writes and list/describe calls without resource-level permissions need '*'",
        )
        self.roles[spec.construct_id] = role
        return fn

    def _grant_table(self, role: iam.Role, spec: r.Table, *, write: bool) -> None:
        table = self.tables[spec.construct_id]
        resources = [table.table_arn, *(f"{table.table_arn}/index/{ix.name}" for ix in spec.indexes)]
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=TABLE_READ + (TABLE_WRITE if write else []), resources=resources,
        ))

    def _publish_statement(self) -> iam.PolicyStatement:
        # Not topic.grant_publish(): that would add kms:GenerateDataKey*/Decrypt on key/*, which
        # the AWS managed SNS key does not need (its key policy admits callers via SNS).
        return iam.PolicyStatement(actions=["sns:Publish"], resources=[self.topic.topic_arn])

    def _queue_statement(self, actions: list[str]) -> iam.PolicyStatement:
        return iam.PolicyStatement(actions=actions, resources=[self.queue_arn_pattern])

    def _mapping_statement(self, actions: list[str]) -> iam.PolicyStatement:
        """Event source mapping calls, only for mappings that point at the delivery function."""
        return iam.PolicyStatement(
            actions=actions,
            resources=[mapping_arn_pattern()],
            conditions={"StringEquals": {"lambda:FunctionArn": self.delivery_function_arn}},
        )

    def _ack_queue_pattern(self, role: iam.Role) -> None:
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:"
            f"{r.endpoint_queue_pattern(self.settings.prefix)}]",
            "per-endpoint queues are created at run time; the wildcard is confined to the stack prefix",
        )

    def _ack_mapping_pattern(self, role: iam.Role) -> None:
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
        self._grant_table(role, r.IDEMPOTENCY_TABLE, write=True)
        self._grant_table(role, r.EVENTS_TABLE, write=True)

    def _grant_delivery(self) -> None:
        role = self.roles[r.DELIVERY_FUNCTION.construct_id]
        for spec in r.TABLES:
            self._grant_table(role, spec, write=True)
        role.add_to_principal_policy(self._queue_statement(DELIVERY_QUEUE_ACTIONS))
        role.add_to_principal_policy(self._mapping_statement(DELIVERY_MAPPING_ACTIONS))
        # ListEventSourceMappings has no resource-level permissions (finding its own mapping).
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["lambda:ListEventSourceMappings"], resources=["*"],
        ))
        self._ack_queue_pattern(role)
        self._ack_mapping_pattern(role)

    def _grant_admin(self) -> None:
        role = self.roles[r.ADMIN_FUNCTION.construct_id]
        for spec in r.TABLES:
            self._grant_table(role, spec, write=True)
        role.add_to_principal_policy(self._publish_statement())  # replay through the topic
        role.add_to_principal_policy(self._queue_statement(ADMIN_QUEUE_ACTIONS))
        # Subscribe: only this topic, only SQS, only endpoint queues under the prefix.
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sns:Subscribe"],
            resources=[self.topic.topic_arn],
            conditions={
                "StringEquals": {"sns:Protocol": "sqs"},
                "StringLike": {"sns:Endpoint": self.queue_arn_pattern},
            },
        ))
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sns:ListSubscriptionsByTopic", "sns:GetTopicAttributes"],
            resources=[self.topic.topic_arn],
        ))
        # Subscription-level calls have no resource-level permissions in IAM.
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sns:Unsubscribe", "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes"],
            resources=["*"],
        ))
        role.add_to_principal_policy(self._mapping_statement(ADMIN_MAPPING_ACTIONS))
        # CreateEventSourceMapping has no resource type: the condition is the only scope.
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["lambda:CreateEventSourceMapping"],
            resources=["*"],
            conditions={"StringEquals": {"lambda:FunctionArn": self.delivery_function_arn}},
        ))
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["lambda:ListEventSourceMappings", "sqs:ListQueues"], resources=["*"],
        ))
        self._ack_queue_pattern(role)
        self._ack_mapping_pattern(role)
