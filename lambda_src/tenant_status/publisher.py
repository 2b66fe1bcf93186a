"""Outbox publisher: sends each recorded tenant event to its change type's topic.

Triggered by the table's stream. A record it cannot publish is reported as a
batch item failure and nothing after it in the batch is attempted, so the
stream retries from there and a tenant's events keep their order. An event item
that can never become a message (written by hand, or damaged), or whose message
SNS refuses for what it is (too large, say), is parked on the failure queue
instead, so it does not hold up the stream for a day.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import table
from .events import TenantEvent
from .settings import PublisherSettings
from .store import from_attributes
from .telemetry import metric_line

logger = logging.getLogger("tenant_status.publisher")

# SNS's answers that no retry can change: the request itself is refused. Missing
# topics, permissions and keys can be mended, so those are retried.
PERMANENT_REFUSALS = frozenset({"InvalidParameter", "InvalidParameterValue"})
# An SQS message holds 256 KiB; leave room for the envelope around the record.
MAX_PARKED_BYTES = 240 * 1024


def _is_new_event(record: dict[str, Any]) -> bool:
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    sort_key = (keys.get(table.SORT_KEY) or {}).get("S", "")
    return record.get("eventName") == "INSERT" and sort_key.startswith(table.EVENT_PREFIX)


def _failure(record: dict[str, Any]) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}


class Publisher:
    def __init__(self, *, settings: PublisherSettings, sns_client: Any, sqs_client: Any) -> None:
        self._topics = settings.topic_arns
        self._environment = settings.environment
        self._failure_queue_url = settings.failure_queue_url
        self._sns = sns_client
        self._sqs = sqs_client

    def publish(self, event: TenantEvent) -> str:
        response = self._sns.publish(
            TopicArn=self._topics[event.topic_key],
            Message=event.message_json(),
            MessageAttributes=event.message_attributes(),
        )
        return str(response.get("MessageId", ""))

    def handle(self, batch: dict[str, Any]) -> dict[str, Any]:
        for record in batch.get("Records") or []:
            if not _is_new_event(record):
                continue
            try:
                event = TenantEvent.from_history_item(
                    from_attributes(record["dynamodb"]["NewImage"])
                )
            except (KeyError, TypeError, ValueError) as exc:
                if not self._park(record, "malformed_event_item", exc):
                    return _failure(record)
                continue
            try:
                message_id = self.publish(event)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in PERMANENT_REFUSALS and self._park(record, "refused_by_sns", exc):
                    continue
                self._log_failure(event, exc)
                return _failure(record)
            except BotoCoreError as exc:
                self._log_failure(event, exc)
                return _failure(record)
            logger.info(
                metric_line(
                    {
                        "event": "published",
                        "environment": self._environment,
                        "event_id": event.event_id,
                        "tenant": event.context_identifier,
                        "topic": event.topic_key,
                        "sequence": event.sequence,
                        "superseded": event.superseded,
                        "message_id": message_id,
                    },
                    metrics={"events_published": 1},
                    dimensions=[["environment", "topic"]],
                )
            )
        return {"batchItemFailures": []}

    def _log_failure(self, event: TenantEvent, error: Exception) -> None:
        logger.warning(
            metric_line(
                {
                    "event": "publish_failed",
                    "environment": self._environment,
                    "event_id": event.event_id,
                    "tenant": event.context_identifier,
                    "topic": event.topic_key,
                    "error": type(error).__name__,
                },
                metrics={"publish_failures": 1},
                dimensions=[["environment", "topic"]],
            )
        )

    def _park(self, record: dict[str, Any], reason: str, error: Exception) -> bool:
        """Puts a record that cannot be published on the failure queue; False when that
        failed too. The item itself stays in the table's history.
        """
        sequence_number = record["dynamodb"].get("SequenceNumber")
        try:
            self._sqs.send_message(
                QueueUrl=self._failure_queue_url, MessageBody=_parking_body(record, reason, error)
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning(
                json.dumps(
                    {
                        "event": "park_failed",
                        "sequence_number": sequence_number,
                        "error": type(exc).__name__,
                    }
                )
            )
            return False
        logger.error(
            json.dumps(
                {
                    "event": "event_parked",
                    "reason": reason,
                    "sequence_number": sequence_number,
                    "error": type(error).__name__,
                }
            )
        )
        return True


def _parking_body(record: dict[str, Any], reason: str, error: Exception) -> str:
    """The failure queue's message: the whole stream record, or without its image when
    that would not fit an SQS message (the keys still find the item in the table).
    """
    parked: dict[str, Any] = {"reason": reason, "error": type(error).__name__, "record": record}
    body = json.dumps(parked, default=str)
    if len(body.encode("utf-8")) <= MAX_PARKED_BYTES:
        return body
    stream = {k: v for k, v in record["dynamodb"].items() if k not in ("NewImage", "OldImage")}
    parked["record"] = {**record, "dynamodb": stream}
    parked["image_left_out"] = "too large for the failure queue; read the item by its Keys"
    return json.dumps(parked, default=str)
