"""CloudWatch Embedded Metric Format, built with Powertools' EMF provider.

A service's requests are counted and timed per (school, route, status) and published together: one
EMF line per (school, route, status) a second at most, its values as arrays (CloudWatch takes each
array value as one sample, so sums and percentiles are those of one line per request). A line
never spans two minutes (its timestamp is its first request's) nor holds more than EMF's 100 values.
Building and writing a line for every request cost more CPU than the rest of the telemetry.
In AWS the lines go to stdout and the log driver ships them; locally to a file.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

INTERACTIVE_REQUEST_COUNT = "InteractiveRequestCount"
INTERACTIVE_REQUEST_LATENCY = "InteractiveRequestLatency"
# Requests the edge refused because the school was over its tier (429): in AWS a metric filter on
# the API's access log counts them; locally the gateway writes this EMF line.
THROTTLED_REQUESTS = "ThrottledRequests"
SCHOOL_DIMENSION = "school_id"
SERVICE_DIMENSION = "service"
# EMF's limit on the values of one metric in one line.
MAX_VALUES = 100

log = logging.getLogger(__name__)

_Key = tuple[str, str, int]  # school, route, status


@dataclass
class _Batch:
    minute: int
    timestamp_ms: int
    latencies: list[float] = field(default_factory=list)


class RequestMetrics:
    """``record`` each request; lines are written by a background thread every ``flush_seconds``
    (started with the first request), or at once by ``flush``. ``close`` writes what is left."""

    def __init__(
        self,
        *,
        namespace: str,
        service: str,
        sink: TextIO | None = None,
        flush_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._namespace = namespace
        self._service = service
        self._sink = sink or sys.stdout
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._open: dict[_Key, _Batch] = {}
        self._done: list[tuple[_Key, _Batch]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._flusher: threading.Thread | None = None

    def record(self, *, school_id: str, route: str, latency_ms: float, status: int) -> None:
        now = self._clock()
        minute = int(now // 60)
        key = (school_id, route, status)
        with self._lock:
            batch = self._open.get(key)
            if batch is not None and batch.minute != minute:
                self._done.append((key, self._open.pop(key)))
                batch = None
            if batch is None:
                batch = self._open[key] = _Batch(minute, int(now * 1000))
            batch.latencies.append(latency_ms)
            if len(batch.latencies) >= MAX_VALUES:
                self._done.append((key, self._open.pop(key)))
                self._wake.set()
            if self._flusher is None and not self._stopping:
                self._flusher = threading.Thread(target=self._run, name="emf-flusher", daemon=True)
                self._flusher.start()

    def flush(self) -> None:
        """Write every request recorded so far: when it returns, they are in the sink (a flush the
        background thread has under way is waited for)."""
        with self._write_lock:
            with self._lock:
                batches, self._done = [*self._done, *self._open.items()], []
                self._open = {}
            if not batches:
                return
            # Requests keep being recorded meanwhile: only the lock above is theirs.
            lines = "".join(self._line(key, batch) + "\n" for key, batch in batches)
            self._sink.write(lines)
            self._sink.flush()

    def close(self) -> None:
        """Stop the background writer and write what is left."""
        with self._lock:
            self._stopping = True
            flusher = self._flusher
        self._wake.set()
        if flusher is not None:
            flusher.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a broken sink must not end the writer: later lines may get through
                log.exception("could not write request metrics")

    def _line(self, key: _Key, batch: _Batch) -> str:
        school_id, route, status = key
        emf = EphemeralMetrics(namespace=self._namespace, service=self._service)
        emf.add_dimension(name=SCHOOL_DIMENSION, value=school_id)
        emf.add_metadata(key="route", value=route)
        emf.add_metadata(key="status", value=status)
        emf.set_timestamp(batch.timestamp_ms)
        # The values given whole: Powertools' add_metric would print a line itself at the 100th.
        values = {
            INTERACTIVE_REQUEST_COUNT: {
                "Unit": MetricUnit.Count.value,
                "Value": [1.0] * len(batch.latencies),
            },
            INTERACTIVE_REQUEST_LATENCY: {"Unit": MetricUnit.Milliseconds.value, "Value": batch.latencies},
        }
        blob: dict[str, Any] = dict(emf.serialize_metric_set(metrics=values))
        # Two series sets. Per school, the latency only: its SampleCount is the school's request count,
        # and each series is a billed custom metric (decision 0012). Per service, both: CloudWatch
        # alarms cannot aggregate across schools, so the platform-wide p95 alarm watches that one.
        aws: dict[str, Any] = blob["_aws"]
        (directive,) = aws["CloudWatchMetrics"]
        latency = [m for m in directive["Metrics"] if m["Name"] == INTERACTIVE_REQUEST_LATENCY]
        aws["CloudWatchMetrics"] = [
            {**directive, "Dimensions": [[SCHOOL_DIMENSION, SERVICE_DIMENSION]], "Metrics": latency},
            {**directive, "Dimensions": [[SERVICE_DIMENSION]]},
        ]
        return json.dumps(blob, separators=(",", ":"))


def throttled_request(*, namespace: str, school_id: str, route: str) -> str:
    """One EMF line counting a request refused for its school's rate (dimension: the school)."""
    emf = EphemeralMetrics(namespace=namespace)
    emf.add_dimension(name=SCHOOL_DIMENSION, value=school_id)
    emf.add_metric(name=THROTTLED_REQUESTS, unit=MetricUnit.Count, value=1)
    emf.add_metadata(key="route", value=route)
    return json.dumps(emf.serialize_metric_set(), separators=(",", ":"))
