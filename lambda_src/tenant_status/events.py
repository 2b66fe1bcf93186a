"""The tenant event: what one accepted notification means, as stored and as published.

The history item in the table and the message on the topic carry the same
fields under the same names, so the outbox publisher needs nothing but the
item. The message contract for subscribers is defined here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import table
from .change_types import STATUSES, UNKNOWN_TOPIC_KEY, change_type_name
from .notification import CONTEXT_IDENTIFIER, MAX_CHANGE_TYPE, MAX_TEXT_LENGTH, PUBLIC_ENDPOINT

SCHEMA_VERSION = 1
_EVENT_ID = re.compile(r"[0-9a-f]{32}")
# An environment's name: the CDK Stage, the API stage and the messages' Environment.
ENVIRONMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,31}")
# What schemas/tenant-event.schema.json allows beyond what the receiver checks on the
# way in; every item is checked before it is published (the schema validator itself
# would not fit the function's size budget).
_CHANGE_TYPE_NAME = re.compile(r"[A-Za-z]{1,64}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)


@dataclass(frozen=True)
class TenantEvent:
    event_id: str
    environment: str
    change_type: int
    change_type_name: str
    context_identifier: str
    version_name: str | None
    file_version: str | None
    public_endpoint: str | None
    status: str
    available: bool | None
    issued_at: str | None
    received_at: str
    sequence: int
    superseded: bool

    @property
    def topic_key(self) -> str:
        """Which topic carries this event: its change type's, or `Unknown` for a new one.

        Derived from the number, not the stored name: an item written by a newer
        version may name a change type this one has no topic for.
        """
        return change_type_name(self.change_type)

    def message(self) -> dict[str, Any]:
        """The JSON document subscribers receive."""
        return {
            "SchemaVersion": SCHEMA_VERSION,
            "EventId": self.event_id,
            "Environment": self.environment,
            "ChangeType": self.change_type,
            "ChangeTypeName": self.change_type_name,
            "ContextIdentifier": self.context_identifier,
            "VersionName": self.version_name,
            "FileVersion": self.file_version,
            "PublicEndpoint": self.public_endpoint,
            "Status": self.status,
            "Available": self.available,
            "IssuedAt": self.issued_at,
            "ReceivedAt": self.received_at,
            "Sequence": self.sequence,
            "Superseded": self.superseded,
        }

    def message_attributes(self) -> dict[str, dict[str, str]]:
        """SNS message attributes that subscription filter policies can match."""
        return {
            "ContextIdentifier": {"DataType": "String", "StringValue": self.context_identifier},
            "ChangeType": {"DataType": "String", "StringValue": self.change_type_name},
            "ChangeTypeValue": {"DataType": "Number", "StringValue": str(self.change_type)},
            "Environment": {"DataType": "String", "StringValue": self.environment},
            # So a filter policy can leave out notifications that changed nothing.
            "Superseded": {"DataType": "String", "StringValue": str(self.superseded).lower()},
        }

    def history_item(self) -> dict[str, Any]:
        item = self.message()
        item[table.PARTITION_KEY] = table.tenant_key(self.context_identifier)
        item[table.SORT_KEY] = table.event_key(self.event_id)
        return item

    @classmethod
    def from_history_item(cls, item: dict[str, Any]) -> TenantEvent:
        """The event an item holds; ValueError (or KeyError) for one no receiver wrote.

        Types are checked, not converted: `bool("false")` is true, and a message that
        breaks the contract is worse than one parked for a person to look at.
        """
        change_type = _whole(item["ChangeType"], "ChangeType", maximum=MAX_CHANGE_TYPE)
        name = _text(item["ChangeTypeName"], "ChangeTypeName", _CHANGE_TYPE_NAME)
        known_name = change_type_name(change_type)
        if known_name != UNKNOWN_TOPIC_KEY and name != known_name:
            raise ValueError(f"ChangeTypeName {name!r} is not change type {change_type}")
        event_id = _text(item["EventId"], "EventId")
        if not _EVENT_ID.fullmatch(event_id):
            raise ValueError("EventId is not an event id")
        return cls(
            event_id=event_id,
            environment=_text(item["Environment"], "Environment", ENVIRONMENT_NAME),
            change_type=change_type,
            change_type_name=name,
            context_identifier=_text(
                item["ContextIdentifier"], "ContextIdentifier", CONTEXT_IDENTIFIER
            ),
            version_name=_optional_text(item, "VersionName"),
            file_version=_optional_text(item, "FileVersion"),
            public_endpoint=_public_endpoint(item.get("PublicEndpoint")),
            status=_status(item["Status"]),
            available=_optional_bool(item, "Available"),
            issued_at=_optional_text(item, "IssuedAt", _TIMESTAMP),
            received_at=_text(item["ReceivedAt"], "ReceivedAt", _TIMESTAMP),
            sequence=_whole(item["Sequence"], "Sequence", minimum=1),
            superseded=bool(_optional_bool(item, "Superseded")),
        )

    def message_json(self) -> str:
        return json.dumps(self.message(), separators=(",", ":"), sort_keys=True)


def _text(value: Any, name: str, shape: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"{name} is not a string of 1 to {MAX_TEXT_LENGTH} characters")
    if shape is not None and not shape.fullmatch(value):
        raise ValueError(f"{name} is not of the contract's form")
    return value


def _optional_text(
    item: dict[str, Any], name: str, shape: re.Pattern[str] | None = None
) -> str | None:
    value = item.get(name)
    return None if value is None else _text(value, name, shape)


def _public_endpoint(value: Any) -> str | None:
    # As the receiver stores it: a host name it accepted, folded to lower case.
    if value is None:
        return None
    host = _text(value, "PublicEndpoint", PUBLIC_ENDPOINT)
    if host != host.lower():
        raise ValueError("PublicEndpoint is not in lower case")
    return host


def _status(value: Any) -> str:
    if value not in STATUSES:
        raise ValueError("Status is not one the contract names")
    return str(value)


def _optional_bool(item: dict[str, Any], name: str) -> bool | None:
    value = item.get(name)
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name} is not true, false or null")
    return value


def _whole(value: Any, name: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    # DynamoDB numbers arrive as Decimal; a bool is an int to Python, not to the contract.
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value != int(value):
        raise ValueError(f"{name} is not a whole number")
    if int(value) < minimum or (maximum is not None and int(value) > maximum):
        raise ValueError(f"{name} is out of range")
    return int(value)


def utc_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds; sorts as text in time order."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
