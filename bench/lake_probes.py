"""The lake benchmark's probes: change -> queryable, measured from outside the pipeline."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bench.lake_workload import PROBE_PREFIX
from luca_analytics.adapters.duckdb_lake import DuckDbLake
from luca_analytics.service_layer.reports import ReportName
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory
from luca_grading.domain.model import Evaluation
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Student


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
        repository = self._repositories.for_school(school)  # its scoped client, made before the clock starts
        phase = self.phase
        try:
            # The school's one student, as the service checks the enrolment before it writes.
            repository.put_student(Student(school, StudentId("st-probe"), CourseId("1A"), "Probe"))
            self.students += 1
            written_at = time.monotonic()
            if repository.add_evaluation(evaluation) is not None:
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
