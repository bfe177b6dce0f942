"""The lake's delivery pipeline: stream changes in, Parquet files per partition out, buffered like Firehose.

In AWS, Pipes runs ``flatten`` (the enrichment function) and Firehose buffers the rows and writes one
object per partition whenever its buffer reaches its size or its interval since the first buffered
record. Locally, ``LakePipeline`` does both with the same rules, so the lake has the same shape and
latency profile:

* every decoded stream change goes through ``domain.lake.flatten``; REMOVEs, item types that are not
  lake facts, unknown types and schema versions and malformed items are **skipped and counted by
  reason** (one log line each, with the reason and the item's type only, never its values);
* rows are buffered until the buffer holds ``buffer_bytes`` (estimated as Firehose counts them: the
  size of the record as JSON) or ``buffer_seconds`` have passed since the first record of the buffer;
* a flush groups the rows by partition (school, year, month) and hands each group to the ``LakeSink``,
  one file per partition per flush. A group the sink fails to write stays buffered and is retried on
  the next flush; the groups already written are not written again (no loss, no duplicates);
* each flush emits one EMF document in ``Luca/Platform`` (``LakeRecordsIn``, ``LakeRowsOut``,
  ``LakeFilesWritten``, ``LakeBytesWritten``, ``LakeFreshnessSeconds`` = the oldest row's age at flush,
  ``LakeFreshnessP50Seconds``) and one ``LakeRecordsSkipped`` document per skip reason.

Freshness is ``flush time - changed_at`` of each row (changed_at = the stream record's approximate
creation time): how long a change took to become queryable.
"""

from __future__ import annotations

import json
import logging
import statistics
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from luca_analytics.domain.lake import LakeRow, Skip, SkipReason, flatten

MIB = 1024 * 1024
NAMESPACE = "Luca/Platform"
SERVICE = "lake-pipeline"
RECORDS_IN_METRIC = "LakeRecordsIn"
ROWS_OUT_METRIC = "LakeRowsOut"
SKIPPED_METRIC = "LakeRecordsSkipped"
FILES_METRIC = "LakeFilesWritten"
BYTES_METRIC = "LakeBytesWritten"
FRESHNESS_METRIC = "LakeFreshnessSeconds"
FRESHNESS_P50_METRIC = "LakeFreshnessP50Seconds"
# Firehose's buffering limits (size 1-128 MiB, interval 0-900 s; dynamic partitioning needs >= 64 MiB).
MAX_BUFFER_BYTES = 128 * MIB
MAX_BUFFER_SECONDS = 900.0
# How many recent freshness samples are kept for percentiles (tools, the benchmark).
FRESHNESS_SAMPLES = 100_000
# Skips that are the normal course of things (deletions, catalog items) are logged at debug level.
_ROUTINE_SKIPS = frozenset({SkipReason.REMOVE, SkipReason.NOT_A_FACT})
_ROW_FIELDS = tuple(f.name for f in fields(LakeRow))

log = logging.getLogger("luca.lake.pipeline")

Partition = tuple[str, int, int]  # (school_id, year, month)


@dataclass(frozen=True, slots=True)
class BufferSettings:
    """Firehose's buffering hints. The defaults are Firehose's with dynamic partitioning (64 MiB, 60 s);
    the local platform uses ``AnalyticsDefinition``'s smaller ones so a change is queryable in seconds."""

    buffer_bytes: int = 64 * MIB
    buffer_seconds: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.buffer_bytes <= MAX_BUFFER_BYTES:
            raise ValueError(f"buffer_bytes must be 1..{MAX_BUFFER_BYTES} (Firehose's maximum)")
        if not 0 <= self.buffer_seconds <= MAX_BUFFER_SECONDS:
            raise ValueError(f"buffer_seconds must be 0..{MAX_BUFFER_SECONDS:.0f} (Firehose's maximum)")


@dataclass(frozen=True, slots=True)
class StreamChange:
    """One stream record, decoded: the change, its new image as plain values, when it happened."""

    change: str
    image: Mapping[str, Any] | None
    changed_at: datetime
    sequence_number: str = ""


@dataclass(frozen=True, slots=True)
class WrittenFile:
    path: str
    partition: Partition
    rows: int
    bytes: int


class LakeSink(Protocol):
    """Where a flush's rows go: one file per partition per call."""

    def write(self, partition: Partition, rows: Sequence[LakeRow]) -> WrittenFile: ...


