"""The tenant state API's function: the stored state for a known tenant, 404 otherwise,
and nothing for a caller that is not a configured reader."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tenant_status.change_types import ChangeType
from tenant_status.settings import StateReaderSettings
from tenant_status.state_reader import STATE_FIELDS, TenantStateReader
from tenant_status.store import to_attributes
from tools.local_stack import LocalStack, post

# Configured with its path; API Gateway names a caller by its role session.
READER = "arn:aws:iam::111111111111:role/services/billing"
READER_SESSION = "arn:aws:sts::111111111111:assumed-role/billing/i-0abc"
READER_USER = "arn:aws:iam::111111111111:user/ops/alice"
FORBIDDEN = {
    "error": "forbidden",
    "message": "Only the roles configured as state readers may read tenant state.",
}


def _get(
    reader: TenantStateReader, tenant: str | None, identity: Any = None
) -> tuple[int, dict[str, Any]]:
    event: dict[str, Any] = {
        "httpMethod": "GET",
        "resource": "/tenants/{ContextIdentifier}",
        "pathParameters": None if tenant is None else {"ContextIdentifier": tenant},
        "requestContext": {"identity": identity or {"userArn": READER_SESSION}},
    }
    answer = reader.handle(event)
    return answer["statusCode"], json.loads(answer["body"])


@pytest.fixture
def reader(local_stack: LocalStack) -> TenantStateReader:
    return TenantStateReader(
        settings=StateReaderSettings(
            environment="Local",
            table_name=local_stack.table_name,
            readers=(READER, READER_USER),
        ),
        dynamodb_client=local_stack.dynamodb,
    )


def _suspend(local_stack: LocalStack, tenant: str) -> None:
    body = {"ChangeType": 2, "ContextIdentifier": tenant, "Token": local_stack.sign(tenant)}
    assert post(local_stack.url, body)[0] == 200


def _counting_reads(local_stack: LocalStack) -> list[str]:
    reads: list[str] = []
    local_stack.dynamodb.meta.events.register(
        "before-call.dynamodb.GetItem", lambda **_: reads.append("GetItem")
    )
    return reads


def test_a_known_tenant_is_answered_with_its_current_state(
    local_stack: LocalStack, reader: TenantStateReader
) -> None:
    for change_type in (ChangeType.Suspend, ChangeType.Move):
        body: dict[str, Any] = {
            "ChangeType": int(change_type),
            "ContextIdentifier": "Cust12345",
            "VersionName": "Release_10.3.8_2024.08.30-01",
            "FileVersion": "10.3.8.2024",
            "Token": local_stack.sign("Cust12345"),
        }
        if change_type == ChangeType.Move:
            body["PublicEndpoint"] = "sod3.superoffice.com"
        _, accepted = post(local_stack.url, body)

    status, state = _get(reader, "Cust12345")

    assert status == 200
    assert set(state) == set(STATE_FIELDS)
    assert (state["Status"], state["Available"]) == ("running", True)
    assert (state["LastChangeType"], state["LastChangeTypeName"]) == (5, "Move")
    assert state["PublicEndpoint"] == "sod3.superoffice.com"
    assert (state["VersionName"], state["FileVersion"]) == (
        "Release_10.3.8_2024.08.30-01",
        "10.3.8.2024",
    )
    assert (state["Sequence"], state["LastEventId"]) == (2, accepted["eventId"])
    assert state["UpdatedAt"].endswith("Z")


def test_an_unknown_tenant_is_404(reader: TenantStateReader) -> None:
    assert _get(reader, "Cust99999") == (
        404,
        {"error": "tenant_unknown", "message": "No notification for Cust99999."},
    )


@pytest.mark.parametrize("tenant", [None, "", "../STATE", "Cust 1", "C" * 65, "Cust1\n"])
def test_what_cannot_be_a_tenant_id_is_400_without_a_read(
    local_stack: LocalStack, reader: TenantStateReader, tenant: str | None
) -> None:
    reads = _counting_reads(local_stack)

    status, answer = _get(reader, tenant)

    assert (status, answer["error"]) == (400, "field_invalid")
    assert reads == []


def test_dynamodb_failing_is_a_502_without_details(
    local_stack: LocalStack, reader: TenantStateReader
) -> None:
    local_stack.dynamodb.delete_table(TableName=local_stack.table_name)

    status, answer = _get(reader, "Cust12345")

    assert (status, answer) == (502, {"error": "unavailable", "message": "Retry later."})


@pytest.mark.parametrize(
    "caller",
    [READER_SESSION, READER, READER_USER, "arn:aws:iam::111111111111:user/alice"],
)
def test_a_configured_reader_is_answered_whatever_its_session_or_path(
    local_stack: LocalStack, reader: TenantStateReader, caller: str
) -> None:
    _suspend(local_stack, "Cust7")

    status, state = _get(reader, "Cust7", {"userArn": caller})

    assert (status, state["Status"]) == (200, "suspended")


@pytest.mark.parametrize(
    "identity",
    [
        pytest.param({"sourceIp": "203.0.113.9"}, id="no-iam-caller"),
        pytest.param({"userArn": None}, id="null-caller"),
        pytest.param({"userArn": 42}, id="caller-not-text"),
        pytest.param({"userArn": ""}, id="empty-caller"),
        pytest.param(
            {"userArn": "arn:aws:sts::111111111111:assumed-role/billing2/s"}, id="other-role"
        ),
        pytest.param(
            {"userArn": "arn:aws:sts::111111111111:assumed-role/bill/s"}, id="name-prefix"
        ),
        pytest.param(
            {"userArn": "arn:aws:sts::222222222222:assumed-role/billing/s"}, id="other-account"
        ),
        pytest.param({"userArn": "arn:aws:iam::111111111111:user/billing"}, id="user-not-role"),
        pytest.param(
            {"userArn": "arn:aws:sts::111111111111:assumed-role/alice/s"}, id="role-not-user"
        ),
        pytest.param({"userArn": "arn:aws:iam::111111111111:root"}, id="account-root"),
        pytest.param(
            {"userArn": "arn:aws:sts::111111111111:federated-user/billing"}, id="federated"
        ),
        pytest.param({"userArn": READER_SESSION + "\n"}, id="trailing-newline"),
        pytest.param("not-an-object", id="identity-not-object"),
    ],
)
def test_any_other_caller_is_403_without_a_read(
    local_stack: LocalStack, reader: TenantStateReader, identity: Any
) -> None:
    _suspend(local_stack, "Cust7")
    reads = _counting_reads(local_stack)

    assert _get(reader, "Cust7", identity) == (403, FORBIDDEN)
    assert reads == []


@pytest.mark.parametrize(
    "event",
    [
        {"pathParameters": ["Cust7"], "requestContext": {"identity": {"userArn": READER}}},
        {"pathParameters": {"ContextIdentifier": "Cust7"}, "requestContext": "x"},
        {"pathParameters": {"ContextIdentifier": "Cust7"}, "requestContext": ["identity"]},
        {},
    ],
    ids=["path-parameters-a-list", "request-context-text", "request-context-a-list", "empty"],
)
def test_an_event_of_another_shape_is_answered_without_a_read(
    local_stack: LocalStack, reader: TenantStateReader, event: dict[str, Any]
) -> None:
    reads = _counting_reads(local_stack)

    answer = reader.handle(event)

    assert answer["statusCode"] in (400, 403)
    assert reads == []


def test_a_state_item_edited_by_hand_is_still_answered_as_json(
    local_stack: LocalStack, reader: TenantStateReader
) -> None:
    _suspend(local_stack, "Cust7")
    local_stack.dynamodb.update_item(
        TableName=local_stack.table_name,
        Key=to_attributes({"pk": "TENANT#Cust7", "sk": "STATE"}),
        UpdateExpression="SET VersionName = :set, FileVersion = :list",
        ExpressionAttributeValues=to_attributes(
            {":set": {"b", "a"}, ":list": [Decimal("1.5"), {"n": Decimal(2)}]}
        ),
    )

    status, state = _get(reader, "Cust7")

    assert status == 200
    assert (state["VersionName"], state["FileVersion"]) == (["a", "b"], [1.5, {"n": 2}])


def test_with_no_readers_configured_nobody_reads(local_stack: LocalStack) -> None:
    reader = TenantStateReader(
        settings=StateReaderSettings(environment="Local", table_name=local_stack.table_name),
        dynamodb_client=local_stack.dynamodb,
    )

    assert _get(reader, "Cust7") == (403, FORBIDDEN)


def test_the_readers_come_from_the_functions_environment() -> None:
    settings = StateReaderSettings.from_environ(
        {"ENVIRONMENT_NAME": "SOD", "TABLE_NAME": "t", "STATE_READERS": json.dumps([READER])}
    )

    assert settings.readers == (READER,)
    with pytest.raises(ValueError, match="STATE_READERS"):
        StateReaderSettings.from_environ(
            {"ENVIRONMENT_NAME": "SOD", "TABLE_NAME": "t", "STATE_READERS": json.dumps(READER)}
        )
