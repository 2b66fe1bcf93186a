"""The function behind the State Change URL: verifies each notification and records it."""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from .config import EnvironmentConfig
from .runtime import FunctionCode, FunctionSpec, python_function

RECEIVER = FunctionSpec(
    handler="tenant_status.receiver_function.handler",
    description="Verifies SuperOffice tenant status notifications and records them",
    # Room for one JWKS fetch (3 s timeout) and a few DynamoDB retries.
    timeout=Duration.seconds(10),
)


class NotificationVerifier(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        code: FunctionCode,
        table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {
            "ENVIRONMENT_NAME": config.name,
            "TABLE_NAME": table.table_name,
            "ACCEPTED_ISSUERS": json.dumps(list(config.accepted_issuers)),
        }
        if config.jwks_url:
            environment["JWKS_URL"] = config.jwks_url
        if config.pinned_jwks:
            environment["PINNED_JWKS"] = json.dumps(config.pinned_jwks, separators=(",", ":"))
        if config.audience:
            environment["AUDIENCE"] = config.audience
        self.function = python_function(
            self,
            "Function",
            code=code,
            spec=RECEIVER,
            environment=environment,
            retain_logs=config.retain_data,
            reserved_concurrency=config.receiver_reserved_concurrency,
        )
