"""REST API: API-key ingest routes, IAM (SigV4) admin routes, public docs and console files, and
console routes behind the console authorizer; one stage from context.

Who may call what (docs/architecture.md): the admin API is IAM-only at the gateway. The
console's browser sessions cannot sign SigV4, so the same admin routes are mounted for them
under /console/api with a Lambda REQUEST authorizer (no cache, so every call is checked; no
identity source, since a session travels as a cookie or a header) that admits only valid
console tokens; the admin function then holds each session to its scope. Anonymous callers
reach only the public routes: the API description and the console's static files.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.context import StackSettings
from infra.pipeline import acknowledge
from litestore_webhooks import resources as r

# Routes are shared with the local runtime's API emulator: one table, no drift.
ADMIN_ROUTES = r.ADMIN_ROUTES  # AWS_IAM authorization
INGEST_ROUTES = r.INGEST_ROUTES  # API key required (no authorizer)
PUBLIC_ROUTES = r.PUBLIC_ROUTES  # no authorization: docs and console files
CONSOLE_ROUTES = r.CONSOLE_ROUTES  # the console authorizer (CUSTOM)
# The gateway's own 401/403 in the API's one error shape, as the local emulator answers them.
GATEWAY_ERRORS = {
    apigw.ResponseType.UNAUTHORIZED: ("401", "unauthorized"),
    apigw.ResponseType.ACCESS_DENIED: ("403", "forbidden"),
}

# Every body is binary to API Gateway, so it reaches the functions base64-encoded, byte for
# byte: without this the gateway may transcode a body that is not valid UTF-8, and ingest
# must see (and refuse, with 400) exactly what was sent. JSON-schema body models are meant for
# text JSON payloads, so there are none: the ingest function enforces the envelope schema,
# MAX_EVENT_BYTES per event and MAX_BATCH_EVENTS per batch (it always did, in our error
# shape); the gateway checks only that a Content-Type header is present.
BINARY_MEDIA_TYPES = ["*/*"]


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        ingest: lambda_.IFunction,
        admin: lambda_.IFunction,
        console_authorizer: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=settings.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{settings.prefix}-api",
            description="Litestore webhooks: event ingest (API key) and admin (IAM)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            binary_media_types=BINARY_MEDIA_TYPES,
            cloud_watch_role=True,  # execution/access logging needs the account-level role
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=settings.stage_name,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
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
        acknowledge(
            api,
            "AwsSolutions-APIG2",
            "bodies are binary (binaryMediaTypes */*) and validated by the functions; the gateway "
            "validates request parameters (Content-Type on ingest)",
        )

        # --- ingest: API key + usage plan ----------------------------------------------------
        self.api_key = apigw.ApiKey(self, "ApiKey", description="Litestore event ingest key")
        self.usage_plan = api.add_usage_plan(
            "UsagePlan",
            name=f"{settings.prefix}-ingest",
            throttle=apigw.ThrottleSettings(
                rate_limit=settings.throttle_rate_limit,
                burst_limit=settings.throttle_burst_limit,
            ),
            api_stages=[apigw.UsagePlanPerApiStage(api=api, stage=self.stage)],
        )
        self.usage_plan.add_api_key(self.api_key)

        header_validator = api.add_request_validator(
            "BodyValidator",
            validate_request_body=False,
            validate_request_parameters=True,
        )  # construct id kept: renaming it would replace the validator resource for nothing
        ingest_integration = apigw.LambdaIntegration(ingest, allow_test_invoke=False)
        admin_integration = apigw.LambdaIntegration(admin, allow_test_invoke=False)

        self.methods: dict[tuple[str, str], apigw.Method] = {}
        for path, verb in INGEST_ROUTES:
            method = api.root.resource_for_path(path).add_method(
                verb,
                ingest_integration,
                api_key_required=True,
                authorization_type=apigw.AuthorizationType.NONE,
                request_validator=header_validator,
                request_parameters={"method.request.header.Content-Type": True},
            )
            acknowledge(
                method,
                "AwsSolutions-APIG4",
                "machine-to-machine ingest is authenticated by API key and throttled by the usage plan",
            )
            acknowledge(method, "AwsSolutions-COG4", "ingest callers are servers holding an API key, not Cognito users")
            self.methods[(path, verb)] = method
        for path, verb in ADMIN_ROUTES:
            method = api.root.resource_for_path(path).add_method(
                verb,
                admin_integration,
                authorization_type=apigw.AuthorizationType.IAM,
            )
            acknowledge(
                method, "AwsSolutions-COG4", "admin routes are authorized with IAM SigV4, not a Cognito user pool"
            )
            self.methods[(path, verb)] = method
        for path, verb in PUBLIC_ROUTES:
            method = api.root.resource_for_path(path).add_method(
                verb,
                admin_integration,
                authorization_type=apigw.AuthorizationType.NONE,
            )
            acknowledge(
                method,
                "AwsSolutions-APIG4",
                "public on purpose: the OpenAPI document, Swagger UI and the console's static files disclose "
                "nothing secret; the admin function serves only those on these routes",
            )
            acknowledge(method, "AwsSolutions-COG4", "public routes: no caller identity at all")
            self.methods[(path, verb)] = method
        self.console_authorizer = apigw.RequestAuthorizer(
            self,
            "ConsoleAuthorizer",
            handler=console_authorizer,
            identity_sources=[],  # a cookie or a header; allowed because nothing is cached
            results_cache_ttl=Duration.seconds(0),  # every call checked; a rotated key applies at once
            authorizer_name=f"{settings.prefix}-console",
        )
        for path, verb in CONSOLE_ROUTES:
            method = api.root.resource_for_path(path).add_method(
                verb,
                admin_integration,
                authorization_type=apigw.AuthorizationType.CUSTOM,
                authorizer=self.console_authorizer,
            )
            acknowledge(
                method,
                "AwsSolutions-COG4",
                "console sessions are portal tokens signed by the stack's key, checked by a Lambda authorizer",
            )
            self.methods[(path, verb)] = method
        for response_type, (status, code) in GATEWAY_ERRORS.items():
            api.add_gateway_response(
                f"{code.title()}Response",
                type=response_type,
                status_code=status,
                templates={
                    "application/json": f'{{"error":{{"code":"{code}","message":$context.error.messageString,"details":[]}}}}'
                },
            )

        acknowledge(
            self.stage,
            "AwsSolutions-APIG3",
            "WAF is optional: ingest is API-key throttled and admin is IAM-only; attach a WebACL if policy requires",
        )
        if api.node.try_find_child("CloudWatchRole"):
            acknowledge(
                api.node.find_child("CloudWatchRole"),
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                "AWS-managed policy scoped by AWS for the account-level API Gateway logging role",
            )

    @property
    def url(self) -> str:
        return self.rest_api.url
