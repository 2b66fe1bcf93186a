"""One SNS topic per SuperOffice change type plus a catch-all, and the configured subscriptions.

Each topic's ARN is also an SSM parameter, so other stacks subscribe by name, and
accounts listed in config may subscribe themselves. Subscriber queues and
functions are the vendor's own: their resource policies are not changed here.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from tenant_status.change_types import TOPIC_KEYS

from .config import SubscriptionConfig


class TenantEventTopics(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        subscriptions: tuple[SubscriptionConfig, ...],
        key: kms.IKey,
        subscriber_accounts: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.topics: dict[str, sns.Topic] = {
            key_name: sns.Topic(
                self,
                key_name,
                display_name=f"SuperOffice {environment_name} tenant {key_name}",
                enforce_ssl=True,
                master_key=key,
            )
            for key_name in TOPIC_KEYS
        }
        for key_name, topic in self.topics.items():
            ssm.StringParameter(
                self,
                f"{key_name}Parameter",
                parameter_name=topic_parameter_name(environment_name, key_name),
                string_value=topic.topic_arn,
                description=f"ARN of the SuperOffice {environment_name} {key_name} topic",
            )
            if subscriber_accounts:
                topic.add_to_resource_policy(
                    iam.PolicyStatement(
                        sid="ListedAccountsSubscribe",
                        principals=[iam.AccountPrincipal(a) for a in subscriber_accounts],
                        actions=["sns:Subscribe"],
                        resources=[topic.topic_arn],
                    )
                )
        for index, subscription in enumerate(subscriptions):
            for topic_key in subscription.topics:
                subscribe(
                    self, f"Subscription{index}{topic_key}", self.topics[topic_key], subscription
                )

    @property
    def topic_arns(self) -> dict[str, str]:
        return {key: topic.topic_arn for key, topic in self.topics.items()}


def topic_parameter_name(environment_name: str, topic_key: str) -> str:
    """Where a stage's topic ARN is published: one name per stage, so stages share accounts."""
    return f"/superoffice-tenant-status/{environment_name}/topics/{topic_key}"


def subscribe(
    scope: Construct, construct_id: str, topic: sns.ITopic, config: SubscriptionConfig
) -> None:
    """Subscribes a configured endpoint; a function also gets SNS's permission to invoke it."""
    # Limitation: an SQS subscriber's queue policy is not granted here (the queue
    # is imported, its policy the vendor's); a subscriber kit could publish one.
    sns.CfnSubscription(
        scope,
        construct_id,
        topic_arn=topic.topic_arn,
        protocol=config.protocol,
        endpoint=config.endpoint,
        filter_policy=dict(config.filter_policy) if config.filter_policy else None,
        raw_message_delivery=(
            config.raw_message_delivery if config.protocol in ("sqs", "https") else None
        ),
    )
    if config.protocol == "lambda":
        lambda_.CfnPermission(
            scope,
            f"{construct_id}Invoke",
            action="lambda:InvokeFunction",
            function_name=config.endpoint,
            principal="sns.amazonaws.com",
            source_arn=topic.topic_arn,
        )
