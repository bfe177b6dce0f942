"""The DynamoDB repository and per-school clients against the embedded emulator."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from grading_emulated import EmulatedGrading
from luca_grading.adapters import table_design as td
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory, DynamoSchoolRepository
from luca_grading.domain.model import Evaluation
from luca_grading.service_layer.ports import CheckedWrite, IdempotencyRecord, Preconditions
from luca_kernel.errors import TenantBoundaryViolation
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Course, Student
from luca_platform.table import keys

pytestmark = pytest.mark.emulator


def evaluation(school: str = "school-a", student: str = "st-1", eid: str = "e1") -> Evaluation:
    return Evaluation(
        school_id=SchoolId(school),
        evaluation_id=eid,
        student_id=StudentId(student),
        course_id=CourseId("1A"),
        subject_id=SubjectId("math"),
        term_id=TermId("2026-T2"),
        score=Decimal("6.2"),
        weight=Decimal("1"),
        teacher_id=TeacherId("t-1"),
        recorded_at=datetime(2026, 6, 1, 10, 0, tzinfo=UTC),
    )


def repo(grading: EmulatedGrading, school: str) -> DynamoSchoolRepository:
    return DynamoRepositoryFactory(clients=grading.clients, table_name=grading.table_name).for_school(
        SchoolId(school)
    )


def add(repository: DynamoSchoolRepository, written: Evaluation, record: IdempotencyRecord) -> bool:
    """Records with the roster checks only (the term 2026-T2 of these tests is not in the catalog)."""
    checks = Preconditions(written.student_id, written.course_id)
    return repository.add_evaluation_checked(written, record, checks).written


def test_an_evaluation_and_its_idempotency_record_are_written_together_once(grading: EmulatedGrading) -> None:
    school_a = repo(grading, "school-a")
    record = IdempotencyRecord(scope="evaluation.t-1", key="repo-key-0001", fingerprint="f", result_ref="e1")

    assert add(school_a, evaluation(), record) is True
    assert add(school_a, evaluation(eid="e2"), record) is False

    stored = school_a.student_evaluations(StudentId("st-1"), TermId("2026-T2"))
    assert [e.evaluation_id for e in stored] == ["e1"]
    marker = school_a.get_idempotency("evaluation.t-1", "repo-key-0001")
    assert marker is not None
    assert school_a.get_evaluation(StudentId("st-1"), marker.result_ref) == evaluation()


def test_only_idempotency_records_carry_a_ttl(grading: EmulatedGrading) -> None:
    items = grading.table_items()
    with_ttl = {item["type"]["S"] for item in items if keys.TTL_ATTRIBUTE in item}
    assert with_ttl <= {"Idempotency"}
    assert "Evaluation" in {item["type"]["S"] for item in items}


def test_every_partition_key_written_starts_with_its_school(grading: EmulatedGrading) -> None:
    for item in grading.table_items():
        school = item["school_id"]["S"]
        for attribute in (keys.TABLE_PARTITION_KEY, *(i.partition_key for i in keys.INDEXES)):
            if attribute in item:
                assert item[attribute]["S"].startswith(keys.school_prefix(school))


def test_the_course_index_serves_a_course_term(grading: EmulatedGrading) -> None:
    school_a = repo(grading, "school-a")
    found = school_a.course_evaluations(CourseId("1A"), TermId("2026-T2"), SubjectId("math"))
    assert {e.evaluation_id for e in found} >= {"e1"}
    assert all(e.school_id == "school-a" for e in found)


def test_listings_read_back_only_what_their_key_leaves_open(grading: EmulatedGrading) -> None:
    school_a = repo(grading, "school-a")
    add(
        school_a,
        evaluation(eid="e-list"),
        IdempotencyRecord(scope="evaluation.t-1", key="repo-key-list", fingerprint="f", result_ref="x"),
    )
    asked: list[set[str]] = []
    client = grading.clients.dynamodb_for("school-a")
    client.meta.events.register(
        "provide-client-params.dynamodb.Query",
        lambda params, **_: asked.append(set(params["ExpressionAttributeNames"].values())),
    )

    by_course = school_a.course_evaluations(CourseId("1A"), TermId("2026-T2"), SubjectId("math"))
    by_student_term = school_a.student_evaluations(StudentId("st-1"), TermId("2026-T2"))
    by_student = school_a.student_evaluations(StudentId("st-1"))

    # What the key fixes comes from the query, never from the wire...
    fixed = {"school_id", "course_id", "term_id", "subject_id"}
    assert not asked[0] & fixed
    assert not asked[1] & {"school_id", "student_id", "term_id"}
    assert "subject_id" in asked[1]
    assert {"term_id", "subject_id", "course_id"} <= asked[2]
    assert "student_id" not in asked[2]
    # ...and every listing still returns the evaluation exactly as it was written.
    for listing in (by_course, by_student_term, by_student):
        assert [e for e in listing if e.evaluation_id == "e-list"] == [evaluation(eid="e-list")]


def test_the_repository_refuses_another_schools_keys(grading: EmulatedGrading) -> None:
    school_a = repo(grading, "school-a")
    foreign = IdempotencyRecord(scope="s", key="repo-key-0002", fingerprint="f", result_ref="x")
    with pytest.raises(TenantBoundaryViolation):
        add(school_a, evaluation(school="school-b", student="st-9"), foreign)
    with pytest.raises(TenantBoundaryViolation):
        school_a._get(td.student_pk("school-b", "st-9"), td.STUDENT_SK)
    # A school id that merely extends another's ("school-a" vs "school-ab") is another school.
    with pytest.raises(TenantBoundaryViolation):
        school_a._get(td.student_pk("school-ab", "st-1"), td.STUDENT_SK)
    with pytest.raises(TenantBoundaryViolation):
        list(
            school_a._query(
                partition=(keys.COURSE_TERM_INDEX.partition_key, "SCHOOL#school-b#COURSE#1A"),
                sort_prefix=None,
            )
        )


def test_each_school_gets_one_long_lived_client_on_its_own_tagged_session(grading: EmulatedGrading) -> None:
    clients = grading.clients
    tags: list[list[dict[str, str]]] = []
    clients.sts().meta.events.register(
        "provide-client-params.sts.AssumeRole", lambda params, **_: tags.append(params["Tags"])
    )
    created = clients.clients_created

    first = clients.dynamodb_for("school-c")
    for _ in range(20):
        assert clients.dynamodb_for("school-c") is first
    other = clients.dynamodb_for("school-d")

    assert other is not first
    assert clients.clients_created == created + 2
    assert tags == [[{"Key": "school_id", "Value": "school-c"}], [{"Key": "school_id", "Value": "school-d"}]]
    # The client signs with the assumed session's keys, not the process's own.
    signing_key = first._request_signer._credentials.get_frozen_credentials().access_key
    assert signing_key.startswith("ASIA")
    assert signing_key != other._request_signer._credentials.get_frozen_credentials().access_key
    assert first.meta.config.max_pool_connections >= 32


def test_a_checked_write_is_one_transaction_that_reports_every_refusal(grading: EmulatedGrading) -> None:
    school_a = repo(grading, "school-a")
    school_a.put_course(Course(SchoolId("school-a"), CourseId("2B"), "Second B"))
    school_a.put_student(Student(SchoolId("school-a"), StudentId("st-2b"), CourseId("2B"), "Dana Paz"))

    def attempt(key: str, eid: str, **preconditions: str) -> CheckedWrite:
        record = IdempotencyRecord(scope="evaluation.t-1", key=key, fingerprint=f"f-{key}", result_ref=eid)
        wanted = {"student_id": "st-1", "course_id": "1A", "subject_id": "math", **preconditions}
        return school_a.add_evaluation_checked(
            evaluation(eid=eid, student=wanted["student_id"]),
            record,
            Preconditions(
                StudentId(wanted["student_id"]),
                CourseId(wanted["course_id"]),
                SubjectId(wanted["subject_id"]),
            ),
        )

    assert attempt("checked-0001", "c1") == CheckedWrite(written=True)
    retried = attempt("checked-0001", "c2")
    missing = attempt("checked-0002", "c3", student_id="st-404")
    elsewhere = attempt("checked-0003", "c4", student_id="st-2b")
    no_subject = attempt("checked-0004", "c5", subject_id="alchemy")
    everything = attempt("checked-0001", "c6", student_id="st-404", subject_id="alchemy")

    assert not retried.written
    assert retried.prior is not None
    assert retried.prior.fingerprint == "f-checked-0001"
    assert school_a.get_evaluation(StudentId("st-1"), retried.prior.result_ref) == evaluation(eid="c1")
    assert (missing.written, missing.student_missing, missing.student) == (False, True, None)
    assert elsewhere.student is not None
    assert elsewhere.student.course_id == "2B"
    assert not elsewhere.student_missing
    assert (no_subject.written, no_subject.subject_missing, no_subject.prior) == (False, True, None)
    assert everything.prior is not None
    assert everything.student_missing
    assert everything.subject_missing
    ids = {e.evaluation_id for e in school_a.student_evaluations(StudentId("st-1"), TermId("2026-T2"))}
    assert "c1" in ids
    assert not ids & {"c2", "c3", "c4", "c5", "c6"}
    assert school_a.get_idempotency("evaluation.t-1", "checked-0002") is None


def test_a_checked_write_never_checks_another_schools_roster(grading: EmulatedGrading) -> None:
    school_a = repo(grading, "school-a")
    record = IdempotencyRecord(scope="evaluation.t-1", key="checked-x-0001", fingerprint="f", result_ref="x1")

    # st-9 exists only in school-b: from school-a it is a missing student, and nothing is written.
    outcome = school_a.add_evaluation_checked(
        evaluation(eid="x1", student="st-9"),
        record,
        Preconditions(StudentId("st-9"), CourseId("1A"), SubjectId("math")),
    )

    assert outcome.student_missing
    assert outcome.student is None
    assert repo(grading, "school-b").student_evaluations(StudentId("st-9")) == []
    with pytest.raises(TenantBoundaryViolation):
        school_a.add_evaluation_checked(
            evaluation(school="school-b", eid="x2", student="st-9"),
            record,
            Preconditions(StudentId("st-9"), CourseId("1A")),
        )
