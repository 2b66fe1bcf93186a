"""The example subscriber: its function on real messages, and its construct as synthesized."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Stack, Validations
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from examples.consumer import tenant_event_consumer as consumer
from stacks.encryption import MessageKey
from stacks.example_consumer import TenantEventConsumer
from stacks.fan_out import TenantEventTopics
from tenant_status.change_types import TOPIC_KEYS, ChangeType
from tools.local_stack import LocalStack, post


@pytest.fixture(autouse=True)
def fresh_memory() -> Iterator[None]:
    consumer._last_sequence.clear()
    consumer._endpoint_issued_at.clear()
    yield
    consumer._last_sequence.clear()
    consumer._endpoint_issued_at.clear()


def _sqs_event(bodies: list[str]) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m{i}", "body": b} for i, b in enumerate(bodies)]}


def _published(stack: LocalStack, count: int) -> list[dict[str, Any]]:
    return [d.message for d in stack.receive(expected=count)]


def test_each_event_is_acted_on_once_and_superseded_ones_change_nothing(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    acted: list[tuple[str, str]] = []

    def recording(name: str) -> consumer.Action:
        return lambda event: acted.append((name, event["ContextIdentifier"]))

    for name in ("Suspend", "Resume", "Delete"):
        monkeypatch.setitem(consumer.ACTIONS, name, recording(name))
    now = int(time.time())
    for change_type, iat in ((ChangeType.Resume, now), (ChangeType.Suspend, now - 60)):
        token = local_stack.sign("Cust1", extra_claims={"iat": iat})
        post(
            local_stack.url,
            {"ChangeType": int(change_type), "ContextIdentifier": "Cust1", "Token": token},
        )
    post(
        local_stack.url,
        {"ChangeType": 4, "ContextIdentifier": "Cust2", "Token": local_stack.sign("Cust2")},
    )
    messages = sorted(
        _published(local_stack, 3), key=lambda m: (m["ContextIdentifier"], m["Sequence"])
    )
    # Raw delivery as the construct subscribes, plus a redelivery of the first.
    bodies = [json.dumps(m) for m in messages] + [json.dumps(messages[0])]

    result = consumer.handler(_sqs_event(bodies), None)

    assert result == {"batchItemFailures": []}
    assert acted == [("Resume", "Cust1"), ("Delete", "Cust2")]


def test_an_event_delivered_after_a_later_one_of_its_tenant_is_not_acted_on(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    acted: list[tuple[str, str]] = []

    def recording(name: str) -> consumer.Action:
        return lambda event: acted.append((name, event["ContextIdentifier"]))

    for name in ("Resume", "Delete"):
        monkeypatch.setitem(consumer.ACTIONS, name, recording(name))
    now = int(time.time())
    for tenant, change_type, iat in (
        ("Cust1", ChangeType.Resume, now - 5),
        ("Cust1", ChangeType.Delete, now),
        ("Cust2", ChangeType.Resume, now - 5),
    ):
        token = local_stack.sign(tenant, extra_claims={"iat": iat})
        post(
            local_stack.url,
            {"ChangeType": int(change_type), "ContextIdentifier": tenant, "Token": token},
        )
    messages = sorted(
        _published(local_stack, 3), key=lambda m: (m["ContextIdentifier"], m["Sequence"])
    )
    assert not any(m["Superseded"] for m in messages)
    # A standard queue hands Cust1's Delete (sequence 2) over before its Resume (1).
    bodies = [json.dumps(m) for m in (messages[1], messages[0], messages[2])]

    result = consumer.handler(_sqs_event(bodies), None)

    assert result == {"batchItemFailures": []}
    assert acted == [("Delete", "Cust1"), ("Resume", "Cust2")]


def test_a_superseded_move_still_gives_the_tenants_newest_endpoint(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    acted: list[tuple[str, str | None]] = []

    def recording(name: str) -> consumer.Action:
        return lambda event: acted.append((name, event["PublicEndpoint"]))

    for name in ("Upgrade", "Move"):
        monkeypatch.setitem(consumer.ACTIONS, name, recording(name))
    monkeypatch.setattr(consumer, "use_endpoint", recording("use_endpoint"))
    now = int(time.time())
    for change_type, seconds_ago, endpoint in (
        (ChangeType.Move, 100, "sod1.superoffice.com"),
        (ChangeType.Upgrade, 10, None),
        # Issued before the Upgrade, arriving after it: the status stays, the host moves.
        (ChangeType.Move, 50, "sod3.superoffice.com"),
        # An older Move still, arriving last: nothing to take.
        (ChangeType.Move, 80, "sod2.superoffice.com"),
    ):
        body: dict[str, Any] = {
            "ChangeType": int(change_type),
            "ContextIdentifier": "Cust1",
            "Token": local_stack.sign("Cust1", extra_claims={"iat": now - seconds_ago}),
        }
        if endpoint:
            body["PublicEndpoint"] = endpoint
        post(local_stack.url, body)
    messages = sorted(_published(local_stack, 4), key=lambda m: m["Sequence"])

    results = [consumer.handle(m) for m in messages]

    assert results == ["handled", "handled", "superseded, endpoint taken", "superseded"]
    assert acted == [
        ("Move", "sod1.superoffice.com"),
        ("Upgrade", None),
        ("use_endpoint", "sod3.superoffice.com"),
    ]


def test_an_sns_envelope_is_unwrapped_too() -> None:
    event = {"SchemaVersion": 1, "EventId": "e" * 32, "Superseded": False}
    envelope = {"Type": "Notification", "Message": json.dumps(event)}

    assert consumer.tenant_event(json.dumps(envelope)) == event


def test_messages_it_cannot_read_are_reported_one_by_one() -> None:
    good = {
        "SchemaVersion": 1,
        "EventId": "a" * 32,
        "ChangeTypeName": "Upgrade",
        "ChangeType": 0,
        "ContextIdentifier": "Cust1",
        "Environment": "SOD",
        "Sequence": 1,
        "Status": "upgrading",
        "Superseded": False,
    }
    bodies = ["not json", json.dumps({**good, "SchemaVersion": 2}), json.dumps(good)]

    result = consumer.handler(_sqs_event(bodies), None)

    assert result == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}


@pytest.fixture(scope="module")
def consumer_template() -> dict[str, Any]:
    app = cdk.App()
    stack = Stack(app, "VendorService")
    key = MessageKey(stack, "Key", environment_name="SOD", retain=False)
    topics = TenantEventTopics(
        stack, "Topics", environment_name="SOD", subscriptions=(), key=key.key
    )
    TenantEventConsumer(stack, "Consumer", topics=topics.topics, key=key.key)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    template = Template.from_stack(stack).to_json()
    app.synth()  # fails on any cdk-nag finding
    return dict(template)


def _of(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def test_the_construct_subscribes_an_encrypted_queue_to_every_topic_raw(
    consumer_template: dict[str, Any],
) -> None:
    subscriptions = _of(consumer_template, "AWS::SNS::Subscription")

    assert len(subscriptions) == len(TOPIC_KEYS)
    assert all(s["Properties"]["Protocol"] == "sqs" for s in subscriptions)
    assert all(s["Properties"]["RawMessageDelivery"] is True for s in subscriptions)
    queues = _of(consumer_template, "AWS::SQS::Queue")
    assert len(queues) == 2
    assert all("KmsMasterKeyId" in q["Properties"] for q in queues)
    (main,) = [q for q in queues if "RedrivePolicy" in q["Properties"]]
    assert main["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5


def test_the_function_reports_failed_messages_one_by_one(
    consumer_template: dict[str, Any],
) -> None:
    (mapping,) = _of(consumer_template, "AWS::Lambda::EventSourceMapping")

    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    (function,) = _of(consumer_template, "AWS::Lambda::Function")
    assert function["Properties"]["Handler"] == "tenant_event_consumer.handler"
