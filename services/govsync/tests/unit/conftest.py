"""In-memory ports for the sync's unit tests: the period's grades (which tests correct and retract as
the grading service would: same record, version + 1), manifests, the sync's state, and a ministry
that deduplicates batches and changes by their client ids and keeps books of what it applied."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from luca_govsync.domain.changes import ChangeOutcome, GradeChange, Held, tally
from luca_govsync.domain.errors import MinistryTimeout
from luca_govsync.domain.model import (
    Attempt,
    AuditEntry,
    BatchKind,
    BatchRef,
    BatchState,
    BatchStatus,
    GradeRecord,
    RecordOutcome,
    RecordStatus,
    SyncProgress,
    SyncStatus,
)
from luca_govsync.domain.tally import ChangeKind
from luca_govsync.service_layer.tasks import SyncTasks
from luca_kernel.grading import GradingRule, ScaleKind
from luca_kernel.ids import SchoolId, SubjectId, TermId
from luca_kernel.roster import Term


def grade(n: int, school: str = "school-a", period: str = "2025-T1") -> GradeRecord:
    return GradeRecord(
        f"ev-{n:04d}", f"st-{n % 7}", "1A", "math", period, "5.5", "2025-03-01T10:00:00.000000Z"
    )


class Grades:
    def __init__(self, records: dict[tuple[str, str], list[GradeRecord]]) -> None:
        self.records = records

    def period_grades(self, school_id: str, period: str) -> list[GradeRecord]:
        return list(self.records.get((school_id, period), []))

    def _change(self, school: str, record_id: str, **values: Any) -> GradeRecord:
        for period_key, records in self.records.items():
            for index, record in enumerate(records):
                if period_key[0] == school and record.record_id == record_id:
                    records[index] = replace(record, version=record.version + 1, **values)
                    return records[index]
        raise KeyError(record_id)

    def correct(self, record_id: str, score: str, school: str = "school-a") -> GradeRecord:
        """What a correction leaves in the table: the same record, a new score, version + 1."""
        return self._change(school, record_id, score=score)

    def retract(self, record_id: str, school: str = "school-a") -> GradeRecord:
        return self._change(school, record_id, retracted=True)


class Rules:
    """School A grades on the Chilean scale; school P on percentages."""

    def rule_for(self, school_id: str, subject_id: str) -> GradingRule:
        if school_id == "school-p":
            return GradingRule(
                SubjectId(subject_id), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal("60"), decimals=0
            )
        return GradingRule(SubjectId(subject_id))


class Manifests:
    def __init__(self) -> None:
        self.objects: dict[str, list[GradeRecord]] = {}
        self.changes: dict[str, list[GradeChange]] = {}

    def put(self, key: str, records: Sequence[GradeRecord]) -> None:
        self.objects[key] = list(records)

    def get(self, key: str) -> list[GradeRecord]:
        return list(self.objects[key])

    def put_changes(self, key: str, changes: Sequence[GradeChange]) -> None:
        self.changes[key] = list(changes)

    def get_changes(self, key: str) -> list[GradeChange]:
        return list(self.changes[key])


class Store:
    """The sync's state as the table keeps it: runs, batch states, one item per record."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str, str], dict[str, object]] = {}
        self.batches: dict[tuple[str, str, str, int], BatchState] = {}
        self.records: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.trail: list[AuditEntry] = []
        self.answer_lost: set[tuple[str, str, str, int]] = set()

    def held(self, school_id: str, period: str) -> dict[str, Held]:
        return {
            rid: Held(
                rid,
                item["status"],
                item["version"],
                item.get("retracted", False),
                (item["change_kind"], item["change_version"]) if "change_kind" in item else None,
            )
            for (s, p, rid), item in self.records.items()
            if (s, p) == (school_id, period)
        }

    def accepted_ids(self, school_id: str, period: str) -> set[str]:
        return {rid for rid, h in self.held(school_id, period).items() if h.status is RecordStatus.ACCEPTED}

    def start_run(self, school_id: str, period: str, sync_id: str, started_by: str, records: int) -> None:
        self.runs[(school_id, period, sync_id)] = {"started_by": started_by, "records": records}

    def put_batches(self, refs: Sequence[BatchRef]) -> None:
        for ref in refs:
            self.batches.setdefault(self._key(ref), BatchState(ref, BatchStatus.PENDING))

    @staticmethod
    def _key(ref: BatchRef) -> tuple[str, str, str, int]:
        return (ref.school_id, ref.period, ref.sync_id, ref.number)

    def begin_attempt(self, ref: BatchRef) -> Attempt:
        state = self.batches.get(self._key(ref), BatchState(ref, BatchStatus.PENDING))
        attempts = state.attempts + 1
        status = BatchStatus.SUBMITTING if attempts == 1 else BatchStatus.RETRYING
        self.batches[self._key(ref)] = replace(state, attempts=attempts, status=status)
        return Attempt(attempts, answer_lost=self._key(ref) in self.answer_lost)

    def attempt_failed(self, ref: BatchRef, error: str, *, answer_lost: bool = False) -> None:
        state = self.batches[self._key(ref)]
        self.batches[self._key(ref)] = replace(state, status=BatchStatus.RETRYING, last_error=error)
        if answer_lost:
            self.answer_lost.add(self._key(ref))
        else:
            self.answer_lost.discard(self._key(ref))

    def batch_done(self, ref: BatchRef, outcomes: Sequence[RecordOutcome]) -> None:
        for outcome in outcomes:
            self.records[(ref.school_id, ref.period, outcome.record_id)] = {
                "status": outcome.status,
                "version": outcome.version,
                "outcome": outcome,
                "client_batch_id": ref.client_batch_id,
            }
        self.answer_lost.discard(self._key(ref))
        state = self.batches[self._key(ref)]
        rejections = tuple(o for o in outcomes if o.status is RecordStatus.REJECTED)
        accepted = len(outcomes) - len(rejections)
        self.batches[self._key(ref)] = replace(
            state, status=BatchStatus.DONE, accepted=accepted, rejected=len(rejections), rejections=rejections
        )

    def change_outcomes(self, ref: BatchRef, changes: Sequence[GradeChange]) -> dict[str, ChangeOutcome]:
        found = {}
        for change in changes:
            item = self.records.get((ref.school_id, ref.period, change.record.record_id), {})
            answer = item.get("change")
            if answer is not None and (answer.kind, answer.version) == (change.kind, change.version):
                found[change.record.record_id] = answer
        return found

    def record_changes(
        self, ref: BatchRef, outcomes: Sequence[ChangeOutcome], so_far: Sequence[ChangeOutcome]
    ) -> None:
        for outcome in outcomes:
            item = self.records[(ref.school_id, ref.period, outcome.record_id)]
            item.update(change=outcome, change_kind=outcome.kind, change_version=outcome.version)
            if outcome.status is RecordStatus.ACCEPTED:
                item["version"] = outcome.version
                item["retracted"] = item.get("retracted", False) or outcome.kind is ChangeKind.RETRACTION
        state = self.batches[self._key(ref)]
        self.batches[self._key(ref)] = replace(state, changes=tally(so_far))

    def changes_done(self, ref: BatchRef, outcomes: Sequence[ChangeOutcome]) -> None:
        state = self.batches[self._key(ref)]
        rejections = tuple(o.as_record_outcome() for o in outcomes if o.status is RecordStatus.REJECTED)
        self.batches[self._key(ref)] = replace(
            state,
            status=BatchStatus.DONE,
            accepted=len(outcomes) - len(rejections),
            rejected=len(rejections),
            rejections=rejections,
            changes=tally(outcomes),
        )

    def batch_failed(self, ref: BatchRef, error: str) -> None:
        state = self.batches[self._key(ref)]
        self.batches[self._key(ref)] = replace(state, status=BatchStatus.FAILED, last_error=error)

    def audit(self, entry: AuditEntry) -> None:
        self.trail.append(entry)

    def batch_states(self, school_id: str, period: str, sync_id: str) -> list[BatchState]:
        return [b for k, b in sorted(self.batches.items()) if k[:3] == (school_id, period, sync_id)]

    def sync_ids(self, school_id: str, period: str) -> list[str]:
        return [k[2] for k in reversed(self.runs) if k[:2] == (school_id, period)]

    def progress(self, school_id: str, period: str, sync_id: str | None = None) -> SyncProgress | None:
        run = next(
            (
                (k, v)
                for k, v in reversed(self.runs.items())
                if k[:2] == (school_id, period) and sync_id in (None, k[2])
            ),
            None,
        )
        if run is None:
            return None
        (_, _, run_id), info = run
        batches = tuple(self.batch_states(school_id, period, run_id))
        submitted = [
            b for b in batches if b.status is BatchStatus.DONE and b.ref.kind is BatchKind.SUBMISSION
        ]
        return SyncProgress(
            school_id,
            period,
            run_id,
            SyncStatus.RUNNING,
            batches,
            int(str(info["records"])),
            sum(b.accepted for b in submitted),
            tuple(r for b in submitted for r in b.rejections),
        )

    def finish_run(self, progress: SyncProgress) -> None:
        self.runs[(progress.school_id, progress.period, progress.sync_id)]["status"] = progress.status


