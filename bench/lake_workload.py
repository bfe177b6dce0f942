"""The lake benchmark's workload: its schools, the term's writes in the order they happened, the
changes the teachers make afterwards, and the ledger of what all of it puts on the stream."""

from __future__ import annotations

import argparse
import math
import random
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from luca_grading.adapters.dynamodb_repository import evaluation_item, note_item
from luca_grading.domain.model import BehaviorKind, BehaviorNote, Evaluation
from luca_ingest.adapters.dynamodb_store import exercise_result_item
from luca_ingest.domain.events import EventKind, ExerciseResult, ExerciseSubmission, StudentEvent
from luca_kernel.grading import SCALE_BOUNDS, GradingRule, ScaleKind
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_platform.table import keys
from luca_platform.table.codec import to_wire

SUBJECTS = ("math", "language", "history", "science", "english")
COURSE_SIZE = 30
TERM_DAYS = 98  # 14 weeks, ending the day before the run
PERCENTAGE_EVERY = 12  # every 12th school grades on percentages
PROBE_PREFIX = "probe-"  # the probes' schools: probe-001, probe-002, ...
BATCH_WRITE = 25  # DynamoDB's BatchWriteItem limit
EXERCISE_TTL = timedelta(days=30)  # ExerciseResult.expires_at: graded_at + 30 days
TTL_MARGIN = timedelta(hours=2)  # no result expires during the run: none is graded this close to the edge
LAKE_TYPES = ("Evaluation", "BehaviorNote", "ExerciseResult")
KEYS_ONLY = "(keys only)"  # a stream record whose image has no type: the lake skips it as unknown


@dataclass(frozen=True)
class School:
    school_id: str
    courses: dict[str, tuple[str, ...]]  # course -> its students
    rule: GradingRule

    @property
    def students(self) -> list[tuple[str, str]]:
        return [(course, student) for course, roster in self.courses.items() for student in roster]


@dataclass(frozen=True)
class Write:
    """One request of the term load, in the order it happened."""

    at: datetime
    key: tuple[str, str]
    request: dict[str, Any]  # {"PutRequest": ...}


@dataclass(frozen=True)
class Grade:
    """The latest version of an evaluation, as the bench wrote it or asked the API to make it."""

    student: str
    subject: str
    term: str
    score: Decimal
    weight: Decimal
    version: int = 1
    retracted: bool = False


@dataclass(frozen=True)
class Step:
    """One change a teacher makes to a grade through the API: a correction (new score or weight) or
    a retraction."""

    kind: str  # correct | retract
    reason: str
    score: Decimal | None = None
    weight: Decimal | None = None


@dataclass(frozen=True)
class Change:
    """The changes to one grade, in order."""

    school_id: str
    evaluation_id: str
    student: str
    steps: tuple[Step, ...]


@dataclass
class Ledger:
    """What the bench put on the stream, to check the pipeline's and the lake's figures against."""

    changes: Counter[str] = field(default_factory=Counter)  # INSERT/MODIFY/REMOVE the bench caused
    lake_rows: int = 0  # INSERTs and MODIFYs of lake item types
    not_facts: Counter[str] = field(default_factory=Counter)  # by item type
    by_type: Counter[str] = field(default_factory=Counter)  # INSERT/MODIFY by item type
    grades: dict[tuple[str, str], Grade] = field(default_factory=dict)  # (school, evaluation id)
    expired_results: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def stream_records(self) -> int:
        with self.lock:
            return sum(self.changes.values())

    def put(self, item_type: str, new: bool) -> None:
        with self.lock:
            self.changes["INSERT" if new else "MODIFY"] += 1
            if item_type in LAKE_TYPES:
                self.lake_rows += 1
                self.by_type[item_type] += 1
            else:
                self.not_facts[item_type] += 1

    def grade(self, evaluation: Evaluation) -> None:
        with self.lock:
            self.grades[(evaluation.school_id, evaluation.evaluation_id)] = Grade(
                evaluation.student_id,
                evaluation.subject_id,
                evaluation.term_id,
                evaluation.score,
                evaluation.weight,
            )

    def changed(self, school_id: str, evaluation_id: str, step: Step) -> None:
        """A change the API made: the grade's MODIFY (a lake row), its history entry and the
        idempotency record, in one transaction."""
        self.put("Evaluation", new=False)
        self.put("EvaluationChange", new=True)
        self.put("Idempotency", new=True)
        with self.lock:
            key = (school_id, evaluation_id)
            grade = self.grades[key]
            self.grades[key] = replace(
                grade,
                score=grade.score if step.score is None else step.score,
                weight=grade.weight if step.weight is None else step.weight,
                version=grade.version + 1,
                retracted=grade.retracted or step.kind == "retract",
            )


