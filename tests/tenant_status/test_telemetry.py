"""Metric lines: what CloudWatch will count, and only by dimensions the line has."""

from __future__ import annotations

import json

from tenant_status.telemetry import NAMESPACE, metric_line

DIMENSIONS = [["environment", "outcome"], ["environment", "reason"]]


def test_a_line_counts_only_by_the_dimensions_it_has() -> None:
    record = json.loads(
        metric_line(
            {"environment": "SOD", "outcome": "accepted", "reason": None, "tenant": "Cust1"},
            metrics={"notifications": 1},
            dimensions=DIMENSIONS,
        )
    )

    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [["environment", "outcome"]]
    assert directive["Metrics"] == [{"Name": "notifications", "Unit": "Count"}]
    assert (record["notifications"], record["tenant"]) == (1, "Cust1")


def test_dimension_values_are_strings_and_metrics_carry_units() -> None:
    record = json.loads(
        metric_line(
            {"environment": "SOD", "outcome": "rejected", "reason": 401},
            metrics={"notifications": 1, "latency_ms": 3.5},
            dimensions=DIMENSIONS,
        )
    )

    assert record["reason"] == "401"
    assert record["latency_ms"] == 3.5
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert {"Name": "latency_ms", "Unit": "Milliseconds"} in directive["Metrics"]
    assert directive["Dimensions"] == DIMENSIONS
