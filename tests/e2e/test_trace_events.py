"""One correlation id followed through the burst path: gateway → queue → grade processor → table → lake.

A student's app sends an event with its own ``X-Correlation-Id``; the id must reach the stored
result, the lake row's ``correlation_id`` column, and the local trace file, where the gateway's and
the grade processor's spans of that request share one trace id (the gateway hands its trace to the
queue in ``AWSTraceHeader``; the event-source mapping hands it to the Lambda as Lambda does).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import httpx
import pyarrow.compute as pc
import pytest

from luca_analytics.adapters.duckdb_lake import DuckDbLake
from luca_infra.cli import main as luca
from luca_infra.local.demo import SCHOOL_A
from luca_infra.local.platform import LOGS_FILE, LocalPlatform
from luca_platform.contracts import exercise_results
from luca_platform.contracts import roster as roster_contract
from luca_platform.table import keys
from luca_platform.table.codec import from_wire
from luca_testing.polling import eventually

if TYPE_CHECKING:
    from conftest import Auth

pytestmark = pytest.mark.e2e
T = TypeVar("T")
# The mapping gathers for up to 5 s and the lake buffers 5 s; both land well within this.
WAIT_SECONDS = 60.0
TRACES_FILE = "traces.jsonl"
CORRELATION_ATTRIBUTE = "luca.correlation_id"


def soon(probe: Callable[[], T | None], what: str) -> T:
    return eventually(probe, timeout=WAIT_SECONDS, interval=0.25, what=what)


def student_event() -> dict[str, Any]:
    return {
        "event_id": f"evt-trace-{uuid.uuid4()}",
        "student_id": SCHOOL_A.student_user_id,
        "course_id": SCHOOL_A.course_id,
        "subject_id": "math",
        "occurred_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "schema_version": 1,
        "exercise_submission": {
            "exercise_id": "ex-trace",
            "answers": {"items": [{"question_id": "q1", "correct": True}]},
        },
    }


def stored_result(platform: LocalPlatform, event: dict[str, Any]) -> dict[str, Any] | None:
    dynamodb = boto3.client(
        "dynamodb", region_name=platform.resources.region, endpoint_url=platform.emulator_url
    )
    item = dynamodb.get_item(
        TableName=platform.resources.table_name,
        Key={
            keys.TABLE_PARTITION_KEY: {
                "S": roster_contract.student_pk(SCHOOL_A.school_id, event["student_id"])
            },
            keys.TABLE_SORT_KEY: {"S": exercise_results.exercise_result_sk(event["event_id"])},
        },
    ).get("Item")
    return from_wire(item) if item else None


def lake_row(platform: LocalPlatform, record_id: str) -> dict[str, Any] | None:
    assert platform.lake is not None
    lake = DuckDbLake.s3(
        platform.lake.bucket, region=platform.resources.region, endpoint_url=platform.emulator_url
    )
    dataset, _ = lake.school_dataset(SCHOOL_A.school_id)
    rows = dataset.to_table(filter=pc.field("record_id") == record_id).to_pylist()
    return rows[0] if rows else None


def json_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line still being written
    return lines


def spans_of(state_dir: Path, correlation_id: str) -> list[dict[str, Any]]:
    return [
        span
        for span in json_lines(state_dir / TRACES_FILE)
        if (span.get("attributes") or {}).get(CORRELATION_ATTRIBUTE) == correlation_id
    ]


def service_of(span: dict[str, Any]) -> str:
    return str(((span.get("resource") or {}).get("attributes") or {}).get("service.name", ""))


def test_one_correlation_id_reaches_the_result_the_lake_and_one_trace(
    platform: LocalPlatform,
    state_dir: Path,
    auth: Auth,
    gateway: httpx.Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    correlation = f"corr-trace-{uuid.uuid4().hex[:16]}"
    event = student_event()

    response = gateway.post(
        "/v1/events",
        json=event,
        headers=auth.headers(SCHOOL_A.school_id, "student", **{"X-Correlation-Id": correlation}),
    )

    assert response.status_code == 202, response.text
    assert response.headers["x-correlation-id"] == correlation  # a valid client id is kept
    # THEN the stored result keeps it
    stored = soon(lambda: stored_result(platform, event), "the event is stored")
    assert stored["correlation_id"] == correlation
    # AND the lake row has it in its column
    row = soon(lambda: lake_row(platform, event["event_id"]), "the result's lake row")
    assert row["correlation_id"] == correlation

    # AND the gateway's and the grade processor's spans of the request are one trace
    def hops() -> list[dict[str, Any]] | None:
        found = spans_of(state_dir, correlation)
        gateway_spans = [s for s in found if "gateway" in service_of(s)]
        processor_spans = [s for s in found if s["name"] == "grade-processor record"]
        return found if gateway_spans and processor_spans else None

    found = soon(hops, "the gateway's and the grade processor's spans in the trace file")
    trace_ids = {
        span["context"]["trace_id"]
        for span in found
        if "gateway" in service_of(span) or span["name"].startswith("grade-processor")
    }
    assert len(trace_ids) == 1, found
    # AND the lake hop is findable by the same id
    soon(
        lambda: [s for s in spans_of(state_dir, correlation) if s["name"] == "lake rows written"] or None,
        "the lake hop's span",
    )
    # AND the grade processor's log line names the request, its span and its trace
    (line,) = soon(
        lambda: (
            [
                entry
                for entry in json_lines(state_dir / LOGS_FILE)
                if entry.get("correlation_id") == correlation and entry.get("message") == "record processed"
            ]
            or None
        ),
        "the grade processor's log line",
    )
    assert f"0x{line['trace_id']}" == trace_ids.pop()

    # AND `luca trace` shows the whole timeline: the edge, the processor, their log lines, the lake row
    capsys.readouterr()
    assert luca(["trace", correlation, "--state-dir", str(state_dir), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    names = {span["name"] for trace in shown["traces"] for span in _walk(trace["spans"])}
    assert {"POST /v1/events", "grade-processor record", "lake rows written"} <= names, names
    messages = [line.get("message") for line in shown["logs"]]
    assert "record processed" in messages
    assert any(str(m).startswith("POST /v1/events -> 202") for m in messages), messages
    assert [row["record_id"] for row in shown["lake_rows"]] == [event["event_id"]]


def _walk(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [walked for span in spans for walked in (span, *_walk(span.get("children", [])))]
