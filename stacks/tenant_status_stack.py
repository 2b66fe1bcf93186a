"""One SuperOffice environment's stack: composes the constructs and wires every grant here."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Environment, Stack, Stage, Tags
from constructs import Construct

from .api import NotificationApi
from .config import EnvironmentConfig, stack_name
from .encryption import MessageKey
from .fan_out import TenantEventTopics
from .monitoring import StageAlarms, StageDashboard
from .outbox import OutboxPublisher
from .runtime import FunctionCode
from .state_api import TenantStateApi
from .state_table import TenantStateTable
from .verifier import NotificationVerifier
from .web_acl import NotificationWebAcl


class TenantStatusStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"SuperOffice {config.name} tenant status notifications",
            **kwargs,
        )
        Tags.of(self).add("Application", "superoffice-tenant-status")
        Tags.of(self).add("SuperOfficeEnvironment", config.name)

        code = FunctionCode(self, "Code")
        message_key = MessageKey(
            self, "MessageKey", environment_name=config.name, retain=config.retain_data
        )
        state = TenantStateTable(self, "State", retain_data=config.retain_data)
        topics = TenantEventTopics(
            self,
            "Topics",
            environment_name=config.name,
            subscriptions=config.subscriptions,
            key=message_key.key,
            subscriber_accounts=config.subscriber_accounts,
        )
        verifier = NotificationVerifier(
            self, "Verifier", config=config, code=code, table=state.table
        )
        outbox = OutboxPublisher(
            self,
            "Outbox",
            config=config,
            code=code,
            table=state.table,
            topic_arns=topics.topic_arns,
            key=message_key.key,
        )
        api = NotificationApi(
            self,
            "Notifications",
            stage_name=config.name,
            receiver=verifier.function,
            config=config.api,
            retain_logs=config.retain_data,
        )
        state_api = TenantStateApi(
            self,
            "TenantState",
            config=config,
            code=code,
            table=state.table,
            rest_api=api.rest_api,
            validator=api.validator,
        )
        if config.waf.enabled:
            NotificationWebAcl(
                self,
                "WebAcl",
                environment_name=config.name,
                config=config.waf,
                stage_arn=api.rest_api.deployment_stage.stage_arn,
            )
        else:
            api.explain_no_web_acl()
        alarms = StageAlarms(
            self,
            "Alarms",
            environment_name=config.name,
            config=config.alarms,
            key=message_key.key,
            rest_api=api.rest_api,
            access_logs=api.access_logs,
            receiver=verifier.function,
            publisher=outbox.function,
            failure_queue=outbox.failure_queue,
        )
        StageDashboard(
            self,
            "Dashboard",
            environment_name=config.name,
            rest_api=api.rest_api,
            functions={
                "receiver": verifier.function,
                "publisher": outbox.function,
                "state": state_api.function,
            },
            publisher=outbox.function,
            failure_queue=outbox.failure_queue,
            alarms=list(alarms.alarms.values()),
        )

        # The receiver reads and conditionally writes tenant items, nothing more;
        # the publisher only publishes (its stream and failure-queue rights come
        # with the event source mapping).
        state.table.grant(verifier.function, "dynamodb:GetItem", "dynamodb:PutItem")
        state.table.grant(state_api.function, "dynamodb:GetItem")
        for topic in topics.topics.values():
            topic.grant_publish(outbox.function)

        CfnOutput(
            self,
            "StateChangeUrl",
            value=api.state_change_url,
            description=(
                f"Paste into the SuperOffice Developer Portal as the {config.name} "
                "State Change URL"
            ),
        )
        CfnOutput(
            self,
            "TenantStateUrl",
            value=state_api.url,
            description="GET <url>/<ContextIdentifier>, SigV4-signed by a role in state_readers",
        )
        CfnOutput(self, "TableName", value=state.table.table_name)
        CfnOutput(self, "FailureQueueUrl", value=outbox.failure_queue.queue_url)
        CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn)
        CfnOutput(
            self,
            "MessageKeyArn",
            value=message_key.key.key_arn,
            description="Encrypts the topics and queues; subscriber queues may use it too",
        )
        for key, topic in topics.topics.items():
            CfnOutput(self, f"TopicArn{key}", value=topic.topic_arn)


class TenantStatusStage(Stage):
    """One SuperOffice environment, deployable on its own: `npx cdk deploy '<name>/*'`."""

    def __init__(self, scope: Construct, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, config.name, env=_aws_environment(config))
        self.stack = TenantStatusStack(
            self, "TenantStatus", config=config, stack_name=stack_name(config.name)
        )


def _aws_environment(config: EnvironmentConfig) -> Environment | None:
    if config.account or config.region:
        return Environment(account=config.account, region=config.region)
    return None
