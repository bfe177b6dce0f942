"""The grading use cases over in-memory fakes: idempotency, validation, roles, rule cache."""

from decimal import Decimal

import pytest

from grading_fakes import FakeRepositories, admin, student, teacher
from luca_grading.domain.model import BehaviorKind
from luca_grading.service_layer.administration import SchoolAdministration
from luca_grading.service_layer.services import GradingService, RecordBehaviorNote, RecordEvaluation
from luca_kernel.errors import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    ScoreOutOfScale,
    UnknownCourse,
    UnknownStudent,
    UnknownSubject,
)
from luca_kernel.grading import GradingRule, ScaleKind
from luca_kernel.ids import SubjectId

KEY = "key-0000-0001"


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


def test_recording_a_grade_stores_it_under_the_callers_school(
    service: GradingService, repositories: FakeRepositories
) -> None:
    recorded = service.record_evaluation(teacher(), grade(), KEY)

    assert not recorded.replayed
    assert recorded.value.school_id == "school-a"
    assert recorded.value.teacher_id == "t-1"
    assert list(repositories.schools["school-a"].evaluations) == [recorded.value.evaluation_id]
    assert repositories.schools["school-b"].evaluations == {}


def test_a_retry_with_the_same_key_returns_the_first_result_and_writes_nothing(
    service: GradingService, repositories: FakeRepositories
) -> None:
    first = service.record_evaluation(teacher(), grade(), KEY)
    writes = repositories.calls["writes"]

    again = service.record_evaluation(teacher(), grade(), KEY)

    assert again.replayed
    assert again.value == first.value
    assert repositories.calls["writes"] == writes
    assert len(repositories.schools["school-a"].evaluations) == 1


def test_the_same_key_with_a_different_body_is_refused(service: GradingService) -> None:
    service.record_evaluation(teacher(), grade("6.5"), KEY)
    with pytest.raises(IdempotencyKeyReused):
        service.record_evaluation(teacher(), grade("3.0"), KEY)


def test_keys_are_scoped_per_caller_so_two_teachers_never_collide(
    service: GradingService, repositories: FakeRepositories
) -> None:
    service.record_evaluation(teacher(name="t-1"), grade(), KEY)
    other = service.record_evaluation(teacher(name="t-2"), grade("5.0"), KEY)
    assert not other.replayed
    assert len(repositories.schools["school-a"].evaluations) == 2


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (grade("7.5"), ScoreOutOfScale),
        (grade(student_id="st-404"), UnknownStudent),
        (grade(subject_id="alchemy"), UnknownSubject),
        (grade(course_id="9Z"), InvalidInput),
        (grade(student_id="a#b"), InvalidInput),
        (grade(term_id=""), InvalidInput),
        (grade(description="x" * 2001), InvalidInput),
    ],
)
def test_bad_grades_are_refused_and_nothing_is_written(
    service: GradingService, repositories: FakeRepositories, command: RecordEvaluation, error: type[Exception]
) -> None:
    with pytest.raises(error):
        service.record_evaluation(teacher(), command, KEY)
    assert repositories.calls["writes"] == 0


def test_a_student_of_another_school_is_unknown_here(service: GradingService) -> None:
    with pytest.raises(UnknownStudent):
        service.record_evaluation(teacher("school-a"), grade(student_id="st-9"), KEY)


@pytest.mark.parametrize("key", ["", "short", "has space in it", "x" * 129])
def test_idempotency_keys_must_be_well_formed(service: GradingService, key: str) -> None:
    with pytest.raises(InvalidInput):
        service.record_evaluation(teacher(), grade(), key)


def test_students_and_admins_cannot_record_grades(service: GradingService) -> None:
    for who in (student(), admin()):
        with pytest.raises(Forbidden):
            service.record_evaluation(who, grade(), KEY)


def test_a_student_reads_only_their_own_evaluations(service: GradingService) -> None:
    service.record_evaluation(teacher(), grade(), KEY)
    own = service.student_report(student(student_id="st-1"), "st-1")
    assert len(own.evaluations) == 1
    with pytest.raises(Forbidden):
        service.student_report(student(student_id="st-1"), "st-2")
    with pytest.raises(Forbidden):
        service.behavior_profile(student(student_id="st-1"), "st-2")


