"""The lake pipeline with a fake sink and a fake clock: buffering by size and time, partitions,
counters, skips and metrics."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from luca_analytics.adapters.dynamodb_stream import UndecodableRecord, decode_record
from luca_analytics.domain.lake import LakeRow, Skip, SkipReason
from luca_analytics.service_layer.pipeline import (
    BufferSettings,
    LakePipeline,
    Partition,
    StreamChange,
    WrittenFile,
    estimated_bytes,
)

KEY = b"unit-test-key"
T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


class FakeSink:
    def __init__(self) -> None:
        self.files: list[tuple[Partition, list[LakeRow]]] = []
        self.fail_for: set[str] = set()

    def write(self, partition: Partition, rows: Sequence[LakeRow]) -> WrittenFile:
        if partition[0] in self.fail_for:
            raise OSError("the bucket is away")
        self.files.append((partition, list(rows)))
        return WrittenFile(f"{partition}/{len(self.files)}", partition, len(rows), 100 * len(rows))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def evaluation(
    school: str = "school-a", n: int = 1, month: int = 3, change: str = "INSERT", **extra: Any
) -> StreamChange:
    image = {
        "type": "Evaluation",
        "schema_version": 1,
        "school_id": school,
        "evaluation_id": f"ev-{n}",
        "student_id": "st-1",
        "course_id": "1A",
        "subject_id": "math",
        "term_id": "2025-T1",
        "score": "6.5",
        "weight": "1",
        "teacher_id": "t-1",
        "description": "Prueba de fracciones",
        "recorded_at": f"2025-{month:02d}-05T10:00:00.000000Z",
    } | extra
    return StreamChange(
        change=change, image=image, changed_at=T0 - timedelta(seconds=2), sequence_number=str(n)
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


def pipeline(sink: FakeSink, clock: Clock, **settings: Any) -> LakePipeline:
    buffering = BufferSettings(**({"buffer_bytes": 1_000_000, "buffer_seconds": 5.0} | settings))
    return LakePipeline(sink, KEY, buffering, now=clock, metrics=io.StringIO())


def test_rows_wait_for_the_interval_then_land_one_file_per_partition(sink: FakeSink, clock: Clock) -> None:
    lake = pipeline(sink, clock)
    lake.accept_many(
        [
            evaluation("school-a", 1),
            evaluation("school-a", 2),
            evaluation("school-b", 3),
            evaluation("school-a", 4, 4),
        ]
    )
    assert lake.flush_if_due() is None
    clock.advance(4.9)
    assert lake.flush_if_due() is None
    assert sink.files == []

    clock.advance(0.1)
    report = lake.flush_if_due()

    assert report is not None
    assert report.rows_out == 4
    assert len(report.files) == 3
    by_partition = {partition: [r.record_id for r in rows] for partition, rows in sink.files}
    assert by_partition == {
        ("school-a", 2025, 3): ["ev-1", "ev-2"],
        ("school-a", 2025, 4): ["ev-4"],
        ("school-b", 2025, 3): ["ev-3"],
    }
    # Freshness: changed 2 s before T0, flushed 5 s after.
    assert report.freshness_max_seconds == pytest.approx(7.0)
    assert lake.buffered_rows == 0
    assert lake.flush_if_due() is None


def test_the_buffer_flushes_when_it_reaches_its_size(sink: FakeSink, clock: Clock) -> None:
    one_row = estimated_bytes(LakePipelineRow.first())
    lake = pipeline(sink, clock, buffer_bytes=3 * one_row)
    lake.accept(evaluation(n=1))
    lake.accept(evaluation(n=2))
    assert sink.files == []
    lake.accept(evaluation(n=3))
    assert [len(rows) for _, rows in sink.files] == [3]
    assert lake.buffered_bytes == 0


class LakePipelineRow:
    @staticmethod
    def first() -> LakeRow:
        sink, clock = FakeSink(), Clock()
        outcome = pipeline(sink, clock).accept(evaluation(n=1))
        assert isinstance(outcome, LakeRow)
        return outcome


def test_rows_are_pseudonymous_and_carry_no_text(sink: FakeSink, clock: Clock) -> None:
    lake = pipeline(sink, clock)
    lake.accept(evaluation())
    lake.flush()
    (_, [row]) = sink.files[0]
    values = [str(getattr(row, name)) for name in row.__slots__]
    assert "st-1" not in values
    assert row.student_key
    assert not any("fracciones" in v or v == "t-1" for v in values)


def test_skips_are_counted_by_reason_and_never_buffered(
    sink: FakeSink, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    lake = pipeline(sink, clock)
    caplog.set_level(logging.DEBUG, logger="luca.lake.pipeline")
    outcomes = [
        lake.accept(evaluation(change="REMOVE")),
        lake.accept(StreamChange("INSERT", {"type": "Student", "name": "Ana"}, T0)),
        lake.accept(StreamChange("INSERT", {"type": "Spaceship", "secret": "Ana Pérez"}, T0)),
        lake.accept(evaluation(schema_version=9)),
        lake.accept(evaluation(recorded_at="not a date")),
        lake.reject("no dynamodb section"),
        lake.accept(evaluation(n=7)),
    ]
    assert [o.reason for o in outcomes if isinstance(o, Skip)] == [
        SkipReason.REMOVE,
        SkipReason.NOT_A_FACT,
        SkipReason.UNKNOWN_TYPE,
        SkipReason.UNKNOWN_SCHEMA_VERSION,
        SkipReason.MALFORMED,
        SkipReason.MALFORMED,
    ]
    report = lake.flush()
    assert report is not None
    assert report.rows_out == 1
    assert report.records_in == 7
    assert report.skipped == {
        "remove": 1,
        "not_a_fact": 1,
        "unknown_type": 1,
        "unknown_schema_version": 1,
        "malformed": 2,
    }
    counters = lake.counters.snapshot()
    assert counters["records_in"] == 7
    assert counters["rows_out"] == 1
    assert counters["files_written"] == 1
    skip_lines = [r for r in caplog.records if r.getMessage() == "stream record skipped"]
    assert len(skip_lines) == 6
    assert {r.reason for r in skip_lines} == set(report.skipped)  # type: ignore[attr-defined]
    # Only reasons and type names are logged: never an image's values.
    logged = " ".join(str(r.__dict__) for r in caplog.records)
    assert "Ana" not in logged
    assert "not a date" not in logged


def test_a_partition_that_fails_to_write_is_kept_and_retried_alone(sink: FakeSink, clock: Clock) -> None:
    lake = pipeline(sink, clock)
    sink.fail_for = {"school-b"}
    lake.accept_many([evaluation("school-a", 1), evaluation("school-b", 2)])
    report = lake.flush()
    assert report is not None
    assert report.failed_partitions == 1
    assert report.rows_out == 1
    assert lake.buffered_rows == 1

    sink.fail_for = set()
    clock.advance(5)
    retried = lake.flush_if_due()

    assert retried is not None
    assert retried.rows_out == 1
    assert [p for p, _ in sink.files] == [("school-a", 2025, 3), ("school-b", 2025, 3)]
    assert lake.counters.rows_out == 2
    assert lake.counters.failed_writes == 1


def test_each_flush_emits_emf_in_the_platform_namespace(sink: FakeSink, clock: Clock) -> None:
    metrics = io.StringIO()
    lake = LakePipeline(sink, KEY, BufferSettings(1_000_000, 5.0), now=clock, metrics=metrics)
    lake.accept_many([evaluation(n=1), evaluation(n=2), evaluation(change="REMOVE")])
    clock.advance(5)
    lake.flush_if_due()

    documents = [json.loads(line) for line in metrics.getvalue().splitlines()]
    flush, skipped = documents
    assert flush["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Luca/Platform"
    assert flush["LakeRecordsIn"] == [3.0]
    assert flush["LakeRowsOut"] == [2.0]
    assert flush["LakeFilesWritten"] == [1.0]
    assert flush["LakeFreshnessSeconds"] == [pytest.approx(7.0)]
    assert skipped["LakeRecordsSkipped"] == [1.0]
    assert skipped["reason"] == "remove"


def test_a_period_of_skips_only_still_publishes_its_counts(sink: FakeSink, clock: Clock) -> None:
    lake = pipeline(sink, clock)
    lake.accept(evaluation(change="REMOVE"))
    clock.advance(5)
    report = lake.flush_if_due()
    assert report is not None
    assert report.records_in == 1
    assert report.files == ()
    assert sink.files == []


@pytest.mark.parametrize(
    "settings", [{"buffer_bytes": 0}, {"buffer_seconds": 901}, {"buffer_bytes": 129 * 2**20}]
)
def test_buffering_outside_firehose_limits_is_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Firehose's maximum"):
        BufferSettings(**settings)


def test_each_row_carries_its_version_and_the_stream_order(sink: FakeSink, clock: Clock) -> None:
    lake = pipeline(sink, clock)
    lake.accept(evaluation(n=7))
    lake.accept(evaluation(n=8, change="MODIFY", schema_version=2, version=2, score="5.0"))
    lake.accept(evaluation(n=9, change="MODIFY", schema_version=2, version=3, retracted=True))
    lake.flush()

    rows = [row for _, rows in sink.files for row in rows]
    assert [(r.version, r.retracted, r.score) for r in rows] == [
        (1, False, 6.5),
        (2, False, 5.0),
        (3, True, None),
    ]
    assert [r.sequence_number for r in rows] == [str(n).zfill(40) for n in (7, 8, 9)]


def test_the_grade_lifecycle_bookkeeping_is_skipped_as_routine(sink: FakeSink, clock: Clock) -> None:
    lake = pipeline(sink, clock)
    for kind in ("EvaluationChange", "Assignment", "Term"):
        outcome = lake.accept(
            StreamChange("INSERT", {"type": kind, "schema_version": 1, "reason": "typo"}, T0)
        )
        assert outcome == Skip(SkipReason.NOT_A_FACT, kind)
    assert lake.counters.skipped == {"not_a_fact": 3}


# -- decoding stream records ------------------------------------------------------------------------------
def test_a_stream_record_decodes_from_typed_json() -> None:
    record = {
        "eventName": "INSERT",
        "dynamodb": {
            "ApproximateCreationDateTime": T0,
            "SequenceNumber": "100",
            "NewImage": {"type": {"S": "Evaluation"}, "score": {"N": "6.5"}, "passing": {"BOOL": True}},
        },
    }
    change = decode_record(record)
    assert change.change == "INSERT"
    assert change.changed_at == T0
    assert change.sequence_number == "100"
    assert change.image is not None
    assert change.image["type"] == "Evaluation"
    assert str(change.image["score"]) == "6.5"

    lambda_shaped = decode_record(
        {**record, "dynamodb": {**record["dynamodb"], "ApproximateCreationDateTime": T0.timestamp()}}
    )
    assert lambda_shaped.changed_at == T0
    removed = decode_record({"eventName": "REMOVE", "dynamodb": {"ApproximateCreationDateTime": T0}})
    assert removed.image is None


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"eventName": "INSERT"},
        {"eventName": "INSERT", "dynamodb": {"NewImage": {"type": {"S": "Evaluation"}}}},
        {
            "eventName": "INSERT",
            "dynamodb": {"ApproximateCreationDateTime": 1.0, "NewImage": {"x": {"Q": "?"}}},
        },
        {
            "eventName": "INSERT",
            "dynamodb": {"ApproximateCreationDateTime": 1.0, "NewImage": ["not", "a", "map"]},
        },
    ],
)
def test_what_is_not_a_stream_record_is_undecodable(record: dict[str, Any]) -> None:
    with pytest.raises(UndecodableRecord):
        decode_record(record)
