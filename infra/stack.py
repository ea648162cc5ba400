"""LitestoreWebhooksStack: pipeline + API + console key + observability + clean-destroy and catalog-seed custom resources."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.api import Api
from infra.catalog_seed import CatalogSeed
from infra.cleanup import RuntimeResourceCleanup
from infra.console import ConsoleKey
from infra.context import StackSettings
from infra.observability import Observability
from infra.pipeline import Pipeline
from litestore_webhooks import resources as r


class LitestoreWebhooksStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings | None = None, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings or StackSettings.from_context(self.node)

        self.pipeline = Pipeline(self, "Pipeline", settings=self.settings)
        self.api = Api(
            self,
            "Api",
            settings=self.settings,
            ingest=self.pipeline.functions[r.INGEST_FUNCTION.construct_id],
            admin=self.pipeline.functions[r.ADMIN_FUNCTION.construct_id],
            console_authorizer=self.pipeline.functions[r.CONSOLE_AUTHORIZER_FUNCTION.construct_id],
        )
        self.console_key = ConsoleKey(
            self,
            "ConsoleKey",
            settings=self.settings,
            admin=self.pipeline.functions[r.ADMIN_FUNCTION.construct_id],
            authorizer=self.pipeline.functions[r.CONSOLE_AUTHORIZER_FUNCTION.construct_id],
        )
        self.observability = Observability(
            self, "Observability", settings=self.settings, pipeline=self.pipeline, api=self.api
        )
        self.cleanup = RuntimeResourceCleanup(self, "RuntimeCleanup", pipeline=self.pipeline)
        self.catalog_seed = CatalogSeed(self, "CatalogSeed", pipeline=self.pipeline)

        CfnOutput(self, "ApiUrl", value=self.api.url, description="Base URL of the REST API stage")
        rest_api = self.api.rest_api
        CfnOutput(
            self,
            "AdminApiArn",
            value=rest_api.arn_for_execute_api("*", "/*", rest_api.deployment_stage.stage_name),
            description="execute-api:Invoke resource for IAM policies on the admin routes (ingest uses the API key)",
        )
        CfnOutput(
            self,
            "ApiKeyId",
            value=self.api.api_key.key_id,
            description="aws apigateway get-api-key --api-key <ApiKeyId> --include-value --query value --output text",
        )
        CfnOutput(
            self,
            "ConsoleUrl",
            value=f"{self.api.url}console",
            description="The web console; open it with a link: litestore-webhooks --stack <name> console",
        )
        CfnOutput(self, "DashboardUrl", value=self.observability.dashboard_url, description="CloudWatch dashboard")
        CfnOutput(self, "TopicArn", value=self.pipeline.topic.topic_arn, description="Event topic")
        if self.pipeline.egress is not None:
            self.pipeline.egress.outputs(self)
        for spec in r.TABLES:
            CfnOutput(
                self,
                f"{spec.construct_id}Name",
                value=self.pipeline.tables[spec.construct_id].table_name,
                description=f"DynamoDB table ({spec.suffix})",
            )