class Ministry:
    """Accepts everything but the students it is told to reject; can fail the next calls. It
    deduplicates batches by their id and changes by theirs, and keeps what it holds per record."""

    def __init__(
        self, reject_students: frozenset[str] = frozenset(), failures: list[Exception] | None = None
    ):
        self.reject_students = reject_students
        self.failures = list(failures or [])
        self.calls: list[str] = []
        self.correlation_ids: list[str | None] = []  # per call, in the calls' order
        self.accepted: dict[tuple[str, str, str], int] = {}
        self.seen: dict[str, list[RecordOutcome]] = {}
        self.holds: dict[tuple[str, str, str], tuple[int, str, bool]] = {}  # version, grade, retracted
        self.answers: dict[str, ChangeOutcome] = {}
        self.applied: Counter[tuple[str, str, str, ChangeKind, int]] = Counter()
        # Calls that apply the change, then fail (the answer is lost on the way back).
        self.lose_answers: set[str] = set()
        # Batches the ministry records, then times out on (once each); reads of a held verdict.
        self.lose_submit_answers: set[str] = set()
        self.fetches: list[str] = []
        self.fetch_failures: list[Exception] = []

    def _fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def submit(
        self,
        client_batch_id: str,
        school_code: str,
        period: str,
        records: Sequence[GradeRecord],
        *,
        correlation_id: str | None = None,
    ) -> list[RecordOutcome]:
        self.calls.append(client_batch_id)
        self.correlation_ids.append(correlation_id)
        self._fail()
        if client_batch_id in self.seen:  # the ministry's dedupe by client batch id
            return self.seen[client_batch_id]
        outcomes = []
        for record in records:
            if record.student_id in self.reject_students:
                outcomes.append(
                    RecordOutcome(
                        record.record_id,
                        record.student_id,
                        RecordStatus.REJECTED,
                        "UNKNOWN_STUDENT",
                        "no such student",
                    )
                )
            else:
                key = (school_code, period, record.record_id)
                self.accepted[key] = self.accepted.get(key, 0) + 1
                self.holds[key] = (record.version, record.score, False)
                outcomes.append(RecordOutcome(record.record_id, record.student_id, RecordStatus.ACCEPTED))
        self.seen[client_batch_id] = outcomes
        if client_batch_id in self.lose_submit_answers:
            self.lose_submit_answers.discard(client_batch_id)
            raise MinistryTimeout("recorded, but the answer never came back")
        return outcomes

    def fetch(
        self,
        client_batch_id: str,
        *,
        records: Sequence[GradeRecord] | None = None,
        correlation_id: str | None = None,
    ) -> list[RecordOutcome] | None:
        self.fetches.append(client_batch_id)
        if self.fetch_failures:
            raise self.fetch_failures.pop(0)
        return self.seen.get(client_batch_id)

    def amend(
        self,
        client_change_id: str,
        school_code: str,
        record: GradeRecord,
        *,
        correlation_id: str | None = None,
    ) -> ChangeOutcome:
        return self._change(ChangeKind.AMENDMENT, client_change_id, school_code, record, correlation_id)

    def retract(
        self,
        client_change_id: str,
        school_code: str,
        record: GradeRecord,
        *,
        correlation_id: str | None = None,
    ) -> ChangeOutcome:
        return self._change(ChangeKind.RETRACTION, client_change_id, school_code, record, correlation_id)

    def _change(
        self,
        kind: ChangeKind,
        client_change_id: str,
        school_code: str,
        record: GradeRecord,
        correlation_id: str | None = None,
    ) -> ChangeOutcome:
        self.calls.append(client_change_id)
        self.correlation_ids.append(correlation_id)
        self._fail()
        if client_change_id in self.answers:  # the ministry's dedupe by client change id
            return replace(self.answers[client_change_id], replayed=True)
        key = (school_code, record.period, record.record_id)
        held = self.holds.get(key)
        status, code = RecordStatus.ACCEPTED, ""
        if held is None:
            status, code = RecordStatus.REJECTED, "RECORD_NOT_FOUND"
        elif held[2]:
            status, code = RecordStatus.REJECTED, "RECORD_RETRACTED"
        elif record.version <= held[0]:
            status, code = RecordStatus.REJECTED, "STALE_VERSION"
        if status is RecordStatus.ACCEPTED and held is not None:
            self.applied[(*key, kind, record.version)] += 1
            retracted = kind is ChangeKind.RETRACTION
            self.holds[key] = (record.version, held[1] if retracted else record.score, retracted)
        answer = ChangeOutcome(
            record.record_id, record.student_id, kind, record.version, status, code, code.lower()
        )
        self.answers[client_change_id] = answer
        if client_change_id in self.lose_answers:
            self.lose_answers.discard(client_change_id)
            raise MinistryTimeout(f"no answer in time ({client_change_id})")
        return answer


