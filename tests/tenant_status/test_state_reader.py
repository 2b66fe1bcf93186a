"""The tenant state API's function: the stored state for a known tenant, 404 otherwise."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tenant_status.change_types import ChangeType
from tenant_status.settings import StateReaderSettings
from tenant_status.state_reader import STATE_FIELDS, TenantStateReader
from tools.local_stack import LocalStack, post


def _get(reader: TenantStateReader, tenant: str | None) -> tuple[int, dict[str, Any]]:
    event: dict[str, Any] = {
        "httpMethod": "GET",
        "resource": "/tenants/{ContextIdentifier}",
        "pathParameters": None if tenant is None else {"ContextIdentifier": tenant},
        "requestContext": {"identity": {"userArn": "arn:aws:iam::111111111111:role/reader"}},
    }
    answer = reader.handle(event)
    return answer["statusCode"], json.loads(answer["body"])


@pytest.fixture
def reader(local_stack: LocalStack) -> TenantStateReader:
    return TenantStateReader(
        settings=StateReaderSettings(environment="Local", table_name=local_stack.table_name),
        dynamodb_client=local_stack.dynamodb,
    )


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
    reads: list[str] = []
    local_stack.dynamodb.meta.events.register(
        "before-call.dynamodb.GetItem", lambda **_: reads.append("GetItem")
    )

    status, answer = _get(reader, tenant)

    assert (status, answer["error"]) == (400, "field_invalid")
    assert reads == []


def test_dynamodb_failing_is_a_502_without_details(
    local_stack: LocalStack, reader: TenantStateReader
) -> None:
    local_stack.dynamodb.delete_table(TableName=local_stack.table_name)

    status, answer = _get(reader, "Cust12345")

    assert (status, answer) == (502, {"error": "unavailable", "message": "Retry later."})
