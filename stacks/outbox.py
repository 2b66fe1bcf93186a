"""Publishes every recorded tenant event from the table's stream to its topic.

The stream is the outbox: a notification answered 200 is already in the table,
and the event source mapping keeps retrying until it is published or, past the
maximum record age, parks it on the failure queue.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from tenant_status import table as layout

from .config import EnvironmentConfig
from .runtime import FunctionCode, FunctionSpec, python_function

PUBLISHER = FunctionSpec(
    handler="tenant_status.publisher_function.handler",
    description="Publishes recorded SuperOffice tenant events to their SNS topics",
    timeout=Duration.seconds(30),
)


class OutboxPublisher(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        code: FunctionCode,
        table: dynamodb.ITable,
        topic_arns: dict[str, str],
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.failure_queue = sqs.Queue(
            self,
            "FailureQueue",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
        )
        Validations.of(self.failure_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason=(
                    "This queue is the outbox's on-failure destination: it holds the "
                    "stream records that could not be published, to be republished."
                ),
            )
        )
        self.function = python_function(
            self,
            "Function",
            code=code,
            spec=PUBLISHER,
            environment={
                "ENVIRONMENT_NAME": config.name,
                "TOPIC_ARNS": Stack.of(self).to_json_string(topic_arns),
                "FAILURE_QUEUE_URL": self.failure_queue.queue_url,
            },
            retain_logs=config.retain_data,
            reserved_concurrency=config.publisher_reserved_concurrency,
        )
        # It parks records that can never be published here itself.
        self.failure_queue.grant_send_messages(self.function)
        self._explain_wildcards()
        self.function.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=25,
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
                retry_attempts=10_000,
                max_record_age=Duration.hours(24),
                on_failure=sources.SqsDlq(self.failure_queue),
                filters=[
                    lambda_.FilterCriteria.filter(
                        {
                            "eventName": lambda_.FilterRule.is_equal("INSERT"),
                            "dynamodb": {
                                "Keys": {
                                    layout.SORT_KEY: {
                                        "S": lambda_.FilterRule.begins_with(layout.EVENT_PREFIX)
                                    }
                                }
                            },
                        }
                    )
                ],
            )
        )

    def _explain_wildcards(self) -> None:
        reasons = {
            "Action::kms:GenerateDataKey*": (
                "Granted on the stage's message key only, by the CDK's grants for publishing "
                "to encrypted topics and sending to the encrypted failure queue."
            ),
            "Action::kms:ReEncrypt*": (
                "Granted on the stage's message key only, by the CDK's grant for sending "
                "to the encrypted failure queue."
            ),
        }
        for finding, reason in reasons.items():
            Validations.of(self.function.role).acknowledge(  # type: ignore[arg-type]
                Acknowledgment(id=f"AwsSolutions-IAM5[{finding}]", reason=reason)
            )
