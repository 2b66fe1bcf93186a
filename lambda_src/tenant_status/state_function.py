"""Lambda entry point behind the tenant state API.

Settings and the DynamoDB client are built at import, in Lambda's init phase.
"""

from __future__ import annotations

import os
from typing import Any

import boto3

from .settings import StateReaderSettings
from .state_reader import TenantStateReader
from .telemetry import write_lines_to_stdout

write_lines_to_stdout()
_reader = TenantStateReader(
    settings=StateReaderSettings.from_environ(os.environ), dynamodb_client=boto3.client("dynamodb")
)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _reader.handle(event)
