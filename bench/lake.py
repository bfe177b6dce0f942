"""Lake benchmark: a school term through the table's stream into the Parquet lake, and back out.

A command, not a test (``make bench-lake``). It runs as the platform does: ``LocalPlatform`` in this
process (the embedded emulator, the platform's table with stream and TTL on, and ``LocalLake``: the
stream poller feeding ``LakePipeline``, and the TTL reaper), with the platform's own settings
(buffer 1 MiB / 5 s, poll 0.5 s, reaper every 30 s), its grading service and gateway in processes of
their own; the bulk writers in processes of their own too. The term's items are what production
writes, made by the grading service's adapter (``DynamoSchoolRepository``, ``evaluation_item``,
``note_item``) and the grade processor's (``exercise_result_item``); grades are changed the only way
they can be: through the REST API.

The workload (``--scale 0.75``, the default: about 1,700 students, 30,000 stream records): 24
schools of 45-105 students (two grade in percentages, by their rule in the table), five subjects,
three evaluations per course and subject over a 14-week term ending yesterday (the last weighs
double), behavior notes, and practice exercise results from the burst path; each school's teacher
(a Cognito user) is assigned its courses and subjects, and the term exists. Then each school's
teacher changes grades through the gateway with a real token, as the app does (read the grade and
its ETag, ``PATCH`` with ``If-Match`` and an ``Idempotency-Key``, ``POST .../retraction``): 3% of
grades are corrected (a quarter of those twice, the second time their weight; a tenth of them then
retracted) and 0.3% retracted (entered twice). Each change is a MODIFY of the grade (its next
version), a history item and an idempotency record; a stale ``If-Match`` (412), a missing one (428)
and a replayed key are tried too and must write nothing. The exercise results graded more than 30
days ago have expired, so the reaper deletes them (REMOVEs). A REMOVE must never land in the lake.

The default size keeps the run within a few minutes on 2 cores; the emulator's stream reads set the
pace. The reaper finds expired items from a schedule the stream feeds it; a full scan of the final
table is timed as the baseline (on the emulator it grows faster than the table).

1. Roster: courses, subjects, rules and students through the repository (one put each).
2. Term load: the term's writes in the order they happened, 25 a BatchWriteItem (the items the
   repository and the processor write; the bulk load leaves out the interactive path's idempotency
   records, which would double the stream for items the lake skips anyway), as fast as the
   emulator takes them (``--write-rate`` paces them). The poller reads while they are written: on
   this engine the term is a backfill, and its freshness is the backlog's.
3. Changes: the corrections and retractions through the REST API (``--api-workers`` teachers at a
   time), once the backlog is drained: their freshness is the pipeline's at a teacher's pace.
4. Steady: grades and notes recorded through the repository as the grading service records them
   (each with its idempotency record), ``--live-rate`` a second for ``--live-seconds``: freshness
   while the pipeline keeps up.

During 2 to 4 a prober records a grade through the repository every ``--probe-every`` seconds,
each in a school of its own (``probe-NNN``), and queries that school through ``DuckDbLake`` every
``--probe-poll`` seconds until the answer holds it: change -> queryable, measured from outside the
pipeline. Every row's freshness is also read back from the lake (its file's write time, in the
file's name, minus the row's ``changed_at``), next to the pipeline's own percentiles.

Then the lake is stopped (flushing its buffer) and read: files, bytes, files per partition, the
small-file picture (the probes' schools left out); every row checked (no REMOVE landed, no two
rows of a record with the same version, rows = the pipeline's rows out; how many of a record's
versions were created in the same second, so that AWS's ``changed_at`` cannot order them). For one
school (the largest) each report runs through ``Reports`` over ``DuckDbLake`` (files and bytes read
from its ``ScanStatistics``) and is timed against a whole-lake scan of the same SQL and parameters
(every file handed to DuckDB as one stream of record batches, so nothing can be pruned: what the
query costs without partitions). Last, the cross-check: every school's per-student and per-subject
averages from the lake's reports against those computed from the table (its grades as they stand,
read on the school-term index as the government sync reads them: current versions, retracted ones
left out), the subject averages also against the records the bench asked for, and the table
against what the bench asked the API to do.

It writes ``bench/out/lake.json`` and ``bench/out/lake.png`` and exits non-zero when a REMOVE
landed, a row is missing or extra, two rows of a version tie, an API call answered otherwise than
expected, or an answer differs.

    make bench-lake
    python -m bench.lake [--scale 0.75] [--schools 24] [--write-rate 0] [--live-seconds 45]
        [--live-rate 10] [--probe-every 5] [--repeat 3] [--baseline-repeat 1] [--api-workers 4] ...
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import duckdb
import httpx
import jwt
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from luca_analytics.adapters import report_sql
from luca_analytics.adapters.duckdb_lake import DuckDbLake, lake_schema
from luca_analytics.adapters.lake_schema import LAKE_PREFIX, partition_schema
from luca_analytics.adapters.school_data import DynamoRoster
from luca_analytics.domain.lake import student_key
from luca_analytics.service_layer.reports import (
    DEFAULT_BUCKET_WIDTH,
    NO_LOWER_MONTH,
    NO_UPPER_MONTH,
    ReportName,
    Reports,
)
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory, evaluation_item, note_item
from luca_grading.domain.model import Assignment, BehaviorKind, BehaviorNote, Evaluation
from luca_grading.service_layer.ports import IdempotencyRecord, Preconditions
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.demo import DemoIdentities
from luca_infra.local.lake import LocalLake, lake_partitions, local_pseudonym_key
from luca_infra.local.platform import LocalPlatform, PlatformConfig
from luca_infra.local.provision import ProvisionedResources
from luca_ingest.adapters.dynamodb_store import exercise_result_item
from luca_ingest.domain.events import EventKind, ExerciseResult, ExerciseSubmission, StudentEvent
from luca_kernel.access import Principal, Role
from luca_kernel.grading import SCALE_BOUNDS, GradingRule, ScaleKind
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Course, Student, Subject, Term
from luca_kernel.rule_cache import RuleCache
from luca_platform.aws import AwsClients
from luca_platform.contracts import grades as grades_contract
from luca_platform.contracts.rules import TableRules
from luca_platform.table import keys
from luca_platform.table.codec import from_wire, to_wire

OUT = Path(__file__).resolve().parent / "out"
SUBJECTS = ("math", "language", "history", "science", "english")
COURSE_SIZE = 30
TERM_DAYS = 98  # 14 weeks, ending the day before the run
PERCENTAGE_EVERY = 12  # every 12th school grades on percentages
PROBE_PREFIX = "probe-"  # the probes' schools: probe-001, probe-002, ...
BATCH_WRITE = 25  # DynamoDB's BatchWriteItem limit
ROSTER_WORKERS = 4
EXERCISE_TTL = timedelta(days=30)  # ExerciseResult.expires_at: graded_at + 30 days
TTL_MARGIN = timedelta(hours=2)  # no result expires during the run: none is graded this close to the edge
LAKE_TYPES = ("Evaluation", "BehaviorNote", "ExerciseResult")
KEYS_ONLY = "(keys only)"  # a stream record whose image has no type: the lake skips it as unknown
REPORTS = (
    ReportName.SUBJECT_AVERAGES,
    ReportName.STUDENT_AVERAGES,
    ReportName.BEHAVIOR_TREND,
    ReportName.GRADE_DISTRIBUTION,
)
# The lake query each ``Reports`` use case runs.
USE_CASES: dict[str, str] = {
    ReportName.SUBJECT_AVERAGES: "subject_averages",
    ReportName.STUDENT_AVERAGES: "students_below_passing",
    ReportName.BEHAVIOR_TREND: "behavior_trend",
    ReportName.GRADE_DISTRIBUTION: "grade_distribution",
}
console = Console(highlight=False)


# -- the workload ------------------------------------------------------------------------------------
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


# -- the platform parts ------------------------------------------------------------------------------
@dataclass
class Bench:
    platform: LocalPlatform
    resources: ProvisionedResources
    lake: LocalLake
    clients: AwsClients
    repositories: DynamoRepositoryFactory
    s3: Any
    filesystem: pafs.S3FileSystem
    duck: DuckDbLake

    @property
    def root(self) -> str:
        return f"{self.lake.bucket}/{LAKE_PREFIX}"

    def records_read(self) -> int:
        """Stream records the poller has read so far."""
        assert self.lake.poller is not None
        return self.lake.poller.counters.records_read


def plan_roster(schools: Sequence[School], ledger: Ledger) -> None:
    """What enrolling the schools puts on the stream: one INSERT per put, none of them lake facts."""
    for school in schools:
        # The repository creates a term with an UpdateItem (a rename must never reopen it), which
        # this emulator streams as two INSERTs: the key alone, then the item (AWS streams one).
        ledger.put(KEYS_ONLY, new=True)
        ledger.put("Term", new=True)
        for _ in SUBJECTS:
            ledger.put("Subject", new=True)
        for _ in school.courses:
            ledger.put("Course", new=True)
            for _ in SUBJECTS:
                ledger.put("Assignment", new=True)
        if school.rule.scale is ScaleKind.PERCENTAGE:
            ledger.put("GradingRule", new=True)
        for _ in school.students:
            ledger.put("Student", new=True)


def write_roster(
    endpoint_url: str,
    region: str,
    table: str,
    tenant_role_arn: str,
    schools: list[School],
    term: str,
    done: Any,
) -> None:
    """The roster process: each school's term, catalog, rule, students and its teacher's assignments
    through the grading service's repository, on the school's own scoped client (``plan_roster``
    counts what this writes)."""
    clients = AwsClients(region=region, endpoint_url=endpoint_url, tenant_role_arn=tenant_role_arn)
    repositories = DynamoRepositoryFactory(clients=clients, table_name=table)
    now = datetime.now(UTC)

    def enrol(school: School) -> None:
        sid = SchoolId(school.school_id)
        repository = repositories.for_school(sid)
        repository.put_term(Term(sid, TermId(term), f"Term {term}"))
        for subject in SUBJECTS:
            repository.put_subject(Subject(sid, SubjectId(subject), subject.title()))
        for course in school.courses:
            repository.put_course(Course(sid, CourseId(course), f"Curso {course}"))
            for subject in SUBJECTS:
                assignment = Assignment(
                    sid, TeacherId(teacher_of(school.school_id)), CourseId(course), SubjectId(subject),
                    assigned_at=now, assigned_by="bench-admin",
                )  # fmt: skip
                repository.put_assignment(assignment)
        if school.rule.scale is ScaleKind.PERCENTAGE:
            repository.put_rule(school.rule)
        for course, student in school.students:
            repository.put_student(
                Student(sid, StudentId(student), CourseId(course), f"Estudiante {student}")
            )
            with done.get_lock():
                done.value += 1

    with ThreadPoolExecutor(max_workers=ROSTER_WORKERS) as pool:
        list(pool.map(enrol, schools))


def write_batches(
    endpoint_url: str,
    region: str,
    table: str,
    requests: list[list[dict[str, Any]]],
    rate: float,
    done: Any,
) -> None:
    """The term writer process: each batch in order, ``rate`` writes a second at most (0: unpaced)."""
    client = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url)
    started = time.monotonic()
    for batch in requests:
        if rate:
            time.sleep(max(0.0, started + done.value / rate - time.monotonic()))
        pending: list[Any] = batch
        while pending:
            answer = client.batch_write_item(RequestItems={table: pending})
            pending = list(answer.get("UnprocessedItems", {}).get(table, []))
        with done.get_lock():
            done.value += len(batch)


def in_writer(
    bench: Bench,
    target: Callable[..., None],
    args: tuple[Any, ...],
    progress: Progress,
    task: TaskID,
    stream_task: TaskID | None = None,
) -> float:
    """``target(*args, done)`` in a process of its own, its progress shown from ``done``: the
    grading service and the processor are other processes on the platform too, so the writers'
    client work does not compete with the poller for this interpreter's lock. Its wall time."""
    context = multiprocessing.get_context("spawn")
    done = context.Value("q", 0)
    writer = context.Process(target=target, args=(*args, done), name="lake-bench-writer")
    started = time.monotonic()
    writer.start()
    while writer.is_alive():
        progress.update(task, completed=done.value)
        if stream_task is not None:
            progress.update(stream_task, completed=bench.records_read())
        writer.join(0.5)
    if writer.exitcode != 0:
        raise SystemExit(f"the writer process failed (exit code {writer.exitcode})")
    progress.update(task, completed=done.value)
    return time.monotonic() - started


