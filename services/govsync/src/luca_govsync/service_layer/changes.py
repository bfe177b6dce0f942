"""Submitting a changes batch: amendments and retractions of records the ministry holds.

Each change is one ministry call under its own client id (``domain.changes.client_change_id``). An
attempt sends every change of the batch not answered yet, all at once, and stores each answer as it
gets it. If some calls failed, the attempt is recorded and the worst error raised (a refusal before
a transient error), exactly as a submission's: the state machine retries or dead-letters the batch,
and the next attempt (a retry, a redrive) sends only the changes still unanswered. A change whose
answer was lost is sent again under the same id, and the ministry answers it with its first answer.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from luca_govsync.domain.changes import ChangeOutcome, GradeChange
from luca_govsync.domain.errors import MinistryError
from luca_govsync.domain.model import BatchRef, InvalidSyncRequest, RecordStatus
from luca_govsync.domain.tally import ChangeKind
from luca_govsync.service_layer.ports import ManifestStore, Ministry, SyncStore

SYSTEM_ACTOR = "govsync"
Audit = Callable[[BatchRef, str, str, str, str, str], None]


def submit_changes(
    ref: BatchRef, *, store: SyncStore, manifests: ManifestStore, ministry: Ministry, audit: Audit
) -> tuple[int, int]:
    """One attempt at a changes batch; returns (accepted, rejected) once every change is answered."""
    attempt = store.begin_attempt(ref)
    what = (
        f"changes batch {ref.number} ({ref.records} changes, {ref.client_batch_id}), attempt {attempt.number}"
    )
    changes = manifests.get_changes(ref.manifest_key)
    if len(changes) != ref.records:
        raise InvalidSyncRequest(
            f"manifest {ref.manifest_key} holds {len(changes)} changes, the reference says {ref.records}"
        )
    answered = store.change_outcomes(ref, changes)
    todo = [c for c in changes if c.record.record_id not in answered]
    fresh, errors = _send(ref, todo, ministry)
    so_far = [*answered.values(), *fresh]
    if fresh:
        store.record_changes(ref, fresh, so_far)
    if errors:
        error = next((e for e in errors if not e.transient), errors[0])
        reason = (
            f"{type(error).__name__}: {error.detail} ({len(errors)} of {len(todo)} changes unanswered "
            "in this attempt)"
        )
        store.attempt_failed(ref, reason)
        audit(ref, ref.sync_id, "submit", SYSTEM_ACTOR, what, reason)
        raise error
    store.changes_done(ref, so_far)
    audit(ref, ref.sync_id, "submit", SYSTEM_ACTOR, what, _summary(so_far, len(changes) - len(todo)))
    accepted = sum(1 for outcome in so_far if outcome.status is RecordStatus.ACCEPTED)
    return accepted, len(so_far) - accepted


def _send(
    ref: BatchRef, changes: list[GradeChange], ministry: Ministry
) -> tuple[list[ChangeOutcome], list[MinistryError]]:
    """Every change's call at once (at most a batch's few): answers and errors, in the changes' order."""

    correlation_id = ref.correlation_id or None

    def one(item: GradeChange) -> ChangeOutcome | MinistryError:
        try:
            if item.kind is ChangeKind.AMENDMENT:
                return ministry.amend(
                    item.client_change_id, ref.school_id, item.record, correlation_id=correlation_id
                )
            return ministry.retract(
                item.client_change_id, ref.school_id, item.record, correlation_id=correlation_id
            )
        except MinistryError as error:
            return error

    if not changes:
        return [], []
    # Each call runs in a copy of this thread's context: the task's log keys and its current span
    # (the parent of the ministry call's span) do not cross into a pool thread on their own.
    calls = [(contextvars.copy_context(), item) for item in changes]
    with ThreadPoolExecutor(max_workers=len(changes), thread_name_prefix="govsync-change") as pool:
        results = list(pool.map(lambda call: call[0].run(one, call[1]), calls))
    outcomes = [r for r in results if isinstance(r, ChangeOutcome)]
    return outcomes, [r for r in results if isinstance(r, MinistryError)]


def _summary(outcomes: list[ChangeOutcome], earlier: int) -> str:
    def count(kind: ChangeKind, status: RecordStatus) -> int:
        return sum(1 for o in outcomes if o.kind is kind and o.status is status)

    replayed = sum(1 for o in outcomes if o.replayed)
    return (
        f"amendments accepted {count(ChangeKind.AMENDMENT, RecordStatus.ACCEPTED)}, rejected "
        f"{count(ChangeKind.AMENDMENT, RecordStatus.REJECTED)}; retractions accepted "
        f"{count(ChangeKind.RETRACTION, RecordStatus.ACCEPTED)}, rejected "
        f"{count(ChangeKind.RETRACTION, RecordStatus.REJECTED)} ({earlier} answered by an earlier "
        f"attempt, {replayed} answered as replays)"
    )
