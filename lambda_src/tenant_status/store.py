"""Records an accepted notification: the tenant's history and its current state.

Both items are written in one DynamoDB transaction. The event item's key is
derived from the token's signed part and the body, so a replayed notification
is refused by the write itself; the state item is guarded by its sequence, so
concurrent notifications for one tenant cannot overwrite each other.
Publishing is not done here: the table's stream carries each new event item to
the publisher.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from . import table
from .change_types import STATUS_AFTER, UNKNOWN_STATUS, ChangeType, change_type_name
from .events import TenantEvent, utc_timestamp
from .notification import Notification

# Attempts at the state item when other notifications for the same tenant
# keep winning the race; each loser waits a little, re-reads and tries again.
MAX_WRITE_ATTEMPTS = 8
RETRY_PAUSE_SECONDS = 0.02
# The state item's exact issue time of the applied token, in seconds (a number).
ISSUED_SECONDS = "IssuedAtSeconds"
# The issue time of the Move that set the state item's PublicEndpoint.
ENDPOINT_ISSUED_SECONDS = "PublicEndpointIssuedAtSeconds"

# For the function's own DynamoDB client. The store builds every request from
# fixed shapes and DynamoDB checks each one again; checking it on the client
# too costs, per notification, about as much as serializing the request. Tests
# drive the store with validating clients, so a wrong shape still fails there.
CLIENT_CONFIG = Config(parameter_validation=False)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class StateConflict(Exception):
    """The tenant's state kept changing under us; the caller should retry later."""


@dataclass(frozen=True)
class RecordOutcome:
    event: TenantEvent
    duplicate: bool


