"""The state machine's tasks: prepare, submit one batch, record a batch that failed for good, report.

Each task is a plain function of its input and the ports; the Lambda handlers only decode events
and call these. Every step leaves an audit entry (who, when, what, how it ended) in the table.
A batch is either a submission (new records, one call) or changes (amendments and retractions of
records the ministry holds, one call each: ``service_layer.changes``); both go through the same
states, retries, DLQ and audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from luca_govsync.domain.breaker import BreakerPolicy
from luca_govsync.domain.changes import GradeChange, changes_batch_id, chunk_changes, plan_sync
from luca_govsync.domain.errors import MinistryError
from luca_govsync.domain.model import (
    AuditEntry,
    BatchKind,
    BatchRef,
    BatchStatus,
    GradeRecord,
    InvalidSyncRequest,
    RecordStatus,
    SyncKey,
    SyncProgress,
    chunk,
    ministry_grade,
    submission_batch_id,
)
from luca_govsync.domain.tally import ChangeKind
from luca_govsync.service_layer.changes import SYSTEM_ACTOR, submit_changes
from luca_govsync.service_layer.pacing import Pacing, Paused
from luca_govsync.service_layer.ports import GradeSource, ManifestStore, Ministry, Rules, SyncStore


def manifest_key(school_id: str, period: str, sync_id: str, number: int) -> str:
    """Manifests live under their school's prefix, like every other key of the platform."""
    return f"{school_id}/{period}/{sync_id}/batch-{number:05d}.json"


@dataclass(frozen=True, slots=True)
class Prepared:
    sync_id: str
    school_id: str
    period: str
    records_total: int
    already_accepted: int
    batches: tuple[BatchRef, ...]
    amendments: int = 0
    retractions: int = 0
    correlation_id: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "sync_id": self.sync_id,
            "school_id": self.school_id,
            "period": self.period,
            "records_total": self.records_total,
            "already_accepted": self.already_accepted,
            "amendments": self.amendments,
            "retractions": self.retractions,
            "batches": [batch.to_json() for batch in self.batches],
            # The next states (the Map's items carry it in each batch, Report reads it here).
            "correlation_id": self.correlation_id,
        }


@dataclass(frozen=True, slots=True)
class Submitted:
    number: int
    client_batch_id: str
    accepted: int
    rejected: int

    def to_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "client_batch_id": self.client_batch_id,
            "status": BatchStatus.DONE.value,
            "accepted": self.accepted,
            "rejected": self.rejected,
        }


