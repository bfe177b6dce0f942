"""Lake benchmark: a school term through the table's stream into the Parquet lake, and back out.

A command, not a test (``make bench-lake``). It runs as the platform does: the embedded emulator,
the platform's table (stream and TTL on) and ``LocalLake`` (the stream poller feeding
``LakePipeline``, and the TTL reaper) in this process, with the platform's own settings (buffer
1 MiB / 5 s, poll 0.5 s, reaper every 30 s); the writers in processes of their own, as the grading
service and the processor are. No service is started: the items are what production writes, made
by the grading service's adapter (``DynamoSchoolRepository``, ``evaluation_item``, ``note_item``)
and the grade processor's (``exercise_result_item``).

The workload (``--scale 0.75``, the default: about 1,700 students, 30,000 stream records): 24
schools of 45-105 students (two grade in percentages, by their rule in the table), five subjects,
three evaluations per course and subject over a 14-week term ending yesterday (the last weighs
double), behavior notes, and practice exercise results from the burst path. On top of that 3% of
grades are corrected a few days later (the same item put again with a new score: a MODIFY), 0.3%
are deleted (a grade entered twice: a REMOVE), and the exercise results graded more than 30 days
ago have expired, so the reaper deletes them (REMOVEs). A REMOVE must never land in the lake.

The default size keeps the run within a few minutes on 2 cores; the emulator's stream reads set the
pace. The reaper finds expired items from a schedule the stream feeds it; a full scan of the final
table is timed as the baseline (on the emulator it grows faster than the table).

1. Roster: courses, subjects, rules and students through the repository (one put each).
2. Term load: the term's writes in the order they happened, 25 a BatchWriteItem (the items the
   repository and the processor write; the bulk load leaves out the interactive path's idempotency
   records, which would double the stream for items the lake skips anyway), as fast as the
   emulator takes them (``--write-rate`` paces them). The poller reads while they are written: on
   this engine the term is a backfill, and its freshness is the backlog's.
3. Steady: grades and notes recorded through the repository as the grading service records them
   (each with its idempotency record), ``--live-rate`` a second for ``--live-seconds``: freshness
   while the pipeline keeps up.

During 2 and 3 a prober records a grade through the repository every ``--probe-every`` seconds,
each in a school of its own (``probe-NNN``), and queries that school through ``DuckDbLake`` every
``--probe-poll`` seconds until the answer holds it: change -> queryable, measured from outside the
pipeline. Every row's freshness is also read back from the lake (its file's write time, in the
file's name, minus the row's ``changed_at``), next to the pipeline's own percentiles.

Then the lake is stopped (flushing its buffer) and read: files, bytes, files per partition, the
small-file picture (the probes' schools left out); every row checked (no REMOVE landed, no two
versions of a record with the same ``changed_at``, rows = the pipeline's rows out). For one school
(the largest) each report runs through ``Reports`` over ``DuckDbLake`` (files and bytes read from
its ``ScanStatistics``) and is timed against a whole-lake scan of the same SQL and parameters
(every file handed to DuckDB as one stream of record batches, so nothing can be pruned: what the
query costs without partitions). Last, each school's subject averages from the lake are checked
against those computed here from the records written (the latest version of each; a deleted grade
stays in the lake, by design).

It writes ``bench/out/lake.json`` and ``bench/out/lake.png`` and exits non-zero when a REMOVE
landed, a row is missing or extra, two versions tie, or an answer differs.

    make bench-lake
    python -m bench.lake [--scale 0.75] [--schools 24] [--write-rate 0] [--live-seconds 45]
        [--live-rate 10] [--probe-every 5] [--repeat 3] [--baseline-repeat 1] ...
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
from luca_analytics.service_layer.reports import (
    DEFAULT_BUCKET_WIDTH,
    NO_LOWER_MONTH,
    NO_UPPER_MONTH,
    ReportName,
    Reports,
)
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory, evaluation_item, note_item
from luca_grading.domain.model import BehaviorKind, BehaviorNote, Evaluation
from luca_grading.service_layer.ports import IdempotencyRecord
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.emulator import Emulator
from luca_infra.local.lake import LocalLake, lake_partitions, local_pseudonym_key
from luca_infra.local.provision import ProvisionedResources, provision
from luca_ingest.adapters.dynamodb_store import exercise_result_item
from luca_ingest.domain.events import EventKind, ExerciseResult, ExerciseSubmission, StudentEvent
from luca_kernel.access import Principal, Role
from luca_kernel.grading import SCALE_BOUNDS, GradingRule, ScaleKind
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Course, Student, Subject
from luca_kernel.rule_cache import RuleCache
from luca_platform.aws import AwsClients
from luca_platform.contracts.rules import TableRules
from luca_platform.table import keys
from luca_platform.table.codec import to_wire

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
    request: dict[str, Any]  # {"PutRequest": ...} or {"DeleteRequest": ...}


@dataclass(frozen=True)
class Grade:
    """The latest version of an evaluation, as the bench wrote it."""

    student: str
    subject: str
    term: str
    score: Decimal
    weight: Decimal


@dataclass
class Ledger:
    """What the bench put on the stream, to check the pipeline's and the lake's figures against."""

    changes: Counter[str] = field(default_factory=Counter)  # INSERT/MODIFY/REMOVE the bench caused
    lake_rows: int = 0  # INSERTs and MODIFYs of lake item types
    not_facts: Counter[str] = field(default_factory=Counter)  # by item type
    by_type: Counter[str] = field(default_factory=Counter)  # INSERT/MODIFY by item type
    grades: dict[tuple[str, str], Grade] = field(default_factory=dict)  # (school, evaluation id)
    deleted: set[tuple[str, str]] = field(default_factory=set)
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

    def remove(self) -> None:
        with self.lock:
            self.changes["REMOVE"] += 1

    def grade(self, evaluation: Evaluation) -> None:
        with self.lock:
            self.grades[(evaluation.school_id, evaluation.evaluation_id)] = Grade(
                evaluation.student_id,
                evaluation.subject_id,
                evaluation.term_id,
                evaluation.score,
                evaluation.weight,
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
) -> list[Write]:
    """Every write of the term, in the order it happened, and the ledger of what it puts on the stream."""
    writes: list[Write] = []
    term = TermId(term_of(end))
    span = (end - start).total_seconds()
    grades = opts.grades_per_subject
    for school in schools:
        sid = SchoolId(school.school_id)
        for course, roster in school.courses.items():
            for subject_index, subject in enumerate(SUBJECTS):
                teacher = TeacherId(f"t-{course}-{subject}")
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
                        chance = rng.random()
                        if chance < opts.correction_rate:
                            # Corrected a few days later: the same item, a new score (a MODIFY).
                            when = evaluation.recorded_at + timedelta(days=rng.uniform(1, 10))
                            if when < end:
                                fixed = replace(
                                    evaluation, score=corrected(school.rule, evaluation.score, rng)
                                )
                                writes.append(put(when, evaluation_item(fixed)))
                                ledger.put("Evaluation", new=False)
                                ledger.grade(fixed)
                        elif chance < opts.correction_rate + opts.deletion_rate:
                            # Entered twice and deleted: the table loses it, the lake keeps its insert.
                            when = evaluation.recorded_at + timedelta(days=rng.uniform(0.2, 3))
                            if when < end:
                                key = key_of(item)
                                request = {
                                    "DeleteRequest": {
                                        "Key": to_wire(
                                            {keys.TABLE_PARTITION_KEY: key[0], keys.TABLE_SORT_KEY: key[1]}
                                        )
                                    }
                                }
                                writes.append(Write(when, key, request))
                                ledger.remove()
                                ledger.deleted.add((sid, evaluation.evaluation_id))
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
    return writes


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
        for _ in SUBJECTS:
            ledger.put("Subject", new=True)
        for _ in school.courses:
            ledger.put("Course", new=True)
        if school.rule.scale is ScaleKind.PERCENTAGE:
            ledger.put("GradingRule", new=True)
        for _ in school.students:
            ledger.put("Student", new=True)


def write_roster(
    endpoint_url: str, region: str, table: str, tenant_role_arn: str, schools: list[School], done: Any
) -> None:
    """The roster process: each school's catalog, rule and students through the grading service's
    repository, on the school's own scoped client (``plan_roster`` counts what this writes)."""
    clients = AwsClients(region=region, endpoint_url=endpoint_url, tenant_role_arn=tenant_role_arn)
    repositories = DynamoRepositoryFactory(clients=clients, table_name=table)

    def enrol(school: School) -> None:
        sid = SchoolId(school.school_id)
        repository = repositories.for_school(sid)
        for subject in SUBJECTS:
            repository.put_subject(Subject(sid, SubjectId(subject), subject.title()))
        for course in school.courses:
            repository.put_course(Course(sid, CourseId(course), f"Curso {course}"))
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
        self.poll_seconds: dict[str, list[float]] = {"load": [], "steady": []}
        self.written = 0
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
        written_at = time.monotonic()
        try:
            repository.add_evaluation(evaluation, record)
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
                teacher_id=TeacherId(f"t-{course}-live"),
                recorded_at=now,
            )
            record = IdempotencyRecord("evaluation", f"live-{made}", "live", "")
            if repository.add_evaluation(evaluation, record):
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
                teacher_id=TeacherId(f"t-{course}-live"),
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
    version_ties: int = 0
    records: int = 0
    seconds: float = 0.0