_CLOSED_AT = datetime(2025, 4, 30, 18, 0, tzinfo=UTC)


class Terms:
    """School terms: closed unless a test opens one (or removes it)."""

    def __init__(self) -> None:
        self.open: set[tuple[str, str]] = set()
        self.missing: set[tuple[str, str]] = set()

    def term(self, school_id: str, term_id: str) -> Term | None:
        if (school_id, term_id) in self.missing:
            return None
        closed = None if (school_id, term_id) in self.open else _CLOSED_AT
        return Term(SchoolId(school_id), TermId(term_id), term_id, closed_at=closed)


class Executions:
    """Step Functions by execution name: a second start of a name finds the first; a test ends them."""

    def __init__(self) -> None:
        self.started: dict[str, dict[str, object]] = {}
        self.statuses: dict[str, str] = {}

    def start(self, name: str, payload: dict[str, object]) -> tuple[str, bool]:
        fresh = name not in self.started
        self.started.setdefault(name, payload)
        self.statuses.setdefault(name, "RUNNING")
        return f"arn:aws:states:us-east-1:1:execution:sync:{name}", fresh

    def status(self, name: str) -> str | None:
        return self.statuses.get(name)

    def finish(self, status: str = "SUCCEEDED") -> None:
        for name in self.statuses:
            self.statuses[name] = status


@pytest.fixture
def world() -> tuple[SyncTasks, Grades, Manifests, Store, Ministry]:
    grades = Grades(
        {
            ("school-a", "2025-T1"): [grade(n) for n in range(25)],
            ("school-b", "2025-T1"): [grade(99, "school-b")],
        }
    )
    manifests, store, ministry = Manifests(), Store(), Ministry(reject_students=frozenset({"st-3"}))
    tasks = SyncTasks(
        grades=grades,
        rules=Rules(),
        manifests=manifests,
        store=store,
        ministry=ministry,
        batch_size=10,
        clock=lambda: "2026-04-01T06:00:00Z",
    )
    return tasks, grades, manifests, store, ministry


@pytest.fixture
def grade_of() -> Any:
    """``grade_of(n, school=..., period=...)``: the n-th grade of a school's term, version 1."""
    return grade


@pytest.fixture
def terms() -> Terms:
    """Every school's terms closed; a test opens one (``terms.open``) or removes it (``terms.missing``)."""
    return Terms()


@pytest.fixture
def executions() -> Executions:
    return Executions()
