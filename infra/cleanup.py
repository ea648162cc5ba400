"""Clean destroy: a custom resource whose Delete removes what the admin function made at run time.

The per-endpoint queues, their topic subscriptions and their event source mappings are not
CloudFormation resources, so `cdk destroy` would leave them behind. The custom resource
references the topic and the delivery function, so CloudFormation deletes it (and runs the
cleanup) BEFORE it deletes them. The handler answers CloudFormation itself (no provider
framework function): functions/litestore_webhooks/handlers/cleanup.py.
"""

from __future__ import annotations

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import bundling
from infra.pipeline import Pipeline, acknowledge
from litestore_webhooks import resources as r

HANDLER = "litestore_webhooks.handlers.cleanup.handler"
TIMEOUT = Duration.minutes(10)
# How long CloudFormation waits for the answer (without it: an hour). The handler answers
# before its own timeout; this only matters when the function dies without answering.
SERVICE_TIMEOUT = Duration.seconds(TIMEOUT.to_seconds() + 60)


def custom_resource_function(
    scope: Construct, pipeline: Pipeline, role: iam.Role, *, handler: str, description: str, timeout: Duration
) -> lambda_.Function:
    """The function behind one of the stack's custom resources: the shared code asset, its own role
    and log group (ids "Logs" and "Function" under `scope`)."""
    log_group = logs.LogGroup(
        scope,
        "Logs",
        retention=pipeline.settings.log_retention,
        removal_policy=RemovalPolicy.DESTROY,
    )
    return lambda_.Function(
        scope,
        "Function",
        description=description,
        runtime=bundling.RUNTIME,
        architecture=bundling.ARCHITECTURE,
        handler=handler,
        code=pipeline.code,
        memory_size=256,
        timeout=timeout,
        role=role,
        log_group=log_group,
    )


class RuntimeResourceCleanup(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, pipeline: Pipeline) -> None:
        super().__init__(scope, construct_id)
        settings = pipeline.settings
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Removes run-time queues, subscriptions and mappings on stack delete",
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sns:ListSubscriptionsByTopic"],
                resources=[pipeline.topic.topic_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sqs:DeleteQueue"],
                resources=[pipeline.queue_arn_pattern],
            )
        )
        role.add_to_principal_policy(pipeline.mapping_statement(["lambda:DeleteEventSourceMapping"]))
        # No resource-level permissions for these list calls / subscription deletes.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sns:Unsubscribe", "lambda:ListEventSourceMappings", "sqs:ListQueues"],
                resources=["*"],
            )
        )
        acknowledge(
            role, "AwsSolutions-IAM5[Resource::*]", "Unsubscribe and the list calls have no resource-level permissions"
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:"
            f"{r.endpoint_queue_pattern(settings.prefix)}]",
            "per-endpoint queues are created at run time; the wildcard is confined to the stack prefix",
        )
        pipeline.ack_mapping_pattern(role)

        self.function = custom_resource_function(
            self,
            pipeline,
            role,
            handler=HANDLER,
            timeout=TIMEOUT,
            description="Stack-delete cleanup of run-time endpoint queues, subscriptions, mappings",
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type="Custom::LitestoreRuntimeCleanup",
            service_timeout=SERVICE_TIMEOUT,
            properties={
                "Prefix": settings.prefix,
                "TopicArn": pipeline.topic.topic_arn,
                "DeliveryFunctionArn": pipeline.delivery_function_arn,
            },
            removal_policy=RemovalPolicy.DESTROY,
        )
        # DeliveryFunctionArn is built from the name, so make the ordering explicit: the
        # cleanup runs before the delivery function (and the tables it reads) are deleted.
        for fn in pipeline.functions.values():
            self.resource.node.add_dependency(fn)