def event_id_for(notification: Notification) -> str:
    """A stable id: the same signed token with the same body always yields the same event.

    Only the token's signed part (header and claims) counts: the signature's
    encoding can be varied (padding, unused bits) without invalidating it, and
    RS256 signatures are deterministic, so they add nothing. The body counts
    because one token may cover several notifications within its lifetime.
    """
    signed_part = notification.token.rsplit(".", 1)[0]
    canonical = json.dumps(
        [
            signed_part,
            notification.change_type,
            notification.context_identifier,
            notification.version_name,
            notification.file_version,
            notification.public_endpoint,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def to_attributes(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items()}


def from_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in attributes.items()}


class TenantStateStore:
    def __init__(
        self,
        *,
        table_name: str,
        client: Any,
        environment: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._table_name = table_name
        self._client = client
        self._environment = environment
        self._clock = clock

    def record(self, notification: Notification, issued_at: float | None) -> RecordOutcome:
        received_at = utc_timestamp(self._clock())
        issued = (
            utc_timestamp(datetime.fromtimestamp(issued_at, UTC))
            if issued_at is not None
            else None
        )
        # The issue time to the microsecond orders notifications; the text above is
        # rounded to ms. A fixed precision also keeps a time such as 1e-200 within
        # what a DynamoDB number can hold.
        issued_seconds = None if issued_at is None else Decimal(f"{issued_at:.6f}")
        event_id = event_id_for(notification)
        for attempt in range(MAX_WRITE_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, RETRY_PAUSE_SECONDS * attempt))  # noqa: S311
            current = self._current_state(notification.context_identifier)
            event, state = self._apply(
                notification, current, event_id, (issued, issued_seconds), received_at
            )
            outcome = self._write(event, state, current)
            if outcome is not None:
                return outcome
        raise StateConflict()

    def _current_state(self, context_identifier: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table_name,
            Key=to_attributes(
                {
                    table.PARTITION_KEY: table.tenant_key(context_identifier),
                    table.SORT_KEY: table.STATE_SORT_KEY,
                }
            ),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return from_attributes(item) if item else None

    def _apply(
        self,
        notification: Notification,
        current: dict[str, Any] | None,
        event_id: str,
        issued: tuple[str | None, Decimal | None],
        received_at: str,
    ) -> tuple[TenantEvent, dict[str, Any]]:
        issued_at, issued_seconds = issued
        current = current or {}
        sequence = int(current.get("Sequence", 0)) + 1
        # Order by the token's issue time, then arrival: only a strictly older
        # token is superseded; one without an issue time is taken in arrival order.
        applied_seconds = current.get(ISSUED_SECONDS)
        applied_issued_at = current.get("IssuedAt")
        if issued_seconds is not None and applied_seconds is not None:
            superseded = issued_seconds < Decimal(applied_seconds)
        else:
            # A state item written before the exact time was kept: the text, to the ms.
            superseded = (
                issued_at is not None
                and applied_issued_at is not None
                and issued_at < str(applied_issued_at)
            )
        available: bool | None
        known = notification.change_type in STATUS_AFTER
        if known:
            after = STATUS_AFTER[ChangeType(notification.change_type)]
            status, available = after.status, after.available
        else:
            # A change type this version does not know leaves the status as it was.
            status = str(current.get("Status", UNKNOWN_STATUS))
            available = current.get("Available")

        event = TenantEvent(
            event_id=event_id,
            environment=self._environment,
            change_type=notification.change_type,
            change_type_name=change_type_name(notification.change_type),
            context_identifier=notification.context_identifier,
            version_name=notification.version_name,
            file_version=notification.file_version,
            public_endpoint=notification.public_endpoint,
            status=current.get("Status", status) if superseded else status,
            available=current.get("Available", available) if superseded else available,
            issued_at=issued_at,
            received_at=received_at,
            sequence=sequence,
            superseded=superseded,
        )
        state = dict(current)
        state.update(
            {
                table.PARTITION_KEY: table.tenant_key(notification.context_identifier),
                table.SORT_KEY: table.STATE_SORT_KEY,
                "ContextIdentifier": notification.context_identifier,
                "Environment": self._environment,
                "Sequence": sequence,
                "CreatedAt": current.get("CreatedAt", received_at),
            }
        )
        if not superseded:
            state.update(
                {
                    "Status": status,
                    "Available": available,
                    "LastChangeType": notification.change_type,
                    "LastChangeTypeName": event.change_type_name,
                    "VersionName": notification.version_name,
                    "FileVersion": notification.file_version,
                    "LastEventId": event_id,
                    "UpdatedAt": received_at,
                }
            )
        if not superseded and known:
            # Only what set the status orders it: a change type this version does not
            # know must not make a later-arriving Suspend look older than it. A token
            # without an issue time must not erase the newest one seen either.
            state["IssuedAt"] = issued_at or current.get("IssuedAt")
            state[ISSUED_SECONDS] = (
                issued_seconds if issued_seconds is not None else current.get(ISSUED_SECONDS)
            )
        # The endpoint has an order of its own: a Move that arrives after a newer
        # Upgrade changes no status, but it is still where the tenant now lives. Items
        # written before the endpoint kept its own time take the state's as its bound.
        endpoint_applied = current.get(ENDPOINT_ISSUED_SECONDS, current.get(ISSUED_SECONDS))
        if notification.public_endpoint is not None and (
            # Without both times, arrival order, as for the status.
            not superseded
            if issued_seconds is None or endpoint_applied is None
            else issued_seconds >= Decimal(endpoint_applied)
        ):
            state["PublicEndpoint"] = notification.public_endpoint
            state[ENDPOINT_ISSUED_SECONDS] = (
                endpoint_applied if issued_seconds is None else issued_seconds
            )
        return event, state

    def _write(
        self, event: TenantEvent, state: dict[str, Any], current: dict[str, Any] | None
    ) -> RecordOutcome | None:
        if current is None:
            state_condition: dict[str, Any] = {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": table.PARTITION_KEY},
            }
        else:
            state_condition = {
                "ConditionExpression": "#seq = :seq",
                "ExpressionAttributeNames": {"#seq": "Sequence"},
                "ExpressionAttributeValues": to_attributes({":seq": current["Sequence"]}),
            }
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table_name,
                            "Item": to_attributes(event.history_item()),
                            "ConditionExpression": "attribute_not_exists(#pk)",
                            "ExpressionAttributeNames": {"#pk": table.PARTITION_KEY},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table_name,
                            "Item": to_attributes(state),
                            **state_condition,
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            codes = [r.get("Code") for r in reasons]
            if codes and codes[0] == "ConditionalCheckFailed":
                return RecordOutcome(event=event, duplicate=True)
            # The state item moved on, or another transaction on these items was under
            # way (DynamoDB cancels both with TransactionConflict): read again and retry.
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                return None
            if "TransactionConflict" in codes:
                return None
            raise
        return RecordOutcome(event=event, duplicate=False)
