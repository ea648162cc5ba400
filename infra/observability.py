"""One dashboard (named after the stack) and the alarms, all to one alarm topic.

Delivery metrics come from the functions' Powertools EMF output (namespace
resources.METRICS_NAMESPACE). Each delivery metric is emitted twice: with dimensions
{service} (aggregate: alarms, totals) and {service, endpoint} (per-endpoint lines, drawn
with SEARCH). Endpoint queues are created at run time, so their SQS metrics are read with
Metrics Insights queries over the stack's queue-name prefix.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from infra.api import Api
from infra.context import StackSettings
from infra.pipeline import SERVICE_NAME, Pipeline
from litestore_webhooks import resources as r

FIVE_MINUTES = Duration.minutes(5)
DELIVERY_COUNTS = ("Delivered", "Failed", "Retried", "DeadLettered")
PERCENTILES = ("p50", "p90", "p99")


def service_metric(name: str, *, statistic: str = "Sum", period: Duration = FIVE_MINUTES) -> cw.Metric:
    """The aggregate series: dimensions {service}."""
    return cw.Metric(
        namespace=r.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic=statistic,
        period=period,
        label=f"{name} ({statistic})",
    )


def per_endpoint_search(name: str, statistic: str = "Sum") -> str:
    """SEARCH over the {service, endpoint} series of one metric: one line per endpoint."""
    return (
        f'SEARCH(\'{{{r.METRICS_NAMESPACE},endpoint,service}} MetricName="{name}" '
        f"service=\"{SERVICE_NAME}\"', '{statistic}', 300)"
    )


def queue_insights_query(metric: str, prefix: str, *, dead_letter: bool, group: bool = True) -> str:
    """Metrics Insights over the run-time endpoint queues (or their DLQs) of this prefix."""
    like = f"{prefix}-{r.ENDPOINT_ID_PREFIX}%"
    where = f"QueueName LIKE '{like}-dlq'" if dead_letter else f"QueueName LIKE '{like}' AND QueueName NOT LIKE '%-dlq'"
    query = f'SELECT MAX({metric}) FROM SCHEMA("AWS/SQS", QueueName) WHERE {where}'
    return f"{query} GROUP BY QueueName" if group else query


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        pipeline: Pipeline,
        api: Api,
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = settings.prefix
        stack = Stack.of(self)
        functions: dict[str, lambda_.Function] = pipeline.functions

        # --- alarm topic -------------------------------------------------------------------------
        self.alarm_topic = sns.Topic(self, "AlarmTopic", topic_name=r.alarm_topic_name(prefix), enforce_ssl=True)
        # Left unencrypted on purpose: CloudWatch alarm actions cannot publish to a topic that
        # uses the AWS managed SNS key, and alarm messages carry no payload data.
        if settings.alarm_email:
            self.alarm_topic.add_subscription(subs.EmailSubscription(settings.alarm_email))
        action = cw_actions.SnsAction(self.alarm_topic)

        # --- alarms ------------------------------------------------------------------------------
        self.alarms: dict[str, cw.Alarm] = {}

        def alarm(
            alarm_id: str,
            metric: cw.IMetric,
            threshold: float,
            description: str,
            *,
            op: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        ) -> None:
            a = cw.Alarm(
                self,
                alarm_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                comparison_operator=op,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            a.add_alarm_action(action)
            self.alarms[alarm_id] = a

        alarm(
            "DeadLetteredAlarm",
            service_metric("DeadLettered"),
            1,
            "A webhook message was dead-lettered in the last 5 minutes",
        )
        fifteen = Duration.minutes(15)
        failure_ratio = cw.MathExpression(
            expression="IF((delivered + failed) > 0, 100 * failed / (delivered + failed), 0)",
            using_metrics={
                "delivered": service_metric("Delivered", period=fifteen),
                "failed": service_metric("Failed", period=fifteen),
            },
            period=fifteen,
            label="Delivery failure ratio (%)",
        )
        alarm(
            "DeliveryFailureRatioAlarm",
            failure_ratio,
            20,
            "More than 20% of delivery attempts failed over 15 minutes",
            op=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        alarm("AutoPausedAlarm", service_metric("AutoPaused"), 1, "An endpoint was auto-paused")
        alarm(
            "Ingest5xxAlarm",
            api.stage.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            1,
            "The ingest API returned 5xx responses",
        )
        for spec in r.FUNCTIONS:
            fn = functions[spec.construct_id]
            alarm(
                f"{spec.construct_id}ErrorsAlarm",
                fn.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                1,
                f"{spec.name(prefix)} raised errors",
            )
            alarm(
                f"{spec.construct_id}ThrottlesAlarm",
                fn.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                1,
                f"{spec.name(prefix)} was throttled",
            )
        oldest_query = queue_insights_query("ApproximateAgeOfOldestMessage", prefix, dead_letter=False, group=False)
        alarm(
            "OldestMessageAgeAlarm",
            cw.MathExpression(
                expression=oldest_query,
                using_metrics={},
                period=FIVE_MINUTES,
                label="Oldest message in any endpoint queue (s)",
            ),
            15 * 60,
            "A message has waited more than 15 minutes in an endpoint queue",
            op=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        # enforce_ssl gives the topic a TopicPolicy, which replaces SNS's default policy: without
        # this Allow, CloudWatch's publish is refused and no alarm ever notifies. Only this
        # account's alarms of this stack (the confused-deputy conditions AWS recommends).
        self.alarm_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.alarm_topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnEquals": {"aws:SourceArn": [a.alarm_arn for a in self.alarms.values()]},
                },
            )
        )

        # --- dashboard ---------------------------------------------------------------------------
        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=stack.stack_name,
            default_interval=Duration.hours(3),
        )
        stage = api.stage

        def graph(title: str, metrics: list[cw.IMetric], **kw: Any) -> cw.GraphWidget:
            return cw.GraphWidget(title=title, left=metrics, width=8, height=6, **kw)

        def search(title: str, name: str, statistic: str = "Sum") -> cw.GraphWidget:
            return graph(
                title,
                [
                    cw.MathExpression(
                        expression=per_endpoint_search(name, statistic),
                        using_metrics={},
                        label="",
                        period=FIVE_MINUTES,
                    )
                ],
            )

        def insights(title: str, metric: str, *, dead_letter: bool) -> cw.GraphWidget:
            return graph(
                title,
                [
                    cw.MathExpression(
                        expression=queue_insights_query(metric, prefix, dead_letter=dead_letter),
                        using_metrics={},
                        label="",
                        period=FIVE_MINUTES,
                    )
                ],
            )

        self.dashboard.add_widgets(
            cw.TextWidget(
                markdown=f"# {stack.stack_name}\nIngest → SNS `{r.topic_name(prefix)}` → per-endpoint SQS "
                f"(`{r.endpoint_queue_pattern(prefix)}`) → delivery. Metrics namespace `{r.METRICS_NAMESPACE}`.",
                width=24,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            graph("Ingest requests", [stage.metric_count(period=FIVE_MINUTES, statistic="Sum")]),
            graph(
                "Ingest 4xx / 5xx",
                [
                    stage.metric_client_error(period=FIVE_MINUTES, statistic="Sum"),
                    stage.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
                ],
            ),
            graph(
                "Ingest latency (ms)",
                [stage.metric_latency(period=FIVE_MINUTES, statistic=p, label=f"Latency {p}") for p in PERCENTILES],
            ),
        )
        self.dashboard.add_widgets(
            graph("Events published", [service_metric("Published")]),
            graph("Deliveries", [service_metric(name) for name in DELIVERY_COUNTS]),
            graph("Delivery latency (ms)", [service_metric("DeliveryLatency", statistic=p) for p in PERCENTILES]),
        )
        self.dashboard.add_widgets(
            search("Delivered per endpoint", "Delivered"),
            search("Failed per endpoint", "Failed"),
            search("Retried per endpoint", "Retried"),
        )
        self.dashboard.add_widgets(
            search("Dead-lettered per endpoint", "DeadLettered"),
            search("Auto-paused per endpoint", "AutoPaused"),
            search("Delivery latency p90 per endpoint (ms)", "DeliveryLatency", "p90"),
        )
        self.dashboard.add_widgets(
            search("Delivery latency p50 per endpoint (ms)", "DeliveryLatency", "p50"),
            search("Delivery latency p99 per endpoint (ms)", "DeliveryLatency", "p99"),
            insights("Endpoint queue oldest message age (s)", "ApproximateAgeOfOldestMessage", dead_letter=False),
        )
        self.dashboard.add_widgets(
            insights("Dead-letter queue depth per endpoint", "ApproximateNumberOfMessagesVisible", dead_letter=True),
            insights(
                "Dead-letter oldest message age per endpoint (s)", "ApproximateAgeOfOldestMessage", dead_letter=True
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=8, height=6),
        )
        fns = [functions[spec.construct_id] for spec in r.FUNCTIONS]
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Lambda errors",
                width=6,
                height=6,
                left=[fn.metric_errors(period=FIVE_MINUTES, statistic="Sum") for fn in fns],
            ),
            cw.GraphWidget(
                title="Lambda throttles",
                width=6,
                height=6,
                left=[fn.metric_throttles(period=FIVE_MINUTES, statistic="Sum") for fn in fns],
            ),
            cw.GraphWidget(
                title="Lambda duration p90 (ms)",
                width=6,
                height=6,
                left=[fn.metric_duration(period=FIVE_MINUTES, statistic="p90") for fn in fns],
            ),
            cw.GraphWidget(
                title="Lambda concurrent executions",
                width=6,
                height=6,
                left=[fn.metric("ConcurrentExecutions", period=FIVE_MINUTES, statistic="Maximum") for fn in fns],
            ),
        )
        self.dashboard_url = (
            f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards:name={stack.stack_name}"
        )