def is_probe(key: str) -> bool:
    return f"school_id={PROBE_PREFIX}" in key


def read_lake(bench: Bench) -> LakeRead:
    """Every file of the lake (one GET each): rows, changes, item types, each row's age when its file
    was written, the rows per file of the schools' files (the probes' left out), and whether two
    versions of a record share a ``changed_at`` (the reports' ``ROW_NUMBER`` would then pick either)."""
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
        table = pq.read_table(
            pa.BufferReader(body), columns=["record_id", "change", "changed_at", "item_type"]
        )
        return key, table.to_pylist()

    read = LakeRead()
    versions: dict[tuple[str, str], list[datetime]] = defaultdict(list)
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
                read.ages.append((row["changed_at"], (written - row["changed_at"]).total_seconds()))
                versions[(school, row["record_id"])].append(row["changed_at"])
    read.records = len(versions)
    read.version_ties = sum(len(stamps) - len(set(stamps)) for stamps in versions.values())
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


def expected_averages(ledger: Ledger, school_id: str, *, without_deleted: bool = False) -> dict[str, Any]:
    """The school's subject averages from the records the bench wrote (latest version of each)."""
    groups: dict[tuple[str, str], list[Grade]] = defaultdict(list)
    for (school, evaluation_id), grade in ledger.grades.items():
        if school != school_id or (without_deleted and (school, evaluation_id) in ledger.deleted):
            continue
        groups[(grade.subject, grade.term)].append(grade)
    return {
        f"{subject}/{term}": {
            "weighted_average": float(
                sum(g.score * g.weight for g in grades) / sum(g.weight for g in grades)
            ),
            "grades": len(grades),
            "students": len({g.student for g in grades}),
        }
        for (subject, term), grades in sorted(groups.items())
    }


