"""Lambda entry point behind the State Change URL.

Settings, the DynamoDB client and the key cache are built at import, in
Lambda's init phase, once per container; a request pays for none of it.
"""

from __future__ import annotations

import os
from typing import Any

import boto3

from .receiver import build_receiver
from .settings import ReceiverSettings
from .store import CLIENT_CONFIG
from .telemetry import write_lines_to_stdout

write_lines_to_stdout()
_receiver = build_receiver(
    ReceiverSettings.from_environ(os.environ), boto3.client("dynamodb", config=CLIENT_CONFIG)
)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _receiver.handle(event)
