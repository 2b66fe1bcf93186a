"""One SNS topic per SuperOffice change type plus a catch-all, and the configured subscriptions.

Subscriber queues and functions are the vendor's own: this construct subscribes
them but does not change their resource policies.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
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
    ) -> None:
        super().__init__(scope, construct_id)
        self.topics: dict[str, sns.Topic] = {
            key: sns.Topic(
                self,
                key,
                display_name=f"SuperOffice {environment_name} tenant {key}",
                enforce_ssl=True,
            )
            for key in TOPIC_KEYS
        }
        for index, subscription in enumerate(subscriptions):
            for key in subscription.topics:
                self._subscribe(f"Subscription{index}{key}", self.topics[key], subscription)

    def _subscribe(self, construct_id: str, topic: sns.Topic, config: SubscriptionConfig) -> None:
        # Limitation: an SQS subscriber's queue policy is not granted here (the queue
        # is imported, its policy the vendor's); a subscriber kit could publish one.
        sns.CfnSubscription(
            self,
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
                self,
                f"{construct_id}Invoke",
                action="lambda:InvokeFunction",
                function_name=config.endpoint,
                principal="sns.amazonaws.com",
                source_arn=topic.topic_arn,
            )

    @property
    def topic_arns(self) -> dict[str, str]:
        return {key: topic.topic_arn for key, topic in self.topics.items()}
