"""Recording a grade in one conditional write: the id derived from the request, the roster, term and
assignment checks served from this task's caches, and what that cache may serve stale."""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from conftest import Clocked

from grading_fakes import FakeRepositories, admin, teacher
from luca_grading.service_layer.administration import SchoolAdministration
from luca_grading.service_layer.ports import IdempotencyRecord
from luca_grading.service_layer.services import GradingService, RecordEvaluation
from luca_kernel.errors import Forbidden, IdempotencyKeyReused, InvalidInput, TermClosed, UnknownStudent
from luca_kernel.ids import CourseId, SchoolId, StudentId, TermId
from luca_kernel.roster import Student

KEY = "key-record-0001"


def grade(score: str = "6.5", **overrides: object) -> RecordEvaluation:
    fields: dict[str, object] = {
        "student_id": "st-1",
        "course_id": "1A",
        "subject_id": "math",
        "term_id": "2026-T1",
        "score": Decimal(score),
    }
    fields.update(overrides)
    return RecordEvaluation(**fields)  # type: ignore[arg-type]


def test_a_retry_returns_the_same_grade_from_the_one_write_and_writes_nothing(
    service: GradingService, repositories: FakeRepositories
) -> None:
    first = service.record_evaluation(teacher(), grade(), KEY)
    repositories.calls.clear()

    again = service.record_evaluation(teacher(), grade(), KEY)

    assert again.replayed
    assert again.value == first.value
    # The retry's write found the first attempt's grade at the same key: no read, no second write.
    assert repositories.calls == {"add_evaluation": 1}
    assert list(repositories.schools["school-a"].evaluations) == [first.value.evaluation_id]


def test_the_same_key_with_another_body_is_refused(
    service: GradingService, repositories: FakeRepositories
) -> None:
    service.record_evaluation(teacher(), grade(), KEY)

    for other in (grade("5.5"), grade(weight=Decimal(2)), grade(description="otra")):
        with pytest.raises(IdempotencyKeyReused):
            service.record_evaluation(teacher(), other, KEY)

    assert len(repositories.schools["school-a"].evaluations) == 1


def test_the_id_derives_from_school_caller_key_and_slot_so_nothing_collides(
    service: GradingService, repositories: FakeRepositories
) -> None:
    repositories.seed("school-c", students=("st-1", "st-2"))
    ours = service.record_evaluation(teacher(), grade(), KEY).value
    # Another school, the same teacher name, student, course, term, subject and key.
    theirs = service.record_evaluation(teacher("school-c"), grade(), KEY).value
    # Another teacher of the same school with the same key.
    colleague = service.record_evaluation(teacher(name="t-2"), grade(), KEY).value
    # The same key for another student is another grade (its own slot), never a collision.
    sibling = service.record_evaluation(teacher(), grade(student_id="st-2"), KEY).value

    ids = {ours.evaluation_id, theirs.evaluation_id, colleague.evaluation_id, sibling.evaluation_id}
    assert len(ids) == 4
    assert set(repositories.schools["school-c"].evaluations) == {theirs.evaluation_id}
    assert theirs.school_id == "school-c"
    assert ours.school_id == "school-a"
    assert ours.evaluation_id.startswith("r-")


def test_a_student_not_on_the_roster_is_refused_and_one_just_added_is_accepted_at_once(
    service: GradingService, repositories: FakeRepositories
) -> None:
    service.record_evaluation(teacher(), grade(), KEY)  # the course's roster is cached now
    with pytest.raises(UnknownStudent):
        service.record_evaluation(teacher(), grade(student_id="st-404"), "key-record-0002")

    # Added by an admin on another task: the refusal is looked up again, not served from memory.
    school = repositories.schools["school-a"]
    school.put_student(Student(SchoolId("school-a"), StudentId("st-404"), CourseId("1A"), "New"))
    assert not service.record_evaluation(teacher(), grade(student_id="st-404"), "key-record-0002").replayed


