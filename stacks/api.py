"""The REST API whose stage URL is the State Change URL for SuperOffice's Developer Portal."""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

NOTIFY_PATH = "NotifyCustomerStateChange"


class NotificationApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage_name: str,
        receiver: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rest_api = apigateway.RestApi(
            self,
            "Api",
            rest_api_name=f"superoffice-tenant-status-{stage_name}",
            description=f"SuperOffice {stage_name} tenant status notifications",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # The account-wide API Gateway logging role is shared by every API in
            # the account; three stages in one account must not each claim it.
            cloud_watch_role=False,
            deploy_options=apigateway.StageOptions(stage_name=stage_name),
        )
        # The RestApi's own output is the stage's base URL, which is easy to paste
        # into the Developer Portal by mistake; the stack outputs the full URL.
        self.rest_api.node.try_remove_child("Endpoint")
        notify = self.rest_api.root.add_resource(NOTIFY_PATH)
        notify.add_method("POST", apigateway.LambdaIntegration(receiver, proxy=True))
        self.state_change_url = self.rest_api.url_for_path(f"/{NOTIFY_PATH}")
