"""An example subscriber to copy: an SQS-triggered function acting on tenant status events.

It reads each message, skips events it has already seen and events delivered after a
later one of the same tenant (both by Sequence: SQS may redeliver and reorder), takes
the endpoint of the newest Move even when that Move is superseded, skips other
superseded events, and calls one action per change type. Failed messages are
reported back to SQS one by one. It remembers in memory only; a real consumer keeps
this in its own table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("tenant_event_consumer")
logger.setLevel(logging.INFO)

Action = Callable[[dict[str, Any]], None]


def stop_calling(event: dict[str, Any]) -> None:
    logger.info("tenant %s unavailable (%s)", event["ContextIdentifier"], event["Status"])


def resume_calling(event: dict[str, Any]) -> None:
    logger.info("tenant %s available at %s", event["ContextIdentifier"], event["PublicEndpoint"])


def refresh_cache(event: dict[str, Any]) -> None:
    logger.info("tenant %s restored from backup: drop cached data", event["ContextIdentifier"])


def use_endpoint(event: dict[str, Any]) -> None:
    logger.info("tenant %s lives at %s", event["ContextIdentifier"], event["PublicEndpoint"])


def forget(event: dict[str, Any]) -> None:
    logger.info("tenant %s deleted: remove its data", event["ContextIdentifier"])


def note_unknown(event: dict[str, Any]) -> None:
    logger.warning(
        "tenant %s: change type %s is new", event["ContextIdentifier"], event["ChangeType"]
    )


ACTIONS: dict[str, Action] = {
    "Upgrade": stop_calling,
    "Suspend": stop_calling,
    "BackupRestored": refresh_cache,
    "Resume": resume_calling,
    "Move": resume_calling,
    "Delete": forget,
}

# Limitation: remembered per container only; keep each tenant's last Sequence and its
# endpoint's IssuedAt in a table (conditional writes) to hold across containers.
_last_sequence: dict[tuple[str, str], int] = {}
_endpoint_issued_at: dict[tuple[str, str], str] = {}


def tenant_event(body: str) -> dict[str, Any]:
    """The event in an SQS body, whether SNS delivered it raw or in its envelope."""
    document = json.loads(body)
    if "EventId" not in document and "Message" in document:
        document = json.loads(document["Message"])
    if document.get("SchemaVersion") != 1:
        raise ValueError(f"unsupported SchemaVersion {document.get('SchemaVersion')!r}")
    event: dict[str, Any] = document
    return event


def handle(event: dict[str, Any]) -> str:
    """Acts on one event; returns what was done, for logs and tests."""
    tenant = (event["Environment"], event["ContextIdentifier"])
    sequence = int(event["Sequence"])
    # A tenant's Sequence only grows, so this also drops redeliveries of one event.
    if sequence <= _last_sequence.get(tenant, 0):
        return "seen or older"
    _last_sequence[tenant] = sequence
    newest_endpoint = event["ChangeTypeName"] == "Move" and _newest_endpoint(tenant, event)
    if event["Superseded"]:
        # Older than the state applied: the status did not change, but where the tenant
        # lives has an order of its own.
        if newest_endpoint:
            use_endpoint(event)
            return "superseded, endpoint taken"
        return "superseded"
    ACTIONS.get(event["ChangeTypeName"], note_unknown)(event)
    return "handled"


def _newest_endpoint(tenant: tuple[str, str], event: dict[str, Any]) -> bool:
    # IssuedAt is ISO 8601 in UTC, so text order is time order; without one, arrival order.
    issued_at = event.get("IssuedAt") or ""
    if issued_at and issued_at < _endpoint_issued_at.get(tenant, ""):
        return False
    _endpoint_issued_at[tenant] = issued_at or _endpoint_issued_at.get(tenant, "")
    return True


def handler(sqs_event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in sqs_event.get("Records", []):
        try:
            outcome = handle(tenant_event(record["body"]))
        except (ValueError, KeyError, TypeError) as exc:
            logger.error("message %s not handled: %s", record.get("messageId"), exc)
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        logger.info("message %s %s", record.get("messageId"), outcome)
    return {"batchItemFailures": failures}
