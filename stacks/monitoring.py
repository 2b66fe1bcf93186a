"""Per-stage alarms on everything that means a notification may be lost, late or forged.

All alarms go to one encrypted alarm topic that config subscribes email, chat or
paging endpoints to; a dashboard per stage shows the same signals and the
functions' own metrics.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from tenant_status.telemetry import NAMESPACE

from .config import AlarmConfig
from .fan_out import subscribe

METRIC_NAMESPACE = NAMESPACE
FIVE_MINUTES = Duration.minutes(5)
# Past this the outbox is behind; records expire from the stream after 24 hours.
ITERATOR_AGE_LIMIT = Duration.minutes(15)


class StageAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        config: AlarmConfig,
        key: kms.IKey,
        rest_api: apigateway.RestApi,
        access_logs: logs.ILogGroup,
        receiver: lambda_.Function,
        publisher: lambda_.Function,
        failure_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self._environment_name = environment_name
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"SuperOffice {environment_name} tenant status alarms",
            enforce_ssl=True,
            master_key=key,
        )
        stack = Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:"
                        f"{stack.account}:alarm:*"
                    }
                },
            )
        )
        for index, subscription in enumerate(config.subscriptions):
            subscribe(self, f"Subscription{index}", self.topic, subscription)

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarm(
            "ReceiverErrors",
            receiver.metric_errors(period=FIVE_MINUTES),
            "The receiver failed; notifications may be answered 5xx and retried.",
        )
        self._alarm(
            "PublisherErrors",
            publisher.metric_errors(period=FIVE_MINUTES),
            "The publisher failed; recorded events wait in the stream until it recovers.",
        )
        self._alarm(
            "Api5xx",
            rest_api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            "The State Change URL answered 5xx; SuperOffice's notifications are failing.",
        )
        self._alarm(
            "Unauthorized",
            self._count_status(access_logs, "Unauthorized", 401),
            "Many notifications were refused as unauthorized: someone may be probing the "
            "State Change URL, or SuperOffice rotated keys this stage cannot fetch.",
            threshold=config.unauthorized_per_5_minutes,
        )
        self._alarm(
            "ApiThrottled",
            self._count_status(access_logs, "Throttled", 429),
            "API Gateway throttled requests; raise the stage's throttling limits if they "
            "were SuperOffice's.",
        )
        for name, function in (("Receiver", receiver), ("Publisher", publisher)):
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=FIVE_MINUTES),
                f"Lambda throttled the {name.lower()}; check its reserved concurrency.",
            )
        self._alarm(
            "OutboxIteratorAge",
            publisher.metric(
                "IteratorAge", period=FIVE_MINUTES, statistic=cloudwatch.Stats.MAXIMUM
            ),
            "Recorded events are waiting to be published; the stream keeps them 24 hours.",
            threshold=ITERATOR_AGE_LIMIT.to_milliseconds(),
        )
        self._alarm(
            "FailureQueueDepth",
            failure_queue.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic=cloudwatch.Stats.MAXIMUM
            ),
            "Events could not be published within the maximum record age and were parked "
            "on the failure queue; republish them.",
        )

    def _count_status(
        self, access_logs: logs.ILogGroup, name: str, status: int
    ) -> cloudwatch.IMetric:
        """Requests the stage answered with one status, counted from its access log."""
        metric_filter = logs.MetricFilter(
            self,
            f"{name}Filter",
            log_group=access_logs,
            # Stages may share an account; each counts in its own namespace.
            metric_namespace=f"{METRIC_NAMESPACE}/{self._environment_name}",
            metric_name=name,
            filter_pattern=logs.FilterPattern.number_value("$.status", "=", status),
            metric_value="1",
            default_value=0,
        )
        return metric_filter.metric(period=FIVE_MINUTES, statistic=cloudwatch.Stats.SUM)

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        description: str,
        *,
        threshold: float = 1,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"SuperOffice {self._environment_name}: {description}",
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.alarms[name] = alarm


def _search(environment_name: str, dimensions: str, metric: str, extra: str = "") -> str:
    """A CloudWatch SEARCH over this stage's embedded metrics, one line per dimension value."""
    query = f'{{{NAMESPACE},{dimensions}}} MetricName="{metric}" environment="{environment_name}"'
    return f"SEARCH('{query}{extra}', 'Sum', 300)"


class StageDashboard(Construct):
    """One page per stage: what arrived, what was refused and why, what was published, health."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        rest_api: apigateway.RestApi,
        functions: dict[str, lambda_.Function],
        publisher: lambda_.Function,
        failure_queue: sqs.IQueue,
        alarms: list[cloudwatch.IAlarm],
    ) -> None:
        super().__init__(scope, construct_id)

        def searched(
            title: str, dimensions: str, metric: str, extra: str = ""
        ) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(
                title=title,
                width=8,
                left=[
                    cloudwatch.MathExpression(
                        expression=_search(environment_name, dimensions, metric, extra),
                        using_metrics={},
                        period=FIVE_MINUTES,
                    )
                ],
            )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# SuperOffice {environment_name} tenant status", width=24, height=1
            )
        )
        self.dashboard.add_widgets(
            searched("Notifications by outcome", "environment,outcome", "notifications"),
            searched(
                "Accepted by change type",
                "environment,outcome,change_type_name",
                "notifications",
                ' outcome="accepted"',
            ),
            searched("Refused by reason", "environment,reason", "notifications"),
        )
        self.dashboard.add_widgets(
            searched("Published by topic", "environment,topic", "events_published"),
            searched("Publish failures by topic", "environment,topic", "publish_failures"),
            cloudwatch.GraphWidget(
                title="Outbox: iterator age and failure queue",
                width=8,
                left=[publisher.metric("IteratorAge", statistic=cloudwatch.Stats.MAXIMUM)],
                right=[failure_queue.metric_approximate_number_of_messages_visible()],
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API: requests, 4xx, 5xx",
                width=8,
                left=[
                    rest_api.metric_count(period=FIVE_MINUTES),
                    rest_api.metric_client_error(period=FIVE_MINUTES),
                    rest_api.metric_server_error(period=FIVE_MINUTES),
                ],
            ),
            cloudwatch.GraphWidget(
                title="Function duration p99",
                width=8,
                left=[
                    f.metric_duration(statistic="p99", label=name) for name, f in functions.items()
                ],
            ),
            cloudwatch.GraphWidget(
                title="Function errors and throttles",
                width=8,
                left=[f.metric_errors(label=f"{name} errors") for name, f in functions.items()],
                right=[
                    f.metric_throttles(label=f"{name} throttles") for name, f in functions.items()
                ],
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(alarms=alarms, title="Alarms", width=24)
        )
