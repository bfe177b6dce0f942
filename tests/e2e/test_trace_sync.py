"""One correlation id followed through the government sync: start → Step Functions → tasks → ministry.

An operator starts the sync of a school's closed term with a given correlation id; the id must reach
every request the ministry (simulator) received, every audit entry of the run, and the local trace
file, where the start's span, the tasks' spans and the ministry calls' spans share one trace id (the
start hands its trace to the execution in ``traceHeader``; the local engine gives it to each task).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from luca_grading.adapters.dynamodb_repository import evaluation_item
from luca_grading.domain.model import Evaluation
from luca_infra.cli import main as luca
from luca_infra.local.demo import DEMO_TERM
from luca_infra.local.platform import LocalPlatform
from luca_infra.local.stepfunctions import wait_for_execution
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Term
from luca_platform.contracts import roster
from luca_platform.table.codec import to_wire
from luca_testing.polling import eventually

pytestmark = pytest.mark.e2e
T = TypeVar("T")
TRACES_FILE = "traces.jsonl"
CORRELATION_ATTRIBUTE = "luca.correlation_id"
RECORDS = 5


def soon(probe: Callable[[], T | None], what: str) -> T:
    return eventually(probe, timeout=60.0, interval=0.25, what=what)


def seed_closed_term(platform: LocalPlatform, school: str) -> None:
    """A school of its own with a few grades of the demo term, closed (the sync submits closed terms
    only): the demo schools' terms may have been synced by other tests of the session already."""
    dynamodb = boto3.client(
        "dynamodb", region_name=platform.resources.region, endpoint_url=platform.emulator_url
    )
    items = [
        evaluation_item(
            Evaluation(
                school_id=SchoolId(school),
                evaluation_id=f"ev-{n:03d}",
                student_id=StudentId(f"st-{n}"),
                course_id=CourseId("1A"),
                subject_id=SubjectId("math"),
                term_id=TermId(DEMO_TERM),
                score=Decimal("5.5"),
                weight=Decimal("1"),
                teacher_id=TeacherId("t-1"),
                recorded_at=datetime(2025, 3, 1, 10, n, tzinfo=UTC),
            )
        )
        for n in range(RECORDS)
    ]
    items.append(
        roster.term_item(
            Term(SchoolId(school), TermId(DEMO_TERM), DEMO_TERM, closed_at=datetime(2025, 7, 1, tzinfo=UTC))
        )
    )
    for item in items:
        dynamodb.put_item(
            TableName=platform.resources.table_name,
            Item=to_wire({k: v for k, v in item.items() if v is not None}),
        )


def spans_of(state_dir: Path, correlation_id: str) -> list[dict[str, Any]]:
    path = state_dir / TRACES_FILE
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            span = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line still being written
        if (span.get("attributes") or {}).get(CORRELATION_ATTRIBUTE) == correlation_id:
            found.append(span)
    return found


def test_one_correlation_id_and_one_trace_run_from_a_sync_start_to_the_ministry(
    platform: LocalPlatform, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert platform.govsync is not None
    simulator = platform.govsync.simulator
    assert simulator is not None
    school = f"gs-trace-{uuid.uuid4().hex[:8]}"
    seed_closed_term(platform, school)
    correlation = f"corr-sync-{uuid.uuid4().hex[:16]}"

    # WHEN an operator starts the school's sync with their request's id
    (started,) = platform.govsync.start_sync(DEMO_TERM, [school], "ops@test", correlation)
    execution = wait_for_execution(
        platform.govsync.client("stepfunctions"), started.execution_arn, timeout_seconds=120
    )

    # THEN the run succeeds, and every request the ministry received for it carries the id
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["input"])["correlation_id"] == correlation
    mine = [r for r in simulator.ministry.received() if r["correlation_id"] == correlation]
    assert "submit" in {r["endpoint"] for r in mine}, simulator.ministry.received()[-5:]
    assert simulator.ministry.ledger()["by_school"][school]["records"] == RECORDS
    # AND every audit entry of the run names the request
    assert platform.govsync.app is not None
    trail = platform.govsync.app.store.audit_trail(school, DEMO_TERM)
    assert {entry["step"] for entry in trail} >= {"prepare", "submit", "report"}
    assert {entry.get("correlation_id") for entry in trail} == {correlation}

    # AND the start's, the tasks' and the ministry calls' spans are one trace in the trace file
    def hops() -> list[dict[str, Any]] | None:
        found = spans_of(state_dir, correlation)
        names = {span["name"] for span in found}
        wanted = {"StepFunctions StartExecution", "govsync prepare", "govsync submit", "govsync report"}
        return found if wanted <= names and any(n.startswith("ministry ") for n in names) else None

    try:
        found = soon(hops, "the sync's spans from its start to the ministry in the trace file")
    except AssertionError:
        seen = {s["name"] for s in spans_of(state_dir, correlation)}
        raise AssertionError(f"spans of the request in the trace file: {sorted(seen)}") from None
    assert len({span["context"]["trace_id"] for span in found}) == 1, found
    # AND the ministry saw that trace too (its X-Ray header names the same root)
    trace_id = found[0]["context"]["trace_id"].removeprefix("0x")
    root = f"Root=1-{trace_id[:8]}-{trace_id[8:]}"
    assert {r["trace_header"].split(";")[0] for r in mine} == {root}

    # AND `luca trace` shows the sync's timeline
    capsys.readouterr()
    assert luca(["trace", correlation, "--state-dir", str(state_dir), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    names = {span["name"] for trace in shown["traces"] for span in _walk(trace["spans"])}
    assert {"StepFunctions StartExecution", "govsync submit"} <= names, names
    assert any(name.startswith("ministry ") for name in names), names


def _walk(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [walked for span in spans for walked in (span, *_walk(span.get("children", [])))]