def test_student_report_averages_by_subject_with_weights(service: GradingService) -> None:
    service.record_evaluation(teacher(), grade("7.0", weight=Decimal("0.7")), "key-a-000001")
    service.record_evaluation(teacher(), grade("4.0", weight=Decimal("0.3")), "key-a-000002")
    service.record_evaluation(teacher(), grade("3.0", subject_id="history"), "key-a-000003")

    report = service.student_report(teacher(), "st-1", "2026-T1")

    by_subject = {a.subject_id: a for a in report.averages}
    assert by_subject["math"].weighted_average == Decimal("6.1")
    assert by_subject["math"].passing
    assert by_subject["math"].evaluation_count == 2
    assert by_subject["history"].weighted_average == Decimal("3.0")
    assert not by_subject["history"].passing


def test_course_report_lists_every_student_with_averages(service: GradingService) -> None:
    service.record_evaluation(teacher(), grade("6.0"), "key-c-000001")
    service.record_evaluation(teacher(), grade("5.0", student_id="st-2"), "key-c-000002")

    report = service.course_report(teacher(), "1A", "2026-T1")

    assert {e.student_id for e in report.evaluations} == {"st-1", "st-2"}
    assert [(s, a.weighted_average) for s, a in report.averages] == [
        ("st-1", Decimal("6.0")),
        ("st-2", Decimal("5.0")),
    ]
    with pytest.raises(UnknownCourse):
        service.course_report(admin(), "9Z", "2026-T1")
    # A teacher learns nothing about courses they do not teach, existing or not.
    with pytest.raises(Forbidden):
        service.course_report(teacher(), "9Z", "2026-T1")
    with pytest.raises(Forbidden):
        service.course_report(student(), "1A", "2026-T1")


def test_a_warm_rule_is_served_from_memory(service: GradingService, repositories: FakeRepositories) -> None:
    service.record_evaluation(teacher(), grade(), "key-r-000001")
    reads = repositories.calls["get_rule"]
    assert reads > 0

    service.record_evaluation(teacher(), grade("5.0"), "key-r-000002")
    service.rule_for(teacher(), "math")

    assert repositories.calls["get_rule"] == reads


def test_a_warm_rule_is_answered_without_the_store_and_a_cold_one_is_not(
    service: GradingService, repositories: FakeRepositories
) -> None:
    # warm_rule runs on the REST app's event loop: it may not even open the school's repository.
    opened: list[str] = []
    for_school = repositories.for_school
    repositories.for_school = lambda school_id: opened.append(school_id) or for_school(school_id)  # type: ignore[method-assign]
    assert service.warm_rule(teacher(), "math") is None
    rule = service.rule_for(teacher(), "math")
    assert opened == ["school-a"]
    assert service.warm_rule(teacher(), "math") == rule
    assert opened == ["school-a"]
    with pytest.raises(Forbidden):
        service.warm_rule(student(), "math")
    with pytest.raises(InvalidInput):
        service.warm_rule(teacher(), "bad id!")


