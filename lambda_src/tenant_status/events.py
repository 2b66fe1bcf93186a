"""The tenant event: what one accepted notification means, as stored and as published.

The history item in the table and the message on the topic carry the same
fields under the same names, so the outbox publisher needs nothing but the
item. The message contract for subscribers is defined here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import table
from .change_types import change_type_name

SCHEMA_VERSION = 1


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
        def optional_text(name: str) -> str | None:
            value = item.get(name)
            return None if value is None else str(value)

        available = item.get("Available")
        return cls(
            event_id=str(item["EventId"]),
            environment=str(item["Environment"]),
            change_type=int(item["ChangeType"]),
            change_type_name=str(item["ChangeTypeName"]),
            context_identifier=str(item["ContextIdentifier"]),
            version_name=optional_text("VersionName"),
            file_version=optional_text("FileVersion"),
            public_endpoint=optional_text("PublicEndpoint"),
            status=str(item["Status"]),
            available=None if available is None else bool(available),
            issued_at=optional_text("IssuedAt"),
            received_at=str(item["ReceivedAt"]),
            sequence=int(item["Sequence"]),
            superseded=bool(item.get("Superseded", False)),
        )

    def message_json(self) -> str:
        return json.dumps(self.message(), separators=(",", ":"), sort_keys=True)


def utc_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds; sorts as text in time order."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
