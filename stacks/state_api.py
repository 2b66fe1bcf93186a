"""`GET /tenants/{ContextIdentifier}`: the stored state, for the vendor's own roles only.

Callers sign with SigV4 (IAM authorization); the API's resource policy admits the
roles listed in config and denies everyone else, whatever their own policies say.
It serves the current state only; history stays in the table.
"""

from __future__ import annotations

import json

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from .config import EnvironmentConfig
from .runtime import FunctionCode, FunctionSpec, python_function

STATE_READER = FunctionSpec(
    handler="tenant_status.state_function.handler",
    description="Answers the stored state of a SuperOffice tenant to the vendor's services",
    timeout=Duration.seconds(5),
)
TENANTS_PATH = "tenants"
# API Gateway's resource-policy shorthand: any stage, this method and path.
READ_STATE = f"execute-api:/*/GET/{TENANTS_PATH}/*"


class TenantStateApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        code: FunctionCode,
        table: dynamodb.ITable,
        rest_api: apigateway.RestApi,
        validator: apigateway.IRequestValidator,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = python_function(
            self,
            "Function",
            code=code,
            spec=STATE_READER,
            environment={
                "ENVIRONMENT_NAME": config.name,
                "TABLE_NAME": table.table_name,
                "STATE_READERS": json.dumps(list(config.state_readers)),
            },
            retain_logs=config.retain_data,
        )
        tenant = rest_api.root.add_resource(TENANTS_PATH).add_resource("{ContextIdentifier}")
        self.method = tenant.add_method(
            "GET",
            apigateway.LambdaIntegration(self.function, proxy=True),
            authorization_type=apigateway.AuthorizationType.IAM,
            request_parameters={"method.request.path.ContextIdentifier": True},
            request_validator=validator,
        )
        self.url = rest_api.url_for_path(f"/{TENANTS_PATH}")
        self._admit_only(rest_api, config.state_readers)
        Validations.of(self.method).acknowledge(
            Acknowledgment(
                id="AwsSolutions-COG4",
                reason=(
                    "Callers are the vendor's own AWS roles, authenticated with IAM (SigV4) "
                    "and admitted by the API's resource policy; there are no end users."
                ),
            )
        )

    def _admit_only(self, rest_api: apigateway.RestApi, readers: tuple[str, ...]) -> None:
        if readers:
            rest_api.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="ConfiguredRolesReadTenantState",
                    principals=[iam.ArnPrincipal(arn) for arn in readers],
                    actions=["execute-api:Invoke"],
                    resources=[READ_STATE],
                )
            )
        # A deny beats any allow in the caller's own IAM policies, so listing a role
        # in cdk.json is the only way in.
        rest_api.add_to_resource_policy(
            iam.PolicyStatement(
                sid="NobodyElseReadsTenantState",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["execute-api:Invoke"],
                resources=[READ_STATE],
                conditions=(
                    {"ArnNotLike": {"aws:PrincipalArn": list(readers)}} if readers else None
                ),
            )
        )