# -- probes ----------------------------------------------------------------------------------------
@dataclass
class ProbeSample:
    number: int
    phase: str
    seconds: float
    polls: int


class Prober:
    """Every ``every`` seconds (give or take half) records a grade through the repository in a school
    of its own (``probe-NNN``: one file to read, so polling costs the emulator little), and queries
    that school through ``DuckDbLake`` every ``poll`` seconds until the answer holds it: change ->
    queryable, measured from outside the pipeline. Writing and polling are separate threads, so a
    slow poll does not delay the next probe. Only the oldest probe is polled until it shows (the
    stream is read in order, so a later one cannot be written first); then the next ones."""

    def __init__(
        self, repositories: DynamoRepositoryFactory, lake: DuckDbLake, term: str, every: float, poll: float
    ) -> None:
        self._repositories, self._lake, self._term = repositories, lake, term
        self._every, self._poll = every, poll
        self.phase = "load"
        self.samples: list[ProbeSample] = []
        self.poll_seconds: dict[str, list[float]] = {"load": [], "changes": [], "steady": []}
        self.written = 0
        self.students = 0  # each probe school's student, written before its grade
        self.errors = 0
        self._outstanding: dict[int, tuple[float, str, int]] = {}  # number -> (written at, phase, polls)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_writing = threading.Event()
        self._threads = [
            threading.Thread(target=self._write_loop, name="lake-probe-writer", daemon=True),
            threading.Thread(target=self._poll_loop, name="lake-probe-poller", daemon=True),
        ]
        self._rng = random.Random(99)

    @staticmethod
    def school(number: int) -> str:
        return f"{PROBE_PREFIX}{number:03d}"

    @property
    def stream_records(self) -> int:
        """What the probes put on the stream: a student, then a grade and its idempotency record."""
        return self.students + 2 * self.written

    def start(self) -> Prober:
        for thread in self._threads:
            thread.start()
        return self

    def stop_writing(self) -> None:
        self._stop_writing.set()
        self._threads[0].join(30)

    def stop(self, timeout: float) -> None:
        """Stop probing once the outstanding probes are back (or ``timeout`` has passed)."""
        self.stop_writing()
        deadline = time.monotonic() + timeout
        while self._outstanding and time.monotonic() < deadline:
            time.sleep(0.1)
        self._stop.set()
        self._threads[1].join(10)

    def _write_loop(self) -> None:
        # A random first offset and jittered gaps, so the probes fall anywhere in the buffer's interval.
        while not self._stop_writing.wait(self._every * self._rng.uniform(0.5, 1.5)):
            self._write()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self._poll):
            self._check()

    def _write(self) -> None:
        number = self.written + 1
        school = SchoolId(self.school(number))
        evaluation = Evaluation(
            school_id=school,
            evaluation_id=f"probe-{number:03d}",
            student_id=StudentId("st-probe"),
            course_id=CourseId("1A"),
            subject_id=SubjectId("math"),
            term_id=TermId(self._term),
            score=Decimal("4.0"),
            weight=Decimal("1"),
            teacher_id=TeacherId("t-probe"),
            recorded_at=datetime.now(UTC),
        )
        record = IdempotencyRecord(
            scope="evaluation", key=f"probe-{number}", fingerprint="probe", result_ref=""
        )
        repository = self._repositories.for_school(school)  # its scoped client, made before the clock starts
        phase = self.phase
        try:
            # The school's one student: recording checks the enrolment in the same write.
            repository.put_student(Student(school, StudentId("st-probe"), CourseId("1A"), "Probe"))
            self.students += 1
            written_at = time.monotonic()
            if not repository.add_evaluation_checked(
                evaluation, record, Preconditions(StudentId("st-probe"), CourseId("1A"))
            ).written:
                raise RuntimeError("the probe's grade was not written")
        except Exception:
            self.errors += 1
            return
        with self._lock:
            self.written = number
            self._outstanding[number] = (written_at, phase, 0)

    def _check(self) -> None:
        with self._lock:
            numbers = sorted(self._outstanding)
        for number in numbers:
            written_at, phase, polls = self._outstanding[number]
            began = time.monotonic()
            try:
                rows = self._lake.query(self.school(number), ReportName.SUBJECT_AVERAGES, {"term_id": ""})
            except Exception:
                self.errors += 1
                return
            returned = time.monotonic()
            self.poll_seconds[phase].append(returned - began)
            with self._lock:
                if not rows:
                    self._outstanding[number] = (written_at, phase, polls + 1)
                    return
                self.samples.append(ProbeSample(number, phase, returned - written_at, polls + 1))
                del self._outstanding[number]


# -- changes through the API ------------------------------------------------------------------------
@dataclass
class ApiFigures:
    """What the teachers' changes cost and how the API answered."""

    answers: Counter[str] = field(default_factory=Counter)  # "PATCH 200", ...
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # by operation
    corrections: int = 0
    second_corrections: int = 0
    retractions: int = 0
    stale_refused: int = 0  # 412 for an If-Match naming a version no longer current
    unconditional_refused: int = 0  # 428 without If-Match
    replays_same: int = 0  # a retried key answered the same, writing nothing
    checked: int = 0  # grades on which those three were tried
    unexpected: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def teacher_tokens(platform: LocalPlatform, schools: Sequence[School]) -> dict[str, str]:
    """Each school's teacher as a Cognito user of the platform's pool, signed in: its ID token. The
    token's ``cognito:username`` is the actor id the service checks against the grades' teacher."""
    resources = platform.resources
    identities = DemoIdentities(
        cognito=platform.cognito(),
        user_pool_id=resources.user_pool_id,
        client_id=resources.user_pool_client_id,
        pool=PLATFORM_DEFINITION.user_pool,
    )
    tokens: dict[str, str] = {}
    for school in schools:
        username = identities.create_user(school.school_id, "teacher", teacher_of(school.school_id))
        token = identities.id_token(username)
        claims = jwt.decode(token, options={"verify_signature": False})
        if claims.get("cognito:username", claims.get("sub")) != teacher_of(school.school_id):
            raise SystemExit(f"the teacher token of {school.school_id} names another user: {claims}")
        tokens[school.school_id] = token
    return tokens


