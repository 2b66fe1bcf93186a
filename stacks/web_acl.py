"""The optional AWS WAF web ACL in front of the API stage.

It blocks a source address that sends more than the configured number of requests
in five minutes, and bodies larger than the function accepts. SuperOffice sends
from a few addresses, so the rate must allow a mass upgrade of every tenant.
"""

from __future__ import annotations

from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from tenant_status.notification import MAX_BODY_BYTES

from .config import WafConfig


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True,
        metric_name=metric_name,
        sampled_requests_enabled=True,
    )


class NotificationWebAcl(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        config: WafConfig,
        stage_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        rate_limit = wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                aggregate_key_type="IP",
                limit=config.requests_per_5_minutes_per_ip,
                evaluation_window_sec=300,
            )
        )
        too_large = wafv2.CfnWebACL.StatementProperty(
            size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                    # Bodies past what WAF inspects count as too large.
                    body=wafv2.CfnWebACL.BodyProperty(oversize_handling="MATCH")
                ),
                comparison_operator="GT",
                size=MAX_BODY_BYTES,
                text_transformations=[
                    wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                ],
            )
        )
        metric_prefix = f"TenantStatus{environment_name}"
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            description=f"SuperOffice {environment_name} State Change URL",
            visibility_config=_visibility(metric_prefix),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name=name,
                    priority=priority,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=statement,
                    visibility_config=_visibility(f"{metric_prefix}{name}"),
                )
                for priority, (name, statement) in enumerate(
                    (
                        ("RequestsPerSourceAddress", rate_limit),
                        ("BodyLargerThanANotification", too_large),
                    )
                )
            ],
        )
        wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
