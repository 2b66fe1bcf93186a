"""Outbox publisher: sends each recorded tenant event to its change type's topic.

Triggered by the table's stream. A record it cannot publish is reported as a
batch item failure and nothing after it in the batch is attempted, so the
stream retries from there and a tenant's events keep their order.
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

logger = logging.getLogger("tenant_status.publisher")


def _is_new_event(record: dict[str, Any]) -> bool:
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    sort_key = (keys.get(table.SORT_KEY) or {}).get("S", "")
    return record.get("eventName") == "INSERT" and sort_key.startswith(table.EVENT_PREFIX)


class Publisher:
    def __init__(self, *, settings: PublisherSettings, sns_client: Any) -> None:
        self._topics = settings.topic_arns
        self._sns = sns_client

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
            event = TenantEvent.from_history_item(from_attributes(record["dynamodb"]["NewImage"]))
            try:
                message_id = self.publish(event)
            except (ClientError, BotoCoreError) as exc:
                logger.warning(
                    json.dumps(
                        {
                            "event": "publish_failed",
                            "event_id": event.event_id,
                            "tenant": event.context_identifier,
                            "topic": event.topic_key,
                            "error": type(exc).__name__,
                        }
                    )
                )
                return {
                    "batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]
                }
            logger.info(
                json.dumps(
                    {
                        "event": "published",
                        "event_id": event.event_id,
                        "tenant": event.context_identifier,
                        "topic": event.topic_key,
                        "sequence": event.sequence,
                        "message_id": message_id,
                    }
                )
            )
        return {"batchItemFailures": []}
