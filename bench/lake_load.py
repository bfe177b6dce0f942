"""The lake benchmark's writes: the roster and the term load (each in a process of its own), the
steady phase's live records, and the waits for the stream and the reaper to take them."""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from rich.progress import Progress, TaskID

from bench.lake_platform import Bench
from bench.lake_workload import KEYS_ONLY, SUBJECTS, Ledger, School, score_on, teacher_of
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory
from luca_grading.domain.model import Assignment, BehaviorKind, BehaviorNote, Evaluation
from luca_grading.service_layer.ports import IdempotencyRecord
from luca_kernel.grading import ScaleKind
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Course, Student, Subject, Term
from luca_platform.aws import AwsClients

ROSTER_WORKERS = 4


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
            # One conditional put, as recording does since grades carry their request's key.
            if repository.add_evaluation(evaluation) is None:
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