class MetricsSink(Protocol):
    """Where EMF lines go: stdout in AWS (the log driver ships them), a file locally."""

    def write(self, line: str) -> Any: ...

    def flush(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class FlushReport:
    records_in: int
    rows_out: int
    skipped: Mapping[str, int]
    files: tuple[WrittenFile, ...]
    freshness_max_seconds: float | None
    freshness_p50_seconds: float | None
    failed_partitions: int = 0

    @property
    def bytes_written(self) -> int:
        return sum(f.bytes for f in self.files)


@dataclass(slots=True)
class PipelineCounters:
    """Running totals since the pipeline started."""

    records_in: int = 0
    rows_out: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    files_written: int = 0
    bytes_written: int = 0
    flushes: int = 0
    failed_writes: int = 0
    freshness_max_seconds: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        return {
            "records_in": self.records_in,
            "rows_out": self.rows_out,
            "skipped": dict(self.skipped),
            "files_written": self.files_written,
            "bytes_written": self.bytes_written,
            "flushes": self.flushes,
            "failed_writes": self.failed_writes,
            "freshness_max_seconds": round(self.freshness_max_seconds, 3),
        }


def estimated_bytes(row: LakeRow) -> int:
    """The row's size as Firehose would count it: roughly its JSON document."""
    size = 2
    for name in _ROW_FIELDS:
        value = getattr(row, name)
        if isinstance(value, str):
            size += len(value.encode())
        elif isinstance(value, datetime):
            size += 24  # 2025-03-10T12:00:00.000Z
        else:
            size += 8
        size += len(name) + 6  # "name":"",
    return size


class LakePipeline:
    """Stream changes → buffered lake rows → one file per partition per flush. Thread-safe."""

    def __init__(
        self,
        sink: LakeSink,
        key: bytes,
        settings: BufferSettings | None = None,
        *,
        now: Callable[[], datetime] | None = None,
        metrics: MetricsSink | None = None,
        namespace: str = NAMESPACE,
        service: str = SERVICE,
    ) -> None:
        if not key:
            raise ValueError("the pseudonymisation key is empty")
        self._sink = sink
        self._key = key
        self.settings = settings or BufferSettings()
        self._now = now or (lambda: datetime.now(UTC))
        self._metrics = metrics
        self._namespace = namespace
        self._service = service
        self._lock = threading.RLock()
        self._buffer: dict[Partition, list[LakeRow]] = {}
        self._buffer_bytes = 0
        self._opened_at: datetime | None = None  # when the buffer's first record (row or skip) came in
        self._period_in = 0
        self._period_skipped: Counter[str] = Counter()
        self.counters = PipelineCounters()
        self._freshness: deque[float] = deque(maxlen=FRESHNESS_SAMPLES)

    # -- in --------------------------------------------------------------------------------------------
    def accept(self, record: StreamChange) -> LakeRow | Skip:
        """One change: a buffered row or a counted skip. Flushes when the buffer reaches its size."""
        outcome = flatten(record.change, record.image, record.changed_at, self._key, record.sequence_number)
        with self._lock:
            self._count_in()
            if isinstance(outcome, Skip):
                self._skip(outcome, record.sequence_number)
                return outcome
            partition = (outcome.school_id, outcome.year, outcome.month)
            self._buffer.setdefault(partition, []).append(outcome)
            self._buffer_bytes += estimated_bytes(outcome)
            if self._buffer_bytes >= self.settings.buffer_bytes:
                self.flush()
            return outcome

    def accept_many(self, records: Iterable[StreamChange]) -> None:
        for record in records:
            self.accept(record)

    def reject(self, detail: str, sequence_number: str = "") -> Skip:
        """A record that could not even be decoded: counted and skipped as malformed."""
        skip = Skip(SkipReason.MALFORMED, detail[:200])
        with self._lock:
            self._count_in()
            self._skip(skip, sequence_number)
        return skip

    def _count_in(self) -> None:
        self.counters.records_in += 1
        self._period_in += 1
        if self._opened_at is None:
            self._opened_at = self._now()

    def _skip(self, skip: Skip, sequence_number: str) -> None:
        self.counters.skipped[skip.reason.value] += 1
        self._period_skipped[skip.reason.value] += 1
        # The detail names the item's type (and version), or the attribute a malformed item lacks;
        # anything after a colon may quote a value, so it is left out.
        detail = skip.detail.split(":", 1)[0][:64]
        level = logging.DEBUG if skip.reason in _ROUTINE_SKIPS else logging.WARNING
        log.log(
            level,
            "stream record skipped",
            extra={"reason": skip.reason.value, "detail": detail, "sequence_number": sequence_number},
        )

    # -- out -------------------------------------------------------------------------------------------
    @property
    def buffered_rows(self) -> int:
        with self._lock:
            return sum(len(rows) for rows in self._buffer.values())

    @property
    def buffered_bytes(self) -> int:
        with self._lock:
            return self._buffer_bytes

    def due(self) -> bool:
        """Whether the buffer's interval has passed since its first record."""
        with self._lock:
            if self._opened_at is None:
                return False
            age = (self._now() - self._opened_at).total_seconds()
            return age >= self.settings.buffer_seconds

    def flush_if_due(self) -> FlushReport | None:
        with self._lock:
            return self.flush() if self.due() else None

    def flush(self) -> FlushReport | None:
        """Write every buffered partition (one file each) and publish the period's metrics."""
        with self._lock:
            if self._opened_at is None and not self._buffer:
                return None
            now = self._now()
            written: list[WrittenFile] = []
            ages: list[float] = []
            failed = 0
            for partition in sorted(self._buffer):
                rows = self._buffer[partition]
                try:
                    result = self._sink.write(partition, rows)
                except Exception:
                    # Kept for the next flush: the stream has moved on, these rows exist only here.
                    failed += 1
                    self.counters.failed_writes += 1
                    log.exception(
                        "lake write failed; rows kept for the next flush", extra={"rows": len(rows)}
                    )
                    continue
                del self._buffer[partition]
                self._buffer_bytes -= sum(estimated_bytes(row) for row in rows)
                written.append(result)
                ages.extend(max(0.0, (now - row.changed_at).total_seconds()) for row in rows)
            rows_out = sum(f.rows for f in written)
            report = FlushReport(
                records_in=self._period_in,
                rows_out=rows_out,
                skipped=dict(self._period_skipped),
                files=tuple(written),
                freshness_max_seconds=max(ages) if ages else None,
                freshness_p50_seconds=statistics.median(ages) if ages else None,
                failed_partitions=failed,
            )
            self.counters.rows_out += rows_out
            self.counters.files_written += len(written)
            self.counters.bytes_written += report.bytes_written
            self.counters.flushes += 1
            if ages:
                self.counters.freshness_max_seconds = max(self.counters.freshness_max_seconds, max(ages))
                self._freshness.extend(ages)
            self._period_in = 0
            self._period_skipped = Counter()
            # A buffer that keeps failing restarts its interval, so retries come once per interval.
            self._opened_at = now if self._buffer else None
            if not self._buffer:
                self._buffer_bytes = 0
            self._publish(report)
            log.info(
                "lake flush",
                extra={
                    "records_in": report.records_in,
                    "rows_out": report.rows_out,
                    "skipped": dict(report.skipped),
                    "files": len(report.files),
                    "bytes": report.bytes_written,
                    "freshness_max_seconds": report.freshness_max_seconds,
                    "failed_partitions": failed,
                },
            )
            return report

    def freshness_percentiles(self) -> dict[str, float]:
        """p50/p95/max of the recent rows' freshness (seconds); empty before the first written row."""
        with self._lock:
            samples = sorted(self._freshness)
        if not samples:
            return {}

        def at(q: float) -> float:
            return samples[min(len(samples) - 1, int(q * len(samples)))]

        return {"p50": at(0.50), "p95": at(0.95), "max": samples[-1], "count": float(len(samples))}

    # -- metrics ---------------------------------------------------------------------------------------
    def _publish(self, report: FlushReport) -> None:
        if self._metrics is None:
            return
        documents = [self._flush_document(report)]
        for reason, count in sorted(report.skipped.items()):
            emf = EphemeralMetrics(namespace=self._namespace, service=self._service)
            emf.add_dimension(name="reason", value=reason)
            emf.add_metric(name=SKIPPED_METRIC, unit=MetricUnit.Count, value=count)
            documents.append(dict(emf.serialize_metric_set()))
        for document in documents:
            self._metrics.write(json.dumps(document, separators=(",", ":"), default=str) + "\n")
        self._metrics.flush()

    def _flush_document(self, report: FlushReport) -> dict[str, Any]:
        emf = EphemeralMetrics(namespace=self._namespace, service=self._service)
        emf.add_metric(name=RECORDS_IN_METRIC, unit=MetricUnit.Count, value=report.records_in)
        emf.add_metric(name=ROWS_OUT_METRIC, unit=MetricUnit.Count, value=report.rows_out)
        emf.add_metric(name=FILES_METRIC, unit=MetricUnit.Count, value=len(report.files))
        emf.add_metric(name=BYTES_METRIC, unit=MetricUnit.Bytes, value=report.bytes_written)
        if report.freshness_max_seconds is not None and report.freshness_p50_seconds is not None:
            emf.add_metric(name=FRESHNESS_METRIC, unit=MetricUnit.Seconds, value=report.freshness_max_seconds)
            emf.add_metric(
                name=FRESHNESS_P50_METRIC, unit=MetricUnit.Seconds, value=report.freshness_p50_seconds
            )
        return dict(emf.serialize_metric_set())
