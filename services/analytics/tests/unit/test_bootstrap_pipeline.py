"""The stream → lake pipeline's composition root: its settings (read from ``LUCA_*`` variables,
refused at start when incomplete or beyond Firehose's limits) and what it builds: stream records in,
Parquet files in the lake's layout out."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from boto3.dynamodb.types import TypeSerializer

from luca_analytics.adapters.lake_schema import LAKE_PREFIX
from luca_analytics.bootstrap_pipeline import PipelineSettings, build_pipeline

KEY = "k" * 64
WHEN = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def settings(**environment: str) -> PipelineSettings:
    return PipelineSettings.from_environment({"LUCA_PSEUDONYM_KEY": KEY, **environment})


def stream_record(evaluation_id: str, sequence: str = "1") -> dict[str, Any]:
    """An INSERT as the Streams API gives it through boto3 (typed JSON image, a datetime)."""
    image = {
        "type": "Evaluation",
        "schema_version": 1,
        "school_id": "school-a",
        "evaluation_id": evaluation_id,
        "student_id": "st-1",
        "course_id": "1A",
        "subject_id": "math",
        "term_id": "2025-T1",
        "score": "6.5",
        "weight": "1",
        "recorded_at": "2025-03-05T10:00:00.000000Z",
    }
    serializer = TypeSerializer()
    return {
        "eventName": "INSERT",
        "dynamodb": {
            "ApproximateCreationDateTime": WHEN,
            "SequenceNumber": sequence,
            "NewImage": {name: serializer.serialize(value) for name, value in image.items()},
        },
    }


def test_the_settings_come_from_the_environment_with_firehoses_defaults() -> None:
    found = settings(LUCA_LAKE_BUCKET="luca-lake", LUCA_AWS_REGION="eu-west-1")

    assert found.pseudonym_key == KEY.encode()
    assert (found.lake_bucket, found.lake_directory) == ("luca-lake", "")
    assert (found.buffer_bytes, found.buffer_seconds) == (64 * 1024 * 1024, 60.0)
    assert (found.compression, found.metrics_namespace) == ("zstd", "Luca/Platform")
    assert (found.aws_region, found.aws_endpoint_url) == ("eu-west-1", None)
    assert KEY not in repr(found)


def test_the_buffering_and_the_writer_are_configurable() -> None:
    found = settings(
        LUCA_LAKE_DIRECTORY="/lake",
        LUCA_LAKE_BUFFER_BYTES="1048576",
        LUCA_LAKE_BUFFER_SECONDS="5",
        LUCA_LAKE_COMPRESSION="snappy",
        LUCA_METRICS_NAMESPACE="Luca/Test",
        LUCA_AWS_ENDPOINT_URL="http://127.0.0.1:5000",
    )

    assert (found.buffering.buffer_bytes, found.buffering.buffer_seconds) == (1048576, 5.0)
    assert (found.compression, found.metrics_namespace) == ("snappy", "Luca/Test")
    assert found.aws_endpoint_url == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"LUCA_PSEUDONYM_KEY": "", "LUCA_LAKE_BUCKET": "b"}, "not set: LUCA_PSEUDONYM_KEY"),
        ({}, "exactly one of LUCA_LAKE_BUCKET and LUCA_LAKE_DIRECTORY"),
        ({"LUCA_LAKE_BUCKET": "b", "LUCA_LAKE_DIRECTORY": "/d"}, "exactly one of"),
        ({"LUCA_LAKE_BUCKET": "b", "LUCA_LAKE_BUFFER_BYTES": str(129 * 1024 * 1024)}, "BUFFER_BYTES"),
        ({"LUCA_LAKE_BUCKET": "b", "LUCA_LAKE_BUFFER_SECONDS": "901"}, "BUFFER_SECONDS"),
        ({"LUCA_LAKE_BUCKET": "b", "LUCA_LAKE_COMPRESSION": "lz4"}, "LUCA_LAKE_COMPRESSION"),
    ],
)
def test_incomplete_or_impossible_settings_are_refused_at_start(
    environment: dict[str, str], message: str
) -> None:
    with pytest.raises(RuntimeError, match=message):
        settings(**environment)


def test_stream_records_become_parquet_files_in_the_lakes_layout(tmp_path: Path) -> None:
    metrics = io.StringIO()
    built = build_pipeline(settings(LUCA_LAKE_DIRECTORY=str(tmp_path)), metrics=metrics)

    assert built.take(stream_record("ev-1", "1"))
    assert built.take(stream_record("ev-2", "2"))
    assert not built.take({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "3"}})
    assert not built.take({"dynamodb": "not a section"})
    report = built.pipeline.flush()

    assert report is not None
    assert (report.records_in, report.rows_out) == (4, 2)
    assert dict(report.skipped) == {"malformed": 2}
    (written,) = report.files
    assert written.path.startswith(f"{tmp_path}/{LAKE_PREFIX}/school_id=school-a/year=2025/month=03/")
    rows = pq.read_table(written.path).to_pylist()
    assert sorted(row["record_id"] for row in rows) == ["ev-1", "ev-2"]
    assert "st-1" not in str(rows)  # the student is pseudonymised with the settings' key
    assert '"LakeRowsOut"' in metrics.getvalue()
