"""In-memory fakes of the service layer's ports, for unit tests (no network, no emulator)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count

from luca_grading.domain.model import Assignment, BehaviorNote, Evaluation, EvaluationChange
from luca_grading.service_layer.ports import ChangeWrite, IdempotencyRecord, RecordingContext
from luca_kernel.access import Principal, Role
from luca_kernel.grading import GradingRule
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Course, Student, Subject, Term


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
        self.terms: dict[TermId, Term] = {}
        self.assignments: dict[tuple[TeacherId, CourseId, SubjectId], Assignment] = {}
        self.history: dict[str, EvaluationChange] = {}

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

    def get_term(self, term_id: TermId) -> Term | None:
        self.calls["get_term"] += 1
        return self.terms.get(term_id)

    def put_term(self, term: Term) -> Term:
        old = self.terms.get(term.term_id)
        stored = replace(old, name=term.name) if old else term
        self.terms[term.term_id] = stored
        return stored

    def close_term(self, term_id: TermId, closed_at: datetime, closed_by: str) -> Term | None:
        term = self.terms.get(term_id)
        if term is None:
            return None
        if not term.closed:
            term = self.terms[term_id] = replace(term, closed_at=closed_at, closed_by=closed_by)
        return term

    def put_assignment(self, assignment: Assignment) -> None:
        self.assignments[(assignment.teacher_id, assignment.course_id, assignment.subject_id)] = assignment

    def delete_assignment(self, teacher_id: TeacherId, course_id: CourseId, subject_id: SubjectId) -> bool:
        return self.assignments.pop((teacher_id, course_id, subject_id), None) is not None

    def assignments_of(self, teacher_id: TeacherId) -> Sequence[Assignment]:
        self.calls["assignments_of"] += 1
        return [a for key, a in self.assignments.items() if key[0] == teacher_id]

    def _slot(self, evaluation: Evaluation) -> tuple[StudentId, TermId, SubjectId, str]:
        # Where the table keeps a grade: the student's partition, its term, subject and id.
        return (evaluation.student_id, evaluation.term_id, evaluation.subject_id, evaluation.evaluation_id)

    def add_evaluation(self, evaluation: Evaluation) -> Evaluation | None:
        self.calls["add_evaluation"] += 1
        stored = self.get_recorded(evaluation, count=False)
        if stored is not None:
            return stored
        self.evaluations[evaluation.evaluation_id] = evaluation
        self.calls["writes"] += 1
        return None

    def get_recorded(self, evaluation: Evaluation, count: bool = True) -> Evaluation | None:
        if count:
            self.calls["get_recorded"] += 1
        found = self.evaluations.get(evaluation.evaluation_id)
        return found if found is not None and self._slot(found) == self._slot(evaluation) else None

    def course_student_ids(self, course_id: CourseId) -> Sequence[StudentId]:
        self.calls["course_student_ids"] += 1
        return [s.student_id for s in self.students.values() if s.course_id == course_id]

    def find_evaluation(self, student_id: StudentId, evaluation_id: str) -> Evaluation | None:
        return self.get_evaluation(student_id, evaluation_id)

    def change_evaluation(self, changed: Evaluation, change: EvaluationChange) -> ChangeWrite:
        self.calls["change_evaluation"] += 1
        current = self.evaluations.get(changed.evaluation_id)
        ref = f"EVALHIST#{change.evaluation_id}#{change.version:06d}"
        taken = self.history.get(ref)
        if current is None or current.version != changed.version - 1 or taken is not None:
            return ChangeWrite(written=False, stale=True, entry=taken)
        self.history[ref] = change
        self.evaluations[changed.evaluation_id] = changed
        self.calls["writes"] += 1
        return ChangeWrite(written=True)

    def get_change_at(
        self, student_id: StudentId, evaluation_id: str, version: int
    ) -> EvaluationChange | None:
        self.calls["get_change_at"] += 1
        found = self.history.get(f"EVALHIST#{evaluation_id}#{version:06d}")
        return found if found and found.student_id == student_id else None

    def evaluation_history(self, student_id: StudentId, evaluation_id: str) -> Sequence[EvaluationChange]:
        return [
            c
            for _, c in sorted(self.history.items())
            if c.evaluation_id == evaluation_id and c.student_id == student_id
        ]

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
        terms: Sequence[str] = ("2026-T1", "2025-T1"),
        teachers: Sequence[str] = ("t-1", "t-2"),
    ) -> FakeSchoolRepository:
        """A course with its subjects, students and open terms; each teacher teaches every subject."""
        repo = self.for_school(SchoolId(school_id))
        repo.put_course(Course(SchoolId(school_id), CourseId(course), f"Course {course}"))
        for subject in subjects:
            repo.put_subject(Subject(SchoolId(school_id), SubjectId(subject), subject.title()))
        for student in students:
            repo.put_student(
                Student(SchoolId(school_id), StudentId(student), CourseId(course), f"Student {student}")
            )
        for term in terms:
            repo.put_term(Term(SchoolId(school_id), TermId(term), f"Term {term}"))
        for name in teachers:
            for subject in subjects:
                repo.put_assignment(
                    Assignment(
                        SchoolId(school_id),
                        TeacherId(name),
                        CourseId(course),
                        SubjectId(subject),
                        datetime(2026, 3, 1, tzinfo=UTC),
                        "admin",
                    )
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