def apply_changes(
    gateway_url: str,
    tokens: dict[str, str],
    changes: Sequence[Change],
    ledger: Ledger,
    workers: int,
    progress: Progress,
    task: TaskID,
) -> ApiFigures:
    """Each school's changes by its teacher, through the gateway (``workers`` teachers at a time)."""
    figures = ApiFigures()
    by_school: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        by_school[change.school_id].append(change)

    def teacher(school_id: str) -> None:
        headers = {"Authorization": f"Bearer {tokens[school_id]}"}
        checked = False
        with httpx.Client(base_url=gateway_url, headers=headers, timeout=30, trust_env=False) as client:
            for change in by_school[school_id]:
                # The conditions are tried once a school, on a grade that is corrected first.
                conditions = not checked and change.steps[0].kind == "correct"
                checked = checked or conditions
                change_grade(client, change, ledger, figures, try_conditions=conditions)
                progress.advance(task)

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(teacher, sorted(by_school)))
    figures.wall_seconds = time.monotonic() - began
    return figures


def call(
    client: httpx.Client, figures: ApiFigures, operation: str, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    began = time.perf_counter()
    response = client.request(method, path, **kwargs)
    with figures.lock:
        figures.seconds[operation].append(time.perf_counter() - began)
        figures.answers[f"{method} {response.status_code}"] += 1
    return response


def change_grade(
    client: httpx.Client, change: Change, ledger: Ledger, figures: ApiFigures, *, try_conditions: bool
) -> None:
    """Read the grade (its ETag), then each step with If-Match and a fresh Idempotency-Key. With
    ``try_conditions`` (a grade whose first step is a correction) also the first step without
    If-Match (428), a change naming the version it replaced (412) and, last, the first step again
    with its key (the first answer): none of them may write anything."""
    path = f"/v1/students/{change.student}/evaluations/{change.evaluation_id}"

    def unexpected(what: str, response: httpx.Response) -> None:
        with figures.lock:
            figures.unexpected.append(
                f"{change.school_id} {change.evaluation_id} {what}: {response.status_code}"
            )

    def request(step: Step, headers: dict[str, str], operation: str = "") -> httpx.Response:
        method, target = ("POST", f"{path}/retraction") if step.kind == "retract" else ("PATCH", path)
        return call(client, figures, operation or step.kind, method, target, headers=headers, json=body(step))

    read = call(client, figures, "read", "GET", path)
    asked = ledger.grades[(change.school_id, change.evaluation_id)]
    if read.status_code != 200 or (read.json()["version"], Decimal(read.json()["score"])) != (1, asked.score):
        unexpected("read", read)
        return
    etag = read.headers["ETag"]
    first: tuple[Step, dict[str, str], dict[str, Any]] | None = None
    for number, step in enumerate(change.steps):
        headers = {"If-Match": etag, "Idempotency-Key": key()}
        if try_conditions and number == 0:
            bare = request(step, {"Idempotency-Key": key()}, "refused")
            with figures.lock:
                figures.unconditional_refused += bare.status_code == 428
        response = request(step, headers)
        if response.status_code != 200:
            unexpected(step.kind, response)
            return
        ledger.changed(change.school_id, change.evaluation_id, step)
        expected = ledger.grades[(change.school_id, change.evaluation_id)]
        answer = response.json()
        if values(answer) != (expected.version, expected.retracted, expected.score, expected.weight):
            unexpected(f"{step.kind} answered {answer}", response)
        etag = response.headers["ETag"]
        with figures.lock:
            if step.kind == "retract":
                figures.retractions += 1
            else:
                figures.corrections += 1
                figures.second_corrections += number > 0
        if try_conditions and number == 0:
            first = (step, headers, answer)
            stale = request(step, {"If-Match": read.headers["ETag"], "Idempotency-Key": key()}, "refused")
            with figures.lock:
                figures.stale_refused += stale.status_code == 412
    if first is not None:
        step, headers, answer = first
        replay = request(step, headers, "replay")
        with figures.lock:
            figures.checked += 1
            figures.replays_same += replay.status_code == 200 and values(replay.json()) == values(answer)


def values(answer: dict[str, Any]) -> tuple[Any, ...]:
    return answer["version"], answer["retracted"], Decimal(answer["score"]), Decimal(answer["weight"])


def key() -> str:
    return f"lake-bench-{uuid.uuid4().hex}"


def body(step: Step) -> dict[str, str]:
    found = {"reason": step.reason}
    if step.score is not None:
        found["score"] = str(step.score)
    if step.weight is not None:
        found["weight"] = str(step.weight)
    return found


# -- the steady phase --------------------------------------------------------------------------------
def record_live(
    bench: Bench,
    schools: Sequence[School],
    term: str,
    seconds: float,
    rate: float,
    ledger: Ledger,
    rng: random.Random,
    progress: Progress,
    task: TaskID,
) -> int:
    """Grades (and a few notes) recorded as the grading service records them, ``rate`` a second."""
    started = time.monotonic()
    made = 0
    while (elapsed := time.monotonic() - started) < seconds:
        if made >= elapsed * rate:
            time.sleep(min(0.05, 1 / rate))
            continue
        school = rng.choice(schools)
        sid = SchoolId(school.school_id)
        course, student = rng.choice(school.students)
        repository = bench.repositories.for_school(sid)
        now = datetime.now(UTC)
        if rng.random() < 0.85:
            evaluation = Evaluation(
                school_id=sid,
                evaluation_id=f"live-{made:05d}",
                student_id=StudentId(student),
                course_id=CourseId(course),
                subject_id=SubjectId(rng.choice(SUBJECTS)),
                term_id=TermId(term),
                score=score_on(school.rule, rng),
                weight=Decimal("1"),
                teacher_id=TeacherId(teacher_of(school.school_id)),
                recorded_at=now,
            )
            record = IdempotencyRecord("evaluation", f"live-{made}", "live", "")
            checks = Preconditions(StudentId(student), CourseId(course))
            if repository.add_evaluation_checked(evaluation, record, checks).written:
                ledger.put("Idempotency", new=True)
                ledger.put("Evaluation", new=True)
                ledger.grade(evaluation)
        else:
            note = BehaviorNote(
                school_id=sid,
                note_id=f"live-{made:05d}",
                student_id=StudentId(student),
                course_id=CourseId(course),
                kind=BehaviorKind.POSITIVE,
                text="Participó en clase",
                teacher_id=TeacherId(teacher_of(school.school_id)),
                recorded_at=now,
            )
            if repository.add_behavior_note(note, IdempotencyRecord("note", f"live-{made}", "live", "")):
                ledger.put("Idempotency", new=True)
                ledger.put("BehaviorNote", new=True)
        made += 1
        progress.update(task, completed=min(seconds, time.monotonic() - started))
    return made


def wait_drained(
    bench: Bench,
    expected: Callable[[], int],
    timeout: float,
    progress: Progress,
    task: TaskID,
    *,
    flushed: bool = True,
) -> float:
    """Until the poller has read every record expected (and, with ``flushed``, the pipeline has
    written them all: with probes still coming the buffer is seldom empty, so the first drain does
    not wait for that)."""
    assert bench.lake.pipeline is not None
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        read = bench.records_read()
        progress.update(task, completed=read, total=max(expected(), read))
        if read >= expected() and (not flushed or bench.lake.pipeline.buffered_rows == 0):
            return time.monotonic() - started
        time.sleep(0.25)
    raise SystemExit(
        f"the stream was not drained in {timeout:.0f} s: read {bench.records_read()} of {expected()}"
    )


def settled(bench: Bench, quiet_seconds: float = 2.0, timeout: float = 60.0) -> int:
    """The stream records read once the poller has read nothing new for ``quiet_seconds``."""
    deadline = time.monotonic() + timeout
    read = bench.records_read()
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < quiet_seconds:
        time.sleep(0.25)
        if (now := bench.records_read()) != read:
            read, quiet_since = now, time.monotonic()
    return read


def wait_reaped(bench: Bench, expected: int, timeout: float) -> None:
    """Until the reaper (on its own interval, as the platform runs it) has deleted every expired result."""
    assert bench.lake.reaper is not None
    deadline = time.monotonic() + timeout
    while bench.lake.reaper.deleted < expected and time.monotonic() < deadline:
        time.sleep(0.5)


# -- reading the lake back ---------------------------------------------------------------------------
def percentiles(samples: Iterable[float]) -> dict[str, float]:
    """p50/p95/max as ``LakePipeline.freshness_percentiles`` takes them (nearest rank)."""
    ordered = sorted(samples)
    if not ordered:
        return {}

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "p50": round(at(0.50), 3),
        "p95": round(at(0.95), 3),
        "max": round(ordered[-1], 3),
        "count": len(ordered),
    }


