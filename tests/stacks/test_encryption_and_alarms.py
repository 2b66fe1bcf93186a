"""Encryption of everything that carries events or alarms, the alarms, and cdk-nag's verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs

from app import build_app
from stacks.config import parse_environment
from stacks.tenant_status_stack import TenantStatusStack, TenantStatusStage
from tests.stacks.conftest import SynthesizedStage

MINIMAL = {"superoffice_host": "sod.superoffice.com"}


def _key_id(stage: SynthesizedStage) -> str:
    key_id, _ = stage.only("AWS::KMS::Key")
    return key_id


def test_every_topic_and_queue_is_encrypted_with_the_stage_key(stage: SynthesizedStage) -> None:
    expected = {"Fn::GetAtt": [_key_id(stage), "Arn"]}
    topics = stage.resources("AWS::SNS::Topic")
    queues = stage.resources("AWS::SQS::Queue")

    assert topics and queues
    for topic in topics.values():
        assert topic["Properties"]["KmsMasterKeyId"] == expected
    for queue in queues.values():
        assert queue["Properties"]["KmsMasterKeyId"] == expected


def test_the_key_rotates_and_lets_sns_and_cloudwatch_deliver(stage: SynthesizedStage) -> None:
    _, key = stage.only("AWS::KMS::Key")
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    services = {
        service
        for statement in statements
        if set(statement["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
        for service in json.dumps(statement["Principal"].get("Service", [])).split('"')
        if service.endswith(".amazonaws.com")
    }

    assert key["Properties"]["EnableKeyRotation"] is True
    assert services == {"sns.amazonaws.com", "cloudwatch.amazonaws.com"}
    for statement in statements:
        if "Service" in statement["Principal"]:
            # Only for this account's topics and alarms, not as anyone's deputy.
            assert statement["Condition"] == {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
            }


def test_every_topic_and_queue_refuses_plain_http(stage: SynthesizedStage) -> None:
    guarded: set[str] = set()
    for kind, policy_kind, targets in (
        ("AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "Topics"),
        ("AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "Queues"),
    ):
        for policy in stage.resources(policy_kind).values():
            denies_http = any(
                s["Effect"] == "Deny"
                and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                for s in policy["Properties"]["PolicyDocument"]["Statement"]
            )
            if denies_http:
                guarded |= {json.dumps(t) for t in policy["Properties"][targets]}
        for logical_id in stage.resources(kind):
            ref = {"Ref": logical_id}
            assert json.dumps(ref) in guarded or any(logical_id in g for g in guarded), logical_id


ALARMED = {
    ("AWS/Lambda", "Errors"): 2,
    ("AWS/ApiGateway", "5XXError"): 1,
    ("AWS/Lambda", "Throttles"): 2,
    ("AWS/Lambda", "IteratorAge"): 1,
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): 1,
}


def test_each_failure_mode_has_an_alarm_sent_to_the_alarm_topic(
    stage: SynthesizedStage, cdk_context: dict[str, Any]
) -> None:
    alarm_topic = stage.json["Outputs"]["AlarmTopicArn"]["Value"]
    alarms = [a["Properties"] for a in stage.resources("AWS::CloudWatch::Alarm").values()]
    counted: dict[tuple[str, str], int] = {}
    for alarm in alarms:
        assert alarm["AlarmActions"] == [alarm_topic]
        assert alarm["TreatMissingData"] == "notBreaching"
        counted[(alarm["Namespace"], alarm["MetricName"])] = (
            counted.get((alarm["Namespace"], alarm["MetricName"]), 0) + 1
        )

    own = f"SuperOfficeTenantStatus/{stage.name}"
    assert counted == {**ALARMED, (own, "Unauthorized"): 1, (own, "Throttled"): 1}
    threshold = cdk_context["tenant-status:environments"][stage.name]["alarms"][
        "unauthorized_per_5_minutes"
    ]
    (probing,) = [a for a in alarms if a["MetricName"] == "Unauthorized"]
    assert probing["Threshold"] == threshold


def test_refusals_are_counted_from_the_access_log(stage: SynthesizedStage) -> None:
    _, api_stage = stage.only("AWS::ApiGateway::Stage")
    access_log = api_stage["Properties"]["AccessLogSetting"]["DestinationArn"]["Fn::Join"][1][-1]
    filters = {
        f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]
        for f in stage.resources("AWS::Logs::MetricFilter").values()
    }

    assert filters["Unauthorized"]["FilterPattern"] == "{ $.status = 401 }"
    assert filters["Throttled"]["FilterPattern"] == "{ $.status = 429 }"
    assert {json.dumps(f["LogGroupName"]) for f in filters.values()} == {json.dumps(access_log)}


def test_configured_alarm_subscribers_and_reserved_concurrency_are_applied() -> None:
    config = parse_environment(
        "SOD",
        {
            **MINIMAL,
            "receiver_reserved_concurrency": 20,
            "publisher_reserved_concurrency": 2,
            "alarms": {
                "subscriptions": [
                    {"protocol": "email", "endpoint": "ops@example.com"},
                    {"protocol": "https", "endpoint": "https://chat.example/hook"},
                ]
            },
        },
    )
    synthesized = cdk.assertions.Template.from_stack(
        TenantStatusStack(cdk.App(), "Test", config=config)
    ).to_json()
    resources = synthesized["Resources"]

    reserved = {
        r["Properties"]["Handler"]: r["Properties"].get("ReservedConcurrentExecutions")
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert reserved == {
        "tenant_status.receiver_function.handler": 20,
        "tenant_status.publisher_function.handler": 2,
        "tenant_status.state_function.handler": None,
    }
    alarm_topic = synthesized["Outputs"]["AlarmTopicArn"]["Value"]
    subscriptions = {
        (r["Properties"]["Protocol"], r["Properties"]["Endpoint"])
        for r in resources.values()
        if r["Type"] == "AWS::SNS::Subscription"
        and json.dumps(r["Properties"]["TopicArn"]) == json.dumps(alarm_topic)
    }
    assert subscriptions == {("email", "ops@example.com"), ("https", "https://chat.example/hook")}


def test_cdk_nag_finds_nothing_unacknowledged_in_any_stage(
    synthesized: dict[str, SynthesizedStage], cloud_assembly_dir: Path
) -> None:
    # The synth itself would have failed on a finding; the report says what it saw.
    report = json.loads((cloud_assembly_dir / "validation-report.json").read_text())

    assert [v["ruleName"] for r in report["pluginReports"] for v in r["violations"]] == []
    assert len(synthesized) == 3


def test_cdk_nag_fails_the_synth_on_a_finding_nobody_acknowledged(
    cdk_context: dict[str, Any], tmp_path: Path
) -> None:
    app = build_app(cdk.App(context=cdk_context, outdir=str(tmp_path)))
    stage = app.node.find_child("SOD")
    assert isinstance(stage, TenantStatusStage)
    sqs.Queue(stage.stack, "Careless")

    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for r in report["pluginReports"] for v in r["violations"]}
    assert "AwsSolutions-SQS4" in rules


def _dashboard(stage: SynthesizedStage) -> tuple[dict[str, Any], list[str]]:
    """The dashboard's JSON, with each reference to a resource replaced by its logical id."""
    _, dashboard = stage.only("AWS::CloudWatch::Dashboard")
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    references = [json.dumps(p) for p in parts if not isinstance(p, str)]
    text = "".join(
        p if isinstance(p, str) else str(p.get("Ref") or p.get("Fn::GetAtt", ["?"])[0])
        for p in parts
    )
    body: dict[str, Any] = json.loads(text)
    return body, references


def test_each_stage_has_a_dashboard_of_its_own_metrics_and_alarms(stage: SynthesizedStage) -> None:
    body, references = _dashboard(stage)
    widgets = body["widgets"]
    expressions = [
        metric[0]["expression"]
        for widget in widgets
        for metric in widget["properties"].get("metrics", [])
        if isinstance(metric[0], dict) and "expression" in metric[0]
    ]

    for dimensions in (
        "environment,outcome",
        "environment,outcome,change_type_name",
        "environment,reason",
        "environment,topic",
    ):
        assert any(f"{{SuperOfficeTenantStatus,{dimensions}}}" in e for e in expressions)
    assert all(f'environment="{stage.name}"' in e for e in expressions)
    (alarm_widget,) = [w for w in widgets if w["properties"].get("alarms")]
    assert len(alarm_widget["properties"]["alarms"]) == len(
        stage.resources("AWS::CloudWatch::Alarm")
    )
    assert all(any(a in r for r in references) for a in stage.resources("AWS::CloudWatch::Alarm"))
