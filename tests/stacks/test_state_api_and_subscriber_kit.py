"""The tenant state API's IAM gate, and what subscribers get: SSM names, cross-account rights."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.config import parse_environment
from stacks.fan_out import topic_parameter_name
from stacks.tenant_status_stack import TenantStatusStack
from tenant_status.change_types import TOPIC_KEYS
from tenant_status.settings import StateReaderSettings
from tenant_status.state_reader import TenantStateReader
from tests.stacks.conftest import SynthesizedStage

READER = "arn:aws:iam::111111111111:role/billing-service"
OTHER_ACCOUNT = "222222222222"


@pytest.fixture(scope="module")
def configured() -> dict[str, Any]:
    config = parse_environment(
        "SOD",
        {
            "superoffice_host": "sod.superoffice.com",
            "state_readers": [READER],
            "subscriber_accounts": [OTHER_ACCOUNT],
        },
    )
    return dict(Template.from_stack(TenantStatusStack(cdk.App(), "Test", config=config)).to_json())


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _api_policy(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (api,) = _resources(template, "AWS::ApiGateway::RestApi").values()
    return {s["Sid"]: s for s in api["Properties"]["Policy"]["Statement"]}


def _get_method(template: dict[str, Any]) -> dict[str, Any]:
    (method,) = [
        m
        for m in _resources(template, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "GET"
    ]
    return method


def test_tenant_state_is_read_with_iam_authorization_only(stage: SynthesizedStage) -> None:
    method = _get_method(stage.json)

    assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
    resource_id = method["Properties"]["ResourceId"]["Ref"]
    assert stage.json["Resources"][resource_id]["Properties"]["PathPart"] == "{ContextIdentifier}"
    url = json.dumps(stage.json["Outputs"]["TenantStateUrl"]["Value"])
    assert "/tenants" in url


def test_without_configured_readers_nobody_reads_tenant_state(stage: SynthesizedStage) -> None:
    policy = _api_policy(stage.json)

    deny = policy["NobodyElseReadsTenantState"]
    assert (deny["Effect"], deny["Resource"]) == ("Deny", "execute-api:/*/GET/tenants/*")
    assert "Condition" not in deny
    assert "ConfiguredRolesReadTenantState" not in policy


def test_the_state_change_url_stays_open_under_the_resource_policy(
    stage: SynthesizedStage,
) -> None:
    allow = _api_policy(stage.json)["AnyoneMayNotify"]

    assert (allow["Effect"], allow["Principal"]) == ("Allow", {"AWS": "*"})
    assert allow["Resource"] == "execute-api:/*/POST/NotifyCustomerStateChange"


def test_configured_roles_are_admitted_and_every_other_principal_denied(
    configured: dict[str, Any],
) -> None:
    policy = _api_policy(configured)

    allow = policy["ConfiguredRolesReadTenantState"]
    assert (allow["Effect"], allow["Principal"]) == ("Allow", {"AWS": READER})
    deny = policy["NobodyElseReadsTenantState"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [READER]}}
    assert allow["Resource"] == deny["Resource"] == "execute-api:/*/GET/tenants/*"


def test_the_function_admits_whom_the_resource_policy_admits(configured: dict[str, Any]) -> None:
    (function,) = [
        f["Properties"]
        for f in _resources(configured, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "tenant_status.state_function.handler"
    ]
    environ = {k: v for k, v in function["Environment"]["Variables"].items() if isinstance(v, str)}
    reader = TenantStateReader(
        settings=StateReaderSettings.from_environ({**environ, "TABLE_NAME": "t"}),
        dynamodb_client=None,
    )

    def status(caller: str) -> int:
        event = {
            "pathParameters": {"ContextIdentifier": "Cust1!"},
            "requestContext": {"identity": {"userArn": caller}},
        }
        return int(reader.handle(event)["statusCode"])

    admitted = _api_policy(configured)["ConfiguredRolesReadTenantState"]["Principal"]["AWS"]
    assert admitted == READER
    # Admitted, the path is checked next (400); anyone else stops at 403.
    assert status("arn:aws:sts::111111111111:assumed-role/billing-service/s1") == 400
    assert status("arn:aws:sts::111111111111:assumed-role/other-service/s1") == 403


def test_the_state_function_can_only_get_items(stage: SynthesizedStage) -> None:
    (function_id,) = [
        k
        for k, f in stage.resources("AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == "tenant_status.state_function.handler"
    ]
    role_id = stage.json["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    actions = {
        action
        for policy in stage.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }

    assert {a for a in actions if a.startswith("dynamodb:")} == {"dynamodb:GetItem"}


def test_every_topic_arn_is_published_in_ssm_under_the_stage_name(stage: SynthesizedStage) -> None:
    parameters = {
        p["Properties"]["Name"]: p["Properties"]["Value"]
        for p in stage.resources("AWS::SSM::Parameter").values()
    }

    for key in TOPIC_KEYS:
        value = parameters[topic_parameter_name(stage.name, key)]
        assert stage.json["Resources"][value["Ref"]]["Type"] == "AWS::SNS::Topic"
    assert all(f"/{stage.name}/" in name for name in parameters)


def test_listed_accounts_may_subscribe_to_every_topic(configured: dict[str, Any]) -> None:
    granted = set()
    for policy in _resources(configured, "AWS::SNS::TopicPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement.get("Action") == "sns:Subscribe" and statement["Effect"] == "Allow":
                assert OTHER_ACCOUNT in json.dumps(statement["Principal"])
                granted |= {t["Ref"] for t in policy["Properties"]["Topics"]}
    alarm_topic = configured["Outputs"]["AlarmTopicArn"]["Value"]["Ref"]

    assert granted == set(_resources(configured, "AWS::SNS::Topic")) - {alarm_topic}


def test_no_other_account_may_subscribe_unless_listed(stage: SynthesizedStage) -> None:
    statements = [
        statement
        for policy in stage.resources("AWS::SNS::TopicPolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]

    assert not [s for s in statements if s.get("Action") == "sns:Subscribe"]
