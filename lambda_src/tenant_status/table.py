"""Layout of the tenant state table, shared by the stack, the functions and local tools.

One partition per tenant: a `STATE` item with its current state and one
`EVENT#<event id>` item per accepted notification. Event items are the outbox:
the table's stream carries them to the publisher.
"""

from __future__ import annotations

PARTITION_KEY = "pk"
SORT_KEY = "sk"
STATE_SORT_KEY = "STATE"
EVENT_PREFIX = "EVENT#"
TENANT_PREFIX = "TENANT#"
STREAM_VIEW_TYPE = "NEW_IMAGE"


def tenant_key(context_identifier: str) -> str:
    return f"{TENANT_PREFIX}{context_identifier}"


def event_key(event_id: str) -> str:
    return f"{EVENT_PREFIX}{event_id}"


def create_table_arguments(table_name: str) -> dict[str, object]:
    """`CreateTable` arguments matching what the CDK stack declares (for local runs)."""
    return {
        "TableName": table_name,
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW_TYPE},
    }
