"""Lambda entry point of the outbox publisher, triggered by the table's stream.

Settings and the clients are built at import, in Lambda's init phase, once
per container; a batch pays for none of it.
"""

from __future__ import annotations

import os
from typing import Any

import boto3

from .publisher import Publisher
from .settings import PublisherSettings
from .telemetry import write_lines_to_stdout

write_lines_to_stdout()
_publisher = Publisher(
    settings=PublisherSettings.from_environ(os.environ),
    sns_client=boto3.client("sns"),
    sqs_client=boto3.client("sqs"),
)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _publisher.handle(event)
