"""The REST API whose stage URL is the State Change URL for SuperOffice's Developer Portal.

It refuses what is plainly not a notification before the function runs, throttles
the stage and writes access logs. It does not authenticate: SuperOffice cannot sign
requests to AWS, so the token in the body, checked by the function, is the proof.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from tenant_status.notification import MAX_TEXT_LENGTH
from tenant_status.verification import MAX_TOKEN_LENGTH

from .config import ApiConfig

NOTIFY_PATH = "NotifyCustomerStateChange"

# Only what every notification must have; unknown fields and change types pass,
# as SuperOffice may add them. The function checks everything in full.
NOTIFICATION_SCHEMA = apigateway.JsonSchema(
    schema=apigateway.JsonSchemaVersion.DRAFT4,
    title="SuperOfficeTenantStatusNotification",
    type=apigateway.JsonSchemaType.OBJECT,
    required=["ChangeType", "ContextIdentifier", "Token"],
    properties={
        "ChangeType": apigateway.JsonSchema(type=apigateway.JsonSchemaType.INTEGER, minimum=0),
        "ContextIdentifier": apigateway.JsonSchema(
            type=apigateway.JsonSchemaType.STRING, min_length=1, max_length=MAX_TEXT_LENGTH
        ),
        "Token": apigateway.JsonSchema(
            type=apigateway.JsonSchemaType.STRING, min_length=1, max_length=MAX_TOKEN_LENGTH
        ),
    },
)

# One JSON object per request; numbers unquoted so metric filters can compare them.
ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod",'
    '"resourcePath":"$context.resourcePath","status":$context.status,'
    '"responseLength":"$context.responseLength",'
    '"integrationLatency":"$context.integration.latency",'
    '"errorMessage":"$context.error.message","wafStatus":"$context.waf.status"}'
)


class NotificationApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage_name: str,
        receiver: lambda_.IFunction,
        config: ApiConfig,
        retain_logs: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY,
        )
        self.rest_api = apigateway.RestApi(
            self,
            "Api",
            rest_api_name=f"superoffice-tenant-status-{stage_name}",
            description=f"SuperOffice {stage_name} tenant status notifications",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # API Gateway writes logs through one role per account and region; a
            # stage either sets it or relies on the one already there.
            cloud_watch_role=config.logging_role == "create",
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigateway.StageOptions(
                stage_name=stage_name,
                throttling_rate_limit=config.throttling_rate_limit,
                throttling_burst_limit=config.throttling_burst_limit,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=apigateway.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
                # Errors only, and never request bodies: they hold the token.
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
            ),
        )
        # The RestApi's own output is the stage's base URL, which is easy to paste
        # into the Developer Portal by mistake; the stack outputs the full URL.
        self.rest_api.node.try_remove_child("Endpoint")
        self._answer_like_the_function()

        model = self.rest_api.add_model(
            "Notification", content_type="application/json", schema=NOTIFICATION_SCHEMA
        )
        self.validator = self.rest_api.add_request_validator(
            "NotificationValidator", validate_request_body=True, validate_request_parameters=True
        )
        notify = self.rest_api.root.add_resource(NOTIFY_PATH)
        self.notify_method = notify.add_method(
            "POST",
            apigateway.LambdaIntegration(receiver, proxy=True),
            request_models={"application/json": model},
            request_validator=self.validator,
        )
        self.state_change_url = self.rest_api.url_for_path(f"/{NOTIFY_PATH}")
        # Once the API has a resource policy, an unauthenticated method is reachable
        # only where the policy says so.
        self.rest_api.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AnyoneMayNotify",
                principals=[iam.AnyPrincipal()],
                actions=["execute-api:Invoke"],
                resources=[f"execute-api:/*/POST/{NOTIFY_PATH}"],
            )
        )
        self._explain_open_method()
        if config.logging_role == "create":
            Validations.of(self.rest_api).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                    reason=(
                        "The account's API Gateway logging role, used by API Gateway alone; "
                        "AWS maintains this policy for exactly that role."
                    ),
                )
            )

    def explain_no_web_acl(self) -> None:
        Validations.of(self.rest_api.deployment_stage).acknowledge(
            Acknowledgment(
                id="AwsSolutions-APIG3",
                reason=(
                    "AWS WAF is switched off for this environment in cdk.json (waf.enabled); "
                    "the stage is throttled and the receiver refuses anything unsigned."
                ),
            )
        )

    def _answer_like_the_function(self) -> None:
        """Refusals made by API Gateway itself get the same JSON shape as the function's."""
        answers = {
            "BadRequestBody": (
                apigateway.ResponseType.BAD_REQUEST_BODY,
                "400",
                '{"error":"request_invalid",'
                '"message":"The body is not a SuperOffice tenant status notification."}',
            ),
            "Throttled": (
                apigateway.ResponseType.THROTTLED,
                "429",
                '{"error":"throttled","message":"Too many requests; retry later."}',
            ),
            "WafFiltered": (
                apigateway.ResponseType.WAF_FILTERED,
                "403",
                '{"error":"blocked","message":"The request was blocked."}',
            ),
        }
        for name, (response_type, status, template) in answers.items():
            self.rest_api.add_gateway_response(
                name,
                type=response_type,
                status_code=status,
                templates={"application/json": template},
                response_headers={"Cache-Control": "'no-store'"},
            )

    def _explain_open_method(self) -> None:
        for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            Validations.of(self.notify_method).acknowledge(
                Acknowledgment(
                    id=rule,
                    reason=(
                        "SuperOffice calls the State Change URL without AWS credentials; "
                        "each notification is authenticated by the RS256 token in its "
                        "body, verified by the receiver against SuperOffice's keys."
                    ),
                )
            )
