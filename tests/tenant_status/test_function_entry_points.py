"""The Lambda entry points, loaded as Lambda loads them: from environment variables alone."""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tenant_status.change_types import ChangeType
from tools.api_gateway import proxy_event
from tools.local_stack import LocalStack, post


def _load(module: str, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> ModuleType:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, module, raising=False)
    return importlib.import_module(module)


@pytest.fixture(autouse=True)
def logging_as_before() -> Iterator[None]:
    """Loading an entry point sends its lines to stdout; other tests read them from logging."""
    logger = logging.getLogger("tenant_status")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    yield
    logger.handlers[:] = handlers
    logger.propagate, logger.level = propagate, level


@pytest.fixture
def aws_environ(local_stack: LocalStack) -> dict[str, str]:
    assert local_stack.aws_endpoint is not None
    return {
        "AWS_ENDPOINT_URL": local_stack.aws_endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "ENVIRONMENT_NAME": "Local",
    }


def test_the_receiver_entry_point_records_a_notification(
    local_stack: LocalStack, aws_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    function = _load(
        "tenant_status.receiver_function",
        monkeypatch,
        {
            **aws_environ,
            "TABLE_NAME": local_stack.table_name,
            "ACCEPTED_ISSUERS": json.dumps([local_stack.issuer]),
            "JWKS_URL": local_stack.jwks.jwks_url,
        },
    )
    body = {
        "ChangeType": int(ChangeType.Suspend),
        "ContextIdentifier": "Cust1",
        "Token": local_stack.sign("Cust1"),
    }
    event = proxy_event(
        method="POST",
        resource="/NotifyCustomerStateChange",
        stage="Local",
        headers={"Content-Type": "application/json"},
        body=json.dumps(body).encode(),
    )

    response = function.handler(event, None)

    assert response["statusCode"] == 200, response
    assert [s["Status"] for s in local_stack.tenant_states()] == ["suspended"]


def test_the_publisher_entry_point_publishes_to_the_topic(
    local_stack: LocalStack, aws_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    function = _load(
        "tenant_status.publisher_function",
        monkeypatch,
        {
            **aws_environ,
            "TOPIC_ARNS": json.dumps(local_stack.topic_arns),
            "FAILURE_QUEUE_URL": local_stack.failure_queue_url,
        },
    )
    record: dict[str, Any] = {
        "eventName": "INSERT",
        "dynamodb": {
            "SequenceNumber": "1",
            "Keys": {
                "pk": {"S": "TENANT#Cust1"},
                "sk": {"S": "EVENT#e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1"},
            },
            "NewImage": {
                "EventId": {"S": "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1"},
                "Environment": {"S": "Local"},
                "ChangeType": {"N": "4"},
                "ChangeTypeName": {"S": "Delete"},
                "ContextIdentifier": {"S": "Cust1"},
                "Status": {"S": "deleted"},
                "Available": {"BOOL": False},
                "ReceivedAt": {"S": "2026-01-01T00:00:00.000Z"},
                "Sequence": {"N": "1"},
                "Superseded": {"BOOL": False},
            },
        },
    }

    assert function.handler({"Records": [record]}, None) == {"batchItemFailures": []}
    assert [d.topic_key for d in local_stack.receive(expected=1)] == ["Delete"]


def test_an_incomplete_environment_fails_at_load_with_the_missing_name(
    aws_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TABLE_NAME", raising=False)

    with pytest.raises(ValueError, match="TABLE_NAME"):
        _load("tenant_status.receiver_function", monkeypatch, aws_environ)


def test_a_publisher_without_every_topic_fails_at_load_naming_the_missing_ones(
    local_stack: LocalStack, aws_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = {k: v for k, v in local_stack.topic_arns.items() if k not in ("Move", "Unknown")}

    with pytest.raises(ValueError, match="Move, Unknown"):
        _load(
            "tenant_status.publisher_function",
            monkeypatch,
            {
                **aws_environ,
                "TOPIC_ARNS": json.dumps(topics),
                "FAILURE_QUEUE_URL": local_stack.failure_queue_url,
            },
        )


def test_the_state_entry_point_answers_a_tenants_state(
    local_stack: LocalStack, aws_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    function = _load(
        "tenant_status.state_function",
        monkeypatch,
        {
            **aws_environ,
            "TABLE_NAME": local_stack.table_name,
            "STATE_READERS": '["arn:aws:iam::111111111111:role/billing"]',
        },
    )
    post(
        local_stack.url,
        {"ChangeType": 2, "ContextIdentifier": "Cust1", "Token": local_stack.sign("Cust1")},
    )
    session = "arn:aws:sts::111111111111:assumed-role/billing/i-1"

    answer = function.handler(
        {
            "pathParameters": {"ContextIdentifier": "Cust1"},
            "requestContext": {"identity": {"userArn": session}},
        },
        None,
    )

    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["Status"] == "suspended"


def test_an_entry_point_writes_each_notification_as_one_metric_line_on_stdout(
    local_stack: LocalStack,
    aws_environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function = _load(
        "tenant_status.receiver_function",
        monkeypatch,
        {
            **aws_environ,
            "TABLE_NAME": local_stack.table_name,
            "ACCEPTED_ISSUERS": json.dumps([local_stack.issuer]),
            "JWKS_URL": local_stack.jwks.jwks_url,
        },
    )
    capsys.readouterr()
    body = {"ChangeType": 2, "ContextIdentifier": "Cust1", "Token": local_stack.sign("Cust1")}
    function.handler(
        proxy_event(
            method="POST",
            resource="/NotifyCustomerStateChange",
            stage="Local",
            headers={"Content-Type": "application/json"},
            body=json.dumps(body).encode(),
        ),
        None,
    )

    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert (record["outcome"], record["change_type_name"]) == ("accepted", "Suspend")
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert ["environment", "outcome", "change_type_name"] in directive["Dimensions"]
    assert {m["Name"] for m in directive["Metrics"]} == {"notifications", "latency_ms"}
