"""Reader side of the roster contract: the grade processor's snapshot reads Student and Subject items
as their owner (grading) writes them, with the published builders, on the emulator."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from luca_ingest.adapters.dynamodb_store import DynamoEventStore
from luca_ingest.domain.events import EventKind, ExerciseSubmission, StudentEvent
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId
from luca_kernel.roster import Student, Subject
from luca_platform.aws import AwsClients
from luca_platform.contracts import roster
from luca_testing.emulator import REGION, create_table
from luca_testing.seed import SchoolSeed

pytestmark = pytest.mark.emulator

SCHOOL_A, SCHOOL_AB = SchoolId("school-a"), SchoolId("school-ab")
ROSTER_CONTRACTS = {contract.type_name: contract for contract in roster.CONTRACTS}


def event(student: str, subject: str, event_id: str) -> StudentEvent:
    return StudentEvent(
        school_id=SCHOOL_A,
        event_id=event_id,
        student_id=StudentId(student),
        course_id=CourseId("1A"),
        subject_id=SubjectId(subject),
        occurred_at=datetime(2026, 11, 27, 13, 0, tzinfo=UTC),
        schema_version=1,
        kind=EventKind.EXERCISE_SUBMISSION,
        submission=ExerciseSubmission(exercise_id="ex-1", correct=1, total=2),
    )


def test_the_snapshot_reads_the_published_roster_items(emulator_endpoint: str) -> None:
    table = create_table(emulator_endpoint)
    clients = AwsClients(region=REGION, endpoint_url=emulator_endpoint)
    seed = SchoolSeed(clients, table, SCHOOL_A)
    for item in (
        roster.student_item(Student(SCHOOL_A, StudentId("st-1"), CourseId("1A"), "Ana Rojas")),
        roster.student_item(Student(SCHOOL_A, StudentId("st-2"), CourseId("2B"), "Benja Soto")),
        roster.subject_item(Subject(SCHOOL_A, SubjectId("math"), "Matemática")),
    ):
        ROSTER_CONTRACTS[item["type"]].check(item)
        seed.put(item)
    # A school whose id extends school-a's has the student and subject school-a lacks.
    SchoolSeed(clients, table, SCHOOL_AB).student("st-3", "1A").subject("art")

    store = DynamoEventStore(clients, table)
    snapshots = store.snapshot(
        {SCHOOL_A: [event("st-1", "math", "e1"), event("st-2", "math", "e2"), event("st-3", "art", "e3")]},
        {},
    )
    assert set(snapshots) == {SCHOOL_A}
    snapshot = snapshots[SCHOOL_A]
    assert snapshot.students == {"st-1": "1A", "st-2": "2B"}
    assert snapshot.subjects == {"math"}
    assert snapshot.stored_events == frozenset()
