"""The lake's local pipeline on the emulator: the table's stream → Parquet per school/year/month in S3.

A table and a bucket of this test's own; the poller (buffer 0.5 s) and the reaper run as the platform
runs them (``LocalLake``). Rows are read back with ``pyarrow.dataset`` over the emulator's S3.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
from botocore.exceptions import ClientError
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from luca_analytics.adapters.lake_schema import LAKE_PREFIX, partition_schema
from luca_analytics.bootstrap_pipeline import PipelineSettings, build_pipeline
from luca_analytics.domain.lake import student_key
from luca_analytics.service_layer.pipeline import WrittenFile
from luca_grading.adapters.dynamodb_repository import evaluation_item, note_item
from luca_grading.domain.model import BehaviorKind, BehaviorNote, Evaluation
from luca_infra import cli
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.emulator import Emulator
from luca_infra.local.lake import LocalLake, StreamPoller, TtlReaper, lake_partitions, local_pseudonym_key
from luca_infra.local.platform import PlatformState
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_platform.contracts import exercise_results
from luca_platform.contracts import roster as roster_contract
from luca_platform.table import keys
from luca_platform.table.codec import timestamp, to_wire
from luca_platform.telemetry import context as request_context
from luca_testing.polling import eventually

pytestmark = pytest.mark.emulator


def span_recorder() -> InMemorySpanExporter:
    """Spans finished from now on. The provider is process-wide and set once: join it if set."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


SCHOOL_A = "lake-school-a"
SCHOOL_B = "lake-school-b"
WHEN = datetime(2025, 4, 7, 10, 30, tzinfo=UTC)


@pytest.fixture
def table(emulator: Emulator) -> tuple[str, str]:
    """A table of this test's own, as the platform provisions it (stream, TTL); its name and stream."""
    dynamodb = boto3.client("dynamodb", region_name=emulator.region, endpoint_url=emulator.url)
    name = f"lake-{uuid.uuid4().hex[:10]}"
    dynamodb.create_table(**keys.create_table_request(name))  # type: ignore[arg-type]
    dynamodb.update_time_to_live(**keys.time_to_live_request(name))  # type: ignore[arg-type]
    return name, dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


@pytest.fixture
def lake(emulator: Emulator, table: tuple[str, str], tmp_path: Path) -> Iterator[LocalLake]:
    analytics = replace(
        PLATFORM_DEFINITION.analytics,
        buffer_seconds=0.5,
        poll_interval_seconds=0.1,
        reaper_interval_seconds=3600,  # the tests reap themselves
    )
    running = LocalLake(
        endpoint_url=emulator.url,
        region=emulator.region,
        table_name=table[0],
        stream_arn=table[1],
        state_dir=tmp_path,
        definition=replace(PLATFORM_DEFINITION, analytics=analytics),
        bucket=f"lake-test-{uuid.uuid4().hex[:10]}",
    ).start()
    yield running
    running.stop()


@pytest.fixture
def put(emulator: Emulator, table: tuple[str, str]) -> Callable[[dict[str, Any]], None]:
    dynamodb = boto3.client("dynamodb", region_name=emulator.region, endpoint_url=emulator.url)
    return lambda item: dynamodb.put_item(TableName=table[0], Item=to_wire(item))  # type: ignore[arg-type]


def evaluation(school: str, evaluation_id: str, student: str = "st-1", score: str = "6.5") -> dict[str, Any]:
    return evaluation_item(
        Evaluation(
            school_id=SchoolId(school),
            evaluation_id=evaluation_id,
            student_id=StudentId(student),
            course_id=CourseId("1A"),
            subject_id=SubjectId("math"),
            term_id=TermId("2025-T1"),
            score=Decimal(score),
            weight=Decimal("1"),
            teacher_id=TeacherId("t-secret"),
            recorded_at=WHEN,
            description="Prueba de fracciones de Ana",
        )
    )


def note(school: str, note_id: str, student: str = "st-1") -> dict[str, Any]:
    return note_item(
        BehaviorNote(
            school_id=SchoolId(school),
            note_id=note_id,
            student_id=StudentId(student),
            course_id=CourseId("1A"),
            kind=BehaviorKind("positive"),
            text="Ana ayudó a un compañero",
            teacher_id=TeacherId("t-secret"),
            recorded_at=WHEN,
        )
    )


