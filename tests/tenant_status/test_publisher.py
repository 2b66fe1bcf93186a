"""The outbox publisher: what was accepted reaches its topic, once, even through an SNS outage."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError

from tenant_status.change_types import ChangeType
from tenant_status.publisher import Publisher
from tenant_status.settings import PublisherSettings
from tenant_status.store import to_attributes
from tools.local_stack import LocalStack, post


def _notify(stack: LocalStack, change_type: ChangeType, tenant: str) -> str:
    body: dict[str, Any] = {
        "ChangeType": int(change_type),
        "ContextIdentifier": tenant,
        "Token": stack.sign(tenant),
    }
    if change_type == ChangeType.Move:
        body["PublicEndpoint"] = "sod2.superoffice.com"
    status, answer = post(stack.url, body)
    assert status == 200
    return str(answer["eventId"])


def _publisher(stack: LocalStack) -> Publisher:
    return Publisher(
        settings=PublisherSettings(
            environment="Local",
            topic_arns=stack.topic_arns,
            failure_queue_url=stack.failure_queue_url,
        ),
        sns_client=stack.sns,
        sqs_client=stack.sqs,
    )


def _break_topic(stack: LocalStack, key: str) -> None:
    stack.sns.delete_topic(TopicArn=stack.topic_arns[key])


def _mend_topic(stack: LocalStack, key: str) -> None:
    arn = stack.sns.create_topic(Name=stack.topic_arns[key].rsplit(":", 1)[1])["TopicArn"]
    assert arn == stack.topic_arns[key]
    queue_arn = stack.sqs.get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    stack.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)


def test_events_accepted_during_an_sns_outage_are_published_once_it_recovers(
    local_stack: LocalStack,
) -> None:
    _break_topic(local_stack, "Suspend")
    suspended = _notify(local_stack, ChangeType.Suspend, "Cust1")
    behind = _notify(local_stack, ChangeType.Delete, "Cust2")
    time.sleep(1.5)  # several publish attempts fail meanwhile

    assert local_stack.receive(expected=0, timeout=0.5) == []

    _mend_topic(local_stack, "Suspend")
    deliveries = local_stack.receive(expected=2, timeout=10)

    assert sorted((d.topic_key, d.message["EventId"]) for d in deliveries) == sorted(
        [("Suspend", suspended), ("Delete", behind)]
    )


def test_a_failed_record_stops_the_batch_and_is_reported(local_stack: LocalStack) -> None:
    publisher = _publisher(local_stack)
    _break_topic(local_stack, "Upgrade")
    records = [_record("1", ChangeType.Upgrade), _record("2", ChangeType.Resume)]

    result = publisher.handle({"Records": records})

    assert result == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert local_stack.receive(expected=0, timeout=0.5) == []


def test_records_that_are_not_new_events_are_skipped(local_stack: LocalStack) -> None:
    publisher = _publisher(local_stack)
    state_write = _record("1", ChangeType.Resume)
    state_write["dynamodb"]["Keys"]["sk"] = {"S": "STATE"}
    modify = {**_record("2", ChangeType.Resume), "eventName": "MODIFY"}

    assert publisher.handle({"Records": [state_write, modify]}) == {"batchItemFailures": []}
    assert local_stack.receive(expected=0, timeout=0.5) == []


def _record(sequence_number: str, change_type: ChangeType) -> dict[str, Any]:
    image = {
        "pk": "TENANT#Cust1",
        "sk": f"EVENT#{int(sequence_number):032x}",
        "EventId": f"{int(sequence_number):032x}",
        "Environment": "Local",
        "ChangeType": int(change_type),
        "ChangeTypeName": change_type.name,
        "ContextIdentifier": "Cust1",
        "VersionName": None,
        "FileVersion": None,
        "PublicEndpoint": None,
        "Status": "running",
        "Available": True,
        "IssuedAt": None,
        "ReceivedAt": "2026-01-01T00:00:00.000Z",
        "Sequence": 1,
        "Superseded": False,
    }
    return {
        "eventName": "INSERT",
        "dynamodb": {
            "Keys": to_attributes({"pk": image["pk"], "sk": image["sk"]}),
            "NewImage": to_attributes(image),
            "SequenceNumber": sequence_number,
        },
    }


def test_every_accepted_notification_is_published_once_through_repeated_publish_failures(
    local_stack: LocalStack,
) -> None:
    injected_failures = 5
    attempts: list[str] = []

    def failing_at_first(params: dict[str, Any], **_: Any) -> None:
        attempts.append(params["TopicArn"])
        if len(attempts) <= injected_failures:
            raise ClientError(
                {"Error": {"Code": "InternalError", "Message": "injected"}}, "Publish"
            )

    local_stack.sns.meta.events.register("before-parameter-build.sns.Publish", failing_at_first)
    accepted = [
        _notify(local_stack, change_type, f"Cust{index}")
        for index, change_type in enumerate(
            [ChangeType.Suspend, ChangeType.Delete, ChangeType.Move, ChangeType.Upgrade] * 2
        )
    ]

    deliveries = local_stack.receive(expected=len(accepted), timeout=30)
    deliveries += local_stack.receive(expected=0, timeout=1.5)  # nothing arrives twice later

    assert sorted(d.message["EventId"] for d in deliveries) == sorted(accepted)
    assert len(attempts) >= injected_failures + len(accepted)


def test_a_crashing_publisher_is_retried_rather_than_losing_the_event(
    local_stack: LocalStack,
) -> None:
    crashes: list[int] = []

    def crash_once(**_: Any) -> None:
        if not crashes:
            crashes.append(1)
            raise RuntimeError("injected crash")

    local_stack.sns.meta.events.register("before-parameter-build.sns.Publish", crash_once)
    event_id = _notify(local_stack, ChangeType.Resume, "Cust1")

    deliveries = local_stack.receive(expected=1, timeout=10)

    assert crashes == [1]
    assert [d.message["EventId"] for d in deliveries] == [event_id]


def _without(record: dict[str, Any], *names: str) -> dict[str, Any]:
    image = {k: v for k, v in record["dynamodb"]["NewImage"].items() if k not in names}
    return {**record, "dynamodb": {**record["dynamodb"], "NewImage": image}}


def _with(record: dict[str, Any], **attributes: Any) -> dict[str, Any]:
    image = {**record["dynamodb"]["NewImage"], **to_attributes(attributes)}
    return {**record, "dynamodb": {**record["dynamodb"], "NewImage": image}}


def _parked(stack: LocalStack) -> list[dict[str, Any]]:
    messages = stack.sqs.receive_message(
        QueueUrl=stack.failure_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    ).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


# Event items no version of the receiver writes: by hand, or damaged.
UNPUBLISHABLE = {
    "no-new-image": lambda r: {
        **r,
        "dynamodb": {k: v for k, v in r["dynamodb"].items() if k != "NewImage"},
    },
    "no-status": lambda r: _without(r, "Status"),
    "no-event-id": lambda r: _without(r, "EventId"),
    "change-type-not-a-number": lambda r: _with(r, ChangeType="three"),
    # Converted rather than checked, these would break the contract: bool("false") is true.
    "version-name-beyond-256": lambda r: _with(r, VersionName="v" * 270_000),
    "status-not-in-the-contract": lambda r: _with(r, Status="exploded"),
    "received-at-free-text": lambda r: _with(r, ReceivedAt="now"),
    "issued-at-free-text": lambda r: _with(r, IssuedAt="yesterday"),
    "environment-with-a-dash": lambda r: _with(r, Environment="Prod-EU"),
    "tenant-not-an-id": lambda r: _with(r, ContextIdentifier="a b c"),
    "endpoint-in-capitals": lambda r: _with(r, PublicEndpoint="SOD3.superoffice.com"),
    "change-type-beyond-range": lambda r: _with(r, ChangeType=2**40),
    "superseded-as-text": lambda r: _with(r, Superseded="false"),
    "available-as-text": lambda r: _with(r, Available="false"),
    "sequence-zero": lambda r: _with(r, Sequence=0),
    "sequence-fractional": lambda r: _with(r, Sequence=Decimal("1.5")),
    "event-id-not-an-id": lambda r: _with(r, EventId="not-an-id"),
    "name-of-another-change-type": lambda r: _with(r, ChangeTypeName="Delete"),
    "empty-tenant": lambda r: _with(r, ContextIdentifier=""),
}


@pytest.mark.parametrize("damage", UNPUBLISHABLE.values(), ids=UNPUBLISHABLE.keys())
def test_an_unpublishable_record_is_parked_and_the_rest_published_once(
    local_stack: LocalStack, damage: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    records = [
        _record("1", ChangeType.Upgrade),
        damage(_record("2", ChangeType.Suspend)),
        _record("3", ChangeType.Resume),
    ]

    result = _publisher(local_stack).handle({"Records": records})

    assert result == {"batchItemFailures": []}
    assert sorted(d.topic_key for d in local_stack.receive(expected=2)) == ["Resume", "Upgrade"]
    (parked,) = _parked(local_stack)
    assert parked["reason"] == "malformed_event_item"
    assert parked["record"]["dynamodb"]["SequenceNumber"] == "2"


def test_a_message_sns_refuses_for_what_it_is_is_parked_and_the_rest_published(
    local_stack: LocalStack,
) -> None:
    # SNS answers InvalidParameter for a message it will never take (over 256 KiB, an
    # empty attribute); items that pass the contract's checks cannot be such, so the
    # answer is given here as SNS gives it.
    def refuse_the_suspension(**kwargs: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if local_stack.topic_arns["Suspend"] not in json.dumps(kwargs["params"]["body"]):
            return None
        refusal = {"Error": {"Code": "InvalidParameter", "Message": "Message too long"}}
        return AWSResponse("", 400, HTTPHeaders(), None), refusal

    local_stack.sns.meta.events.register("before-call.sns.Publish", refuse_the_suspension)
    records = [
        _record("1", ChangeType.Upgrade),
        _record("2", ChangeType.Suspend),
        _record("3", ChangeType.Resume),
    ]

    result = _publisher(local_stack).handle({"Records": records})

    assert result == {"batchItemFailures": []}
    assert sorted(d.topic_key for d in local_stack.receive(expected=2)) == ["Resume", "Upgrade"]
    (parked,) = _parked(local_stack)
    assert (parked["reason"], parked["error"]) == ("refused_by_sns", "InvalidParameterException")
    assert parked["record"]["dynamodb"]["SequenceNumber"] == "2"


def test_a_damaged_item_too_large_to_park_whole_is_parked_without_its_image(
    local_stack: LocalStack,
) -> None:
    # JSON writes each control character as six, so the record grows past what SQS takes.
    damaged = _with(_without(_record("1", ChangeType.Suspend), "Status"), Note="\x01" * 100_000)

    result = _publisher(local_stack).handle({"Records": [damaged]})

    assert result == {"batchItemFailures": []}
    (parked,) = _parked(local_stack)
    assert parked["reason"] == "malformed_event_item"
    assert "NewImage" not in parked["record"]["dynamodb"]


def test_a_record_is_reported_when_even_the_failure_queue_fails(local_stack: LocalStack) -> None:
    local_stack.sqs.delete_queue(QueueUrl=local_stack.failure_queue_url)
    records = [
        _record("1", ChangeType.Upgrade),
        _without(_record("2", ChangeType.Suspend), "Status"),
    ]

    result = _publisher(local_stack).handle({"Records": records})

    assert result == {"batchItemFailures": [{"itemIdentifier": "2"}]}


def test_a_change_type_named_by_a_newer_version_goes_to_the_unknown_topic(
    local_stack: LocalStack,
) -> None:
    record = _with(_record("1", ChangeType.Resume), ChangeType=6, ChangeTypeName="Archive")

    result = _publisher(local_stack).handle({"Records": [record]})

    assert result == {"batchItemFailures": []}
    assert [d.topic_key for d in local_stack.receive(expected=1)] == ["Unknown"]


def test_a_hand_written_event_item_neither_stops_the_local_relay_nor_vanishes(
    local_stack: LocalStack,
) -> None:
    local_stack.dynamodb.put_item(
        TableName=local_stack.table_name,
        Item=to_attributes({"pk": "TENANT#Cust9", "sk": "EVENT#manual", "Note": "by hand"}),
    )

    event_id = _notify(local_stack, ChangeType.Resume, "Cust1")

    assert [d.message["EventId"] for d in local_stack.receive(expected=1)] == [event_id]
    assert [p["record"]["dynamodb"]["Keys"]["sk"]["S"] for p in _parked(local_stack)] == [
        "EVENT#manual"
    ]
