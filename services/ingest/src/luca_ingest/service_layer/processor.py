"""The grade processor's use case: one batch of queue records in, one outcome per record out.

A batch mixes schools. Per school it reads once (which events are already stored, which students
and subjects exist), grades each new event with the school's rule, and writes every new result in
one conditional write; a record that cannot be processed fails alone, never the batch. Records that
repeat an event already in the batch share its outcome and write nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from luca_ingest.domain.events import (
    ExerciseResult,
    Reason,
    StudentEvent,
    Unprocessable,
    event_from_contract,
    grade,
)
from luca_ingest.service_layer.ports import EventStore, RuleSource
from luca_kernel.ids import SchoolId


@dataclass(frozen=True, slots=True)
class IncomingRecord:
    record_id: str  # the queue's message id
    body: str
    school_id: str | None  # the message attribute set at the edge from the verified token
    correlation_id: str = ""
    # Set at the edge when a student's token sent the event (its custom:student_id): a student may
    # submit only their own events. Absent for teachers' and services' submissions.
    submitted_by_student: str | None = None


class Status(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # already stored (resent or redelivered): success, no second effect
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    status: Status
    school_id: str | None = None
    event_id: str | None = None
    reason: str | None = None
    detail: str = ""
    # A permanent failure will fail again on retry; a transient one (throttling...) may not.
    permanent: bool = False


@dataclass(slots=True)
class BatchOutcome:
    records: dict[str, RecordOutcome] = field(default_factory=dict)
    write_calls: int = 0
    # Seconds spent per school (read, grade, write): the latency metric's samples.
    school_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        return [rid for rid, outcome in self.records.items() if outcome.status is Status.FAILED]


Decoder = Callable[[str], Mapping[str, Any]]


class GradeProcessor:
    def __init__(
        self,
        store: EventStore,
        rules: RuleSource,
        decode: Decoder,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._rules = rules
        self._decode = decode
        self._clock = clock

    def process(self, records: Sequence[IncomingRecord], *, write: bool = True) -> BatchOutcome:
        """Each record's outcome. With ``write=False`` nothing is written: what would be stored is
        reported as STORED (the DLQ tooling uses this to explain why a message failed)."""
        outcome = BatchOutcome()
        primary: dict[tuple[str, str, str], str] = {}  # event -> the first record carrying it
        repeats: dict[str, tuple[str, str, str]] = {}
        by_school: dict[SchoolId, list[tuple[str, StudentEvent]]] = {}
        for record in records:
            try:
                event = self._event(record)
            except Unprocessable as exc:
                outcome.records[record.record_id] = RecordOutcome(
                    Status.FAILED, record.school_id, None, exc.reason.value, str(exc), permanent=True
                )
                continue
            key = (event.school_id, event.student_id, event.event_id)
            if key in primary:
                repeats[record.record_id] = key  # the same event twice in one batch: one effect
                continue
            primary[key] = record.record_id
            by_school.setdefault(event.school_id, []).append((record.record_id, event))
        for school_id, entries in by_school.items():
            started = time.perf_counter()
            self._process_school(school_id, entries, outcome, write=write)
            outcome.school_seconds[school_id] = outcome.school_seconds.get(school_id, 0.0) + (
                time.perf_counter() - started
            )
        for record_id, repeated in repeats.items():
            first = outcome.records[primary[repeated]]
            outcome.records[record_id] = (
                RecordOutcome(Status.DUPLICATE, first.school_id, first.event_id)
                if first.status is not Status.FAILED
                else first
            )
        return outcome

    def _event(self, record: IncomingRecord) -> StudentEvent:
        if not record.school_id:
            raise Unprocessable(Reason.NO_SCHOOL, "the message has no school_id attribute")
        body = self._decode(record.body)
        event = event_from_contract(record.school_id, body, record.correlation_id)
        if record.submitted_by_student is not None and record.submitted_by_student != event.student_id:
            raise Unprocessable(
                Reason.NOT_THE_SUBMITTER, "a student's token may submit only that student's own events"
            )
        return event

    def _process_school(
        self,
        school_id: SchoolId,
        entries: list[tuple[str, StudentEvent]],
        outcome: BatchOutcome,
        *,
        write: bool,
    ) -> None:
        try:
            snapshot = self._store.snapshot(school_id, [event for _, event in entries])
        except Exception as exc:
            for record_id, event in entries:
                outcome.records[record_id] = _transient(event, exc)
            return
        now = self._clock()
        pending: list[tuple[str, ExerciseResult]] = []
        for record_id, event in entries:
            if (event.student_id, event.event_id) in snapshot.stored_events:
                outcome.records[record_id] = RecordOutcome(Status.DUPLICATE, school_id, event.event_id)
                continue
            try:
                course = snapshot.students.get(event.student_id)
                if course is None:
                    raise Unprocessable(
                        Reason.UNKNOWN_STUDENT, f"student {event.student_id!r} is not enrolled"
                    )
                if course != event.course_id:
                    raise Unprocessable(
                        Reason.NOT_ENROLLED,
                        f"student {event.student_id!r} is not in course {event.course_id!r}",
                    )
                if event.subject_id not in snapshot.subjects:
                    raise Unprocessable(
                        Reason.UNKNOWN_SUBJECT, f"subject {event.subject_id!r} does not exist"
                    )
                result = grade(event, self._rules.rule_for(school_id, event.subject_id), now)
            except Unprocessable as exc:
                outcome.records[record_id] = RecordOutcome(
                    Status.FAILED, school_id, event.event_id, exc.reason.value, str(exc), permanent=True
                )
                continue
            except Exception as exc:
                outcome.records[record_id] = _transient(event, exc)
                continue
            pending.append((record_id, result))
        if not pending:
            return
        if not write:
            for record_id, result in pending:
                outcome.records[record_id] = RecordOutcome(Status.STORED, school_id, result.event.event_id)
            return
        try:
            written = self._store.write_new(school_id, [result for _, result in pending])
        except Exception as exc:
            for record_id, result in pending:
                outcome.records[record_id] = _transient(result.event, exc)
            return
        outcome.write_calls += written.write_calls
        for record_id, result in pending:
            key = (result.event.student_id, result.event.event_id)
            if key in written.written:
                outcome.records[record_id] = RecordOutcome(Status.STORED, school_id, result.event.event_id)
            elif key in written.already_stored:
                outcome.records[record_id] = RecordOutcome(Status.DUPLICATE, school_id, result.event.event_id)
            else:  # the store must account for every result; if not, nothing is assumed stored
                outcome.records[record_id] = _transient(result.event, RuntimeError("write outcome unknown"))


def _transient(event: StudentEvent, exc: Exception) -> RecordOutcome:
    return RecordOutcome(
        Status.FAILED, event.school_id, event.event_id, "transient", f"{type(exc).__name__}: {exc}"
    )
