"""Corrections and retractions end to end without the state machine: the sync's tasks on the
emulator's table and S3 (the real adapters, per-school sessions), grades written in the grades
contract's v2 shape as the grading service leaves them (same keys, version + 1), and the ministry
simulator on a real port. The ministry's ledger is the judge: nothing is applied twice."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest

from luca_govsync.adapters.dynamodb_contracts import DynamoGradeSource, DynamoTerms
from luca_govsync.adapters.dynamodb_store import DynamoSyncStore
from luca_govsync.adapters.ministry_client import MinistryClient, MinistrySettings
from luca_govsync.adapters.s3_manifests import S3Manifests
from luca_govsync.domain.errors import MinistryTimeout
from luca_govsync.domain.model import BatchKind, SyncKey
from luca_govsync.domain.preconditions import TermNotClosed
from luca_govsync.domain.tally import ChangeCounts
from luca_govsync.entrypoints.operations import report_json
from luca_govsync.service_layer.starter import SyncStarter
from luca_govsync.service_layer.tasks import SyncTasks
from luca_govsync.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, FaultPlan, SimulatorServer
from luca_kernel.rule_cache import RuleCache
from luca_platform.aws import AwsClients
from luca_platform.contracts import grades
from luca_platform.contracts.rules import TableRules
from luca_platform.table import keys
from luca_platform.table.codec import to_wire
from luca_testing.emulator import REGION, create_table, tenant_role
from luca_testing.seed import SchoolSeed

pytestmark = pytest.mark.emulator
PERIOD = "2025-T1"


class Gradebook:
    """A school's grades of the term as the grading service leaves them in the table, written with
    the school's own client: version 1 when recorded; a correction or a retraction rewrites the
    same item (same keys) with version + 1."""

    def __init__(self, clients: AwsClients, table: str, school: str) -> None:
        self.client, self.table, self.school = clients.dynamodb_for(school), table, school
        self.items: dict[str, dict[str, Any]] = {}

    def record(self, evaluation_id: str, score: str, student: str = "st-1") -> None:
        item = {
            keys.TYPE_ATTRIBUTE: grades.EVALUATION.type_name,
            keys.SCHEMA_VERSION_ATTRIBUTE: grades.EVALUATION.schema_version,
            "school_id": self.school,
            "evaluation_id": evaluation_id,
            "student_id": student,
            "course_id": "1A",
            "subject_id": "math",
            "term_id": PERIOD,
            "score": Decimal(score),
            "weight": Decimal("1"),
            "recorded_at": "2025-04-30T15:00:00.000000Z",
            "version": 1,
            keys.TABLE_PARTITION_KEY: keys.school_key(self.school, "STUDENT", student),
            keys.TABLE_SORT_KEY: f"EVAL{keys.SEP}{evaluation_id}",
            keys.SCHOOL_TERM_INDEX.partition_key: grades.school_term_pk(self.school, PERIOD),
            keys.SCHOOL_TERM_INDEX.sort_key: f"STUDENT{keys.SEP}{student}{keys.SEP}{evaluation_id}",
        }
        self._put(item)

    def correct(self, evaluation_id: str, score: str) -> None:
        self._change(evaluation_id, score=Decimal(score), change_reason="typo")

    def retract(self, evaluation_id: str) -> None:
        self._change(evaluation_id, retracted=True, change_reason="entered twice")

    def _change(self, evaluation_id: str, **values: Any) -> None:
        item = self.items[evaluation_id]
        self._put(
            {
                **item,
                **values,
                "version": item["version"] + 1,
                "updated_by": "admin",
                "updated_at": "2025-05-10T12:00:00.000000Z",
            }
        )

    def _put(self, item: dict[str, Any]) -> None:
        grades.check_evaluation(item)
        self.items[item["evaluation_id"]] = item
        self.client.put_item(TableName=self.table, Item=to_wire(item))


class Executions:
    """Step Functions by name (the state machine is not under test here): a test ends the runs."""

    def __init__(self) -> None:
        self.started: dict[str, str] = {}

    def start(self, name: str, payload: dict[str, object]) -> tuple[str, bool]:
        fresh = name not in self.started
        self.started.setdefault(name, "RUNNING")
        return f"arn:aws:states:us-east-1:1:execution:sync:{name}", fresh

    def status(self, name: str) -> str | None:
        return self.started.get(name)


@pytest.fixture(scope="module")
def tls() -> ssl.SSLContext:
    return ssl.create_default_context()


@pytest.fixture
def world(
    emulator_endpoint: str, simulator: SimulatorServer, tls: ssl.SSLContext
) -> Iterator[dict[str, Any]]:
    table = create_table(emulator_endpoint)
    clients = AwsClients(
        region=REGION, endpoint_url=emulator_endpoint, tenant_role_arn=tenant_role(emulator_endpoint)
    )
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=emulator_endpoint)
    bucket = f"manifests-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    school = f"school-{uuid.uuid4().hex[:6]}"
    settings = MinistrySettings(
        base_url=simulator.url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        timeout_seconds=0.3,
    )
    with MinistryClient(settings, ssl_context=tls) as ministry:
        store = DynamoSyncStore(clients, table)
        source = DynamoGradeSource(clients, table)
        tasks = SyncTasks(
            grades=source,
            rules=TableRules(clients, table, RuleCache(ttl_seconds=60.0)),
            manifests=S3Manifests(s3, bucket),
            store=store,
            ministry=ministry,
            batch_size=5,
            clock=lambda: datetime.now(UTC).isoformat(),
        )
        book = Gradebook(clients, table, school)
        for n in range(12):
            book.record(f"ev-{n:02d}", "5.5", student=f"st-{n % 4}")
        executions = Executions()
        starter = SyncStarter(executions, terms=DynamoTerms(clients, table), grades=source, store=store)
        yield {
            "tasks": tasks, "book": book, "store": store, "key": SyncKey(school, PERIOD), "school": school,
            "ministry": simulator.ministry, "starter": starter, "executions": executions,
            "seed": SchoolSeed(clients, table, school),
        }  # fmt: skip


def run(world: dict[str, Any], sync_id: str) -> Any:
    prepared = world["tasks"].prepare(world["key"], sync_id, "ops")
    for ref in prepared.batches:
        world["tasks"].submit(ref)
    return prepared, world["tasks"].report(world["key"], sync_id)


def applied(world: dict[str, Any]) -> dict[str, Any]:
    return dict(world["ministry"].ledger()["changes"])


def test_corrections_and_a_retraction_after_the_sync_reach_the_ministry_once(world: dict[str, Any]) -> None:
    book, ministry, school = world["book"], world["ministry"], world["school"]
    _, first = run(world, "sync-1")
    assert first.accepted == 12
    book.correct("ev-01", "6.0")
    book.correct("ev-02", "3.9")
    book.correct("ev-02", "4.2")  # twice: one amendment, to version 3
    book.retract("ev-03")

    prepared, second = run(world, "sync-2")

    assert [(b.kind, b.records, b.retractions) for b in prepared.batches] == [(BatchKind.CHANGES, 3, 1)]
    assert second.amendments == ChangeCounts(sent=2, accepted=2)
    assert second.retractions == ChangeCounts(sent=1, accepted=1)
    summary = report_json(second)
    assert (summary["amendments"]["accepted"], summary["retractions"]["accepted"]) == (2, 1)
    entries = {e["record_id"]: e for e in ministry.ledger(entries=True)["entries"]}
    assert (entries["ev-01"]["version"], entries["ev-01"]["grade"]) == (2, "6.0")
    assert (entries["ev-02"]["version"], entries["ev-02"]["grade"]) == (3, "4.2")
    assert entries["ev-03"]["retracted"] is True
    held = world["store"].held(school, PERIOD)
    assert (held["ev-02"].version, held["ev-03"].retracted) == (3, True)

    third, _ = run(world, "sync-3")  # nothing new: nothing sent, and the retracted grade stays out

    assert third.batches == ()
    books = applied(world)
    assert books["amendments"] == {"applied": 2, "records": 2, "duplicates": 0}
    assert books["retractions"] == {"applied": 1, "records": 1, "duplicates": 0}
    assert ministry.ledger()["duplicates"] == 0


def test_a_changes_batch_whose_answers_were_lost_then_redriven_applies_each_change_once(
    world: dict[str, Any],
) -> None:
    run(world, "sync-1")
    for n in (4, 5):
        world["book"].correct(f"ev-{n:02d}", "6.5")
    world["book"].retract("ev-06")
    (ref,) = world["tasks"].prepare(world["key"], "sync-2", "ops").batches
    # Every change is applied by the ministry, and every answer is lost on the way back.
    world["ministry"].set_plan(
        FaultPlan(endpoints=frozenset({"amend", "retract"}), timeout_after_rate=1.0, hang_seconds=1.0)
    )

    with pytest.raises(MinistryTimeout):
        world["tasks"].submit(ref)
    world["tasks"].record_failure(ref, "MinistryTimeout", "retries exhausted")
    dead = world["tasks"].report(world["key"], "sync-2")
    assert dead.amendments == ChangeCounts(sent=2, failed=2)
    assert dead.retractions == ChangeCounts(sent=1, failed=1)

    world["ministry"].set_plan(FaultPlan())
    world["tasks"].submit(ref)  # the redrive: the same batch, the same change ids
    redriven = world["tasks"].report(world["key"], "sync-2")

    assert redriven.amendments == ChangeCounts(sent=2, accepted=2, replayed=2)
    assert redriven.retractions == ChangeCounts(sent=1, accepted=1, replayed=1)
    books = applied(world)
    assert (books["amendments"]["applied"], books["retractions"]["applied"]) == (2, 1)
    assert books["duplicate_changes"] == []


def test_a_correction_before_the_first_sync_is_sent_in_its_final_state_and_a_retracted_grade_not_at_all(
    world: dict[str, Any],
) -> None:
    world["book"].correct("ev-07", "6.8")
    world["book"].retract("ev-08")

    _, report = run(world, "sync-1")

    entries = {e["record_id"]: e for e in world["ministry"].ledger(entries=True)["entries"]}
    assert (entries["ev-07"]["version"], entries["ev-07"]["grade"]) == (2, "6.8")
    assert "ev-08" not in entries
    assert (report.records_total, report.accepted) == (11, 11)
    assert report.amendments == ChangeCounts()
    assert applied(world)["amendments"]["applied"] == 0


def test_the_starter_reads_the_term_and_starts_a_follow_up_only_for_new_work(world: dict[str, Any]) -> None:
    starter, executions, key = world["starter"], world["executions"], world["key"]
    with pytest.raises(TermNotClosed):
        starter.start(PERIOD, [key.school_id], "admin")  # no such term yet
    world["seed"].term(PERIOD)
    with pytest.raises(TermNotClosed):
        starter.start(PERIOD, [key.school_id], "admin")  # open
    world["seed"].term(PERIOD, closed_at=datetime(2025, 5, 1, tzinfo=UTC))

    (first,) = starter.start(PERIOD, [key.school_id], "admin")
    run(world, first.execution_name)
    executions.started[first.execution_name] = "SUCCEEDED"
    (nothing_new,) = starter.start(PERIOD, [key.school_id], "admin")
    world["book"].correct("ev-09", "6.1")
    (update,) = starter.start(PERIOD, [key.school_id], "admin")

    assert first.started
    assert not nothing_new.started
    assert nothing_new.execution_name == first.execution_name
    assert update.started
    assert update.execution_name.startswith(f"{first.execution_name}-update-")


def test_a_batch_whose_answer_was_lost_is_read_back_not_uploaded_again(world: dict[str, Any]) -> None:
    """The real store keeps that the answer was lost; the retry asks the ministry (GET) first."""
    (first, *_) = world["tasks"].prepare(world["key"], "sync-1", "ops").batches
    world["ministry"].set_plan(
        FaultPlan(endpoints=frozenset({"submit"}), timeout_after_rate=1.0, hang_seconds=1.0)
    )
    with pytest.raises(MinistryTimeout):
        world["tasks"].submit(first)  # recorded by the ministry; the answer never came back
    world["ministry"].set_plan(FaultPlan())

    done = world["tasks"].submit(first)

    stats = world["ministry"].stats()
    # The hung upload is counted only when the simulator lets go of it; a second upload would be a replay.
    assert (stats["batches_processed"], stats["replays"]) == (1, 0)
    assert stats["calls"]["fetch"] == {"200": 1}
    assert done.accepted == first.records
    state = next(
        b for b in world["store"].batch_states(world["school"], PERIOD, "sync-1") if b.ref.number == 1
    )
    assert state.status.value == "done"
    assert world["ministry"].ledger()["duplicates"] == 0