def exercise_result(school: str, event_id: str, *, expires_at: datetime) -> dict[str, Any]:
    """An ExerciseResult as the grade processor stores it (``exercise_result_item``'s attributes)."""
    return {
        keys.TABLE_PARTITION_KEY: roster_contract.student_pk(school, "st-1"),
        keys.TABLE_SORT_KEY: exercise_results.exercise_result_sk(event_id),
        "type": "ExerciseResult",
        "schema_version": 1,
        "event_schema_version": 1,
        "school_id": school,
        "event_id": event_id,
        "student_id": "st-1",
        "course_id": "1A",
        "subject_id": "math",
        "kind": "exercise_submitted",
        "exercise_id": "ex-1",
        "occurred_at": timestamp(WHEN),
        "score": Decimal("5.5"),
        "passing": True,
        "graded_at": timestamp(WHEN),
        keys.TTL_ATTRIBUTE: int(expires_at.timestamp()),
    }


def filesystem(emulator: Emulator) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        endpoint_override=urlparse(emulator.url).netloc,
        scheme="http",
        region=emulator.region,
        access_key="testing",
        secret_key="testing",
    )


def read_lake(emulator: Emulator, lake: LocalLake) -> list[dict[str, Any]]:
    dataset = ds.dataset(
        f"{lake.bucket}/{LAKE_PREFIX}",
        filesystem=filesystem(emulator),
        format="parquet",
        partitioning=ds.partitioning(partition_schema(), flavor="hive"),
    )
    return dataset.to_table().to_pylist()


def test_changes_land_as_parquet_under_their_schools_partition_only(
    emulator: Emulator, lake: LocalLake, put: Callable[[dict[str, Any]], None]
) -> None:
    assert lake.pipeline is not None
    put(evaluation(SCHOOL_A, "ev-a1"))
    put(note(SCHOOL_A, "no-a1"))
    put(evaluation(SCHOOL_B, "ev-b1", score="3.0"))
    put({"PK": f"SCHOOL#{SCHOOL_A}#X", "SK": "Y", "type": "Spaceship", "school_id": SCHOOL_A, "name": "Ana"})
    put({**evaluation(SCHOOL_A, "ev-a9"), "schema_version": 7})
    put(evaluation(SCHOOL_B, "ev-b2"))  # after the bad ones: the stream goes on

    eventually(
        lambda: lake.pipeline and lake.pipeline.counters.rows_out >= 4, what="4 rows out of the pipeline"
    )
    rows = read_lake(emulator, lake)

    by_school = {
        school: sorted(r["record_id"] for r in rows if r["school_id"] == school)
        for school in (SCHOOL_A, SCHOOL_B)
    }
    assert by_school == {SCHOOL_A: ["ev-a1", "no-a1"], SCHOOL_B: ["ev-b1", "ev-b2"]}
    first = next(r for r in rows if r["record_id"] == "ev-a1")
    assert first["student_key"] == student_key(local_pseudonym_key(lake.state_dir), SCHOOL_A, "st-1")
    assert first["score"] == 6.5
    assert (first["year"], first["month"], first["change"], first["item_type"]) == (
        2025,
        4,
        "INSERT",
        "evaluation",
    )
    text = " ".join(str(v) for r in rows for v in r.values())
    assert "st-1" not in text
    assert "Ana" not in text
    assert "t-secret" not in text
    skipped = lake.pipeline.counters.skipped
    assert skipped["unknown_type"] == 1
    assert skipped["unknown_schema_version"] == 1

    s3 = boto3.client("s3", region_name=emulator.region, endpoint_url=emulator.url)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=lake.bucket, Prefix=LAKE_PREFIX)["Contents"]]
    assert all(k.endswith(".parquet") for k in keys)
    a_keys = [k for k in keys if f"school_id={SCHOOL_A}/" in k]
    assert a_keys
    assert all(k.startswith(f"{LAKE_PREFIX}/school_id={SCHOOL_A}/year=2025/month=04/part-") for k in a_keys)
    partitions = lake_partitions(s3, lake.bucket, SCHOOL_B)
    assert [(p.school_id, p.year, p.month) for p in partitions] == [(SCHOOL_B, 2025, 4)]
    assert partitions[0].bytes > 0
    assert (lake.metrics_path.read_text().count('"LakeRowsOut"')) >= 1


