"""What every function in the stack shares: runtime, architecture, code and dependency layer."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, AssetHashType, Duration, RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from . import lambda_dependencies
from .lambda_dependencies import ROOT

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
DEPENDENCY_TARGET = lambda_dependencies.ARM64_PYTHON_314
SOURCE_DIR = ROOT / "lambda_src"
SOURCE_EXCLUDES = ["**/__pycache__", "**/*.pyc", "*.egg-info", "**/.mypy_cache"]


class FunctionCode(Construct):
    """The functions' own code and one layer with their third-party dependencies."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        dependencies = lambda_dependencies.build(DEPENDENCY_TARGET)
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(
                str(dependencies),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=lambda_dependencies.content_hash(DEPENDENCY_TARGET),
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="PyJWT and cryptography for the tenant status functions",
        )
        self.code = lambda_.Code.from_asset(str(SOURCE_DIR), exclude=SOURCE_EXCLUDES)


@dataclass(frozen=True)
class FunctionSpec:
    handler: str
    description: str
    timeout: Duration
    memory_size: int = 256


def own_role_and_logs(
    scope: Construct, construct_id: str, *, description: str, retain_logs: bool
) -> tuple[iam.Role, logs.LogGroup]:
    """A function's own role, allowed to write only to its own log group.

    The managed basic execution role would let it write to every log group in the
    account.
    """
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=logs.RetentionDays.THREE_MONTHS,
        removal_policy=RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY,
    )
    role = iam.Role(
        scope,
        f"{construct_id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=description,
    )
    log_group.grant_write(role)
    return role, log_group


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    code: FunctionCode,
    spec: FunctionSpec,
    environment: dict[str, str],
    retain_logs: bool,
    reserved_concurrency: int | None = None,
) -> lambda_.Function:
    role, log_group = own_role_and_logs(
        scope, construct_id, description=spec.description, retain_logs=retain_logs
    )
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=spec.handler,
        code=code.code,
        layers=[code.layer],
        description=spec.description,
        timeout=spec.timeout,
        memory_size=spec.memory_size,
        environment=environment,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
        system_log_level_v2=lambda_.SystemLogLevel.WARN,
        log_group=log_group,
        role=role,
        reserved_concurrent_executions=reserved_concurrency,
        tracing=lambda_.Tracing.ACTIVE,
    )
    Validations.of(role).acknowledge(
        Acknowledgment(
            id="AwsSolutions-IAM5[Resource::*]",
            reason=(
                "Only actions that take no resource are granted on '*': X-Ray's "
                "PutTraceSegments and PutTelemetryRecords for tracing and, for the stream "
                "reader, dynamodb:ListStreams; the stack's grant tests pin them."
            ),
        )
    )
    return function