def test_a_student_moved_out_on_another_task_is_accepted_within_the_bound_and_refused_after(
    service: GradingService, repositories: FakeRepositories, cache_timer: Clocked
) -> None:
    service.record_evaluation(teacher(), grade(), KEY)
    school = repositories.schools["school-a"]
    moved = replace(school.students[StudentId("st-2")], course_id=CourseId("2B"))
    school.put_student(moved)  # another task's change: this task's cache does not know

    within = service.record_evaluation(teacher(), grade(student_id="st-2"), "key-record-0003")
    cache_timer.now += 61
    with pytest.raises(InvalidInput) as after:
        service.record_evaluation(teacher(), grade(student_id="st-2"), "key-record-0004")

    assert not within.replayed  # the documented staleness: at most the TTL
    assert after.value.field == "course_id"


def test_this_tasks_own_roster_and_term_changes_apply_at_once(
    service: GradingService, administration: SchoolAdministration
) -> None:
    service.record_evaluation(teacher(), grade(), KEY)

    administration.put_student(admin(), "st-2", "1A", "Moved")  # same course: still accepted
    service.record_evaluation(teacher(), grade(student_id="st-2"), "key-record-0005")
    administration.close_term(admin(), "2026-T1")
    with pytest.raises(TermClosed):
        service.record_evaluation(teacher(), grade(student_id="st-2"), "key-record-0006")


def test_a_term_closed_on_another_task_is_refused_once_the_bound_has_passed(
    service: GradingService, repositories: FakeRepositories, cache_timer: Clocked
) -> None:
    service.record_evaluation(teacher(), grade(), KEY)
    # Closed by an admin on another task.
    repositories.schools["school-a"].close_term(TermId("2026-T1"), datetime(2026, 6, 1, tzinfo=UTC), "admin")
    cache_timer.now += 61

    with pytest.raises(TermClosed):
        service.record_evaluation(teacher(), grade(student_id="st-2"), "key-record-0007")


def test_an_assignment_given_on_another_task_is_accepted_at_once_and_a_missing_one_refused(
    service: GradingService, repositories: FakeRepositories
) -> None:
    school = repositories.schools["school-a"]
    kept = dict(school.assignments)
    school.assignments = {}
    with pytest.raises(Forbidden):
        service.record_evaluation(teacher(), grade(), KEY)

    school.assignments = kept  # an admin's assignment made elsewhere
    assert not service.record_evaluation(teacher(), grade(), KEY).replayed


def test_a_retry_after_the_student_moved_still_gets_its_first_answer(
    service: GradingService, repositories: FakeRepositories, cache_timer: Clocked
) -> None:
    first = service.record_evaluation(teacher(), grade(), KEY)
    school = repositories.schools["school-a"]
    school.put_student(replace(school.students[StudentId("st-1")], course_id=CourseId("2B")))
    cache_timer.now += 61

    again = service.record_evaluation(teacher(), grade(), KEY)

    assert again.replayed
    assert again.value == first.value


def test_with_the_upgrade_guard_a_retry_of_a_grade_the_previous_version_recorded_gets_that_grade(
    service: GradingService, repositories: FakeRepositories
) -> None:
    # What 0.2 left behind: the grade at a random id and an idempotency record naming it.
    recorded = service.record_evaluation(teacher(), grade(), KEY).value
    school = repositories.schools["school-a"]
    legacy = replace(recorded, evaluation_id="legacy-0001")
    school.evaluations = {legacy.evaluation_id: legacy}
    school.idempotency[("evaluation.sub-t-1", KEY)] = IdempotencyRecord(
        scope="evaluation.sub-t-1",
        key=KEY,
        fingerprint=recorded.request_fingerprint,
        result_ref="legacy-0001",
    )
    guarded = GradingService(
        repositories=repositories,
        rules=service._rules,
        clock=service._clock,
        ids=service._ids,
        assignments=service._assignments,
        roster=service._roster,
        legacy_idempotency_guard=True,
    )
    school.calls.clear()

    again = guarded.record_evaluation(teacher(), grade(), KEY)

    assert again.replayed
    assert again.value.evaluation_id == "legacy-0001"
    assert list(school.evaluations) == ["legacy-0001"]
    assert "add_evaluation" not in school.calls
    with pytest.raises(IdempotencyKeyReused):
        guarded.record_evaluation(teacher(), grade("5.0"), KEY)
    # A new key is recorded as 0.3 does, after one look for a record 0.2 would have written.
    fresh = guarded.record_evaluation(teacher(), grade(), "key-record-0002")
    assert not fresh.replayed
    assert fresh.value.evaluation_id.startswith("r-")
