"""REST API: API-key ingest routes and IAM (SigV4) admin routes, one stage from context."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.context import StackSettings
from infra.pipeline import acknowledge
from litestore_webhooks import resources as r

# Admin routes: (path, HTTP method). All use AWS_IAM authorization.
ADMIN_ROUTES: tuple[tuple[str, str], ...] = (
    ("/endpoints", "ANY"),
    ("/endpoints/{proxy+}", "ANY"),
    ("/events/{id}", "GET"),
    ("/events/{id}/{proxy+}", "ANY"),
    ("/event-types", "GET"),
    ("/dead-letters", "ANY"),
    ("/dead-letters/{proxy+}", "ANY"),
    ("/openapi.json", "GET"),
    ("/docs", "GET"),
)
# Ingest routes: API key required (no authorizer).
INGEST_ROUTES: tuple[tuple[str, str], ...] = (("/events", "POST"), ("/events/batch", "POST"))

EVENT_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="Event",
    type=apigw.JsonSchemaType.OBJECT,
    min_properties=1,
)
# The gateway checks only the outer shape; the ingest function enforces the envelope schema,
# MAX_EVENT_BYTES per event and MAX_BATCH_EVENTS per batch (API Gateway cannot cap body size
# below its own 10 MB limit).
BATCH_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="EventBatch",
    type=[apigw.JsonSchemaType.OBJECT, apigw.JsonSchemaType.ARRAY],
    max_items=r.MAX_BATCH_EVENTS,
)


class Api(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings,
        ingest: lambda_.IFunction, admin: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=settings.log_retention, removal_policy=RemovalPolicy.DESTROY,
        )
        self.rest_api = apigw.RestApi(
            self, "RestApi",
            rest_api_name=f"{settings.prefix}-api",
            description="Litestore webhooks: event ingest (API key) and admin (IAM)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,  # execution/access logging needs the account-level role
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=settings.stage_name,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=True,
                ),
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                tracing_enabled=True,
                throttling_rate_limit=settings.throttle_rate_limit,
                throttling_burst_limit=settings.throttle_burst_limit,
            ),
        )
        api = self.rest_api
        self.stage = api.deployment_stage

        # --- ingest: API key + usage plan ----------------------------------------------------
        self.api_key = apigw.ApiKey(self, "ApiKey", description="Litestore event ingest key")
        self.usage_plan = api.add_usage_plan(
            "UsagePlan",
            name=f"{settings.prefix}-ingest",
            throttle=apigw.ThrottleSettings(
                rate_limit=settings.throttle_rate_limit, burst_limit=settings.throttle_burst_limit,
            ),
            api_stages=[apigw.UsagePlanPerApiStage(api=api, stage=self.stage)],
        )
        self.usage_plan.add_api_key(self.api_key)

        body_validator = api.add_request_validator(
            "BodyValidator", validate_request_body=True, validate_request_parameters=True,
        )
        models = {
            "/events": api.add_model("EventModel", content_type="application/json", schema=EVENT_SCHEMA),
            "/events/batch": api.add_model("EventBatchModel", content_type="application/json", schema=BATCH_SCHEMA),
        }
        ingest_integration = apigw.LambdaIntegration(ingest, allow_test_invoke=False)
        admin_integration = apigw.LambdaIntegration(admin, allow_test_invoke=False)

        self.methods: dict[tuple[str, str], apigw.Method] = {}
        for path, verb in INGEST_ROUTES:
            method = api.root.resource_for_path(path).add_method(
                verb, ingest_integration,
                api_key_required=True,
                authorization_type=apigw.AuthorizationType.NONE,
                request_validator=body_validator,
                request_models={"application/json": models[path]},
                request_parameters={"method.request.header.Content-Type": True},
            )
            acknowledge(method, "AwsSolutions-APIG4",
                        "machine-to-machine ingest is authenticated by API key and throttled by the usage plan")
            acknowledge(method, "AwsSolutions-COG4",
                        "ingest callers are servers holding an API key, not Cognito users")
            self.methods[(path, verb)] = method
        for path, verb in ADMIN_ROUTES:
            method = api.root.resource_for_path(path).add_method(
                verb, admin_integration, authorization_type=apigw.AuthorizationType.IAM,
            )
            acknowledge(method, "AwsSolutions-COG4",
                        "admin routes are authorized with IAM SigV4, not a Cognito user pool")
            self.methods[(path, verb)] = method

        acknowledge(self.stage, "AwsSolutions-APIG3",
                    "WAF is optional: ingest is API-key throttled and admin is IAM-only; attach a WebACL if policy requires")
        if api.node.try_find_child("CloudWatchRole"):
            acknowledge(
                api.node.find_child("CloudWatchRole"),
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                "AWS-managed policy scoped by AWS for the account-level API Gateway logging role",
            )

    @property
    def url(self) -> str:
        return self.rest_api.url
