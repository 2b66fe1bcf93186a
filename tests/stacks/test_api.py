"""The State Change URL's edge: request validation, throttling, access logs and WAF."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jsonschema import Draft4Validator

from tests.stacks.conftest import SynthesizedStage


def _environment(cdk_context: dict[str, Any], name: str) -> dict[str, Any]:
    environment: dict[str, Any] = cdk_context["tenant-status:environments"][name]
    return environment


def _notify_method(stage: SynthesizedStage) -> dict[str, Any]:
    (method,) = [
        m
        for m in stage.resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "POST"
    ]
    return method


def _model_schema(stage: SynthesizedStage) -> dict[str, Any]:
    method = _notify_method(stage)
    model_id = method["Properties"]["RequestModels"]["application/json"]["Ref"]
    schema: dict[str, Any] = stage.json["Resources"][model_id]["Properties"]["Schema"]
    return schema


DOCUMENTED_EXAMPLES = [
    {
        "ChangeType": 0,
        "ContextIdentifier": "Cust12345",
        "VersionName": "Release 8.4 R08",
        "FileVersion": "8.4.12.1234",
        "Token": "eyJ...",
    },
    {
        "ChangeType": 5,
        "ContextIdentifier": "Cust12345",
        "VersionName": "Release_10.3.8_2024.08.30-01",
        "FileVersion": "10.3.8.2024",
        "Token": "eyJ...",
        "PublicEndpoint": "sod3.superoffice.com",
    },
    # Forward compatible: a change type and a field this stack does not know yet.
    {"ChangeType": 9, "ContextIdentifier": "Cust1", "Token": "eyJ...", "NewField": [1]},
]


@pytest.mark.parametrize("body", DOCUMENTED_EXAMPLES)
def test_the_request_model_lets_every_genuine_notification_through(
    stage: SynthesizedStage, body: dict[str, Any]
) -> None:
    assert list(Draft4Validator(_model_schema(stage)).iter_errors(body)) == []


@pytest.mark.parametrize(
    "body",
    [
        [DOCUMENTED_EXAMPLES[0]],
        "a notification",
        {"ContextIdentifier": "Cust1", "Token": "eyJ..."},
        {"ChangeType": 0, "Token": "eyJ..."},
        {"ChangeType": 0, "ContextIdentifier": "Cust1"},
        {"ChangeType": "0", "ContextIdentifier": "Cust1", "Token": "eyJ..."},
        {"ChangeType": 2.5, "ContextIdentifier": "Cust1", "Token": "eyJ..."},
        {"ChangeType": -1, "ContextIdentifier": "Cust1", "Token": "eyJ..."},
        {"ChangeType": 0, "ContextIdentifier": "", "Token": "eyJ..."},
        {"ChangeType": 0, "ContextIdentifier": "C" * 257, "Token": "eyJ..."},
        {"ChangeType": 0, "ContextIdentifier": 12345, "Token": "eyJ..."},
        {"ChangeType": 0, "ContextIdentifier": "Cust1", "Token": "e" * 8193},
    ],
    ids=[
        "array",
        "string",
        "no-change-type",
        "no-tenant",
        "no-token",
        "change-type-string",
        "change-type-fraction",
        "change-type-negative",
        "empty-tenant",
        "long-tenant",
        "numeric-tenant",
        "long-token",
    ],
)
def test_the_request_model_refuses_what_cannot_be_a_notification(
    stage: SynthesizedStage, body: Any
) -> None:
    assert list(Draft4Validator(_model_schema(stage)).iter_errors(body)) != []


def test_the_post_is_validated_before_the_function_runs(stage: SynthesizedStage) -> None:
    method = _notify_method(stage)
    validator_id = method["Properties"]["RequestValidatorId"]["Ref"]
    validator = stage.json["Resources"][validator_id]["Properties"]

    assert validator["ValidateRequestBody"] is True
    assert method["Properties"]["Integration"]["Type"] == "AWS_PROXY"


def test_refusals_by_api_gateway_answer_json_like_the_function(stage: SynthesizedStage) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in stage.resources("AWS::ApiGateway::GatewayResponse").values()
    }

    assert set(responses) >= {"BAD_REQUEST_BODY", "THROTTLED", "WAF_FILTERED"}
    for response in responses.values():
        body = json.loads(response["ResponseTemplates"]["application/json"])
        assert set(body) == {"error", "message"}


def test_the_stage_is_throttled_as_configured(
    stage: SynthesizedStage, cdk_context: dict[str, Any]
) -> None:
    api = _environment(cdk_context, stage.name)["api"]
    _, resource = stage.only("AWS::ApiGateway::Stage")
    (settings,) = resource["Properties"]["MethodSettings"]

    assert settings["ThrottlingRateLimit"] == api["throttling_rate_limit"]
    assert settings["ThrottlingBurstLimit"] == api["throttling_burst_limit"]


def test_execution_logs_never_hold_request_bodies(stage: SynthesizedStage) -> None:
    _, resource = stage.only("AWS::ApiGateway::Stage")
    (settings,) = resource["Properties"]["MethodSettings"]

    assert settings["DataTraceEnabled"] is False
    assert settings["LoggingLevel"] == "ERROR"
    assert resource["Properties"]["TracingEnabled"] is True


def test_access_logs_are_one_json_object_per_request_with_a_numeric_status(
    stage: SynthesizedStage,
) -> None:
    _, resource = stage.only("AWS::ApiGateway::Stage")
    setting = resource["Properties"]["AccessLogSetting"]
    # What API Gateway would write for one refused request.
    line = re.sub(r"\$context\.status", "401", setting["Format"])
    line = re.sub(r"\$context\.[A-Za-z.]+", "x", line)

    assert json.loads(line)["status"] == 401
    log_group = setting["DestinationArn"]["Fn::Join"][1][-1]["Ref"]
    assert stage.json["Resources"][log_group]["Properties"]["RetentionInDays"] == 90


def test_the_account_logging_role_is_created_only_when_configured(
    stage: SynthesizedStage, cdk_context: dict[str, Any]
) -> None:
    creates = _environment(cdk_context, stage.name)["api"]["logging_role"] == "create"

    assert bool(stage.resources("AWS::ApiGateway::Account")) is creates


def test_waf_guards_the_stage_where_cdk_json_switches_it_on(
    stage: SynthesizedStage, cdk_context: dict[str, Any]
) -> None:
    waf = _environment(cdk_context, stage.name)["waf"]
    acls = stage.resources("AWS::WAFv2::WebACL")

    if not waf["enabled"]:
        assert acls == {}
        assert stage.resources("AWS::WAFv2::WebACLAssociation") == {}
        return
    ((acl_id, acl),) = acls.items()
    rules = {r["Name"]: r["Statement"] for r in acl["Properties"]["Rules"]}
    rate = rules["RequestsPerSourceAddress"]["RateBasedStatement"]
    assert (rate["AggregateKeyType"], rate["Limit"]) == (
        "IP",
        waf["requests_per_5_minutes_per_ip"],
    )
    size = rules["BodyLargerThanANotification"]["SizeConstraintStatement"]
    assert (size["ComparisonOperator"], size["Size"]) == ("GT", 16 * 1024)
    assert size["FieldToMatch"]["Body"]["OversizeHandling"] == "MATCH"
    _, association = stage.only("AWS::WAFv2::WebACLAssociation")
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    stage_id, _ = stage.only("AWS::ApiGateway::Stage")
    assert stage_id in json.dumps(association["Properties"]["ResourceArn"])
