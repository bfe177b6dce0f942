"""The Pipes enrichment function: stream records in, the lake's rows out; bad records counted, skipped.

GIVEN stream records shaped as Pipes delivers them (typed DynamoDB JSON, as in a Lambda stream event),
WHEN the function processes the batch, THEN good changes become rows with the lake's columns and the
partition keys Firehose routes by, and everything else is skipped, counted by reason, never raised.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from luca_analytics.adapters import lake_schema
from luca_analytics.domain.lake import student_key
from luca_analytics.entrypoints import enrich

KEY = b"test-pseudonym-key"
CHANGED_EPOCH = 1740916800  # 2025-03-02T12:00:00Z
_serializer = TypeSerializer()


def typed(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def evaluation(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": "SCHOOL#school-a#STUDENT#st-1",
        "SK": "EVAL#2025-T1#math#2025-03-01T10:00:00.000000Z#ev-1",
        "type": "Evaluation",
        "schema_version": Decimal(1),
        "school_id": "school-a",
        "evaluation_id": "ev-1",
        "student_id": "st-1",
        "course_id": "1A",
        "subject_id": "math",
        "term_id": "2025-T1",
        "score": Decimal("5.5"),
        "weight": Decimal("2"),
        "teacher_id": "teacher-7",
        "recorded_at": "2025-03-01T10:00:00.000000Z",
        "description": "Prueba de fracciones de Martina",
    }
    item.update(overrides)
    return item


def stream_record(event_name: str, new_image: dict[str, Any] | None) -> dict[str, Any]:
    section: dict[str, Any] = {
        "ApproximateCreationDateTime": CHANGED_EPOCH,
        "Keys": typed({"PK": "SCHOOL#school-a#STUDENT#st-1", "SK": "EVAL#x"}),
        "SequenceNumber": "111",
        "SizeBytes": 26,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new_image is not None:
        section["NewImage"] = typed(new_image)
    return {
        "eventID": "1",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": section,
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:111122223333:table/luca-platform/stream/x",
    }


def emf_documents(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and "_aws" in line]


def _values(value: float | list[float]) -> list[float]:
    return value if isinstance(value, list) else [value]


def test_a_good_insert_becomes_a_row_with_the_lake_columns_and_its_partition_keys() -> None:
    rows = enrich.process([stream_record("INSERT", evaluation())], lambda: KEY)

    assert len(rows) == 1
    row = rows[0]
    assert set(row) == {c.name for c in lake_schema.columns()}
    assert (row["school_id"], row["year"], row["month"]) == ("school-a", "2025", "03")
    # The partition keys are exactly what the lake's partition path spells.
    assert (
        f"school_id={row['school_id']}/year={row['year']}/month={row['month']}"
        == lake_schema.partition_path("school-a", 2025, 3)
    )
    assert (row["item_type"], row["change"], row["record_id"]) == ("evaluation", "INSERT", "ev-1")
    assert (row["score"], row["weight"], row["term_id"]) == (5.5, 2.0, "2025-T1")
    assert row["occurred_at"] == "2025-03-01T10:00:00.000Z"
    assert row["changed_at"] == "2025-03-02T12:00:00.000Z"
    assert row["student_key"] == student_key(KEY, "school-a", "st-1")
    json.dumps(rows)  # what Pipes hands to Firehose must be plain JSON


def test_a_correction_and_a_retraction_are_rows_of_their_versions_ordered_by_the_stream() -> None:
    corrected = stream_record("MODIFY", evaluation(schema_version=Decimal(2), version=Decimal(2)))
    corrected["dynamodb"]["SequenceNumber"] = "4000000000000000000001"
    retracted = stream_record(
        "MODIFY", evaluation(schema_version=Decimal(2), version=Decimal(3), retracted=True)
    )
    retracted["dynamodb"]["SequenceNumber"] = "4000000000000000000002"

    second, third = enrich.process([corrected, retracted], lambda: KEY)

    assert (second["version"], second["retracted"], second["score"]) == (2, False, 5.5)
    assert (third["version"], third["retracted"], third["score"], third["weight"]) == (3, True, None, None)
    assert second["sequence_number"] == "4000000000000000000001".zfill(40)
    assert second["sequence_number"] < third["sequence_number"]
    json.dumps([second, third])


def test_no_student_id_name_text_or_staff_id_leaks_into_a_row() -> None:
    rows = enrich.process([stream_record("MODIFY", evaluation())], lambda: KEY)

    text = json.dumps(rows)
    for leaked in ("st-1", "Martina", "fracciones", "teacher-7", "SCHOOL#"):
        assert leaked not in text


def test_a_remove_and_an_unknown_type_are_skipped_and_counted_by_reason(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    batch = [
        stream_record("REMOVE", None),
        stream_record("INSERT", evaluation(type="Homework")),
        stream_record("INSERT", evaluation(schema_version=Decimal(9))),
        stream_record("INSERT", evaluation()),
    ]

    # The function's own logger, whatever handlers earlier tests left on the root or on stdout.
    records: list[logging.LogRecord] = []
    catcher = _Catcher(records)
    enrich.logger.addHandler(catcher)
    try:
        rows = enrich.process(batch, lambda: KEY)
    finally:
        enrich.logger.removeHandler(catcher)

    assert [row["record_id"] for row in rows] == ["ev-1"]
    output = capsys.readouterr().out
    skipped = {
        doc["reason"]: sum(_values(doc[enrich.SKIPPED_METRIC]))
        for doc in emf_documents(output)
        if enrich.SKIPPED_METRIC in doc
    }
    assert skipped == {"remove": 1, "unknown_type": 1, "unknown_schema_version": 1}
    log = next(record.__dict__ for record in records if record.getMessage() == "batch enriched")
    assert log["skipped"] == {"remove": 1, "unknown_type": 1, "unknown_schema_version": 1}
    assert (log["records"], log["rows"]) == (4, 1)
    assert log["skipped_types"] == {"Homework": 1, "Evaluation v9": 1}
    everything = output + caplog.text + repr([record.__dict__ for record in records])
    assert "st-1" not in everything
    assert "Martina" not in everything


def test_a_malformed_record_is_skipped_not_raised() -> None:
    broken = stream_record("INSERT", evaluation())
    broken["dynamodb"]["NewImage"]["score"] = {"N": "NaN"}
    no_section = {"eventName": "INSERT"}
    no_time = stream_record("INSERT", evaluation())
    del no_time["dynamodb"]["ApproximateCreationDateTime"]

    outcome = enrich.enrich([broken, no_section, no_time], KEY)

    assert outcome.rows == []
    assert outcome.skipped == {"malformed": 3}


def test_an_empty_batch_does_not_read_the_key() -> None:
    def no_key() -> bytes:
        raise AssertionError("the key was read for nothing")

    assert enrich.process([], no_key) == []


def test_the_key_comes_from_the_configured_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(enrich.KEY_SECRET_ENV, raising=False)
    with pytest.raises(RuntimeError, match=enrich.KEY_SECRET_ENV):
        enrich.pseudonym_key()


def test_the_aws_enrichment_carries_the_correlation_id_column_as_the_local_pipeline_does() -> None:
    traced, untraced = enrich.process(
        [
            stream_record("INSERT", evaluation(correlation_id="corr-from-the-edge")),
            stream_record("INSERT", evaluation(evaluation_id="ev-2")),
        ],
        lambda: KEY,
    )

    assert traced["correlation_id"] == "corr-from-the-edge"
    assert untraced["correlation_id"] == ""


class _Catcher(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
