"""An example subscriber to copy: an SQS-triggered function acting on tenant status events.

It reads each message, skips superseded events, events it has already handled (by
EventId) and events older than one it has handled for the same tenant (by Sequence:
SQS may deliver out of order), and calls one action per change type. Failed
messages are reported back to SQS one by one. It remembers in memory only; a real
consumer keeps this in its own table.
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

# Limitation: remembered per container only; keep handled EventIds and each tenant's
# last Sequence in a table (conditional writes) to hold across containers.
_handled: set[str] = set()
_last_sequence: dict[tuple[str, str], int] = {}


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
    if event["EventId"] in _handled:
        return "duplicate"
    tenant = (event["Environment"], event["ContextIdentifier"])
    sequence = int(event["Sequence"])
    if sequence <= _last_sequence.get(tenant, 0):
        # Delivered after a later event of the same tenant: acting on it would undo that one.
        outcome = "older"
    elif event["Superseded"]:
        # An older notification than the one applied: the tenant's state did not change.
        outcome = "superseded"
    else:
        ACTIONS.get(event["ChangeTypeName"], note_unknown)(event)
        outcome = "handled"
    _handled.add(event["EventId"])
    _last_sequence[tenant] = max(sequence, _last_sequence.get(tenant, 0))
    return outcome


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
