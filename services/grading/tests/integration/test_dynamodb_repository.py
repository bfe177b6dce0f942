"""The DynamoDB repository and per-school clients against the embedded emulator."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from grading_emulated import EmulatedGrading
from luca_grading.adapters import table_design as td
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory, DynamoSchoolRepository
from luca_grading.domain.model import Evaluation, request_keyed_id
from luca_kernel.errors import TenantBoundaryViolation
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
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


def add(repository: DynamoSchoolRepository, written: Evaluation) -> bool:
    return repository.add_evaluation(written) is None


def test_a_grade_is_one_conditional_put_and_a_retry_gets_the_stored_one_back(
    grading: EmulatedGrading,
) -> None:
    school_a = repo(grading, "school-a")
    first = replace(
        evaluation(eid=request_keyed_id("school-a", "t-1", "repo-key-0001")), request_fingerprint="f"
    )
    calls: list[str] = []
    grading.clients.dynamodb_for("school-a").meta.events.register(
        "provide-client-params.dynamodb.*", lambda model, **_: calls.append(model.name)
    )

    assert school_a.add_evaluation(first) is None
    # The retry arrives later (another recording time) with the same derived id: the same item.
    retry = replace(first, recorded_at=datetime(2026, 6, 1, 10, 5, tzinfo=UTC), request_fingerprint="g")
    assert school_a.add_evaluation(retry) == first

    assert calls == ["PutItem", "PutItem"]
    stored = school_a.student_evaluations(StudentId("st-1"), TermId("2026-T2"))
    assert [e.evaluation_id for e in stored if e.evaluation_id == first.evaluation_id] == [
        first.evaluation_id
    ]
    assert school_a.get_recorded(retry) == first
    assert school_a.get_idempotency("evaluation.t-1", "repo-key-0001") is None  # no marker any more


def test_a_course_roster_is_one_read(grading: EmulatedGrading) -> None:
    assert set(repo(grading, "school-a").course_student_ids(CourseId("1A"))) >= {"st-1", "st-2"}
    assert repo(grading, "school-b").course_student_ids(CourseId("1A")) == ["st-9"]


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
    assert {e.evaluation_id for e in found} >= {request_keyed_id("school-a", "t-1", "repo-key-0001")}
    assert all(e.school_id == "school-a" for e in found)


def test_listings_read_back_only_what_their_key_leaves_open(grading: EmulatedGrading) -> None:
    school_a = repo(grading, "school-a")
    add(school_a, evaluation(eid="e-list"))
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
    with pytest.raises(TenantBoundaryViolation):
        add(school_a, evaluation(school="school-b", student="st-9"))
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


def test_a_grade_never_lands_in_another_schools_partition(grading: EmulatedGrading) -> None:
    school_a = repo(grading, "school-a")
    same_key = request_keyed_id("school-b", "t-1", "checked-x-0001")

    # The same derived id written by school-a lands in school-a's student partition only.
    assert add(school_a, evaluation(eid=same_key, student="st-9"))
    assert repo(grading, "school-b").student_evaluations(StudentId("st-9")) == []
    with pytest.raises(TenantBoundaryViolation):
        school_a.add_evaluation(evaluation(school="school-b", eid="x2", student="st-9"))
