"""Answers `GET /tenants/{ContextIdentifier}` with the tenant's stored state.

API Gateway has already authenticated the caller with IAM, and the API's
resource policy admits only the configured roles; the function checks the
caller against the same list again, so a method whose authorization was
changed by hand still serves nobody else. It reads the state item only, one
consistent GetItem per request, never history.
"""

from __future__ import annotations

import json
import logging
import re
import time
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary
from botocore.exceptions import BotoCoreError, ClientError

from . import table
from .notification import is_context_identifier
from .settings import StateReaderSettings
from .store import from_attributes, to_attributes

logger = logging.getLogger("tenant_status.state_reader")

# What a caller sees of the state item; keys and bookkeeping stay inside.
STATE_FIELDS = (
    "ContextIdentifier",
    "Environment",
    "Status",
    "Available",
    "LastChangeType",
    "LastChangeTypeName",
    "VersionName",
    "FileVersion",
    "PublicEndpoint",
    "IssuedAt",
    "UpdatedAt",
    "CreatedAt",
    "Sequence",
    "LastEventId",
)


# A configured ARN (a path of non-empty parts, then the name), and the ARN API Gateway
# gives for an IAM-authorized caller: a user's own ARN, or a role's session ARN, which
# leaves out the role's path. ASCII only: \d and \w would also take other scripts'
# digits and letters, which IAM never uses.
PARTITION = r"arn:aws(?:-cn|-us-gov)?"
IAM_PRINCIPAL_ARN = re.compile(
    PARTITION + r":iam::(\d{12}):(role|user)/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)", re.ASCII
)
_SESSION_ARN = re.compile(
    PARTITION + r":sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[\w+=,.@-]+", re.ASCII
)


def principal_of(arn: str) -> tuple[str, str, str] | None:
    """(account, "role" or "user", name) of an IAM ARN or a role session's ARN.

    Role and user names are unique within an account whatever their path, so
    these three name one principal.
    """
    if match := IAM_PRINCIPAL_ARN.fullmatch(arn):
        return match[1], match[2], match[3]
    if match := _SESSION_ARN.fullmatch(arn):
        return match[1], "role", match[2]
    return None


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body, separators=(",", ":")),
    }


class TenantStateReader:
    def __init__(self, *, settings: StateReaderSettings, dynamodb_client: Any) -> None:
        self._settings = settings
        self._client = dynamodb_client
        self._readers = frozenset(
            principal for arn in settings.readers if (principal := principal_of(arn))
        )

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        # API Gateway sends objects here; anything else is read as absent, never trusted.
        tenant = str(_member(event, "pathParameters").get("ContextIdentifier") or "")
        identity = _member(_member(event, "requestContext"), "identity")
        caller = identity.get("userArn")
        caller = caller if isinstance(caller, str) else None
        if caller is None or principal_of(caller) not in self._readers:
            status, body = (
                403,
                {
                    "error": "forbidden",
                    "message": "Only the roles configured as state readers may read tenant state.",
                },
            )
        else:
            status, body = self._answer(tenant)
        logger.info(
            json.dumps(
                {
                    "event": "state_read",
                    "status": status,
                    "caller": caller,
                    "tenant": tenant if is_context_identifier(tenant) else None,
                    "environment": self._settings.environment,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                },
                separators=(",", ":"),
            )
        )
        return _response(status, body)

    def _answer(self, tenant: str) -> tuple[int, dict[str, Any]]:
        if not is_context_identifier(tenant):
            return 400, {
                "error": "field_invalid",
                "message": "ContextIdentifier is not a SuperOffice tenant id.",
            }
        try:
            item = self._client.get_item(
                TableName=self._settings.table_name,
                Key=to_attributes(
                    {
                        table.PARTITION_KEY: table.tenant_key(tenant),
                        table.SORT_KEY: table.STATE_SORT_KEY,
                    }
                ),
                ConsistentRead=True,
            ).get("Item")
        except (ClientError, BotoCoreError):
            return 502, {"error": "unavailable", "message": "Retry later."}
        if item is None:
            return 404, {"error": "tenant_unknown", "message": f"No notification for {tenant}."}
        state = from_attributes(item)
        return 200, {name: _plain(state.get(name)) for name in STATE_FIELDS}


def _member(document: Any, name: str) -> dict[str, Any]:
    value = document.get(name) if isinstance(document, dict) else None
    return value if isinstance(value, dict) else {}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal and sets as sets; JSON wants numbers and lists.

    The receiver writes neither sets nor binary values; an item edited by hand may.
    """
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Binary | bytes | bytearray):
        return None
    if isinstance(value, set | frozenset):
        members = [_plain(v) for v in value]
        return None if None in members else sorted(members)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
