"""Corrections, retractions, history, closed terms and assignments, over in-memory fakes."""

from decimal import Decimal

import pytest
from conftest import Clocked

from grading_fakes import FakeRepositories, admin, student, teacher
from luca_grading.domain.model import ChangeKind
from luca_grading.service_layer.administration import SchoolAdministration
from luca_grading.service_layer.changes import ChangeRequest, Correction, GradeChanges
from luca_grading.service_layer.services import GradingService, RecordEvaluation
from luca_kernel.errors import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    PreconditionRequired,
    Retracted,
    TermClosed,
    UnknownTerm,
    VersionMismatch,
)
from luca_kernel.ids import CourseId, SubjectId, TeacherId

TERM = "2026-T1"


def record(service: GradingService, score: str = "4.5", key: str = "key-rec-000001", who: str = "t-1") -> str:
    command = RecordEvaluation(
        student_id="st-1", course_id="1A", subject_id="math", term_id=TERM, score=Decimal(score)
    )
    return service.record_evaluation(teacher(name=who), command, key).value.evaluation_id


def at(evaluation_id: str, version: int | None = 1) -> ChangeRequest:
    return ChangeRequest("st-1", evaluation_id, version, correlation_id="corr-1")


def test_a_teacher_corrects_their_typo_and_the_history_keeps_both_values(
    service: GradingService, changes: GradeChanges
) -> None:
    eid = record(service)

    done = changes.correct(
        teacher(), at(eid), Correction(reason="typed 4.5 for 5.4", score=Decimal("5.4")), "key-fix-0001"
    )

    assert not done.replayed
    assert (done.value.score, done.value.version, done.value.updated_by) == (Decimal("5.4"), 2, "t-1")
    report = service.student_report(student(), "st-1", TERM)
    assert [e.score for e in report.evaluations] == [Decimal("5.4")]
    assert report.averages[0].weighted_average == Decimal("5.4")
    _, history = changes.history(teacher(), "st-1", eid)
    assert [
        (h.version, h.kind, h.before.score, h.after.score, h.reason, h.correlation_id) for h in history
    ] == [(2, ChangeKind.CORRECTED, Decimal("4.5"), Decimal("5.4"), "typed 4.5 for 5.4", "corr-1")]


def test_a_stale_version_loses_no_update(service: GradingService, changes: GradeChanges) -> None:
    eid = record(service)
    changes.correct(teacher(), at(eid), Correction(reason="first", score=Decimal("5.0")), "key-fix-0001")

    # A second client still holding version 1 is refused and told the current version.
    with pytest.raises(VersionMismatch) as refused:
        changes.correct(teacher(), at(eid), Correction(reason="second", score=Decimal("3.0")), "key-fix-0002")

    assert refused.value.context == {"current_version": "2"}
    assert changes.get(teacher(), "st-1", eid).score == Decimal("5.0")


def test_a_change_must_name_its_version(service: GradingService, changes: GradeChanges) -> None:
    eid = record(service)
    with pytest.raises(PreconditionRequired):
        changes.correct(
            teacher(), at(eid, None), Correction(reason="x", score=Decimal("5.0")), "key-fix-0001"
        )


def test_a_retried_correction_returns_its_first_result_although_the_grade_moved_on(
    service: GradingService, changes: GradeChanges, repositories: FakeRepositories
) -> None:
    eid = record(service)
    first = changes.correct(teacher(), at(eid), Correction(reason="a", score=Decimal("5.0")), "key-fix-0001")
    assert first.value.version == 2
    changes.correct(teacher(), at(eid, 2), Correction(reason="b", score=Decimal("6.0")), "key-fix-0002")
    writes = repositories.calls["writes"]

    again = changes.correct(teacher(), at(eid), Correction(reason="a", score=Decimal("5.0")), "key-fix-0001")

    assert again.replayed
    assert (again.value.score, again.value.version) == (Decimal("5.0"), 2)
    assert repositories.calls["writes"] == writes
    with pytest.raises(IdempotencyKeyReused):
        changes.correct(teacher(), at(eid), Correction(reason="a", score=Decimal("3.0")), "key-fix-0001")


def test_a_retracted_grade_leaves_every_view_and_average_but_not_its_history(
    service: GradingService, changes: GradeChanges
) -> None:
    keep = record(service, "6.0", "key-rec-000001")
    twice = record(service, "2.0", "key-rec-000002")

    done = changes.retract(teacher(), at(twice), "entered twice", "key-ret-0001")

    assert done.value.retracted
    assert done.value.version == 2
    for report in (
        service.student_report(student(), "st-1", TERM),
        service.student_report(teacher(), "st-1", TERM),
        service.course_report(teacher(), "1A", TERM),
        service.course_report(admin(), "1A", TERM),
    ):
        assert [e.evaluation_id for e in report.evaluations] == [keep]
        assert [a.weighted_average for a in _averages(report)] == [Decimal("6.0")]
    with pytest.raises(NotFound):
        changes.get(student(), "st-1", twice)
    evaluation, history = changes.history(admin(), "st-1", twice)
    assert evaluation.retracted
    assert [(h.kind, h.reason) for h in history] == [(ChangeKind.RETRACTED, "entered twice")]
    with pytest.raises(Retracted):
        changes.correct(
            admin(), at(twice, 2), Correction(reason="undo", score=Decimal("2.0")), "key-fix-0009"
        )


