"""In-memory fakes of the service layer's ports, for unit tests (no network, no emulator)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count

from luca_grading.domain.model import BehaviorNote, Evaluation
from luca_grading.service_layer.ports import CheckedWrite, IdempotencyRecord, Preconditions, RecordingContext
from luca_kernel.access import Principal, Role
from luca_kernel.grading import GradingRule
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TermId
from luca_kernel.roster import Course, Student, Subject


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 3, 10, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current


class SequentialIds:
    def __init__(self) -> None:
        self._next = count(1)

    def new_id(self) -> str:
        return f"id{next(self._next):06d}"


class FakeSchoolRepository:
    """One school's data; ``calls`` counts reads by kind so tests can see what hit the store."""

    def __init__(self, school_id: SchoolId, calls: Counter[str]) -> None:
        self._school = school_id
        self.calls = calls
        self.students: dict[StudentId, Student] = {}
        self.subjects: dict[SubjectId, Subject] = {}
        self.courses: dict[CourseId, Course] = {}
        self.rules: dict[SubjectId, GradingRule] = {}
        self.evaluations: dict[str, Evaluation] = {}
        self.notes: dict[str, BehaviorNote] = {}
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}

    @property
    def school_id(self) -> SchoolId:
        return self._school

    def get_student(self, student_id: StudentId) -> Student | None:
        self.calls["get_student"] += 1
        return self.students.get(student_id)

    def get_subject(self, subject_id: SubjectId) -> Subject | None:
        self.calls["get_subject"] += 1
        return self.subjects.get(subject_id)

    def get_course(self, course_id: CourseId) -> Course | None:
        self.calls["get_course"] += 1
        return self.courses.get(course_id)

    def put_student(self, student: Student) -> None:
        self.students[student.student_id] = student

    def put_subject(self, subject: Subject) -> None:
        self.subjects[subject.subject_id] = subject

    def put_course(self, course: Course) -> None:
        self.courses[course.course_id] = course

    def get_rule(self, subject_id: SubjectId) -> GradingRule | None:
        self.calls["get_rule"] += 1
        return self.rules.get(subject_id)

    def put_rule(self, rule: GradingRule) -> None:
        self.rules[rule.subject_id] = rule

    def add_evaluation(self, evaluation: Evaluation, idempotency: IdempotencyRecord) -> bool:
        self.calls["add_evaluation"] += 1
        if (idempotency.scope, idempotency.key) in self.idempotency:
            return False
        self.idempotency[(idempotency.scope, idempotency.key)] = idempotency
        self.evaluations[evaluation.evaluation_id] = evaluation
        return True

    def add_evaluation_checked(
        self, evaluation: Evaluation, idempotency: IdempotencyRecord, preconditions: Preconditions
    ) -> CheckedWrite:
        self.calls["add_evaluation_checked"] += 1
        prior = self.idempotency.get((idempotency.scope, idempotency.key))
        student = self.students.get(preconditions.student_id)
        enrolled = student is not None and student.course_id == preconditions.course_id
        subject_ok = preconditions.subject_id is None or preconditions.subject_id in self.subjects
        if prior is None and enrolled and subject_ok:
            self.idempotency[(idempotency.scope, idempotency.key)] = idempotency
            self.evaluations[evaluation.evaluation_id] = evaluation
            return CheckedWrite(written=True)
        return CheckedWrite(
            written=False,
            prior=prior,
            student=student if student is not None and not enrolled else None,
            student_missing=student is None,
            subject_missing=not subject_ok,
        )

    def get_evaluation(self, student_id: StudentId, evaluation_ref: str) -> Evaluation | None:
        found = self.evaluations.get(evaluation_ref)
        return found if found and found.student_id == student_id else None

    def student_evaluations(
        self, student_id: StudentId, term_id: TermId | None = None, subject_id: SubjectId | None = None
    ) -> Sequence[Evaluation]:
        self.calls["student_evaluations"] += 1
        return [
            e
            for e in self.evaluations.values()
            if e.student_id == student_id
            and (term_id is None or e.term_id == term_id)
            and (subject_id is None or e.subject_id == subject_id)
        ]

    def course_evaluations(
        self, course_id: CourseId, term_id: TermId, subject_id: SubjectId | None = None
    ) -> Sequence[Evaluation]:
        self.calls["course_evaluations"] += 1
        return [
            e
            for e in self.evaluations.values()
            if e.course_id == course_id
            and e.term_id == term_id
            and (subject_id is None or e.subject_id == subject_id)
        ]

    def add_behavior_note(self, note: BehaviorNote, idempotency: IdempotencyRecord) -> bool:
        if (idempotency.scope, idempotency.key) in self.idempotency:
            return False
        self.idempotency[(idempotency.scope, idempotency.key)] = idempotency
        self.notes[note.note_id] = note
        return True

    def get_behavior_note(self, student_id: StudentId, note_ref: str) -> BehaviorNote | None:
        found = self.notes.get(note_ref)
        return found if found and found.student_id == student_id else None

    def behavior_notes(self, student_id: StudentId) -> Sequence[BehaviorNote]:
        return [n for n in self.notes.values() if n.student_id == student_id]

    def get_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        self.calls["get_idempotency"] += 1
        return self.idempotency.get((scope, key))

    def recording_context(
        self, scope: str, key: str, student_id: StudentId, subject_id: SubjectId | None
    ) -> RecordingContext:
        self.calls["recording_context"] += 1
        return RecordingContext(
            idempotency=self.idempotency.get((scope, key)),
            student=self.students.get(student_id),
            subject=self.subjects.get(subject_id) if subject_id else None,
        )


class FakeRepositories:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.schools: dict[SchoolId, FakeSchoolRepository] = {}

    def for_school(self, school_id: SchoolId) -> FakeSchoolRepository:
        if school_id not in self.schools:
            self.schools[school_id] = FakeSchoolRepository(school_id, self.calls)
        return self.schools[school_id]

    def seed(
        self,
        school_id: str,
        *,
        course: str = "1A",
        subjects: Sequence[str] = ("math", "history"),
        students: Sequence[str] = ("st-1", "st-2"),
    ) -> FakeSchoolRepository:
        repo = self.for_school(SchoolId(school_id))
        repo.put_course(Course(SchoolId(school_id), CourseId(course), f"Course {course}"))
        for subject in subjects:
            repo.put_subject(Subject(SchoolId(school_id), SubjectId(subject), subject.title()))
        for student in students:
            repo.put_student(
                Student(SchoolId(school_id), StudentId(student), CourseId(course), f"Student {student}")
            )
        return repo


def tamper(evaluation: Evaluation, **changes: object) -> Evaluation:
    return replace(evaluation, **changes)  # type: ignore[arg-type]


def teacher(school: str = "school-a", name: str = "t-1") -> Principal:
    return Principal(SchoolId(school), subject=f"sub-{name}", roles=frozenset({Role.TEACHER}), username=name)


def admin(school: str = "school-a") -> Principal:
    return Principal(SchoolId(school), subject="sub-admin", roles=frozenset({Role.ADMIN}), username="admin")


def student(school: str = "school-a", student_id: str = "st-1") -> Principal:
    return Principal(
        SchoolId(school),
        subject=f"sub-{student_id}",
        roles=frozenset({Role.STUDENT}),
        student_id=StudentId(student_id),
    )
