"""SuperOffice's tenant change types and what each means for a tenant's state.

The single definition that the CDK stack, the functions and the local stack all
read, so a topic exists for every change type everywhere.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ChangeType(enum.IntEnum):
    Upgrade = 0
    BackupRestored = 1
    Suspend = 2
    Resume = 3
    Delete = 4
    Move = 5


@dataclass(frozen=True)
class TenantStatus:
    status: str
    available: bool


STATUS_AFTER: dict[ChangeType, TenantStatus] = {
    ChangeType.Upgrade: TenantStatus("upgrading", available=False),
    ChangeType.BackupRestored: TenantStatus("restored", available=True),
    ChangeType.Suspend: TenantStatus("suspended", available=False),
    ChangeType.Resume: TenantStatus("running", available=True),
    ChangeType.Delete: TenantStatus("deleted", available=False),
    ChangeType.Move: TenantStatus("running", available=True),
}

# The status of a tenant first seen with a change type this version does not know.
UNKNOWN_STATUS = "unknown"
STATUSES = frozenset({*(s.status for s in STATUS_AFTER.values()), UNKNOWN_STATUS})

# A change type value SuperOffice adds after this version still gets a topic.
UNKNOWN_TOPIC_KEY = "Unknown"

TOPIC_KEYS: tuple[str, ...] = (*(c.name for c in ChangeType), UNKNOWN_TOPIC_KEY)


def change_type_name(value: int) -> str:
    """SuperOffice's name for a change type value, or `Unknown` for a new value."""
    try:
        return ChangeType(value).name
    except ValueError:
        return UNKNOWN_TOPIC_KEY