def file_stamp(path: str) -> datetime:
    """When the sink wrote the file: ``part-<%Y%m%dT%H%M%S%fZ>-<uuid>.parquet``."""
    stamp = path.rsplit("/", 1)[-1].split("-")[1]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


@dataclass
class LakeRead:
    rows: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    item_types: Counter[str] = field(default_factory=Counter)
    ages: list[tuple[datetime, float]] = field(default_factory=list)  # (changed_at, seconds to its file)
    rows_per_file: list[int] = field(default_factory=list)
    version_ties: int = 0  # two rows of one record and version: must not happen here
    same_second_versions: int = 0  # later versions created in the same second as an earlier one
    later_versions: int = 0
    tombstones: int = 0
    change_ages: list[float] = field(default_factory=list)  # the later versions' ages at their file
    records: int = 0
    seconds: float = 0.0


def is_probe(key: str) -> bool:
    return f"school_id={PROBE_PREFIX}" in key


def read_lake(bench: Bench) -> LakeRead:
    """Every file of the lake (one GET each): rows, changes, item types, each row's age when its file
    was written, the rows per file of the schools' files (the probes' left out), whether two rows of
    a record share a version (the reports' ``ROW_NUMBER`` would then fall back to the stream order),
    and how many later versions were created in the same second as an earlier one (in AWS their
    ``changed_at`` would tie, which is why it cannot order them)."""
    started = time.monotonic()
    bucket = bench.lake.bucket
    keys = [
        item["Key"]
        for page in bench.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{LAKE_PREFIX}/"
        )
        for item in page.get("Contents", [])
        if item["Key"].endswith(".parquet")
    ]

    def one(key: str) -> tuple[str, list[dict[str, Any]]]:
        body = bench.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        columns = ["record_id", "change", "changed_at", "item_type", "version", "retracted"]
        table = pq.read_table(pa.BufferReader(body), columns=columns)
        return key, table.to_pylist()

    read = LakeRead()
    versions: dict[tuple[str, str], list[tuple[int, datetime]]] = defaultdict(list)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for key, rows in pool.map(one, keys):
            written = file_stamp(key)
            school = key.split("school_id=", 1)[1].split("/", 1)[0]
            if not is_probe(key):
                read.rows_per_file.append(len(rows))
            for row in rows:
                read.rows += 1
                read.changes[row["change"]] += 1
                read.item_types[row["item_type"]] += 1
                age = (written - row["changed_at"]).total_seconds()
                read.ages.append((row["changed_at"], age))
                versions[(school, row["record_id"])].append((row["version"], row["changed_at"]))
                if row["version"] > 1:
                    read.later_versions += 1
                    read.change_ages.append(age)
                read.tombstones += bool(row["retracted"])
    read.records = len(versions)
    for states in versions.values():
        read.version_ties += len(states) - len({version for version, _ in states})
        # AWS gives a stream record's creation time in whole seconds (this emulator: microseconds).
        read.same_second_versions += len(states) - len({stamp.replace(microsecond=0) for _, stamp in states})
    read.seconds = time.monotonic() - started
    return read


# -- queries -----------------------------------------------------------------------------------------
def report_params(name: str, term: str, rule: GradingRule) -> dict[str, Any]:
    """The parameters ``Reports`` hands the lake for the school's whole term (no subject filter)."""
    if name == ReportName.SUBJECT_AVERAGES:
        return {"term_id": term}
    if name == ReportName.STUDENT_AVERAGES:
        return {"term_id": term, "subject_id": ""}
    if name == ReportName.BEHAVIOR_TREND:
        return {"from_month": NO_LOWER_MONTH, "to_month": NO_UPPER_MONTH}
    return {
        "term_id": term,
        "subject_id": "",
        "low": float(SCALE_BOUNDS[rule.scale][0]),
        "width": DEFAULT_BUCKET_WIDTH[rule.scale],
    }


