"""The grade processor's use case: one batch of queue records in, one outcome per record out.

A batch mixes schools. It reads once for all of them (which events are already stored, which
students and subjects exist, the cold grading rules), grades each new event with its school's rule,
and writes every new result of every school in one conditional write; a record that cannot be
processed fails alone, never the batch. Records that repeat an event already in the batch share its
outcome and write nothing.
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
from luca_ingest.service_layer.ports import EventStore, RuleSource, SchoolSnapshot
from luca_kernel.ids import SchoolId, SubjectId, is_school_id


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
    # Seconds until each school's records were settled (the batch's read, grading, write): the
    # latency metric's samples.
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
        started = time.perf_counter()
        self._process_schools(by_school, outcome, write=write)
        elapsed = time.perf_counter() - started
        for school_id in by_school:
            outcome.school_seconds[school_id] = elapsed
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
        if not is_school_id(record.school_id):  # the edge sets it from a token; anything else is forged
            raise Unprocessable(Reason.NO_SCHOOL, "the message's school_id attribute is not a school id")
        body = self._decode(record.body)
        event = event_from_contract(record.school_id, body, record.correlation_id)
        if record.submitted_by_student is not None and record.submitted_by_student != event.student_id:
            raise Unprocessable(
                Reason.NOT_THE_SUBMITTER, "a student's token may submit only that student's own events"
            )
        return event

    def _process_schools(
        self,
        by_school: dict[SchoolId, list[tuple[str, StudentEvent]]],
        outcome: BatchOutcome,
        *,
        write: bool,
    ) -> None:
        events = {school: [event for _, event in entries] for school, entries in by_school.items()}
        cold = {
            school: self._rules.cold(school, frozenset(SubjectId(e.subject_id) for e in school_events))
            for school, school_events in events.items()
        }
        try:
            snapshots = self._store.snapshot(events, cold)
        except Exception as exc:
            snapshots = dict.fromkeys(by_school, exc)
        now = self._clock()
        pending: list[tuple[str, ExerciseResult]] = []
        for school_id, entries in by_school.items():
            snapshot = snapshots.get(school_id) or RuntimeError("the store returned no snapshot")
            if isinstance(snapshot, Exception):
                for record_id, event in entries:
                    outcome.records[record_id] = _transient(event, snapshot)
                continue
            for record_id, event in entries:
                settled = self._grade(school_id, record_id, event, snapshot, now)
                if isinstance(settled, RecordOutcome):
                    outcome.records[record_id] = settled
                else:
                    pending.append((record_id, settled))
        if not pending:
            return
        if not write:
            for record_id, result in pending:
                outcome.records[record_id] = RecordOutcome(
                    Status.STORED, result.event.school_id, result.event.event_id
                )
            return
        try:
            written = self._store.write_new([result for _, result in pending])
        except Exception as exc:
            for record_id, result in pending:
                outcome.records[record_id] = _transient(result.event, exc)
            return
        outcome.write_calls += written.write_calls
        for record_id, result in pending:
            event = result.event
            key = (event.school_id, event.student_id, event.event_id)
            if key in written.written:
                outcome.records[record_id] = RecordOutcome(Status.STORED, event.school_id, event.event_id)
            elif key in written.already_stored:
                outcome.records[record_id] = RecordOutcome(Status.DUPLICATE, event.school_id, event.event_id)
            else:  # the store must account for every result; if not, nothing is assumed stored
                error = written.errors.get(event.school_id) or RuntimeError("write outcome unknown")
                outcome.records[record_id] = _transient(event, error)

    def _grade(
        self,
        school_id: SchoolId,
        record_id: str,
        event: StudentEvent,
        snapshot: SchoolSnapshot,
        now: datetime,
    ) -> RecordOutcome | ExerciseResult:
        """The event's result, or the outcome that settles it without a write."""
        if (event.student_id, event.event_id) in snapshot.stored_events:
            return RecordOutcome(Status.DUPLICATE, school_id, event.event_id)
        try:
            course = snapshot.students.get(event.student_id)
            if course is None:
                raise Unprocessable(Reason.UNKNOWN_STUDENT, f"student {event.student_id!r} is not enrolled")
            if course != event.course_id:
                raise Unprocessable(
                    Reason.NOT_ENROLLED,
                    f"student {event.student_id!r} is not in course {event.course_id!r}",
                )
            if event.subject_id not in snapshot.subjects:
                raise Unprocessable(Reason.UNKNOWN_SUBJECT, f"subject {event.subject_id!r} does not exist")
            rule = self._rules.rule_for(school_id, SubjectId(event.subject_id), snapshot.rules)
            return grade(event, rule, now)
        except Unprocessable as exc:
            return RecordOutcome(
                Status.FAILED, school_id, event.event_id, exc.reason.value, str(exc), permanent=True
            )
        except Exception as exc:
            return _transient(event, exc)


def _transient(event: StudentEvent, exc: Exception) -> RecordOutcome:
    return RecordOutcome(
        Status.FAILED, event.school_id, event.event_id, "transient", f"{type(exc).__name__}: {exc}"
    )
