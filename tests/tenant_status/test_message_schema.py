"""The message contract as a JSON Schema: what the stack publishes, and the README shows, fits."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tenant_status.change_types import ChangeType
from tools.local_stack import LocalStack, post

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "tenant-event.schema.json").read_text())


def _readme_example() -> dict[str, Any]:
    readme = (ROOT / "README.md").read_text()
    contract = readme[readme.index("## Message contract for subscribers") :]
    found = re.search(r"```json\n(.*?)```", contract, re.DOTALL)
    assert found is not None
    example: dict[str, Any] = json.loads(found.group(1))
    return example


def _errors(message: Any) -> list[str]:
    return [
        f"{e.validator}: {e.message}" for e in Draft202012Validator(SCHEMA).iter_errors(message)
    ]


def test_the_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_the_readme_example_message_fits_the_schema() -> None:
    assert _errors(_readme_example()) == []


def _notify(stack: LocalStack, change_type: int, tenant: str, **claims: Any) -> None:
    body: dict[str, Any] = {
        "ChangeType": change_type,
        "ContextIdentifier": tenant,
        "Token": stack.sign(tenant, extra_claims=claims) if claims else stack.sign(tenant),
    }
    if change_type == ChangeType.Move:
        body["PublicEndpoint"] = "SOD3.superoffice.com"
    status, _ = post(stack.url, body)
    assert status == 200


def test_every_kind_of_message_the_stack_publishes_fits_the_schema(
    local_stack: LocalStack,
) -> None:
    for change_type in ChangeType:
        _notify(local_stack, int(change_type), f"Cust{int(change_type)}")
    _notify(local_stack, 42, "Cust42")  # a change type this version does not know
    _notify(local_stack, 3, "Cust2", iat=int(time.time()) - 600)  # superseded
    messages = [d.message for d in local_stack.receive(expected=len(ChangeType) + 2)]

    assert {m["ChangeTypeName"] for m in messages} >= {"Unknown", "Move"}
    assert any(m["Superseded"] for m in messages)
    assert {m["EventId"]: _errors(m) for m in messages} == {m["EventId"]: [] for m in messages}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"Sequence": 0}, "minimum"),
        ({"EventId": "not-an-id"}, "pattern"),
        ({"Status": "archived"}, "enum"),
        ({"Extra": 1}, "additionalProperties"),
        ({"PublicEndpoint": "10.0.0.1"}, "pattern"),
    ],
)
def test_the_schema_catches_what_a_consumer_must_not_receive(
    change: dict[str, Any], problem: str
) -> None:
    errors = _errors({**_readme_example(), **change})

    assert any(problem in error for error in errors), errors