def whole_lake_query(
    bench: Bench, school_id: str, name: str, params: dict[str, Any]
) -> tuple[list[tuple[Any, ...]], int, int]:
    """The baseline: the same SQL and parameters over every file of the lake (the schools'; the
    probes' one-file schools left out), handed to DuckDB as one stream of record batches so that
    nothing is pruned (the cost of the query without partitions). Listing included, as ``DuckDbLake``
    lists the school's prefix. Rows, files, bytes."""
    report = report_sql.query(name)
    values = [school_id if p == report_sql.SCHOOL_PARAMETER else params[p] for p in report.params]
    infos = [
        info
        for info in bench.filesystem.get_file_info(pafs.FileSelector(bench.root, recursive=True))
        if info.is_file and info.path.endswith(".parquet") and not is_probe(info.path)
    ]
    dataset = ds.dataset(
        [info.path for info in infos],
        schema=lake_schema(),
        format="parquet",
        filesystem=bench.filesystem,
        partitioning=ds.partitioning(partition_schema(), flavor="hive"),
        partition_base_dir=bench.root,
    )
    connection = duckdb.connect(
        config={
            "threads": 2,
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    try:
        connection.register(report_sql.LAKE_TABLE, dataset.scanner().to_reader())
        rows = connection.execute(report.sql(), values).fetchall()
    finally:
        connection.close()
    return rows, len(infos), sum(info.size or 0 for info in infos)


def same_rows(left: Sequence[tuple[Any, ...]], right: Sequence[tuple[Any, ...]]) -> bool:
    """The same answer; doubles to 1e-9 (parallel sums add in any order)."""
    if len(left) != len(right):
        return False
    for one, other in zip(left, right, strict=True):
        if len(one) != len(other):
            return False
        for a, b in zip(one, other, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
                    return False
            elif a != b:
                return False
    return True


def timed(call: Callable[[], Any], repeat: int) -> tuple[Any, list[float]]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - began)
    return result, times


def make_reports(bench: Bench, key: bytes) -> Reports:
    """The analytics service's use cases as its composition root builds them, over ``DuckDbLake``."""
    return Reports(
        lake=bench.duck,
        rules=TableRules(bench.clients, bench.resources.table_name, RuleCache(ttl_seconds=300)),
        roster=DynamoRoster(bench.clients, bench.resources.table_name),
        pseudonym_key=key,
    )


def admin_of(school_id: str) -> Principal:
    return Principal(SchoolId(school_id), "bench-admin", frozenset({Role.ADMIN}))


def run_reports(bench: Bench, school: School, term: str, key: bytes) -> dict[str, dict[str, Any]]:
    """Each report for the school through ``Reports``: its answer's size and what the lake read
    (``DuckDbLake``'s ``ScanStatistics``)."""
    reports = make_reports(bench, key)
    principal = admin_of(school.school_id)
    calls: dict[str, Callable[[], Sequence[Any]]] = {
        ReportName.SUBJECT_AVERAGES: lambda: reports.subject_averages(principal, term_id=term),
        ReportName.STUDENT_AVERAGES: lambda: reports.students_below_passing(principal, term_id=term),
        ReportName.BEHAVIOR_TREND: lambda: reports.behavior_trend(principal),
        ReportName.GRADE_DISTRIBUTION: lambda: reports.grade_distribution(principal, term_id=term),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, call in calls.items():
        began = time.perf_counter()
        answer = call()
        seconds = time.perf_counter() - began
        scanned = bench.duck.last_statistics
        assert scanned is not None
        assert scanned.school_id == school.school_id
        out[name] = {
            "use_case": USE_CASES[name],
            "answer_rows": len(answer),
            "files_read": scanned.file_count,
            "bytes_read": scanned.bytes_read,
            "foreign_files": sum(f"school_id={school.school_id}/" not in path for path in scanned.files_read),
            "use_case_seconds": round(seconds, 4),
        }
    return out


Averages = dict[str, tuple[float, int]]  # group -> (weighted average, grades)


def averaged(grades: Iterable[tuple[str, Decimal, Decimal]]) -> Averages:
    """Weighted averages of (group, score, weight), exactly (Decimals), and how many grades."""
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
    for group, score, weight in grades:
        total = sums[group]
        total[0] += score * weight
        total[1] += weight
        total[2] += 1
    return {group: (float(s / w), int(n)) for group, (s, w, n) in sorted(sums.items())}


def requested_averages(ledger: Ledger, school_id: str, *, counting_retracted: bool = False) -> Averages:
    """The school's subject averages from what the bench wrote and asked the API to change (the
    latest version of each grade; retracted ones left out)."""
    return averaged(
        (f"{g.subject}/{g.term}", g.score, g.weight)
        for (school, _), g in ledger.grades.items()
        if school == school_id and (counting_retracted or not g.retracted)
    )


def table_grades(bench: Bench, school_id: str, term: str) -> list[dict[str, Any]]:
    """The school's grades of the term as the table holds them, read as the government sync reads
    them (the school-term index, the school's own client), each checked against its contract."""
    client = bench.clients.dynamodb_for(school_id)
    index = keys.SCHOOL_TERM_INDEX
    request: dict[str, Any] = {
        "TableName": bench.resources.table_name,
        "IndexName": index.name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": index.partition_key},
        "ExpressionAttributeValues": to_wire({":pk": grades_contract.school_term_pk(school_id, term)}),
    }
    found: list[dict[str, Any]] = []
    while True:
        page = client.query(**request)
        for raw in page["Items"]:
            item = from_wire(raw)
            grades_contract.check_evaluation(item)
            found.append(item)
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def differences(school_id: str, what: str, got: Averages, want: Averages) -> list[dict[str, Any]]:
    return [
        {
            "school": school_id,
            "check": what,
            "group": group,
            "lake": got.get(group),
            "expected": want.get(group),
        }
        for group in sorted(set(got) | set(want))
        if group not in got
        or group not in want
        or got[group][1] != want[group][1]
        or not math.isclose(got[group][0], want[group][0], rel_tol=1e-9)
    ]


def cross_check(
    bench: Bench, schools: Sequence[School], ledger: Ledger, term: str, key: bytes
) -> dict[str, Any]:
    """Every school's averages from the lake's reports against the table's current grades (per
    subject, as a school admin asks ``Reports.subject_averages``; per student and subject, the
    ``student_averages`` report query with its pseudonyms matched to the roster), and the subject
    averages also against what the bench asked for; and the table against the bench's requests."""
    reports = make_reports(bench, key)
    mismatches: list[dict[str, Any]] = []
    table_vs_requests: list[str] = []
    subject_groups = student_groups = retracted = 0
    retracted_gap = 0.0
    for school in schools:
        sid = school.school_id
        table = table_grades(bench, sid, term)
        current = [item for item in table if not grades_contract.is_retracted(item)]
        retracted += len(table) - len(current)
        for item in table:
            asked = ledger.grades.get((sid, item["evaluation_id"]))
            stands = (
                grades_contract.version_of(item),
                grades_contract.is_retracted(item),
                item["score"],
                item["weight"],
            )
            if asked is None or stands != (asked.version, asked.retracted, asked.score, asked.weight):
                table_vs_requests.append(f"{sid}/{item['evaluation_id']}: table {stands}, asked {asked}")
        by_subject = {
            f"{a.subject_id}/{a.term_id}": (a.weighted_average, a.grades)
            for a in reports.subject_averages(admin_of(sid), term_id=term)
        }
        table_subjects = averaged(
            (f"{i['subject_id']}/{i['term_id']}", i["score"], i["weight"]) for i in current
        )
        names = {student_key(key, sid, student): student for _, student in school.students}
        rows = bench.duck.query(
            sid, report_sql.query("student_averages").name, {"term_id": term, "subject_id": ""}
        )
        by_student = {
            f"{names.get(row['student_key'], row['student_key'])}/{row['subject_id']}": (
                float(row["weighted_average"]), int(row["grades"]),
            )
            for row in rows
        }  # fmt: skip
        table_students = averaged(
            (f"{i['student_id']}/{i['subject_id']}", i["score"], i["weight"]) for i in current
        )
        requested = requested_averages(ledger, sid)
        mismatches += differences(sid, "subject averages vs the table", by_subject, table_subjects)
        mismatches += differences(sid, "student averages vs the table", by_student, table_students)
        mismatches += differences(sid, "subject averages vs the requests", by_subject, requested)
        subject_groups += len(table_subjects)
        student_groups += len(table_students)
        for group, (average, _) in requested_averages(ledger, sid, counting_retracted=True).items():
            if group in requested:
                retracted_gap = max(retracted_gap, abs(average - requested[group][0]))
    return {
        "schools": len(schools),
        "subject_groups_checked": subject_groups,
        "student_groups_checked": student_groups,
        "mismatches": mismatches,
        "table_vs_requests": table_vs_requests,
        "retracted_in_table": retracted,
        "max_gap_if_retracted_counted": round(retracted_gap, 6),
    }


# -- figures -----------------------------------------------------------------------------------------
def mb(value: float) -> str:
    return f"{value / 1e6:.2f} MB"


def kb(value: float) -> str:
    return f"{value / 1e3:.1f} KB"


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def print_figures(report: dict[str, Any]) -> None:
    w = report["workload"]
    p = report["pipeline"]
    f = report["freshness"]
    lake = report["lake"]
    print("\nworkload")
    print(
        f"  {w['schools']} schools ({w['percentage_schools']} grading in %), {w['students']} students, "
        f"{len(SUBJECTS)} subjects, term {w['term']} ({w['term_start']} .. {w['term_end']})"
    )
    print(
        f"  term load: {w['term_writes']} writes ({w['evaluations']} grades, {w['notes']} notes, "
        f"{w['exercise_results']} exercise results; {w['expired_results']} results past their TTL)"
    )
    print(
        f"  changes through the REST API: {w['grades_changed']} grades, {w['corrections']} corrections "
        f"({w['second_corrections']} second ones), {w['retractions']} retractions"
    )
    print(
        f"  steady: {w['live_records']} grades/notes through the repository in {w['live_seconds']} s; "
        f"probes: {w['probes']}"
    )
    t = report["throughput"]
    print("\nthroughput (this engine: moto in this process, 2 cores)")
    print(
        f"  roster {t['roster_seconds']} s; term load {t['term_seconds']} s = {t['term_writes_per_second']} writes/s "
        f"while the poller read {t['stream_read_per_second_during_load']} records/s; "
        f"backlog drained in {t['drain_seconds']} s ({t['drain_records_per_second']} records/s)"
    )
    print(
        f"  one reaper pass over the final table ({t['table_items']} items): {t['reaper_pass_seconds']} s "
        f"from the stream-fed schedule vs {t['reaper_scan_seconds']} s scanning the table "
        f"(the platform runs one every {report['config']['reaper_interval_seconds']:g} s, in the poller's process)"
    )
    print("\npipeline counters")
    print(
        f"  stream records read {p['records_read']} (expected {p['expected_stream_records']}: bench "
        f"{p['expected_from_bench']} + reaped {p['reaped']} + the platform's start "
        f"{p['platform_start_records']}), "
        f"records in {p['records_in']}"
    )
    print(
        f"  rows written {p['rows_out']} (expected {p['expected_rows']}; in the lake {lake['rows']}), "
        f"dropped {sum(p['skipped'].values())}: {p['skipped']}"
    )
    print(
        f"  REMOVEs: seen {p['skipped'].get('remove', 0)} (expected {p['expected_removes']}: "
        f"{p['reaped']} reaped of {w['expired_results']} expired; grades are never deleted), "
        f"landed {lake['removes_landed']} (must be 0)"
    )
    print(
        f"  files {p['files_written']}, bytes {mb(p['bytes_written'])}, flushes {p['flushes']} "
        f"({p['files_written'] / max(1, p['flushes']):.1f} files a flush), failed writes {p['failed_writes']}, "
        f"undecodable {p['undecodable']}"
    )
    print("\nfreshness, change -> queryable (seconds: p50 / p95 / max, count)")

    def line(label: str, values: dict[str, Any]) -> None:
        if values:
            print(
                f"  {label:<44} {values['p50']:7.2f} {values['p95']:7.2f} {values['max']:7.2f}  n={values['count']}"
            )
        else:
            print(f"  {label:<44} -")

    line("pipeline (its own figures, every row)", f["pipeline"])
    line("lake files (file written - changed_at), all", f["lake_all"])
    line("  term load (backfill)", f["lake_load"])
    line("  changes through the API (later versions)", f["lake_changes"])
    line("  steady", f["lake_steady"])
    line("probes (write -> DuckDbLake returns it), load", f["probes_load"])
    line("probes, changes", f["probes_changes"])
    line("probes, steady", f["probes_steady"])
    line("probe query time (their resolution), load", f["probe_query_load"])
    line("probe query time, changes", f["probe_query_changes"])
    line("probe query time, steady", f["probe_query_steady"])
    print(
        f"  probes every {report['config']['probe_every']:g} s +-50%, polled every {report['config']['probe_poll']:g} s "
        f"after the last query; probe errors {f['probe_errors']}"
    )
    print("\nlake")
    print(
        f"  {lake['files']} files, {mb(lake['bytes'])}, mean file {kb(lake['mean_file_bytes'])} "
        f"(median {kb(lake['median_file_bytes'])}, {lake['mean_rows_per_file']:.0f} rows a file)"
    )
    print(
        f"  {lake['partitions']} partitions (school/year/month), files per partition mean "
        f"{lake['files_per_partition_mean']:.1f}, median {lake['files_per_partition_median']}, max "
        f"{lake['files_per_partition_max']}"
    )
    print(
        f"  small files: {share(lake['files_under_64kb'], lake['files'])} under 64 KB; one file per "
        f"partition would be {lake['partitions']} files of {kb(lake['bytes'] / max(1, lake['partitions']))} "
        f"({lake['files'] / max(1, lake['partitions']):.0f}x fewer)"
    )
    print(
        f"  (the probes' own schools hold {lake['probe_files']} more files, {kb(lake['probe_bytes'])}: left out above "
        "and below)"
    )
    print(
        f"  rows {lake['rows']} = {lake['records']} records + {lake['rows'] - lake['records']} later versions "
        f"({lake['tombstones']} of them tombstones); version ties {lake['version_ties']} (must be 0); "
        f"versions created in the same second as an earlier one {lake['versions_in_the_same_second']} "
        "(in AWS their changed_at ties: why the reports order by version, then stream sequence)"
    )
    q = report["queries"]
    print(
        f"\none school ({q['school']}, {q['school_students']} students) vs the whole lake "
        f"({q['lake_files']} files, {mb(q['lake_bytes'])}); median of {report['config']['repeat']} "
        f"(whole lake: {report['config']['baseline_repeat']})"
    )
    for r in q["reports"].values():
        print(
            f"  {r['use_case']:<24} read {r['files_read']:4d} files {mb(r['bytes_read'])} "
            f"({share(r['files_read'], q['lake_files'])} / {share(r['bytes_read'], q['lake_bytes'])}); "
            f"{r['seconds']:.3f} s vs whole-lake scan {r['whole_lake_seconds']:.3f} s "
            f"({r['speedup']:.1f}x); same answer {'yes' if r['same_answer'] else 'NO'}; "
            f"other schools' files {r['foreign_files']}"
        )
    a = report["api"]
    print(f"\nchanges through the REST API (gateway, teacher tokens, {a['workers']} teachers at a time)")
    print(
        f"  {sum(a['answers'].values())} requests in {a['wall_seconds']} s ({a['requests_per_second']}/s): "
        f"{dict(sorted(a['answers'].items()))}"
    )
    for name, values in sorted(a["seconds"].items()):
        print(
            f"  {name:<8} p50 {1000 * values['p50']:6.1f} ms  p95 {1000 * values['p95']:6.1f} ms  "
            f"n={values['count']}"
        )
    print(
        f"  on {a['checked']} grades: 428 without If-Match {a['unconditional_refused']}, 412 on a stale one "
        f"{a['stale_refused']}, a replayed key answered the same {a['replays_same']}; unexpected answers "
        f"{len(a['unexpected'])} (must be 0)"
    )
    c = report["cross_check"]
    print("\ncorrectness")
    print(
        f"  {c['schools']} schools: per-student averages ({c['student_groups_checked']} student/subject "
        "groups) "
        f"and subject averages ({c['subject_groups_checked']} groups) from the lake's reports vs the table's "
        f"current grades, and subject averages vs the records asked for: {len(c['mismatches'])} mismatches"
    )
    print(
        f"  the table vs what the bench asked the API to do: {len(c['table_vs_requests'])} differences; "
        f"{c['retracted_in_table']} retracted grades (tombstones in the lake), the largest gap they would "
        "make "
        f"to an average if counted: {c['max_gap_if_retracted_counted']}"
    )
    print(f"\ntotal wall time {report['total_wall_seconds']} s")


def plot(report: dict[str, Any], ages: dict[str, list[float]], sizes: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(17, 9))
    (cdf, files_ax, bytes_ax), (time_ax, size_ax, part_ax) = axes

    def cdf_line(values: list[float], label: str, **style: Any) -> None:
        if values:
            ordered = sorted(values)
            ys = [(i + 1) / len(ordered) for i in range(len(ordered))]
            cdf.step(ordered, ys, where="post", label=f"{label} (n={len(ordered)})", **style)

    cdf_line(ages["lake_load"], "rows, term load (backfill)", color="#e90")
    cdf_line(ages["lake_changes"], "rows, changes through the API", color="#93c")
    cdf_line(ages["lake_steady"], "rows, steady", color="#2a7")
    cdf_line(ages["probes_load"], "probes, term load", color="#c33", linestyle="--")
    cdf_line(ages["probes_steady"], "probes, steady", color="#27c", linestyle="--")
    cdf.set_xscale("log")
    cdf.set_xlabel("seconds from change to queryable")
    cdf.set_ylabel("share of changes")
    cdf.set_title("Freshness (CDF)")
    cdf.legend(fontsize=8)
    cdf.grid(alpha=0.3)

    q = report["queries"]
    names = [r["use_case"] for r in q["reports"].values()]
    xs = range(len(names))
    for axis, key, whole, unit, scale in (
        (files_ax, "files_read", q["lake_files"], "files", 1.0),
        (bytes_ax, "bytes_read", q["lake_bytes"], "MB", 1e6),
    ):
        one = [r[key] / scale for r in q["reports"].values()]
        axis.bar([x - 0.2 for x in xs], one, 0.4, label=f"one school ({q['school']})", color="#27c")
        axis.bar([x + 0.2 for x in xs], [whole / scale] * len(names), 0.4, label="whole lake", color="#999")
        for x, value in zip(xs, one, strict=True):
            axis.text(
                x - 0.2, value, f"{100 * value * scale / whole:.1f}%", ha="center", va="bottom", fontsize=8
            )
        axis.set_yscale("log")
        axis.set_ylim(top=whole / scale * 8)  # room for the legend above the bars
        axis.set_xticks(list(xs), names, rotation=15, fontsize=8)
        axis.set_ylabel(unit)
        axis.set_title(f"{'Files' if key == 'files_read' else 'Bytes'} read per query")
        axis.legend(fontsize=8)

    one_s = [r["seconds"] for r in q["reports"].values()]
    whole_s = [r["whole_lake_seconds"] for r in q["reports"].values()]
    time_ax.bar([x - 0.2 for x in xs], one_s, 0.4, label="one school (DuckDbLake)", color="#27c")
    time_ax.bar([x + 0.2 for x in xs], whole_s, 0.4, label="whole-lake scan, same SQL", color="#999")
    for x, r in zip(xs, q["reports"].values(), strict=True):
        time_ax.text(x, r["whole_lake_seconds"], f"{r['speedup']:.0f}x", ha="center", va="bottom", fontsize=8)
    time_ax.set_ylim(top=max(whole_s) * 1.3)
    time_ax.set_xticks(list(xs), names, rotation=15, fontsize=8)
    time_ax.set_ylabel("seconds (median)")
    time_ax.set_title("Query time")
    time_ax.legend(fontsize=8)

    size_ax.hist([s / 1e3 for s in sizes], bins=40, color="#e90")
    size_ax.set_xlabel("file size (KB)")
    size_ax.set_ylabel("files")
    size_ax.set_title(f"Lake file sizes ({len(sizes)} files): the small-file picture")

    per_partition = report["lake"]["files_per_partition"]
    part_ax.hist(list(per_partition.values()), bins=30, color="#888")
    part_ax.set_xlabel("files in the partition (school/year/month)")
    part_ax.set_ylabel("partitions")
    part_ax.set_title(f"Files per partition ({len(per_partition)} partitions)")

    fig.suptitle("Luca lake: a school term through the stream into Parquet, and one school's reports")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the run ---------------------------------------------------------------------------------------
def quiet_logs() -> None:
    for name in ("luca", "moto", "botocore", "werkzeug", "urllib3"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=0.75, help="students per school: 60-140 x this (default %(default)s)"
    )
    parser.add_argument("--schools", type=int, default=24, help="schools (default %(default)s)")
    parser.add_argument(
        "--grades-per-subject", type=int, default=3, help="evaluations per course and subject"
    )
    parser.add_argument("--correction-rate", type=float, default=0.03, help="share of grades corrected")
    parser.add_argument(
        "--second-correction-share", type=float, default=0.25,
        help="share of corrected grades corrected again (their weight)",
    )  # fmt: skip
    parser.add_argument(
        "--retract-corrected-share", type=float, default=0.1, help="share of corrected grades then retracted"
    )
    parser.add_argument(
        "--retraction-rate", type=float, default=0.003, help="share of grades retracted (entered twice)"
    )
    parser.add_argument(
        "--api-workers", type=int, default=4, help="teachers changing grades through the API at a time"
    )
    parser.add_argument(
        "--write-rate", type=float, default=0.0,
        help="term load writes a second (default 0: as fast as the emulator takes them)",
    )  # fmt: skip
    parser.add_argument("--live-seconds", type=float, default=45.0, help="length of the steady phase, s")
    parser.add_argument(
        "--live-rate", type=float, default=10.0, help="grades/notes a second in the steady phase"
    )
    parser.add_argument("--probe-every", type=float, default=5.0, help="a probe about every this many s")
    parser.add_argument("--probe-poll", type=float, default=0.25, help="probe query interval, s")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each one-school query (median)")
    parser.add_argument(
        "--baseline-repeat", type=int, default=1, help="timed runs of each whole-lake scan (median)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900.0, help="give up draining after this, s")
    opts = parser.parse_args()
    if (
        min(opts.schools, opts.repeat, opts.baseline_repeat, opts.api_workers) < 1
        or min(opts.scale, opts.live_rate) <= 0
    ):
        parser.error(
            "--schools, --scale, --repeat, --baseline-repeat, --api-workers and --live-rate must be positive"
        )
    return opts


def main() -> int:
    opts = options()
    OUT.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    rng = random.Random(opts.seed)
    now = datetime.now(UTC)
    term_end = (now - timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)
    term_start = (term_end - timedelta(days=TERM_DAYS)).replace(hour=8)
    term = term_of(term_end)
    schools = schools_of(opts.schools, opts.scale, rng)
    ledger = Ledger()
    writes, changes = plan_term(schools, term_start, term_end, now, opts, rng, ledger)
    quiet_logs()

    state = tempfile.TemporaryDirectory(prefix="luca-bench-lake-")
    # The platform as `luca up` composes it (no demo schools: the bench brings its own), so the
    # teachers' changes go through its gateway and grading service, and the lake is its own.
    platform = LocalPlatform(
        PlatformConfig.ephemeral(Path(state.name), schools=(), log_level="WARNING", access_log_stdout=False)
    )
    try:
        console.print("starting the local platform ...")
        platform.start()
        quiet_logs()
        report, ages, sizes = run(platform, Path(state.name), schools, writes, changes, ledger, term, opts)
    finally:
        platform.stop()
        state.cleanup()
    report["workload"].update(
        term=term, term_start=term_start.date().isoformat(), term_end=term_end.date().isoformat()
    )
    plot(report, ages, sizes, OUT / "lake.png")
    report["total_wall_seconds"] = round(time.monotonic() - began, 1)
    (OUT / "lake.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print_figures(report)
    print(f"wrote {OUT / 'lake.json'} and {OUT / 'lake.png'}")
    api = report["api"]
    bad = (
        report["lake"]["removes_landed"]
        or report["lake"]["version_ties"]
        or report["cross_check"]["mismatches"]
        or report["cross_check"]["table_vs_requests"]
        or api["unexpected"]
        or api["checked"] != api["stale_refused"]
        or api["checked"] != api["unconditional_refused"]
        or api["checked"] != api["replays_same"]
        or report["pipeline"]["rows_out"] != report["pipeline"]["expected_rows"]
        or report["lake"]["rows"] != report["pipeline"]["rows_out"]
        or not all(r["same_answer"] for r in report["queries"]["reports"].values())
    )
    return 1 if bad else 0


def run(
    platform: LocalPlatform,
    state_dir: Path,
    schools: Sequence[School],
    writes: Sequence[Write],
    changes: Sequence[Change],
    ledger: Ledger,
    term: str,
    opts: argparse.Namespace,
) -> tuple[dict[str, Any], dict[str, list[float]], list[int]]:
    settings = PLATFORM_DEFINITION.analytics
    resources, lake = platform.resources, platform.lake
    assert lake is not None
    clients = AwsClients(
        region=resources.region,
        endpoint_url=resources.endpoint_url,
        tenant_role_arn=resources.tenant_role_arn,
    )
    host = resources.endpoint_url.split("://", 1)[1]
    bench = Bench(
        platform=platform,
        resources=resources,
        lake=lake,
        clients=clients,
        repositories=DynamoRepositoryFactory(clients=clients, table_name=resources.table_name),
        s3=boto3.client("s3", region_name=resources.region, endpoint_url=resources.endpoint_url),
        filesystem=pafs.S3FileSystem(endpoint_override=host, scheme="http", region=resources.region),
        duck=DuckDbLake.s3(lake.bucket, region=resources.region, endpoint_url=resources.endpoint_url),
    )
    students = sum(len(school.students) for school in schools)
    kinds = Counter(w.request["PutRequest"]["Item"]["type"]["S"] for w in writes)
    console.print(
        f"[bold]lake benchmark[/]: {len(schools)} schools, {students} students, term {term}; "
        f"{len(writes)} term writes, {sum(len(c.steps) for c in changes)} changes through the API; "
        f"lake buffer {settings.buffer_bytes // 1024} KiB / {settings.buffer_seconds:g} s, "
        f"poll {settings.poll_interval_seconds:g} s, reaper every {settings.reaper_interval_seconds:g} s"
    )
    columns = (
        TextColumn("{task.description:<34}"),
        BarColumn(),
        TextColumn("{task.completed:>8.0f}/{task.total:<8.0f}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
    )
    probe_duck = DuckDbLake.s3(lake.bucket, region=resources.region, endpoint_url=resources.endpoint_url)
    prober = Prober(
        bench.repositories,
        probe_duck,
        term,
        opts.probe_every,
        opts.probe_poll,
    )
    live_rng = random.Random(opts.seed + 1)
    with Progress(*columns, console=console, refresh_per_second=2) as progress:
        roster_task = progress.add_task("roster (repository)", total=students, note="")
        base_records = settled(bench)  # what the platform's own start put on the stream
        plan_roster(schools, ledger)
        roster_seconds = in_writer(
            bench,
            write_roster,
            (resources.endpoint_url, resources.region, resources.table_name, resources.tenant_role_arn,
             list(schools), term),
            progress,
            roster_task,
        )  # fmt: skip

        term_task = progress.add_task("term load (BatchWriteItem)", total=len(writes), note="")
        stream_task = progress.add_task("stream -> lake (records read)", total=len(writes), note="")
        prober.start()
        read_before = bench.records_read()
        requests = [[write.request for write in batch] for batch in batches(writes)]
        term_seconds = in_writer(
            bench,
            write_batches,
            (resources.endpoint_url, resources.region, resources.table_name, requests, opts.write_rate),
            progress,
            term_task,
            stream_task,
        )
        read_during = bench.records_read() - read_before

        def expected_records() -> int:
            assert lake.reaper is not None
            return base_records + ledger.stream_records + prober.stream_records + lake.reaper.deleted

        progress.update(stream_task, note="draining the backlog")
        drain_from = bench.records_read()
        drain_seconds = wait_drained(
            bench, expected_records, opts.timeout, progress, stream_task, flushed=False
        )
        drain_records = bench.records_read() - drain_from
        progress.update(stream_task, note="waiting for the reaper's pass")
        # A pass scans the whole table, which takes the emulator longer as the table grows.
        wait_reaped(bench, ledger.expired_results, timeout=4 * settings.reaper_interval_seconds + 120)
        wait_drained(bench, expected_records, opts.timeout, progress, stream_task, flushed=False)
        progress.update(stream_task, note="drained")

        prober.phase = "changes"
        changes_from = datetime.now(UTC)
        tokens = teacher_tokens(platform, schools)
        change_task = progress.add_task("changes (REST API, teachers)", total=len(changes), note="")
        api = apply_changes(
            platform.gateway_url, tokens, changes, ledger, opts.api_workers, progress, change_task
        )
        wait_drained(bench, expected_records, opts.timeout, progress, stream_task, flushed=False)

        steady_from = datetime.now(UTC)
        prober.phase = "steady"
        live_task = progress.add_task("steady (repository, live)", total=opts.live_seconds, note="")
        live = record_live(
            bench, schools, term, opts.live_seconds, opts.live_rate, ledger, live_rng, progress, live_task
        )
        prober.stop_writing()
        final_task = progress.add_task("final drain + probes", total=expected_records(), note="")
        wait_drained(bench, expected_records, opts.timeout, progress, final_task)
        prober.stop(timeout=60)
        wait_drained(bench, expected_records, opts.timeout, progress, final_task)
    lake.stop()  # flushes; the lake is quiet from here on
    assert lake.poller is not None
    assert lake.reaper is not None
    stats = lake.stats()
    reaped = lake.reaper.deleted
    # One more reaper pass, timed, over the final table (nothing is left to delete): the platform's
    # (the schedule the stream fed), and a full scan of the table as the baseline it replaced.
    dynamodb = boto3.client("dynamodb", region_name=resources.region, endpoint_url=resources.endpoint_url)
    table_items = int(dynamodb.describe_table(TableName=resources.table_name)["Table"].get("ItemCount", 0))
    console.print(f"timing a reaper pass over the final table ({table_items} items) ...")
    began = time.perf_counter()
    late_reaped = lake.reaper.reap_due()
    reaper_pass = time.perf_counter() - began
    began = time.perf_counter()
    late_reaped += lake.reaper.reap_once()
    reaper_scan = time.perf_counter() - began

    console.print("reading the lake back and querying it ...")
    read = read_lake(bench)
    listed = lake_partitions(bench.s3, lake.bucket)
    partitions = [p for p in listed if not p.school_id.startswith(PROBE_PREFIX)]
    probe_partitions = [p for p in listed if p.school_id.startswith(PROBE_PREFIX)]
    infos = [
        info
        for info in bench.filesystem.get_file_info(pafs.FileSelector(bench.root, recursive=True))
        if info.is_file and info.path.endswith(".parquet") and not is_probe(info.path)
    ]
    sizes = [info.size or 0 for info in infos]
    per_partition = {f"{p.school_id}/{p.year}/{p.month:02d}": p.files for p in partitions}
    lake_files = sum(p.files for p in partitions)
    lake_bytes = sum(p.bytes for p in partitions)

    biggest = max(schools, key=lambda school: len(school.students))
    key = local_pseudonym_key(state_dir)
    reports = run_reports(bench, biggest, term, key)
    with Progress(*columns, console=console, refresh_per_second=2) as progress:
        task = progress.add_task(
            "queries: one school vs whole lake",
            total=len(REPORTS) * (opts.repeat + opts.baseline_repeat),
            note="",
        )
        for name in REPORTS:
            params = report_params(name, term, biggest.rule)

            def one_school(name: str = name, params: dict[str, Any] = params) -> Any:
                result = bench.duck.query_with_statistics(biggest.school_id, name, params)
                progress.advance(task)
                return result

            def whole(name: str = name, params: dict[str, Any] = params) -> Any:
                result = whole_lake_query(bench, biggest.school_id, name, params)
                progress.advance(task)
                return result

            progress.update(task, note=name)
            (rows, scanned), one_times = timed(one_school, opts.repeat)
            (whole_rows, whole_files, whole_bytes), whole_times = timed(whole, opts.baseline_repeat)
            reports[name].update(
                files_read=scanned.file_count,
                bytes_read=scanned.bytes_read,
                seconds=round(statistics.median(one_times), 4),
                seconds_all=[round(s, 4) for s in one_times],
                whole_lake_files=whole_files,
                whole_lake_bytes=whole_bytes,
                whole_lake_seconds=round(statistics.median(whole_times), 4),
                whole_lake_seconds_all=[round(s, 4) for s in whole_times],
                speedup=round(statistics.median(whole_times) / statistics.median(one_times), 2),
                files_ratio=round(scanned.file_count / max(1, lake_files), 5),
                bytes_ratio=round(scanned.bytes_read / max(1, lake_bytes), 5),
                same_answer=same_rows([tuple(row.values()) for row in rows], whole_rows),
            )
    check = cross_check(bench, schools, ledger, term, key)

    steady_ages = [age for changed, age in read.ages if changed >= steady_from]
    load_ages = [age for changed, age in read.ages if changed < changes_from]
    probe_ages = {
        phase: [s.seconds for s in prober.samples if s.phase == phase]
        for phase in ("load", "changes", "steady")
    }
    counters = stats
    expected_rows = ledger.lake_rows + prober.written
    expected_from_bench = ledger.stream_records + prober.stream_records
    files_per = sorted(per_partition.values())
    report: dict[str, Any] = {
        "config": {
            **vars(opts),
            "buffer_bytes": settings.buffer_bytes,
            "buffer_seconds": settings.buffer_seconds,
            "poll_interval_seconds": settings.poll_interval_seconds,
            "reaper_interval_seconds": settings.reaper_interval_seconds,
            "compression": settings.compression,
        },
        "workload": {
            "schools": len(schools),
            "students": students,
            "percentage_schools": sum(s.rule.scale is ScaleKind.PERCENTAGE for s in schools),
            "term_writes": len(writes),
            "evaluations": kinds["Evaluation"],
            "notes": kinds["BehaviorNote"],
            "exercise_results": kinds["ExerciseResult"],
            "grades_changed": len(changes),
            "corrections": api.corrections,
            "second_corrections": api.second_corrections,
            "retractions": api.retractions,
            "expired_results": ledger.expired_results,
            "live_records": live,
            "live_seconds": opts.live_seconds,
            "probes": prober.written,
        },
        "throughput": {
            "roster_seconds": round(roster_seconds, 1),
            "term_seconds": round(term_seconds, 1),
            "term_writes_per_second": round(len(writes) / term_seconds),
            "stream_read_per_second_during_load": round(read_during / term_seconds),
            "drain_seconds": round(drain_seconds, 1),
            "drain_records_per_second": round(drain_records / drain_seconds) if drain_seconds else None,
            "table_items": table_items,
            "reaper_pass_seconds": round(reaper_pass, 3),
            "reaper_scan_seconds": round(reaper_scan, 1),
            "reaper_pass_deleted": late_reaped,
        },
        "pipeline": {
            **{
                k: counters[k]
                for k in (
                    "records_in",
                    "rows_out",
                    "skipped",
                    "files_written",
                    "bytes_written",
                    "flushes",
                    "failed_writes",
                    "records_read",
                )
            },
            "undecodable": lake.poller.counters.undecodable,
            "reaped": reaped,
            "expected_stream_records": expected_from_bench + reaped + base_records,
            "expected_from_bench": expected_from_bench,
            "expected_rows": expected_rows,
            "expected_rows_by_type": {
                **ledger.by_type,
                "Evaluation": ledger.by_type["Evaluation"] + prober.written,
            },
            "expected_removes": reaped,
            "expected_not_a_fact": base_records
            + sum(n for kind, n in ledger.not_facts.items() if kind != KEYS_ONLY)
            + prober.written
            + prober.students,
            "expected_unknown_type": ledger.not_facts[KEYS_ONLY],
            "platform_start_records": base_records,
            "bench_changes": dict(ledger.changes),
            "not_a_fact_written": {
                **ledger.not_facts,
                "Idempotency (probes)": prober.written,
                "Student (probes)": prober.students,
            },
        },
        "api": {
            "grades_changed": len(changes),
            "corrections": api.corrections,
            "second_corrections": api.second_corrections,
            "retractions": api.retractions,
            "answers": dict(api.answers),
            "seconds": {name: percentiles(values) for name, values in api.seconds.items()},
            "wall_seconds": round(api.wall_seconds, 1),
            "requests_per_second": round(sum(api.answers.values()) / api.wall_seconds, 1)
            if api.wall_seconds
            else None,
            "workers": opts.api_workers,
            "checked": api.checked,
            "stale_refused": api.stale_refused,
            "unconditional_refused": api.unconditional_refused,
            "replays_same": api.replays_same,
            "unexpected": api.unexpected,
        },
        "freshness": {
            "pipeline": {
                k: round(v, 3) if k != "count" else int(v) for k, v in counters["freshness"].items()
            },
            "lake_all": percentiles(age for _, age in read.ages),
            "lake_load": percentiles(load_ages),
            "lake_changes": percentiles(read.change_ages),
            "lake_steady": percentiles(steady_ages),
            "probes_load": percentiles(probe_ages["load"]),
            "probes_changes": percentiles(probe_ages["changes"]),
            "probes_steady": percentiles(probe_ages["steady"]),
            "probe_query_load": percentiles(prober.poll_seconds["load"]),
            "probe_query_changes": percentiles(prober.poll_seconds["changes"]),
            "probe_query_steady": percentiles(prober.poll_seconds["steady"]),
            "probe_errors": prober.errors,
            "probe_samples": [vars(s) for s in prober.samples],
        },
        "lake": {
            "files": lake_files,
            "bytes": lake_bytes,
            "rows": read.rows,
            "records": read.records,
            "changes": dict(read.changes),
            "item_types": dict(read.item_types),
            "removes_landed": sum(
                n for change, n in read.changes.items() if change not in ("INSERT", "MODIFY")
            ),
            "version_ties": read.version_ties,
            "later_versions": read.later_versions,
            "tombstones": read.tombstones,
            "versions_in_the_same_second": read.same_second_versions,
            "mean_file_bytes": lake_bytes / max(1, lake_files),
            "median_file_bytes": statistics.median(sizes) if sizes else 0,
            "files_under_64kb": sum(size < 64 * 1024 for size in sizes),
            "mean_rows_per_file": statistics.mean(read.rows_per_file) if read.rows_per_file else 0,
            "partitions": len(partitions),
            "files_per_partition_mean": statistics.mean(files_per) if files_per else 0,
            "files_per_partition_median": statistics.median(files_per) if files_per else 0,
            "files_per_partition_max": max(files_per, default=0),
            "files_per_partition": per_partition,
            "read_back_seconds": round(read.seconds, 1),
            "probe_files": sum(p.files for p in probe_partitions),
            "probe_bytes": sum(p.bytes for p in probe_partitions),
        },
        "queries": {
            "school": biggest.school_id,
            "school_students": len(biggest.students),
            "lake_files": lake_files,
            "lake_bytes": lake_bytes,
            "reports": reports,
        },
        "cross_check": check,
    }
    ages = {
        "lake_load": load_ages,
        "lake_changes": read.change_ages,
        "lake_steady": steady_ages,
        "probes_load": probe_ages["load"],
        "probes_steady": probe_ages["steady"],
    }
    return report, ages, sizes


if __name__ == "__main__":
    sys.exit(main())