class SyncTasks:
    def __init__(
        self,
        *,
        grades: GradeSource,
        rules: Rules,
        manifests: ManifestStore,
        store: SyncStore,
        ministry: Ministry,
        batch_size: int,
        clock: Callable[[], str],
        pacing: Pacing | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._grades, self._manifests, self._store, self._ministry = grades, manifests, store, ministry
        self._pacing = pacing
        self._rules = rules
        self._batch_size = batch_size
        self._clock = clock

    def _audit(
        self,
        ref: BatchRef | SyncKey,
        sync_id: str,
        step: str,
        actor: str,
        what: str,
        outcome: str,
        correlation_id: str = "",
    ) -> None:
        self._store.audit(
            AuditEntry(
                school_id=ref.school_id,
                period=ref.period,
                sync_id=sync_id,
                step=step,
                actor=actor,
                what=what,
                outcome=outcome,
                at=self._clock(),
                correlation_id=correlation_id or (ref.correlation_id if isinstance(ref, BatchRef) else ""),
            )
        )

    def prepare(self, key: SyncKey, sync_id: str, started_by: str, correlation_id: str = "") -> Prepared:
        """What the ministry does not hold yet, chunked, each chunk a manifest in S3: the period's
        records it never accepted (in their latest state), then amendments and retractions of the
        ones it holds in an older version (``domain.changes``). Every batch carries the sync's
        ``correlation_id`` (the request that started it)."""
        if not sync_id:
            raise InvalidSyncRequest("a sync needs its id (the execution name)")
        grades = self._grades.period_grades(key.school_id, key.period)
        plan = plan_sync(key.school_id, grades, self._store.held(key.school_id, key.period))
        refs = [
            self._submission_batch(key, sync_id, number, records)
            for number, records in enumerate(
                chunk([self._on_ministry_scale(key, r) for r in plan.submissions], self._batch_size), start=1
            )
        ]
        changes = [replace(c, record=self._on_ministry_scale(key, c.record)) for c in plan.changes]
        for batch in chunk_changes(changes):
            refs.append(self._changes_batch(key, sync_id, len(refs) + 1, batch))
        refs = [ref.for_request(correlation_id) for ref in refs]
        self._store.start_run(key.school_id, key.period, sync_id, started_by, len(plan.submissions))
        self._store.put_batches(refs)
        self._audit(
            key,
            sync_id,
            "prepare",
            started_by or SYSTEM_ACTOR,
            f"{len(grades)} grades in the period: {plan.unchanged} held by the ministry as they are, "
            f"{len(plan.submissions)} to submit, {plan.amendments} amendments, {plan.retractions} "
            f"retractions; {plan.withheld} retracted before the ministry took them (not sent), "
            f"{plan.judged} changes it already answered",
            f"{len(refs)} batches of at most {self._batch_size} records",
            correlation_id,
        )
        return Prepared(
            sync_id,
            key.school_id,
            key.period,
            len(plan.submissions),
            plan.unchanged,
            tuple(refs),
            plan.amendments,
            plan.retractions,
            correlation_id,
        )

    def _on_ministry_scale(self, key: SyncKey, record: GradeRecord) -> GradeRecord:
        if record.retracted:  # a retraction carries no grade
            return record
        rule = self._rules.rule_for(key.school_id, record.subject_id)
        return replace(record, score=ministry_grade(record.score, rule))

    def _submission_batch(
        self, key: SyncKey, sync_id: str, number: int, records: list[GradeRecord]
    ) -> BatchRef:
        ref = BatchRef(
            school_id=key.school_id,
            period=key.period,
            sync_id=sync_id,
            number=number,
            client_batch_id=submission_batch_id(key.school_id, key.period, records),
            manifest_key=manifest_key(key.school_id, key.period, sync_id, number),
            records=len(records),
        )
        self._manifests.put(ref.manifest_key, records)
        return ref

    def _changes_batch(self, key: SyncKey, sync_id: str, number: int, changes: list[GradeChange]) -> BatchRef:
        ref = BatchRef(
            school_id=key.school_id,
            period=key.period,
            sync_id=sync_id,
            number=number,
            client_batch_id=changes_batch_id(key.school_id, key.period, changes),
            manifest_key=manifest_key(key.school_id, key.period, sync_id, number),
            records=len(changes),
            kind=BatchKind.CHANGES,
            retractions=sum(1 for c in changes if c.kind is ChangeKind.RETRACTION),
        )
        self._manifests.put_changes(ref.manifest_key, changes)
        return ref

    def submit(
        self, ref: BatchRef, breaker: BreakerPolicy | None = None, paused_seconds: int = 0
    ) -> Submitted | Paused:
        """One attempt at one batch, unless the school's breaker holds it back (``Paused``: the state
        machine waits, then asks again; ``paused_seconds`` is how long it has been held so far). A
        ministry error is recorded and raised again: the state machine decides whether to retry
        (transient) or to send the batch to the DLQ (anything else). Without a breaker policy (or
        pacing) every attempt calls the ministry."""
        pacing = self._pacing if breaker is not None else None
        if pacing is None or breaker is None:
            return self._attempt(ref)
        admission = pacing.admit(ref, breaker, paused_seconds)
        if not admission.call:
            paused = Paused(
                ref.number,
                ref.client_batch_id,
                admission.wait_seconds,
                paused_seconds + admission.wait_seconds,
            )
            self._audit(
                ref,
                ref.sync_id,
                "pause",
                SYSTEM_ACTOR,
                f"batch {ref.number} ({ref.client_batch_id})",
                f"the school's breaker is open: no call, waiting {paused.wait_seconds} s "
                f"(held {paused.paused_seconds} s of {breaker.pause_budget_seconds} s)",
            )
            return paused
        try:
            submitted = self._attempt(ref)
        except MinistryError as error:
            pacing.record(ref, breaker, error)
            raise
        pacing.record(ref, breaker, None)
        return submitted

    def _attempt(self, ref: BatchRef) -> Submitted:
        if ref.kind is BatchKind.CHANGES:
            accepted, rejected = submit_changes(
                ref, store=self._store, manifests=self._manifests, ministry=self._ministry, audit=self._audit
            )
            return Submitted(ref.number, ref.client_batch_id, accepted, rejected)
        attempt = self._store.begin_attempt(ref)
        what = f"batch {ref.number} ({ref.records} records, {ref.client_batch_id}), attempt {attempt.number}"
        records = self._manifests.get(ref.manifest_key)
        if len(records) != ref.records:
            raise InvalidSyncRequest(
                f"manifest {ref.manifest_key} holds {len(records)} records, the reference says {ref.records}"
            )
        # After a lost answer the ministry may hold the batch: ask for its verdict before sending
        # the records again (a GET, not another upload of the batch). Until it answers, the fate of
        # the batch stays unknown.
        unknown = attempt.answer_lost
        try:
            outcomes = None
            if unknown:
                outcomes = self._ministry.fetch(
                    ref.client_batch_id, records=records, correlation_id=ref.correlation_id or None
                )
                unknown = False
                if outcomes is not None:
                    what += " (verdict read after a lost answer)"
            if outcomes is None:
                outcomes = self._ministry.submit(
                    ref.client_batch_id,
                    ref.school_id,
                    ref.period,
                    records,
                    correlation_id=ref.correlation_id or None,
                )
        except MinistryError as error:
            reason = f"{type(error).__name__}: {error.detail}"
            self._store.attempt_failed(ref, reason, answer_lost=unknown or error.may_have_landed)
            self._audit(ref, ref.sync_id, "submit", SYSTEM_ACTOR, what, reason)
            raise
        # Each verdict is on the version sent: what an accepted record's amendments start from.
        versions = {record.record_id: record.version for record in records}
        outcomes = [replace(o, version=versions.get(o.record_id, o.version)) for o in outcomes]
        self._store.batch_done(ref, outcomes)
        accepted = sum(1 for outcome in outcomes if outcome.status is RecordStatus.ACCEPTED)
        rejected = len(outcomes) - accepted
        self._audit(
            ref, ref.sync_id, "submit", SYSTEM_ACTOR, what, f"accepted {accepted}, rejected {rejected}"
        )
        return Submitted(ref.number, ref.client_batch_id, accepted, rejected)

    def record_failure(self, ref: BatchRef, error: str, cause: str) -> dict[str, object]:
        """A batch that failed for good (its DLQ message is already sent): its state and an audit entry."""
        reason = f"{error}: {cause}"[:1000]
        self._store.batch_failed(ref, reason)
        self._audit(
            ref,
            ref.sync_id,
            "dead-letter",
            SYSTEM_ACTOR,
            f"batch {ref.number} ({ref.client_batch_id})",
            f"sent to the DLQ after {error}",
        )
        return {
            "number": ref.number,
            "client_batch_id": ref.client_batch_id,
            "status": BatchStatus.FAILED.value,
            "error": error,
        }

    def report(self, key: SyncKey, sync_id: str, correlation_id: str = "") -> SyncProgress:
        progress = self._store.progress(key.school_id, key.period, sync_id)
        if progress is None:
            raise InvalidSyncRequest(f"no sync {sync_id} of {key.school_id} for {key.period}")
        finished = SyncProgress(
            school_id=progress.school_id,
            period=progress.period,
            sync_id=progress.sync_id,
            status=progress.final_status(),
            batches=progress.batches,
            records_total=progress.records_total,
            accepted=progress.accepted,
            rejected=progress.rejected,
            started_by=progress.started_by,
            started_at=progress.started_at,
            finished_at=self._clock(),
        )
        self._store.finish_run(finished)
        amendments, retractions = finished.amendments, finished.retractions
        self._audit(
            key,
            sync_id,
            "report",
            SYSTEM_ACTOR,
            f"{len(finished.batches)} batches, {finished.records_total} records, "
            f"{amendments.sent} amendments, {retractions.sent} retractions",
            f"{finished.status.value}: accepted {finished.accepted}, rejected {len(finished.rejected)}; "
            f"amendments accepted {amendments.accepted}, rejected {amendments.rejected}, failed "
            f"{amendments.failed}; retractions accepted {retractions.accepted}, rejected "
            f"{retractions.rejected}, failed {retractions.failed}; "
            f"batches failed {finished.count(BatchStatus.FAILED)}",
            correlation_id,
        )
        return finished