def term_of(day: datetime) -> str:
    return f"{day.year}-T{(day.month - 1) // 3 + 1}"


def schools_of(count: int, scale: float, rng: random.Random) -> list[School]:
    """``count`` schools of uneven size (60-140 students times ``scale``) in courses of 30."""
    made = []
    for n in range(1, count + 1):
        school = f"school-{n:02d}"
        size = max(1, round(rng.randint(60, 140) * scale))
        courses: dict[str, tuple[str, ...]] = {}
        for index in range(math.ceil(size / COURSE_SIZE)):
            course = f"{index // 2 + 1}{'AB'[index % 2]}"
            first = index * COURSE_SIZE
            courses[course] = tuple(f"st-{k:04d}" for k in range(first, min(size, first + COURSE_SIZE)))
        rule = (
            GradingRule(SubjectId("*"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal("60"), decimals=0)
            if n % PERCENTAGE_EVERY == 0
            else GradingRule(SubjectId("*"))
        )
        made.append(School(school, courses, rule))
    return made


def score_on(rule: GradingRule, rng: random.Random) -> Decimal:
    if rule.scale is ScaleKind.PERCENTAGE:
        return Decimal(round(min(100.0, max(0.0, rng.gauss(72.0, 14.0)))))
    return Decimal(f"{min(7.0, max(1.0, rng.gauss(5.3, 0.9))):.1f}")


def teacher_of(school_id: str) -> str:
    """The school's teacher (one per school, assigned every course and subject): the Cognito
    username, which is the actor id the grading service records and checks."""
    return f"{school_id}-teacher"


def corrected(rule: GradingRule, score: Decimal, rng: random.Random) -> Decimal:
    low, high = SCALE_BOUNDS[rule.scale]
    step = Decimal(rng.choice((5, 10, 15))) if rule.scale is ScaleKind.PERCENTAGE else Decimal("0.5")
    moved = score + step if score + step <= high else score - step
    return max(low, min(high, moved))


def key_of(item: dict[str, Any]) -> tuple[str, str]:
    return str(item[keys.TABLE_PARTITION_KEY]), str(item[keys.TABLE_SORT_KEY])


def put(at: datetime, item: dict[str, Any]) -> Write:
    return Write(at, key_of(item), {"PutRequest": {"Item": to_wire(item)}})


def plan_term(
    schools: Sequence[School],
    start: datetime,
    end: datetime,
    now: datetime,
    opts: argparse.Namespace,
    rng: random.Random,
    ledger: Ledger,
) -> tuple[list[Write], list[Change]]:
    """Every write of the term, in the order it happened, and the ledger of what it puts on the
    stream; and the changes the teachers make to its grades afterwards, through the API."""
    writes: list[Write] = []
    changes: list[Change] = []
    more = random.Random(opts.seed + 2)  # second corrections and retractions of corrected grades
    term = TermId(term_of(end))
    span = (end - start).total_seconds()
    grades = opts.grades_per_subject
    for school in schools:
        sid = SchoolId(school.school_id)
        teacher = TeacherId(teacher_of(school.school_id))
        for course, roster in school.courses.items():
            for subject_index, subject in enumerate(SUBJECTS):
                for k in range(grades):
                    # Each evaluation is one day for the whole course, spread over the term.
                    centre = start + timedelta(seconds=span * (k + 0.5) / grades)
                    day = centre + timedelta(days=rng.uniform(-10, 10), hours=subject_index)
                    day = min(max(day, start), end - timedelta(hours=12))
                    for student in roster:
                        evaluation = Evaluation(
                            school_id=sid,
                            evaluation_id=f"ev-{course}-{subject}-{k}-{student}",
                            student_id=StudentId(student),
                            course_id=CourseId(course),
                            subject_id=SubjectId(subject),
                            term_id=term,
                            score=score_on(school.rule, rng),
                            weight=Decimal(2 if k == grades - 1 else 1),
                            teacher_id=teacher,
                            recorded_at=day + timedelta(minutes=rng.uniform(0, 540)),
                        )
                        item = evaluation_item(evaluation)
                        writes.append(put(evaluation.recorded_at, item))
                        ledger.put("Evaluation", new=True)
                        ledger.grade(evaluation)
                        steps = plan_steps(school.rule, evaluation, end, opts, rng, more)
                        if steps:
                            changes.append(Change(sid, evaluation.evaluation_id, student, steps))
        for course, student in school.students:
            for n in range(rng.choices((0, 1, 2), (0.45, 0.40, 0.15))[0]):
                note = BehaviorNote(
                    school_id=sid,
                    note_id=f"no-{student}-{n}",
                    student_id=StudentId(student),
                    course_id=CourseId(course),
                    kind=BehaviorKind.POSITIVE if rng.random() < 0.6 else BehaviorKind.NEGATIVE,
                    text="Ayudó a un compañero" if n % 2 == 0 else "Interrumpió la clase",
                    teacher_id=TeacherId(f"t-{course}-head"),
                    recorded_at=start + timedelta(seconds=rng.uniform(0, span)),
                )
                writes.append(put(note.recorded_at, note_item(note)))
                ledger.put("BehaviorNote", new=True)
            for n in range(rng.choices((0, 1, 2), (0.25, 0.50, 0.25))[0]):
                occurred = start + timedelta(seconds=rng.uniform(0, span))
                graded = occurred + timedelta(seconds=rng.uniform(1, 30))
                if abs((graded + EXERCISE_TTL) - now) < TTL_MARGIN:
                    graded -= 2 * TTL_MARGIN
                    occurred -= 2 * TTL_MARGIN
                score = score_on(school.rule, rng)
                result = ExerciseResult(
                    event=StudentEvent(
                        school_id=sid,
                        event_id=f"evt-{student}-{n}",
                        student_id=StudentId(student),
                        course_id=CourseId(course),
                        subject_id=SubjectId(rng.choice(SUBJECTS)),
                        occurred_at=occurred,
                        schema_version=1,
                        kind=EventKind.EXERCISE_SUBMISSION,
                        submission=ExerciseSubmission(exercise_id=f"ex-{rng.randint(1, 40)}", score=score),
                    ),
                    score=score,
                    passing=school.rule.is_passing(score),
                    graded_at=graded,
                )
                writes.append(put(graded, exercise_result_item(result)))
                ledger.put("ExerciseResult", new=True)
                if result.expires_at < now:
                    ledger.expired_results += 1
    writes.sort(key=lambda write: write.at)
    return writes, changes


def plan_steps(
    rule: GradingRule,
    evaluation: Evaluation,
    end: datetime,
    opts: argparse.Namespace,
    rng: random.Random,
    more: random.Random,
) -> tuple[Step, ...]:
    """What the grade's teacher changes (``rng`` draws as the term load always has, so the term's
    grades are the same whatever is changed; ``more`` draws the rest)."""
    chance = rng.random()
    if chance < opts.correction_rate:
        # A typo found a few days later (the draw that dated it is kept for the sequence's sake).
        if evaluation.recorded_at + timedelta(days=rng.uniform(1, 10)) >= end:
            return ()
        steps = [Step("correct", "typo", score=corrected(rule, evaluation.score, rng))]
        if more.random() < opts.second_correction_share:
            steps.append(Step("correct", "it was the term exam", weight=Decimal(3) - evaluation.weight))
        if more.random() < opts.retract_corrected_share:
            steps.append(Step("retract", "wrong student"))
        return tuple(steps)
    if chance < opts.correction_rate + opts.retraction_rate:
        if evaluation.recorded_at + timedelta(days=rng.uniform(0.2, 3)) >= end:
            return ()
        return (Step("retract", "entered twice"),)
    return ()


def batches(writes: Sequence[Write]) -> Iterator[list[Write]]:
    """25 a call, in order; a key already in the batch starts the next one (DynamoDB refuses both)."""
    batch: list[Write] = []
    keys: set[tuple[str, str]] = set()
    for write in writes:
        if len(batch) == BATCH_WRITE or write.key in keys:
            yield batch
            batch, keys = [], set()
        batch.append(write)
        keys.add(write.key)
    if batch:
        yield batch
