"""What operators' tools do with the government sync: start it, follow it, read and redrive its DLQ.

The tools (the ``luca sync`` command) reach the service through this entrypoint and its composition
root (``bootstrap.build_operations``), never through its adapters. An operator acts with AWS
credentials for every school, not as one school's principal, so this is not the gRPC API (which
serves school-scoped callers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from luca_govsync.adapters.table_design import govsync_pk
from luca_govsync.domain.model import (
    BatchRef,
    BatchStatus,
    InvalidSyncRequest,
    RecordOutcome,
    SyncKey,
    SyncProgress,
    change_counts,
)
from luca_govsync.domain.preconditions import SyncUnsettled, TermNotClosed
from luca_govsync.service_layer.dead_letters import DeadLetter, DeadLetters, Redriven
from luca_govsync.service_layer.starter import Started, SyncStarter

# The types a tool meets in answers, named for it (it imports nothing else of the service).
__all__ = [
    "BatchRef",
    "BatchStatus",
    "DeadLetter",
    "InvalidSyncRequest",
    "Redriven",
    "Started",
    "SyncKey",
    "SyncOperations",
    "SyncProgress",
    "SyncUnsettled",
    "TermNotClosed",
    "change_counts",
    "report_json",
    "sync_partition_key",
]


def sync_partition_key(school_id: str, period: str) -> str:
    """The table partition that holds a school's sync of one period (runs, batches, verdicts, audit):
    what a school's export and erasure look for, one per term of the school's catalog."""
    return govsync_pk(school_id, period)


def report_json(progress: SyncProgress) -> dict[str, Any]:
    """A sync's progress as the tasks return it and the tools print it."""
    return {
        "sync_id": progress.sync_id,
        "school_id": progress.school_id,
        "period": progress.period,
        "status": progress.status.value,
        "batches_total": len(progress.batches),
        "batches_done": progress.count(BatchStatus.DONE),
        "batches_failed": progress.count(BatchStatus.FAILED),
        "records_total": progress.records_total,
        "records_accepted": progress.accepted,
        "records_rejected": len(progress.rejected),
        "rejected": [_rejection(r) for r in progress.rejected],
        # Corrections and retractions of records the ministry holds: sent, accepted, rejected,
        # failed (in the DLQ), and how many answers were the ministry's replays of a first answer.
        "amendments": progress.amendments.to_json(),
        "retractions": progress.retractions.to_json(),
        "changes_rejected": [_rejection(r) for r in progress.change_rejections],
    }


def _rejection(outcome: RecordOutcome) -> dict[str, str]:
    return {
        "record_id": outcome.record_id,
        "student_id": outcome.student_id,
        "reason_code": outcome.reason_code,
        "reason": outcome.reason,
    }


class ProgressSource(Protocol):
    def progress(self, school_id: str, period: str) -> SyncProgress | None: ...


class ExecutionStatus(Protocol):
    def status(self, name: str) -> str | None: ...


class SyncOperations:
    """Every call is a request: ``correlation_id`` is the tool's (a new one when not given), and the
    executions it starts, their audit entries, DLQ messages and ministry calls carry it."""

    def __init__(
        self,
        *,
        starter: SyncStarter,
        executions: ExecutionStatus,
        store: ProgressSource,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self._starter, self._executions, self._store = starter, executions, store
        self._dead_letters = dead_letters

    def start(self, period: str, schools: Sequence[str], by: str, correlation_id: str = "") -> list[Started]:
        return self._starter.start(period, list(schools), by, correlation_id)

    def redrive(self, letters: Sequence[DeadLetter], by: str, correlation_id: str = "") -> list[Started]:
        """Starts the redrive of ``letters`` (read by the caller); their messages stay in the DLQ."""
        return self._starter.redrive(
            [(letter.ref, letter.message_id) for letter in letters], by, correlation_id
        )

    def dead_letters(self, school_id: str | None = None) -> list[DeadLetter]:
        """The DLQ's batches (one school's when given), read through the DLQ the settings name."""
        return self._queue().list(school_id)

    def redrive_dead_letters(
        self, letters: Sequence[DeadLetter], by: str, correlation_id: str = ""
    ) -> Redriven:
        """Starts the redrive of ``letters``, then removes their messages from the DLQ."""
        return self._queue().redrive(letters, by, correlation_id)

    def _queue(self) -> DeadLetters:
        if self._dead_letters is None:
            raise RuntimeError(
                "these operations were built without the DLQ's URL (OperationsSettings.dlq_url)"
            )
        return self._dead_letters

    def execution_status(self, execution_name: str) -> str | None:
        return self._executions.status(execution_name)

    def progress(self, school_id: str, period: str) -> SyncProgress | None:
        return self._store.progress(school_id, period)

    @staticmethod
    def report(progress: SyncProgress) -> dict[str, Any]:
        return report_json(progress)