def test_a_rule_change_on_this_instance_takes_effect_at_once(
    service: GradingService, repositories: FakeRepositories
) -> None:
    service.record_evaluation(teacher(), grade("6.5"), "key-p-000001")
    service.put_rule(
        admin(),
        GradingRule(subject_id=SubjectId("math"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal(60)),
    )

    recorded = service.record_evaluation(teacher(), grade("85.0"), "key-p-000002")

    assert recorded.value.score == Decimal("85.0")
    assert service.rule_for(teacher(), "math").scale is ScaleKind.PERCENTAGE


def test_the_rule_cache_expires_so_other_instances_changes_arrive(
    service: GradingService, repositories: FakeRepositories, cache_timer: object
) -> None:
    service.rule_for(teacher(), "math")
    reads = repositories.calls["get_rule"]
    cache_timer.now += 61  # type: ignore[attr-defined]
    service.rule_for(teacher(), "math")
    assert repositories.calls["get_rule"] > reads


def test_rules_are_cached_per_school(service: GradingService, repositories: FakeRepositories) -> None:
    service.put_rule(
        admin("school-a"),
        GradingRule(subject_id=SubjectId("math"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal(60)),
    )
    assert service.rule_for(teacher("school-a"), "math").scale is ScaleKind.PERCENTAGE
    assert service.rule_for(teacher("school-b"), "math").scale is ScaleKind.CHILEAN


def test_only_admins_manage_rules_and_only_for_known_subjects(service: GradingService) -> None:
    rule = GradingRule(subject_id=SubjectId("math"), passing_grade=Decimal("4.5"))
    with pytest.raises(Forbidden):
        service.put_rule(teacher(), rule)
    with pytest.raises(UnknownSubject):
        service.put_rule(admin(), GradingRule(subject_id=SubjectId("alchemy")))
    with pytest.raises(Forbidden):
        service.rule_for(student(), "math")


def test_the_rule_of_a_subject_the_school_does_not_have_is_not_found(
    service: GradingService, repositories: FakeRepositories
) -> None:
    with pytest.raises(UnknownSubject):
        service.rule_for(teacher(), "alchemy")
    service.rule_for(teacher(), "math")
    repositories.calls.clear()

    service.rule_for(teacher(), "math")

    assert sum(repositories.calls.values()) == 0, "a warm rule costs no read, not even the subject check"


def test_the_school_default_rule_applies_to_subjects_without_their_own(service: GradingService) -> None:
    service.put_rule(
        admin(),
        GradingRule(
            subject_id=SubjectId("*"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal(50), decimals=0
        ),
    )
    rule = service.rule_for(teacher(), "history")
    assert (rule.subject_id, rule.scale, rule.passing_grade) == ("history", ScaleKind.PERCENTAGE, Decimal(50))


def test_behavior_notes_build_a_profile_and_are_idempotent(service: GradingService) -> None:
    note = RecordBehaviorNote(
        student_id="st-1", course_id="1A", kind=BehaviorKind.POSITIVE, text="Helped a classmate"
    )
    service.record_behavior_note(teacher(), note, "note-0000001")
    replay = service.record_behavior_note(teacher(), note, "note-0000001")
    service.record_behavior_note(
        teacher(),
        RecordBehaviorNote(student_id="st-1", course_id="1A", kind=BehaviorKind.NEGATIVE, text="Late"),
        "note-0000002",
    )

    profile = service.behavior_profile(student(student_id="st-1"), "st-1")

    assert replay.replayed
    assert (profile.positive_count, profile.negative_count) == (1, 1)
    assert profile.recent_notes[0].text == "Late"


def test_behavior_notes_need_text_and_an_enrolled_student(service: GradingService) -> None:
    with pytest.raises(InvalidInput):
        service.record_behavior_note(
            teacher(), RecordBehaviorNote("st-1", "1A", BehaviorKind.POSITIVE, "   "), "note-0000003"
        )
    with pytest.raises(UnknownStudent):
        service.record_behavior_note(
            teacher(), RecordBehaviorNote("st-9", "1A", BehaviorKind.POSITIVE, "x"), "note-0000004"
        )


def test_admins_manage_the_roster(
    administration: SchoolAdministration, repositories: FakeRepositories
) -> None:
    administration.put_course(admin(), "2B", "Second B")
    administration.put_subject(admin(), "music", "Music")
    administration.put_student(admin(), "st-3", "2B", "Ana")
    assert repositories.schools["school-a"].students["st-3"].course_id == "2B"
    with pytest.raises(UnknownCourse):
        administration.put_student(admin(), "st-4", "9Z", "Luis")
    with pytest.raises(Forbidden):
        administration.put_course(teacher(), "3C", "Third C")


def test_a_new_grade_with_warm_caches_is_one_conditional_write_and_no_read(
    service: GradingService, repositories: FakeRepositories
) -> None:
    service.record_evaluation(teacher(), grade(), "key-warm-up-01")  # warms rule, roster, term, assignments
    repositories.calls.clear()

    recorded = service.record_evaluation(teacher(), grade(student_id="st-2"), "key-one-call-01")

    assert not recorded.replayed
    assert repositories.calls == {"add_evaluation": 1, "writes": 1}


def test_a_new_grade_with_cold_caches_reads_the_course_roster_term_and_assignments_once(
    service: GradingService, repositories: FakeRepositories
) -> None:
    service.record_evaluation(teacher(), grade(), "key-cold-0001")

    calls = repositories.calls
    assert (calls["course_student_ids"], calls["get_term"], calls["assignments_of"]) == (1, 1, 1)
    assert calls["get_student"] == 0  # the whole course's roster came in one read
    assert (calls["add_evaluation"], calls["writes"]) == (1, 1)


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (grade(student_id="st-404"), UnknownStudent),
        (grade(course_id="2B"), InvalidInput),
        (grade("7.5"), ScoreOutOfScale),
    ],
    ids=["unknown student", "student of another course", "score off the scale"],
)
def test_the_checked_write_refuses_what_the_read_path_refuses_and_writes_nothing(
    service: GradingService, repositories: FakeRepositories, command: object, error: type[Exception]
) -> None:
    service.rule_for(teacher(), "math")

    with pytest.raises(error):
        service.record_evaluation(teacher(), command, "key-refused-01")  # type: ignore[arg-type]

    assert repositories.schools["school-a"].evaluations == {}
    assert repositories.schools["school-a"].idempotency == {}


def test_the_checked_write_refuses_a_subject_that_no_longer_exists(
    service: GradingService, repositories: FakeRepositories
) -> None:
    service.rule_for(teacher(), "math")
    school = repositories.schools["school-a"]
    del school.subjects[SubjectId("math")]
    school.assignments = {k: v for k, v in school.assignments.items() if k[2] != "math"}

    with pytest.raises(UnknownSubject):
        service.record_evaluation(teacher(), grade(), "key-no-subject")

    assert repositories.schools["school-a"].evaluations == {}


def test_the_checked_write_replays_a_retry_and_refuses_a_reused_key(
    service: GradingService, repositories: FakeRepositories
) -> None:
    service.rule_for(teacher(), "math")
    first = service.record_evaluation(teacher(), grade(), "key-retry-0001")

    again = service.record_evaluation(teacher(), grade(), "key-retry-0001")

    assert again.replayed
    assert again.value == first.value
    assert len(repositories.schools["school-a"].evaluations) == 1
    with pytest.raises(IdempotencyKeyReused):
        service.record_evaluation(teacher(), grade("5.5"), "key-retry-0001")


def test_a_retry_gets_its_first_result_even_after_the_scale_changed(
    service: GradingService, repositories: FakeRepositories
) -> None:
    service.rule_for(teacher(), "math")
    first = service.record_evaluation(teacher(), grade("6.5"), "key-scale-0001")
    service.put_rule(
        admin(),
        GradingRule(subject_id=SubjectId("math"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal(60)),
    )
    service.rule_for(teacher(), "math")  # the new rule is warm

    again = service.record_evaluation(teacher(), grade("6.5"), "key-scale-0001")

    assert again.replayed
    assert again.value == first.value


def test_a_report_with_grades_costs_one_read_and_an_empty_one_checks_the_student(
    service: GradingService, repositories: FakeRepositories
) -> None:
    service.record_evaluation(teacher(), grade(), KEY)
    repositories.calls.clear()

    report = service.student_report(admin(), "st-1", "2026-T1")
    reads_with_grades = dict(repositories.calls)
    repositories.calls.clear()
    empty = service.student_report(admin(), "st-1", "2025-T9")
    empty_reads = dict(repositories.calls)
    repositories.calls.clear()
    as_teacher = service.student_report(teacher(), "st-1", "2026-T1")

    assert len(report.evaluations) == 1
    assert reads_with_grades == {"student_evaluations": 1}
    assert empty.evaluations == []
    assert empty_reads["get_student"] == 1
    # A teacher's view also needs the teacher's assignments (warm: recording loaded them); the
    # student's course only when none of the grades is one the teacher may see.
    assert len(as_teacher.evaluations) == 1
    assert dict(repositories.calls) == {"student_evaluations": 1}
    repositories.calls.clear()
    assert service.student_report(teacher(), "st-1", "2025-T9").evaluations == []
    assert dict(repositories.calls) == {"student_evaluations": 1, "get_student": 1}
    with pytest.raises(UnknownStudent):
        service.student_report(teacher(), "st-404", "2026-T1")


def test_a_course_report_with_grades_costs_one_read_and_an_unknown_course_is_refused(
    service: GradingService, repositories: FakeRepositories
) -> None:
    service.record_evaluation(teacher(), grade(), KEY)
    repositories.calls.clear()

    report = service.course_report(admin(), "1A", "2026-T1")

    assert len(report.evaluations) == 1
    assert dict(repositories.calls) == {"course_evaluations": 1}
    with pytest.raises(UnknownCourse):
        service.course_report(admin(), "9Z", "2026-T1")