def _averages(report: object) -> list:  # type: ignore[type-arg]
    averages = report.averages  # type: ignore[attr-defined]
    return [a[1] if isinstance(a, tuple) else a for a in averages]


def test_only_the_recording_teacher_or_an_admin_may_change_a_grade(
    service: GradingService, changes: GradeChanges
) -> None:
    eid = record(service, who="t-1")
    with pytest.raises(Forbidden):
        changes.correct(
            teacher(name="t-2"), at(eid), Correction(reason="x", score=Decimal("5.0")), "key-fix-0001"
        )
    with pytest.raises(Forbidden):
        changes.retract(teacher(name="t-2"), at(eid), "x", "key-fix-0002")
    with pytest.raises(Forbidden):
        changes.retract(student(), at(eid), "x", "key-fix-0003")
    # Another teacher may still read it (they teach the subject); a student may not read its history.
    assert changes.get(teacher(name="t-2"), "st-1", eid).version == 1
    with pytest.raises(Forbidden):
        changes.history(student(), "st-1", eid)
    done = changes.correct(
        admin(), at(eid), Correction(reason="admin fix", weight=Decimal("2")), "key-fix-0004"
    )
    assert (done.value.weight, done.value.updated_by) == (Decimal("2"), "admin")


def test_a_correction_must_say_why_and_change_something(
    service: GradingService, changes: GradeChanges
) -> None:
    eid = record(service)
    with pytest.raises(InvalidInput):
        changes.correct(teacher(), at(eid), Correction(reason="  ", score=Decimal("5.0")), "key-fix-0001")
    with pytest.raises(InvalidInput):
        changes.correct(teacher(), at(eid), Correction(reason="nothing"), "key-fix-0002")
    with pytest.raises(InvalidInput):
        changes.retract(teacher(), at(eid), "", "key-fix-0003")
    with pytest.raises(NotFound):
        changes.correct(teacher(), at("nope"), Correction(reason="x", score=Decimal("5.0")), "key-fix-0004")


def test_a_closed_term_refuses_new_grades_and_teacher_changes_but_an_admin_may_correct(
    service: GradingService, changes: GradeChanges, administration: SchoolAdministration
) -> None:
    eid = record(service)
    closed = administration.close_term(admin(), TERM)
    assert closed.closed
    assert administration.close_term(admin(), TERM).closed_at == closed.closed_at  # closing twice: no change

    with pytest.raises(TermClosed) as refused:
        record(service, key="key-rec-late01")
    assert refused.value.context == {"term_id": TERM}
    with pytest.raises(TermClosed):
        changes.correct(teacher(), at(eid), Correction(reason="x", score=Decimal("5.0")), "key-fix-0001")
    with pytest.raises(TermClosed):
        changes.retract(teacher(), at(eid), "x", "key-fix-0002")

    done = changes.correct(
        admin(), at(eid), Correction(reason="ministry review", score=Decimal("5.0")), "key-fix-0003"
    )
    assert done.value.version == 2
    # Renaming a closed term never reopens it.
    assert administration.put_term(admin(), TERM, "Renamed").closed


def test_terms_must_exist_and_only_admins_manage_them(
    service: GradingService, administration: SchoolAdministration
) -> None:
    with pytest.raises(UnknownTerm):
        service.record_evaluation(
            teacher(),
            RecordEvaluation("st-1", "1A", "math", "2031-T3", Decimal("5.0")),
            "key-rec-noterm",
        )
    with pytest.raises(UnknownTerm):
        administration.close_term(admin(), "2031-T3")
    for who in (teacher(), student()):
        with pytest.raises(Forbidden):
            administration.put_term(who, "2031-T3", "x")
        with pytest.raises(Forbidden):
            administration.close_term(who, TERM)


def test_a_teacher_without_the_assignment_is_refused_everywhere(
    service: GradingService,
    changes: GradeChanges,
    administration: SchoolAdministration,
    repositories: FakeRepositories,
) -> None:
    eid = record(service, who="t-1")
    administration.unassign(admin(), "t-1", "1A", "math")
    t1 = teacher(name="t-1")

    with pytest.raises(Forbidden):
        record(service, key="key-rec-unass1", who="t-1")
    with pytest.raises(Forbidden):
        service.course_report(t1, "1A", TERM, "math")
    with pytest.raises(Forbidden):
        changes.get(t1, "st-1", eid)
    with pytest.raises(Forbidden):
        changes.history(t1, "st-1", eid)
    with pytest.raises(Forbidden):
        changes.correct(t1, at(eid), Correction(reason="x", score=Decimal("5.0")), "key-fix-0001")
    with pytest.raises(Forbidden):
        changes.retract(t1, at(eid), "x", "key-fix-0002")
    # Still assigned to history: the course view shows only that subject, and the math grade is hidden.
    assert service.course_report(t1, "1A", TERM).evaluations == []
    assert service.student_report(t1, "st-1", TERM).evaluations == []
    administration.unassign(admin(), "t-1", "1A", "history")
    for read in (
        lambda: service.course_report(t1, "1A", TERM),
        lambda: service.student_report(t1, "st-1"),
        lambda: service.behavior_profile(t1, "st-1"),
    ):
        with pytest.raises(Forbidden):
            read()
    assert repositories.schools["school-a"].evaluations[eid].version == 1


