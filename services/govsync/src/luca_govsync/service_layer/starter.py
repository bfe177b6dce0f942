"""Starting syncs: on the schedule, on demand (gRPC, CLI), and redriving dead-lettered batches.

Closing a term is what the sync submits: a school's term must be closed (the roster contract's
``Term``, read with the school's own credentials) before its sync starts; an open term's grades
are still changing. On demand, an open term refuses the start (``TermNotClosed``, nothing started);
the schedule starts the schools whose term is closed and reports the others.

One run at a time per (school, period), each named from what it sends:
- the first run is ``govsync-<school>-<period>``: a second start finds it, running or ended;
- once it has ended, a start looks at what the ministry does not hold yet (grades corrected or
  retracted since, a record it never judged in its latest version). Nothing: the last run is the
  answer, nothing starts. Something: a follow-up run named from a digest of that work, so two
  starts for the same work find one run, and a run that sent it is not started again.
- a follow-up waits until every batch of the period has settled (``SyncUnsettled``): a batch in the
  DLQ may have landed, and a new run would send its records under another batch id.

A redrive is a new execution of the same definition in ``redrive`` mode, named from the batches it
resubmits; the ministry deduplicates each batch by its client batch id (and each change by its
client change id), so even a batch that did land before it failed is never counted twice.

Every start and redrive is a request with a correlation id (the caller's, or a new one: the
schedule has no caller), put in the execution's input: every task, audit entry, DLQ message and
ministry call of the run carries it. A start that finds an existing run does not change its id.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from luca_govsync.domain.changes import new_work, plan_sync
from luca_govsync.domain.model import (
    BatchRef,
    BatchStatus,
    InvalidSyncRequest,
    SyncKey,
    parse_period,
    valid_correlation_id,
)
from luca_govsync.domain.preconditions import SyncUnsettled, TermNotClosed
from luca_govsync.service_layer.ports import Executions, GradeSource, SyncStore, Terms

RUNNING = "RUNNING"


@dataclass(frozen=True, slots=True)
class Started:
    key: SyncKey
    execution_name: str
    execution_arn: str
    started: bool  # False: the sync already existed and was not started again
    status: str


class SyncStarter:
    def __init__(
        self, executions: Executions, *, terms: Terms, grades: GradeSource, store: SyncStore
    ) -> None:
        self._executions = executions
        self._terms, self._grades, self._store = terms, grades, store

    def start(
        self, period: str, schools: Sequence[str], started_by: str, correlation_id: str = ""
    ) -> list[Started]:
        """Starts (or finds) each school's run. Refuses before starting any when a school's term is
        not closed, or its period has unsettled batches."""
        correlation = request_id(correlation_id)
        keys = self._keys(period, schools)
        not_closed = self.not_closed(period, [key.school_id for key in keys])
        if not_closed:
            raise TermNotClosed(period, not_closed)
        names = [(key, self._next_run(key)) for key in keys]
        return [self._start(key, name, started_by, correlation) for key, name in names]

    def start_scheduled(
        self, period: str, schools: Sequence[str], correlation_id: str = ""
    ) -> tuple[list[Started], dict[str, str]]:
        """The schedule: every listed school whose term is closed; the others (school -> "open" or
        "unknown") are returned, not started. A school whose runs have not settled is left as well."""
        correlation = request_id(correlation_id)
        keys = self._keys(period, schools)
        not_closed = self.not_closed(period, [key.school_id for key in keys])
        started = []
        for key in keys:
            if key.school_id in not_closed:
                continue
            try:
                name = self._next_run(key)
            except SyncUnsettled:
                not_closed[key.school_id] = "unsettled"
                continue
            started.append(self._start(key, name, "schedule", correlation))
        return started, not_closed

    def not_closed(self, period: str, schools: Sequence[str]) -> dict[str, str]:
        found = {}
        for school in schools:
            term = self._terms.term(school, period)
            if term is None or not term.closed:
                found[school] = "unknown" if term is None else "open"
        return found

    @staticmethod
    def _keys(period: str, schools: Sequence[str]) -> list[SyncKey]:
        parse_period(period)
        if not schools:
            raise InvalidSyncRequest("no school to sync")
        return [SyncKey(school, period) for school in sorted(set(schools))]

    def _next_run(self, key: SyncKey) -> str:
        """The run a start finds or starts (see the module's docstring)."""
        first = key.execution_name()
        if self._executions.status(first) in (None, RUNNING):
            return first
        runs = self._store.sync_ids(key.school_id, key.period)
        latest = runs[0] if runs else first
        if self._executions.status(latest) == RUNNING:
            return latest
        unsettled = sum(
            1
            for sync_id in runs
            for batch in self._store.batch_states(key.school_id, key.period, sync_id)
            if batch.status is not BatchStatus.DONE
        )
        if unsettled:
            raise SyncUnsettled(key.school_id, key.period, unsettled)
        held = self._store.held(key.school_id, key.period)
        work = new_work(
            plan_sync(key.school_id, self._grades.period_grades(key.school_id, key.period), held), held
        )
        return latest if work is None else key.execution_name(f"update-{work[:12]}")

    def _start(self, key: SyncKey, name: str, started_by: str, correlation_id: str) -> Started:
        payload: dict[str, object] = {
            "mode": "sync",
            "school_id": key.school_id,
            "period": key.period,
            "started_by": started_by,
            "correlation_id": correlation_id,
        }
        arn, started = self._executions.start(name, payload)
        return Started(key, name, arn, started, self._executions.status(name) or RUNNING)

    def redrive(
        self, dead_letters: Sequence[tuple[BatchRef, str]], started_by: str, correlation_id: str = ""
    ) -> list[Started]:
        """Resubmits dead-lettered batches (each with its DLQ message id), one execution per (school,
        period, sync). The name comes from the DLQ messages: redriving the same messages twice finds
        the first redrive; a batch that failed again has a new message, so it can be redriven again.
        The batches are resent on behalf of the redrive (its correlation id, not their first run's)."""
        correlation = request_id(correlation_id)
        groups: dict[tuple[str, str, str], list[tuple[BatchRef, str]]] = {}
        for ref, message_id in dead_letters:
            groups.setdefault((ref.school_id, ref.period, ref.sync_id), []).append((ref, message_id))
        results = []
        for (school, period, sync_id), letters in sorted(groups.items()):
            key = SyncKey(school, period)
            ids = "\n".join(sorted(message_id for _, message_id in letters))
            name = key.execution_name(f"redrive-{hashlib.sha256(ids.encode()).hexdigest()[:10]}")
            # A batch dead-lettered twice is sent once.
            refs = {ref.number: ref.for_request(correlation) for ref, _ in letters}
            payload: dict[str, object] = {
                "mode": "redrive",
                "school_id": school,
                "period": period,
                "sync_id": sync_id,
                "started_by": started_by,
                "batches": [refs[number].to_json() for number in sorted(refs)],
                "correlation_id": correlation,
            }
            arn, started = self._executions.start(name, payload)
            results.append(Started(key, name, arn, started, self._executions.status(name) or RUNNING))
        return results


def request_id(correlation_id: str) -> str:
    """The request's correlation id: the caller's when it is a valid one, else a new one."""
    return valid_correlation_id(correlation_id) or str(uuid.uuid4())
