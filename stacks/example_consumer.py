"""An example subscriber's infrastructure to copy: a queue on the topics and a function on it.

The queue is encrypted with a key SNS may use, keeps failures on a dead-letter
queue, and feeds the function in batches whose failed messages are retried alone.
It is not part of the tenant status stack; a vendor's own stack would hold it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .runtime import ARCHITECTURE, RUNTIME, own_role_and_logs

CONSUMER_CODE = Path(__file__).resolve().parent.parent / "examples" / "consumer"
TIMEOUT = Duration.seconds(30)


class TenantEventConsumer(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topics: Mapping[str, sns.ITopic],
        key: kms.IKey,
        code_path: Path = CONSUMER_CODE,
    ) -> None:
        super().__init__(scope, construct_id)
        # A key SNS may use: under the AWS managed SQS key nothing would arrive.
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            retention_period=Duration.days(14),
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            # Lambda's advice: six times the function timeout, so retries don't overlap.
            visibility_timeout=Duration.seconds(TIMEOUT.to_seconds() * 6),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=self.dead_letters),
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
        )
        for topic in topics.values():
            # Raw delivery: the body is the event itself; the subscription also lets
            # this topic send to the queue in the queue's policy.
            topic.add_subscription(
                subscriptions.SqsSubscription(self.queue, raw_message_delivery=True)
            )
        description = "Example subscriber: acts on SuperOffice tenant status events"
        role, log_group = own_role_and_logs(
            self, "Function", description=description, retain_logs=False
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="tenant_event_consumer.handler",
            code=lambda_.Code.from_asset(
                str(code_path), exclude=["**/__pycache__", "**/*.pyc", "__init__.py"]
            ),
            timeout=TIMEOUT,
            description=description,
            role=role,
            log_group=log_group,
        )
        self.function.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=10, report_batch_item_failures=True)
        )