def test_admins_assign_teachers_to_existing_courses_and_subjects(
    administration: SchoolAdministration, repositories: FakeRepositories
) -> None:
    made = administration.assign(admin(), "t-7", "1A", "math")
    assert (made.teacher_id, made.assigned_by) == ("t-7", "admin")
    assert (TeacherId("t-7"), CourseId("1A"), SubjectId("math")) in repositories.schools[
        "school-a"
    ].assignments
    with pytest.raises(NotFound):
        administration.unassign(admin(), "t-7", "1A", "history")
    with pytest.raises(Forbidden):
        administration.assign(teacher(), "t-1", "1A", "math")
    with pytest.raises(InvalidInput):
        administration.assign(admin(), "t#1", "1A", "math")
    from luca_kernel.errors import UnknownCourse, UnknownSubject

    with pytest.raises(UnknownCourse):
        administration.assign(admin(), "t-7", "9Z", "math")
    with pytest.raises(UnknownSubject):
        administration.assign(admin(), "t-7", "1A", "alchemy")
    # Another school's admin assigns in their own school only.
    administration.assign(admin("school-b"), "t-7", "1A", "math")
    assert (TeacherId("t-7"), CourseId("1A"), SubjectId("math")) in repositories.schools[
        "school-b"
    ].assignments


def test_a_replayed_recording_answers_the_grade_as_recorded_even_after_changes(
    service: GradingService, changes: GradeChanges
) -> None:
    command = RecordEvaluation("st-1", "1A", "math", TERM, Decimal("4.5"))
    first = service.record_evaluation(teacher(), command, "key-rec-replay1").value
    changes.correct(
        teacher(), at(first.evaluation_id), Correction(reason="typo", score=Decimal("5.4")), "key-fix-0001"
    )
    changes.retract(teacher(), at(first.evaluation_id, 2), "twice", "key-fix-0002")

    again = service.record_evaluation(teacher(), command, "key-rec-replay1")

    assert again.replayed
    assert again.value == first


def test_a_teacher_changing_a_grade_of_a_term_not_in_the_catalog_is_told_so(
    service: GradingService, changes: GradeChanges, repositories: FakeRepositories, cache_timer: Clocked
) -> None:
    """Grades recorded before terms were catalog items: a teacher is told to have the term added."""
    eid = record(service)
    del repositories.schools["school-a"].terms[TERM]  # type: ignore[arg-type]
    cache_timer.now += 61  # past the roster cache's bound (recording saw the term)

    with pytest.raises(UnknownTerm) as refused:
        changes.correct(teacher(), at(eid), Correction(reason="x", score=Decimal("5.0")), "key-fix-0001")

    assert refused.value.context == {"term_id": TERM}
    assert (
        changes.correct(
            admin(), at(eid), Correction(reason="x", score=Decimal("5.0")), "key-fix-0002"
        ).value.version
        == 2
    )


def test_a_user_name_that_cannot_be_a_teacher_id_holds_nothing(
    service: GradingService, changes: GradeChanges
) -> None:
    eid = record(service)
    odd = teacher(name="t#1")
    for attempt in (
        lambda: record(service, key="key-rec-odd001", who="t#1"),
        lambda: service.course_report(odd, "1A", TERM),
        lambda: service.student_report(odd, "st-1"),
        lambda: changes.get(odd, "st-1", eid),
        lambda: changes.correct(odd, at(eid), Correction(reason="x", score=Decimal("5.0")), "key-fix-0001"),
    ):
        with pytest.raises(Forbidden):
            attempt()


@pytest.mark.parametrize("weight", ["0.0001", "1.0000000000000000000000000000000000001", "1E-200"])
def test_a_weight_more_precise_than_a_share_is_refused(
    service: GradingService, changes: GradeChanges, weight: str
) -> None:
    eid = record(service)
    with pytest.raises(InvalidInput):
        changes.correct(teacher(), at(eid), Correction(reason="x", weight=Decimal(weight)), "key-fix-0001")
    with pytest.raises(InvalidInput):
        service.record_evaluation(
            teacher(),
            RecordEvaluation("st-1", "1A", "math", TERM, Decimal("5.0"), weight=Decimal(weight)),
            "key-rec-w0001",
        )
