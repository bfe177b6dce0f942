"""CloudWatch Embedded Metric Format, built with Powertools' EMF provider.

One EMF object per request (a fresh provider each time: nothing is shared between concurrent
requests). In AWS the lines go to stdout and the log driver ships them; locally to a file.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

INTERACTIVE_REQUEST_COUNT = "InteractiveRequestCount"
INTERACTIVE_REQUEST_LATENCY = "InteractiveRequestLatency"
# Requests the edge refused because the school was over its tier (429): in AWS a metric filter on
# the API's access log counts them; locally the gateway writes this EMF line.
THROTTLED_REQUESTS = "ThrottledRequests"
SCHOOL_DIMENSION = "school_id"
SERVICE_DIMENSION = "service"


class RequestMetrics:
    def __init__(self, *, namespace: str, service: str, sink: TextIO | None = None) -> None:
        self._namespace = namespace
        self._service = service
        self._sink = sink or sys.stdout
        self._lock = threading.Lock()

    def record(self, *, school_id: str, route: str, latency_ms: float, status: int) -> dict[str, object]:
        emf = EphemeralMetrics(namespace=self._namespace, service=self._service)
        emf.add_dimension(name=SCHOOL_DIMENSION, value=school_id)
        emf.add_metric(name=INTERACTIVE_REQUEST_COUNT, unit=MetricUnit.Count, value=1)
        emf.add_metric(name=INTERACTIVE_REQUEST_LATENCY, unit=MetricUnit.Milliseconds, value=latency_ms)
        emf.add_metadata(key="route", value=route)
        emf.add_metadata(key="status", value=status)
        blob: dict[str, object] = dict(emf.serialize_metric_set())
        # Two series sets. Per school, the latency only: its SampleCount is the school's request count,
        # and each series is a billed custom metric (decision 0012). Per service, both: CloudWatch
        # alarms cannot aggregate across schools, so the platform-wide p95 alarm watches that one.
        aws: dict[str, Any] = blob["_aws"]  # type: ignore[assignment]
        (directive,) = aws["CloudWatchMetrics"]
        latency = [m for m in directive["Metrics"] if m["Name"] == INTERACTIVE_REQUEST_LATENCY]
        aws["CloudWatchMetrics"] = [
            {**directive, "Dimensions": [[SCHOOL_DIMENSION, SERVICE_DIMENSION]], "Metrics": latency},
            {**directive, "Dimensions": [[SERVICE_DIMENSION]]},
        ]
        line = json.dumps(blob, separators=(",", ":"))
        with self._lock:
            self._sink.write(line + "\n")
            self._sink.flush()
        return blob


def throttled_request(*, namespace: str, school_id: str, route: str) -> str:
    """One EMF line counting a request refused for its school's rate (dimension: the school)."""
    emf = EphemeralMetrics(namespace=namespace)
    emf.add_dimension(name=SCHOOL_DIMENSION, value=school_id)
    emf.add_metric(name=THROTTLED_REQUESTS, unit=MetricUnit.Count, value=1)
    emf.add_metadata(key="route", value=route)
    return json.dumps(emf.serialize_metric_set(), separators=(",", ":"))
