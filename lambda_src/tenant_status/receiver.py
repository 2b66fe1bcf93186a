"""The function behind the State Change URL: verify, then record.

Takes API Gateway's proxy integration event, answers 200 for an accepted (or
already accepted) notification, 4xx for a refused one, and 5xx only when AWS
fails, the keys cannot be had, or the function itself has a defect. It never
publishes: the table's stream does that.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import errors
from .change_types import change_type_name
from .notification import check_content_type, decode_body, parse_notification
from .settings import ReceiverSettings
from .store import StateConflict, TenantStateStore
from .telemetry import metric_line
from .verification import TokenVerifier

logger = logging.getLogger("tenant_status.receiver")

# Counted by outcome, by outcome and change type, and by rejection reason.
NOTIFICATION_DIMENSIONS = [
    ["environment", "outcome"],
    ["environment", "outcome", "change_type_name"],
    ["environment", "reason"],
]

# The one place where a reason for refusing becomes an HTTP status.
_STATUS_FOR: tuple[tuple[type[errors.Rejection], int], ...] = (
    (errors.UnsupportedContentType, 415),
    (errors.BodyTooLarge, 413),
    (errors.BadRequest, 400),
    (errors.TokenRejected, 401),
    (errors.SigningKeysUnavailable, 503),
)


def status_for(rejection: errors.Rejection) -> int:
    for family, status in _STATUS_FOR:
        if isinstance(rejection, family):
            return status
    return 400


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body, separators=(",", ":")),
    }


@dataclass
class _LogLine:
    """One JSON line per notification; it never holds the token."""

    environment: str
    request_id: str | None
    started: float = field(default_factory=time.perf_counter)
    fields: dict[str, Any] = field(default_factory=dict)

    def emit(self, outcome: str, status: int, **extra: Any) -> None:
        line = {
            "event": "notification",
            "outcome": outcome,
            "status": status,
            "environment": self.environment,
            "request_id": self.request_id,
            **self.fields,
            **extra,
        }
        latency_ms = round((time.perf_counter() - self.started) * 1000, 1)
        logger.info(
            metric_line(
                line,
                metrics={"notifications": 1, "latency_ms": latency_ms},
                dimensions=NOTIFICATION_DIMENSIONS,
            )
        )


def _where(exc: Exception) -> str:
    """The exception's type and the innermost line raising it, e.g. `KeyError at x.py:9`."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    return f"{type(exc).__name__} at {Path(frames[-1].filename).name}:{frames[-1].lineno}"


def _header(headers: dict[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


class Receiver:
    def __init__(
        self, *, settings: ReceiverSettings, verifier: TokenVerifier, store: TenantStateStore
    ) -> None:
        self._settings = settings
        self._verifier = verifier
        self._store = store

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        request_id = (event.get("requestContext") or {}).get("requestId")
        log = _LogLine(environment=self._settings.environment, request_id=request_id)
        try:
            check_content_type(_header(event.get("headers"), "content-type"))
            raw = decode_body(event.get("body"), bool(event.get("isBase64Encoded")))
            notification = parse_notification(raw)
            log.fields.update(
                tenant=notification.context_identifier,
                change_type=notification.change_type,
                change_type_name=change_type_name(notification.change_type),
            )
            verified = self._verifier.verify(notification.token, notification.context_identifier)
            outcome = self._store.record(notification, verified.issued_at)
        except errors.Rejection as rejection:
            status = status_for(rejection)
            log.emit("rejected", status, reason=rejection.reason)
            return _response(status, {"error": rejection.reason, "message": rejection.detail})
        except StateConflict:
            log.emit("failed", 503, reason="state_conflict")
            return _response(503, {"error": "busy", "message": "Retry later."})
        except (ClientError, BotoCoreError) as exc:
            log.emit("failed", 502, reason="aws_error", error=type(exc).__name__)
            return _response(502, {"error": "unavailable", "message": "Retry later."})
        except Exception as exc:  # noqa: BLE001 - the last line: a defect, not the sender's fault
            # Where it failed, but not the message: a message may quote what it was given.
            log.emit("failed", 500, reason="internal_error", error=_where(exc))
            return _response(500, {"error": "internal_error", "message": "Retry later."})

        event_id = outcome.event.event_id
        if outcome.duplicate:
            log.emit("duplicate", 200, event_id=event_id)
            return _response(200, {"status": "duplicate", "eventId": event_id})
        log.emit(
            "accepted",
            200,
            event_id=event_id,
            sequence=outcome.event.sequence,
            superseded=outcome.event.superseded,
        )
        return _response(200, {"status": "accepted", "eventId": event_id})


def build_receiver(settings: ReceiverSettings, dynamodb_client: Any) -> Receiver:
    return Receiver(
        settings=settings,
        verifier=TokenVerifier(settings.verifier),
        store=TenantStateStore(
            table_name=settings.table_name,
            client=dynamodb_client,
            environment=settings.environment,
        ),
    )
