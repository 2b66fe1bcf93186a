"""The synthesized templates of all three environments: resources, outputs and least privilege."""

from __future__ import annotations

import json
from typing import Any

from cfnlint.api import ManualArgs, lint_file

from stacks.config import stack_name
from tenant_status.change_types import TOPIC_KEYS
from tests.stacks.conftest import ENVIRONMENTS, SynthesizedStage


def _function(stage: SynthesizedStage, handler: str) -> tuple[str, dict[str, Any]]:
    matches = [
        (k, r)
        for k, r in stage.resources("AWS::Lambda::Function").items()
        if r["Properties"]["Handler"] == handler
    ]
    assert len(matches) == 1
    return matches[0]


def _statements(stage: SynthesizedStage, function: dict[str, Any]) -> list[dict[str, Any]]:
    """Every IAM statement that applies to the function's role."""
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    role = stage.json["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role, "the role must not carry managed policies"
    statements: list[dict[str, Any]] = []
    for policy in stage.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    for inline in role.get("Policies", []):
        statements.extend(inline["PolicyDocument"]["Statement"])
    return statements


# What active tracing adds to every function's role; X-Ray takes no resource.
TRACING = {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(action, resource) pairs, resources written as the logical ids they point at."""

    def name(resource: Any) -> str:
        if isinstance(resource, str):
            return resource
        if "Ref" in resource:
            return str(resource["Ref"])
        if "Fn::GetAtt" in resource:
            return ".".join(resource["Fn::GetAtt"])
        return json.dumps(resource)

    pairs = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                pairs.add((action, name(resource)))
    return pairs


def test_the_app_has_one_stage_per_superoffice_environment(
    synthesized: dict[str, SynthesizedStage],
) -> None:
    assert sorted(synthesized) == sorted(ENVIRONMENTS)


def test_the_api_stage_is_named_after_the_environment_and_posts_to_the_verifier(
    stage: SynthesizedStage,
) -> None:
    stage.template.resource_count_is("AWS::ApiGateway::RestApi", 1)
    stage.template.has_resource_properties("AWS::ApiGateway::Stage", {"StageName": stage.name})
    stage.template.has_resource_properties(
        "AWS::ApiGateway::Resource", {"PathPart": "NotifyCustomerStateChange"}
    )
    verifier_id, _ = _function(stage, "tenant_status.receiver_function.handler")
    stage.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST"},
        },
    )
    method = next(
        m
        for m in stage.resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "POST"
    )
    assert verifier_id in json.dumps(method["Properties"]["Integration"]["Uri"])
    # Nothing but the notification route and the IAM-guarded state route is exposed.
    methods = stage.resources("AWS::ApiGateway::Method").values()
    assert sorted(
        (m["Properties"]["HttpMethod"], m["Properties"]["AuthorizationType"]) for m in methods
    ) == [("GET", "AWS_IAM"), ("POST", "NONE")]


def test_each_stack_has_the_name_the_operations_tools_look_up(stage: SynthesizedStage) -> None:
    assert stage.stack_name == stack_name(stage.name) == f"{stage.name}-TenantStatus"


def test_the_state_change_url_is_an_output(stage: SynthesizedStage) -> None:
    parts = stage.json["Outputs"]["StateChangeUrl"]["Value"]["Fn::Join"][1]

    def resolve(part: Any) -> str:
        if isinstance(part, str):
            return part
        target = stage.json["Resources"].get(part.get("Ref", ""), {})
        if target.get("Type") == "AWS::ApiGateway::Stage":
            return str(target["Properties"]["StageName"])
        return "{" + str(part.get("Ref")) + "}"

    url = "".join(resolve(p) for p in parts)

    assert url.startswith("https://{")
    others = [k for k, v in stage.json["Outputs"].items() if "execute-api" in json.dumps(v)]
    # The only open URL among the outputs is the one to paste into the portal.
    assert sorted(others) == ["StateChangeUrl", "TenantStateUrl"]
    assert url.endswith(
        f".execute-api.{{AWS::Region}}.{{AWS::URLSuffix}}/{stage.name}/NotifyCustomerStateChange"
    )


def test_every_function_runs_python_314_on_arm64_with_the_dependency_layer(
    stage: SynthesizedStage,
) -> None:
    functions = stage.resources("AWS::Lambda::Function")

    assert len(functions) == 3
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert len(props["Layers"]) == 1
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["TracingConfig"] == {"Mode": "Active"}


def test_the_verifier_is_configured_for_its_superoffice_environment(
    stage: SynthesizedStage, cdk_context: dict[str, Any]
) -> None:
    config = cdk_context["tenant-status:environments"][stage.name]
    _, verifier = _function(stage, "tenant_status.receiver_function.handler")
    variables = verifier["Properties"]["Environment"]["Variables"]

    assert variables["ENVIRONMENT_NAME"] == stage.name
    assert json.loads(variables["ACCEPTED_ISSUERS"]) == config["accepted_issuers"]
    assert variables["JWKS_URL"] == config["jwks_url"]
    assert config["superoffice_host"] in variables["JWKS_URL"]


def test_the_table_keeps_state_and_history_durably(stage: SynthesizedStage) -> None:
    _, table = stage.only("AWS::DynamoDB::Table")
    props = table["Properties"]

    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    retained = stage.name == "Production"
    assert table["DeletionPolicy"] == ("Retain" if retained else "Delete")
    assert props.get("DeletionProtectionEnabled", False) is retained


def _alarm_topic(stage: SynthesizedStage) -> str:
    return str(stage.json["Outputs"]["AlarmTopicArn"]["Value"]["Ref"])


def test_one_topic_per_change_type_plus_the_catch_all_each_an_output(
    stage: SynthesizedStage,
) -> None:
    topics = set(stage.resources("AWS::SNS::Topic")) - {_alarm_topic(stage)}
    assert len(topics) == len(TOPIC_KEYS)
    for key in TOPIC_KEYS:
        output = stage.json["Outputs"][f"TopicArn{key}"]["Value"]
        assert stage.json["Resources"][output["Ref"]]["Type"] == "AWS::SNS::Topic"


def test_the_outbox_publisher_reads_only_new_events_and_never_drops_them(
    stage: SynthesizedStage,
) -> None:
    _, mapping = stage.only("AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]

    assert props["BisectBatchOnFunctionError"] is True
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["StartingPosition"] == "TRIM_HORIZON"
    queue_id = props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert stage.json["Resources"][queue_id]["Type"] == "AWS::SQS::Queue"
    # The publisher parks what it can never publish on the same queue.
    _, publisher = _function(stage, "tenant_status.publisher_function.handler")
    variables = publisher["Properties"]["Environment"]["Variables"]
    assert variables["FAILURE_QUEUE_URL"] == {"Ref": queue_id}
    pattern = json.loads(props["FilterCriteria"]["Filters"][0]["Pattern"])
    assert pattern == {
        "eventName": ["INSERT"],
        "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "EVENT#"}]}}},
    }


def test_the_verifier_can_only_read_and_write_its_table(stage: SynthesizedStage) -> None:
    table_id, _ = stage.only("AWS::DynamoDB::Table")
    _, verifier = _function(stage, "tenant_status.receiver_function.handler")

    grants = _grants(_statements(stage, verifier))

    data = {g for g in grants if not g[0].startswith(("logs:", "xray:"))}
    assert data == {
        ("dynamodb:GetItem", f"{table_id}.Arn"),
        ("dynamodb:PutItem", f"{table_id}.Arn"),
    }
    assert {g for g in grants if g[0].startswith("xray:")} == TRACING
    logs = grants - data - TRACING
    assert all("LogGroup" in resource or "Logs" in resource for _, resource in logs)


def test_the_publisher_can_only_publish_to_its_topics(stage: SynthesizedStage) -> None:
    table_id, _ = stage.only("AWS::DynamoDB::Table")
    queue_id, _ = stage.only("AWS::SQS::Queue")
    key_id, _ = stage.only("AWS::KMS::Key")
    topics = set(stage.resources("AWS::SNS::Topic")) - {_alarm_topic(stage)}
    _, publisher = _function(stage, "tenant_status.publisher_function.handler")

    grants = _grants(_statements(stage, publisher))

    assert {r for a, r in grants if a == "sns:Publish"} == topics
    assert {a for a, _ in grants if a.startswith("sns:")} == {"sns:Publish"}
    assert {r for a, r in grants if a.startswith("dynamodb:")} <= {f"{table_id}.StreamArn", "*"}
    # ListStreams and tracing cannot be limited to a resource; nothing else is on "*".
    assert {(a, r) for a, r in grants if r == "*"} == {("dynamodb:ListStreams", "*"), *TRACING}
    assert {r for a, r in grants if a.startswith("sqs:")} == {f"{queue_id}.Arn"}
    # Encrypting for the topics and the failure queue, with the stage's key alone.
    assert {r for a, r in grants if a.startswith("kms:")} == {f"{key_id}.Arn"}
    assert not any(a.startswith("dynamodb:") and "Item" in a for a, _ in grants)


def test_nothing_has_a_physical_name_so_all_stages_fit_in_one_account(
    stage: SynthesizedStage,
) -> None:
    named = {
        "AWS::DynamoDB::Table": "TableName",
        "AWS::SNS::Topic": "TopicName",
        "AWS::SQS::Queue": "QueueName",
        "AWS::Lambda::Function": "FunctionName",
        "AWS::IAM::Role": "RoleName",
        "AWS::Logs::LogGroup": "LogGroupName",
    }
    for kind, prop in named.items():
        for logical_id, resource in stage.resources(kind).items():
            assert prop not in resource.get("Properties", {}), f"{logical_id} sets {prop}"
    # The API Gateway account setting is one per account and region: removing one
    # stage must not take the logging role away from the others.
    for account in stage.resources("AWS::ApiGateway::Account").values():
        assert account["DeletionPolicy"] == "Retain"


def test_cfn_lint_passes_on_every_template(synthesized: dict[str, SynthesizedStage]) -> None:
    # W3005: the CDK makes each function DependsOn its role as well as referencing
    # it, so the role's policy exists before the function is created. Harmless.
    config = ManualArgs(ignore_checks=["W3005"])
    findings = {
        name: [str(match) for match in lint_file(stage.template_file, config)]
        for name, stage in synthesized.items()
    }

    assert findings == {name: [] for name in synthesized}
