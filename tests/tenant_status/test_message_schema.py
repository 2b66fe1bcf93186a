"""The message contract as a JSON Schema: what the stack publishes, and the README shows, fits."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tenant_status.change_types import ChangeType
from tenant_status.events import TenantEvent
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


_ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.text(max_size=300),
    st.sampled_from(["", "true", "false", "now", "SOD3.superoffice.com", "a b"]),
)
# What each field of an event item holds when the receiver wrote it.
_VALID: dict[str, st.SearchStrategy[Any]] = {
    "EventId": st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
    "Environment": st.sampled_from(["SOD", "Stage", "Production"]),
    "ChangeType": st.integers(min_value=0, max_value=9).map(Decimal),
    "ChangeTypeName": st.sampled_from([c.name for c in ChangeType] + ["Unknown"]),
    "ContextIdentifier": st.from_regex(r"Cust[0-9]{1,8}", fullmatch=True),
    "VersionName": st.one_of(st.none(), st.text(max_size=256)),
    "FileVersion": st.one_of(st.none(), st.just("10.3.8.2024")),
    "PublicEndpoint": st.sampled_from([None, "sod3.superoffice.com"]),
    "Status": st.sampled_from(["running", "suspended", "unknown"]),
    "Available": st.sampled_from([True, False, None]),
    "IssuedAt": st.sampled_from([None, "2026-12-03T18:30:01.000Z"]),
    "ReceivedAt": st.just("2026-12-03T18:30:01.412Z"),
    "Sequence": st.integers(min_value=1, max_value=10**6).map(Decimal),
    "Superseded": st.booleans(),
}


@st.composite
def _items(draw: st.DrawFn) -> dict[str, Any]:
    """An event item with up to two fields spoilt, as a hand-written one might be."""
    spoilt = draw(st.sets(st.sampled_from(sorted(_VALID)), max_size=2))
    return {name: draw(_ODD if name in spoilt else valid) for name, valid in _VALID.items()}


_ITEMS = _items()


@settings(max_examples=400, deadline=None)
@given(_ITEMS)
def test_every_item_the_publisher_takes_makes_a_message_the_schema_accepts(
    item: dict[str, Any],
) -> None:
    try:
        event = TenantEvent.from_history_item(item)
    except (KeyError, TypeError, ValueError):
        return  # parked on the failure queue, never published

    assert _errors(json.loads(event.message_json())) == []