def cross_check(
    bench: Bench, schools: Sequence[School], ledger: Ledger, term: str, key: bytes
) -> dict[str, Any]:
    """Every school's subject averages from the lake (``Reports.subject_averages``, as a school's
    admin asks for them) against those computed from the ledger."""
    reports = make_reports(bench, key)
    mismatches: list[dict[str, Any]] = []
    checked = 0
    table_view_gap = 0.0
    for school in schools:
        lake = {
            f"{average.subject_id}/{average.term_id}": {
                "weighted_average": average.weighted_average,
                "grades": average.grades,
                "students": average.students,
            }
            for average in reports.subject_averages(admin_of(school.school_id), term_id=term)
        }
        wanted = expected_averages(ledger, school.school_id)
        checked += len(wanted)
        for group in sorted(set(lake) | set(wanted)):
            got, want = lake.get(group), wanted.get(group)
            if (
                got is None
                or want is None
                or got["grades"] != want["grades"]
                or got["students"] != want["students"]
                or not math.isclose(got["weighted_average"], want["weighted_average"], rel_tol=1e-9)
            ):
                mismatches.append({"school": school.school_id, "group": group, "lake": got, "expected": want})
        table_view = expected_averages(ledger, school.school_id, without_deleted=True)
        for group, values in table_view.items():
            if group in wanted:
                gap = abs(values["weighted_average"] - wanted[group]["weighted_average"])
                table_view_gap = max(table_view_gap, gap)
    return {
        "schools": len(schools),
        "groups_checked": checked,
        "mismatches": mismatches,
        "deleted_grades_still_in_lake": len(ledger.deleted),
        "max_gap_vs_table_view": round(table_view_gap, 6),
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
        f"{w['exercise_results']} exercise results, {w['corrections']} corrections, {w['deletions']} deletions; "
        f"{w['expired_results']} results past their TTL)"
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
        f"{p['expected_from_bench']} + reaped {p['reaped']}), records in {p['records_in']}"
    )
    print(
        f"  rows written {p['rows_out']} (expected {p['expected_rows']}; in the lake {lake['rows']}), "
        f"dropped {sum(p['skipped'].values())}: {p['skipped']}"
    )
    print(
        f"  REMOVEs: seen {p['skipped'].get('remove', 0)} (expected {p['expected_removes']}: "
        f"{w['deletions']} deletions + {p['reaped']} reaped of {w['expired_results']} expired), "
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
    line("  steady", f["lake_steady"])
    line("probes (write -> DuckDbLake returns it), load", f["probes_load"])
    line("probes, steady", f["probes_steady"])
    line("probe query time (their resolution), load", f["probe_query_load"])
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
        f"  rows {lake['rows']} = {lake['records']} records + {lake['rows'] - lake['records']} later versions; "
        f"version ties {lake['version_ties']} (must be 0)"
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
    c = report["cross_check"]
    print("\ncorrectness")
    print(
        f"  subject averages of {c['schools']} schools ({c['groups_checked']} subject/term groups) from the "
        f"lake vs computed from the records written: {len(c['mismatches'])} mismatches"
    )
    print(
        f"  {c['deleted_grades_still_in_lake']} grades deleted from the table are still in the lake "
        f"(REMOVEs never land); largest gap they make to an average the table would give: "
        f"{c['max_gap_vs_table_view']}"
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
    parser.add_argument("--deletion-rate", type=float, default=0.003, help="share of grades deleted")
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
    if min(opts.schools, opts.repeat, opts.baseline_repeat) < 1 or min(opts.scale, opts.live_rate) <= 0:
        parser.error("--schools, --scale, --repeat, --baseline-repeat and --live-rate must be positive")
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
    writes = plan_term(schools, term_start, term_end, now, opts, rng, ledger)
    quiet_logs()

    emulator = Emulator(port=0)
    emulator.start()
    quiet_logs()
    state = tempfile.TemporaryDirectory(prefix="luca-bench-lake-")
    try:
        resources = provision(emulator.url)
        lake = LocalLake(
            endpoint_url=resources.endpoint_url,
            region=resources.region,
            table_name=resources.table_name,
            stream_arn=resources.stream_arn,
            state_dir=Path(state.name),
            account=resources.table_arn.split(":")[4],
        ).start()
        try:
            report, ages, sizes = run(resources, lake, Path(state.name), schools, writes, ledger, term, opts)
        finally:
            lake.stop()
    finally:
        emulator.stop()
        state.cleanup()
    report["workload"].update(
        term=term, term_start=term_start.date().isoformat(), term_end=term_end.date().isoformat()
    )
    plot(report, ages, sizes, OUT / "lake.png")
    report["total_wall_seconds"] = round(time.monotonic() - began, 1)
    (OUT / "lake.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print_figures(report)
    print(f"wrote {OUT / 'lake.json'} and {OUT / 'lake.png'}")
    bad = (
        report["lake"]["removes_landed"]
        or report["lake"]["version_ties"]
        or report["cross_check"]["mismatches"]
        or report["pipeline"]["rows_out"] != report["pipeline"]["expected_rows"]
        or report["lake"]["rows"] != report["pipeline"]["rows_out"]
        or not all(r["same_answer"] for r in report["queries"]["reports"].values())
    )
    return 1 if bad else 0


def run(
    resources: ProvisionedResources,
    lake: LocalLake,
    state_dir: Path,
    schools: Sequence[School],
    writes: Sequence[Write],
    ledger: Ledger,
    term: str,
    opts: argparse.Namespace,
) -> tuple[dict[str, Any], dict[str, list[float]], list[int]]:
    settings = PLATFORM_DEFINITION.analytics
    clients = AwsClients(
        region=resources.region,
        endpoint_url=resources.endpoint_url,
        tenant_role_arn=resources.tenant_role_arn,
    )
    host = resources.endpoint_url.split("://", 1)[1]
    bench = Bench(
        resources=resources,
        lake=lake,
        clients=clients,
        repositories=DynamoRepositoryFactory(clients=clients, table_name=resources.table_name),
        s3=boto3.client("s3", region_name=resources.region, endpoint_url=resources.endpoint_url),
        filesystem=pafs.S3FileSystem(endpoint_override=host, scheme="http", region=resources.region),
        duck=DuckDbLake.s3(lake.bucket, region=resources.region, endpoint_url=resources.endpoint_url),
    )
    students = sum(len(school.students) for school in schools)
    kinds = Counter(
        next(iter(w.request.values())).get("Item", {}).get("type", {}).get("S", "delete") for w in writes
    )
    console.print(
        f"[bold]lake benchmark[/]: {len(schools)} schools, {students} students, term {term}; "
        f"{len(writes)} term writes; lake buffer {settings.buffer_bytes // 1024} KiB / {settings.buffer_seconds:g} s, "
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
        plan_roster(schools, ledger)
        roster_seconds = in_writer(
            bench,
            write_roster,
            (resources.endpoint_url, resources.region, resources.table_name, resources.tenant_role_arn,
             list(schools)),
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
            return ledger.stream_records + 2 * prober.written + lake.reaper.deleted

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
    load_ages = [age for changed, age in read.ages if changed < steady_from]
    probe_ages = {
        phase: [s.seconds for s in prober.samples if s.phase == phase] for phase in ("load", "steady")
    }
    counters = stats
    expected_rows = ledger.lake_rows + prober.written
    expected_from_bench = ledger.stream_records + 2 * prober.written
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
            "evaluations": kinds["Evaluation"] - ledger.changes["MODIFY"],
            "notes": kinds["BehaviorNote"],
            "exercise_results": kinds["ExerciseResult"],
            "corrections": ledger.changes["MODIFY"],
            "deletions": len(ledger.deleted),
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
            "expected_stream_records": expected_from_bench + reaped,
            "expected_from_bench": expected_from_bench,
            "expected_rows": expected_rows,
            "expected_rows_by_type": {
                **ledger.by_type,
                "Evaluation": ledger.by_type["Evaluation"] + prober.written,
            },
            "expected_removes": ledger.changes["REMOVE"] + reaped,
            "expected_not_a_fact": sum(ledger.not_facts.values()) + prober.written,
            "bench_changes": dict(ledger.changes),
            "not_a_fact_written": {**ledger.not_facts, "Idempotency (probes)": prober.written},
        },
        "freshness": {
            "pipeline": {
                k: round(v, 3) if k != "count" else int(v) for k, v in counters["freshness"].items()
            },
            "lake_all": percentiles(age for _, age in read.ages),
            "lake_load": percentiles(load_ages),
            "lake_steady": percentiles(steady_ages),
            "probes_load": percentiles(probe_ages["load"]),
            "probes_steady": percentiles(probe_ages["steady"]),
            "probe_query_load": percentiles(prober.poll_seconds["load"]),
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
        "lake_steady": steady_ages,
        "probes_load": probe_ages["load"],
        "probes_steady": probe_ages["steady"],
    }
    return report, ages, sizes


if __name__ == "__main__":
    sys.exit(main())
