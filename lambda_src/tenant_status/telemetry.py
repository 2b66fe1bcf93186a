"""One JSON line per notification or published event that is also a CloudWatch metric record.

The line follows CloudWatch's embedded metric format, so the same line that Logs
Insights queries becomes metrics per outcome, change type and rejection reason, with
no metrics API call on the request path. It writes lines; it does not aggregate.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

NAMESPACE = "SuperOfficeTenantStatus"
# Metric name -> unit, for the values a line may carry.
UNITS = {
    "notifications": "Count",
    "latency_ms": "Milliseconds",
    "events_published": "Count",
    "publish_failures": "Count",
}


def metric_line(
    fields: Mapping[str, Any], *, metrics: Mapping[str, float], dimensions: list[list[str]]
) -> str:
    """The JSON line: the fields, the metric values, and how CloudWatch reads them.

    A dimension set is kept only when every one of its fields has a value, so one
    line can count by change type when it is known and by reason when there is one.
    """
    present = [
        dimension_set
        for dimension_set in dimensions
        if all(fields.get(name) is not None for name in dimension_set)
    ]
    record: dict[str, Any] = {**fields, **metrics}
    for name in {name for dimension_set in present for name in dimension_set}:
        record[name] = str(record[name])
    record["_aws"] = {
        "Timestamp": int(time.time() * 1000),
        "CloudWatchMetrics": [
            {
                "Namespace": NAMESPACE,
                "Dimensions": present,
                "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in metrics],
            }
        ],
    }
    return json.dumps(record, separators=(",", ":"), default=str)


def write_lines_to_stdout(logger_name: str = "tenant_status") -> None:
    """In Lambda: lines go to stdout as they are, not inside the runtime's JSON envelope,
    which would hide them from metric extraction."""
    logger = logging.getLogger(logger_name)
    if any(getattr(h, "writes_lines", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.writes_lines = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