def test_a_rows_correlation_id_is_its_items_and_the_lake_hop_is_traced_and_logged_with_it(
    emulator: Emulator,
    lake: LocalLake,
    put: Callable[[dict[str, Any]], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    spans = span_recorder()
    caplog.set_level(logging.INFO, logger="luca.lake.sink")
    put({**evaluation(SCHOOL_A, "ev-traced"), "correlation_id": "corr-lake-1"})
    put(evaluation(SCHOOL_A, "ev-untraced"))

    eventually(
        lambda: lake.pipeline and lake.pipeline.counters.rows_out >= 2, what="2 rows out of the pipeline"
    )

    rows = {row["record_id"]: row for row in read_lake(emulator, lake)}
    assert rows["ev-traced"]["correlation_id"] == "corr-lake-1"
    assert rows["ev-untraced"]["correlation_id"] == ""
    # AND the hop is a span and a log line of that request, naming the file the row landed in
    (span,) = [s for s in spans.get_finished_spans() if s.name == "lake rows written"]
    assert span.attributes is not None
    assert (span.attributes["luca.correlation_id"], span.attributes["luca.school_id"]) == (
        "corr-lake-1",
        SCHOOL_A,
    )
    (line,) = [r for r in caplog.records if r.getMessage() == "lake rows written"]
    assert line.rows == [{"item_type": "evaluation", "record_id": "ev-traced", "version": 1}]  # type: ignore[attr-defined]
    assert line.file == span.attributes["luca.file"]  # type: ignore[attr-defined]
    assert request_context.correlation_id.get() is None  # bound for the hop only


def test_removals_and_reaped_items_never_land(
    emulator: Emulator, lake: LocalLake, table: tuple[str, str], put: Callable[[dict[str, Any]], None]
) -> None:
    assert lake.pipeline is not None
    assert lake.reaper is not None
    dynamodb = boto3.client("dynamodb", region_name=emulator.region, endpoint_url=emulator.url)
    doomed = evaluation(SCHOOL_A, "ev-doomed")
    put(doomed)
    put(exercise_result(SCHOOL_A, "evt-old", expires_at=datetime.now(UTC) - timedelta(days=1)))
    put(exercise_result(SCHOOL_A, "evt-fresh", expires_at=datetime.now(UTC) + timedelta(days=30)))
    dynamodb.delete_item(
        TableName=table[0],
        Key={
            k: v for k, v in to_wire(doomed).items() if k in (keys.TABLE_PARTITION_KEY, keys.TABLE_SORT_KEY)
        },
    )

    assert lake.reaper.reap_once() == 1  # only the expired exercise result
    eventually(
        lambda: lake.pipeline and lake.pipeline.counters.skipped["remove"] == 2,
        what="2 REMOVE records skipped",
    )
    eventually(
        lambda: lake.pipeline and lake.pipeline.counters.rows_out >= 3, what="3 rows out of the pipeline"
    )
    remaining = dynamodb.scan(TableName=table[0])["Items"]
    assert [i["event_id"]["S"] for i in remaining if "event_id" in i] == ["evt-fresh"]

    rows = read_lake(emulator, lake)
    assert {r["change"] for r in rows} == {"INSERT"}
    # The lake keeps everything: the inserts of the deleted and the expired items stay.
    assert sorted(r["record_id"] for r in rows) == ["ev-doomed", "evt-fresh", "evt-old"]


def test_the_reaper_deletes_what_the_stream_says_has_expired_without_scanning(
    emulator: Emulator, lake: LocalLake, table: tuple[str, str], put: Callable[[dict[str, Any]], None]
) -> None:
    assert lake.reaper is not None
    dynamodb = boto3.client("dynamodb", region_name=emulator.region, endpoint_url=emulator.url)
    past, future = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=30)
    put(exercise_result(SCHOOL_A, "evt-expired", expires_at=past))
    put(exercise_result(SCHOOL_A, "evt-current", expires_at=future))
    put(exercise_result(SCHOOL_A, "evt-extended", expires_at=past))
    put(exercise_result(SCHOOL_A, "evt-extended", expires_at=future))  # its TTL moved on
    put(evaluation(SCHOOL_A, "ev-kept"))  # no TTL: never scheduled
    eventually(
        lambda: lake.reaper is not None and lake.reaper.scheduled == 3, what="3 items scheduled to expire"
    )
    scans: list[dict[str, Any]] = []
    lake.reaper._dynamodb.meta.events.register(  # type: ignore[attr-defined]
        "before-call.dynamodb.Scan", lambda **kwargs: scans.append(kwargs)
    )

    assert lake.reaper.reap_due() == 1

    assert scans == []
    remaining = {i["SK"]["S"] for i in dynamodb.scan(TableName=table[0])["Items"]}
    assert exercise_results.exercise_result_sk("evt-expired") not in remaining
    assert {
        exercise_results.exercise_result_sk("evt-current"),
        exercise_results.exercise_result_sk("evt-extended"),
    } <= remaining
    # The REMOVE unschedules it; the other two stay scheduled for their own time.
    eventually(
        lambda: lake.reaper is not None and lake.reaper.scheduled == 2, what="2 items scheduled to expire"
    )
    assert lake.reaper.reap_due() == 0


def test_the_reaper_schedule_follows_the_records() -> None:
    now = 1_800_000_000
    reaper = TtlReaper(FakeDynamo(), "t", interval_seconds=3600, clock=lambda: now)  # type: ignore[arg-type]

    def record(event: str, sk: str, ttl: dict[str, str] | None) -> dict[str, Any]:
        keys = {"PK": {"S": "SCHOOL#a"}, "SK": {"S": sk}}
        image = {**keys, **({"expires_at": ttl} if ttl else {})}
        return {
            "eventName": event,
            "dynamodb": {"Keys": keys, **({"NewImage": image} if event != "REMOVE" else {})},
        }

    reaper.observe(record("INSERT", "A", {"N": str(now - 10)}))
    reaper.observe(record("INSERT", "B", {"N": str(now - 10)}))
    reaper.observe(record("REMOVE", "B", None))  # deleted by someone else first
    reaper.observe(record("INSERT", "C", {"S": "tomorrow"}))  # not a number: DynamoDB ignores it
    reaper.observe(record("INSERT", "D", {"N": str(now - 10)}))
    reaper.observe(record("MODIFY", "D", None))  # its TTL was removed
    reaper.observe({"eventName": "INSERT"})  # not a stream record: ignored
    reaper.observe(record("INSERT", "E", {"N": str(now + 60)}))

    assert reaper.scheduled == 2
    assert reaper.reap_due() == 1
    assert [call["Key"]["SK"]["S"] for call in reaper._dynamodb.calls] == ["A"]  # type: ignore[attr-defined]
    assert reaper.scheduled == 1


class FakeDynamo:
    class exceptions:  # boto3's attribute name
        class ConditionalCheckFailedException(Exception):
            pass

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def delete_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        return {}


def test_stopping_flushes_what_is_buffered(
    emulator: Emulator, table: tuple[str, str], tmp_path: Path, put: Callable[[dict[str, Any]], None]
) -> None:
    analytics = replace(PLATFORM_DEFINITION.analytics, buffer_seconds=900, poll_interval_seconds=0.1)
    running = LocalLake(
        endpoint_url=emulator.url,
        region=emulator.region,
        table_name=table[0],
        stream_arn=table[1],
        state_dir=tmp_path,
        definition=replace(PLATFORM_DEFINITION, analytics=analytics),
        bucket=f"lake-test-{uuid.uuid4().hex[:10]}",
    ).start()
    put(evaluation(SCHOOL_A, "ev-late"))
    eventually(lambda: running.pipeline and running.pipeline.buffered_rows == 1, what="1 row buffered")
    assert read_lake_files(emulator, running) == 0

    running.stop()

    assert [r["record_id"] for r in read_lake(emulator, running)] == ["ev-late"]


def read_lake_files(emulator: Emulator, lake: LocalLake) -> int:
    s3 = boto3.client("s3", region_name=emulator.region, endpoint_url=emulator.url)
    return sum(p.files for p in lake_partitions(s3, lake.bucket))


def test_lake_show_prints_the_partitions(
    emulator: Emulator,
    lake: LocalLake,
    put: Callable[[dict[str, Any]], None],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    put(evaluation(SCHOOL_A, "ev-show-a"))
    put(evaluation(SCHOOL_B, "ev-show-b"))
    eventually(
        lambda: lake.pipeline and lake.pipeline.counters.rows_out >= 2, what="2 rows out of the pipeline"
    )
    state = PlatformState(
        pid=0,
        started_at="",
        region=emulator.region,
        emulator_url=emulator.url,
        gateway_url="",
        grading_rest_url="",
        grading_grpc_target="",
        jwks_url="",
        user_pool_id="",
        user_pool_client_id="",
        table_name=lake.table_name,
        stream_arn=lake.stream_arn,
        tenant_role_arn="",
        service_key_id="",
        users={},
        access_log="",
        metrics_file="",
        traces_file="",
        events_queue_url="",
        events_dlq_url="",
        lake_bucket=lake.bucket,
        lake_metrics_file=str(lake.metrics_path),
    )
    state.write(lake.state_dir)

    assert cli.main(["lake", "show", "--state-dir", str(lake.state_dir)]) == 0
    table = capsys.readouterr().out
    assert SCHOOL_A in table
    assert SCHOOL_B in table
    assert "2 partitions" in table
    # The pipeline's own figures, summed from the EMF lines it published.
    assert "rows out" in table
    assert "freshness (change -> queryable)" in table

    assert cli.main(["lake", "show", "--school", SCHOOL_B, "--json", "--state-dir", str(lake.state_dir)]) == 0
    shown = capsys.readouterr().out
    assert SCHOOL_B in shown
    assert SCHOOL_A not in shown
    document = json.loads(shown)
    assert document["pipeline"]["rows_out"] >= 2
    assert document["pipeline"]["records_in"] >= document["pipeline"]["rows_out"]
    assert document["pipeline"]["freshness"]["worst_seconds"] >= 0


class FakeStreams:
    """A stream whose first shard closes into a child, with a bad record and an expired iterator."""

    def __init__(self) -> None:
        self.shards = [{"ShardId": "shard-1"}]
        self.expired_once = False
        self.renewed_with: dict[str, Any] = {}

    def describe_stream(self, **_: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": list(self.shards)}}

    def get_shard_iterator(self, **request: Any) -> dict[str, Any]:
        if request["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER":
            self.renewed_with = request
            return {"ShardIterator": f"{request['ShardId']}:1"}
        return {"ShardIterator": f"{request['ShardId']}:0"}

    def get_records(self, ShardIterator: str, **_: Any) -> dict[str, Any]:
        shard, position = ShardIterator.split(":")
        image = to_wire(evaluation(SCHOOL_A, f"ev-{shard}"))
        good = {"eventName": "INSERT", "dynamodb": {"ApproximateCreationDateTime": WHEN, "NewImage": image}}
        if shard == "shard-1" and position == "0":
            bad = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1"}}
            return {
                "Records": [bad, {**good, "dynamodb": {**good["dynamodb"], "SequenceNumber": "2"}}],
                "NextShardIterator": "shard-1:1",
            }
        if shard == "shard-1" and not self.expired_once:
            self.expired_once = True
            raise ClientError({"Error": {"Code": "ExpiredIteratorException", "Message": "old"}}, "GetRecords")
        if shard == "shard-1":
            self.shards.append({"ShardId": "shard-2", "ParentShardId": "shard-1"})
            return {"Records": [], "NextShardIterator": None}  # closed
        if position == "0":
            return {"Records": [good], "NextShardIterator": f"{shard}:1"}
        return {"Records": [], "NextShardIterator": f"{shard}:1"}


def test_the_poller_follows_shards_renews_iterators_and_skips_bad_records(tmp_path: Path) -> None:
    class Sink:
        def __init__(self) -> None:
            self.rows: list[Any] = []

        def write(self, partition: Any, rows: Any) -> WrittenFile:
            self.rows.extend(rows)
            return WrittenFile("x", partition, len(rows), 1)

    sink = Sink()
    streams = FakeStreams()
    delivery = build_pipeline(
        PipelineSettings(pseudonym_key=b"k", lake_directory=str(tmp_path)), sink=sink, metrics=io.StringIO()
    )
    poller = StreamPoller(streams, "arn:stream", delivery)  # type: ignore[arg-type]
    for _ in range(6):
        poller.poll_once()
        poller._described_at = 0.0  # describe on every pass, as after a closed shard
    poller.stop()

    assert sorted(r.record_id for r in sink.rows) == ["ev-shard-1", "ev-shard-2"]
    assert poller.counters.undecodable == 1
    assert poller.counters.shards_closed == 1
    assert poller.counters.shards_seen == 2
    assert streams.renewed_with["SequenceNumber"] == "2"
    assert poller.pipeline.counters.skipped["malformed"] == 1
