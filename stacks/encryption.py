"""The stage's customer managed key for its topics and queues.

An AWS managed key cannot be shared with SNS or CloudWatch, so everything that
carries tenant events or alarms is encrypted with this key, and its policy lets
those two services use it. The table keeps DynamoDB's own encryption.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

_USE_FOR_DELIVERY = ["kms:Decrypt", "kms:GenerateDataKey*"]


class MessageKey(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, environment_name: str, retain: bool
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=(
                f"SuperOffice {environment_name} tenant status topics, queues and alarms"
            ),
            enable_key_rotation=True,
            # Destroying schedules deletion after KMS's 30-day waiting period, in
            # which messages still parked on the failure queue can be read.
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        # SNS encrypts each message for a subscriber queue that uses this key;
        # CloudWatch encrypts alarm notifications for the encrypted alarm topic.
        # Only on behalf of this account's topics and alarms: without the condition the
        # services would use the key for anyone's (the confused deputy).
        for service in ("sns.amazonaws.com", "cloudwatch.amazonaws.com"):
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal(service)],
                    actions=_USE_FOR_DELIVERY,
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
                )
            )
