"""What the sync's tasks need from the world: grades, a place for manifests, the sync's own state,
and the ministry. Adapters implement these; the tasks and their tests see only these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from luca_govsync.domain.breaker import Breaker
from luca_govsync.domain.changes import ChangeOutcome, GradeChange, Held
from luca_govsync.domain.model import (
    Attempt,
    AuditEntry,
    BatchRef,
    BatchState,
    GradeRecord,
    RecordOutcome,
    SyncProgress,
)
from luca_kernel.grading import GradingRule
from luca_kernel.roster import Term

T = TypeVar("T")


class GradeSource(Protocol):
    def period_grades(self, school_id: str, period: str) -> list[GradeRecord]:
        """Every official grade of the school in the period (through the school-term index), each
        in its latest version, retracted ones included (flagged)."""
        ...


class Terms(Protocol):
    def term(self, school_id: str, term_id: str) -> Term | None:
        """The school's term (the roster contract), None when the school has no such term."""
        ...


class Rules(Protocol):
    def rule_for(self, school_id: str, subject_id: str) -> GradingRule:
        """The school's grading rule for the subject (its own, or the school's default)."""
        ...


class ManifestStore(Protocol):
    def put(self, key: str, records: Sequence[GradeRecord]) -> None: ...

    def get(self, key: str) -> list[GradeRecord]: ...

    def put_changes(self, key: str, changes: Sequence[GradeChange]) -> None: ...

    def get_changes(self, key: str) -> list[GradeChange]: ...


class SyncStore(Protocol):
    """The sync's state in the table: runs, batch states, verdicts per record, the audit trail."""

    def held(self, school_id: str, period: str) -> dict[str, Held]:
        """What the ministry holds of each record of the period it answered for, by record id."""
        ...

    def start_run(self, school_id: str, period: str, sync_id: str, started_by: str, records: int) -> None: ...

    def put_batches(self, refs: Sequence[BatchRef]) -> None:
        """New batches, pending (a batch already known keeps its state)."""
        ...

    def begin_attempt(self, ref: BatchRef) -> Attempt:
        """Counts one more submit attempt; returns its number (1 for the first) and whether the
        previous attempt lost its answer."""
        ...

    def attempt_failed(self, ref: BatchRef, error: str, *, answer_lost: bool = False) -> None:
        """The attempt got no verdict; ``answer_lost`` when the ministry may have recorded it."""
        ...

    def batch_done(self, ref: BatchRef, outcomes: Sequence[RecordOutcome]) -> None:
        """The ministry's verdicts, then the batch's state: done."""
        ...

    def batch_failed(self, ref: BatchRef, error: str) -> None: ...

    def change_outcomes(self, ref: BatchRef, changes: Sequence[GradeChange]) -> dict[str, ChangeOutcome]:
        """The stored answers to these very changes (same record, kind and version), by record id."""
        ...

    def record_changes(
        self, ref: BatchRef, outcomes: Sequence[ChangeOutcome], so_far: Sequence[ChangeOutcome]
    ) -> None:
        """The ministry's answers to changes (what it now holds of each record), and the batch's
        tally of every answer it has so far (``so_far``, these included)."""
        ...

    def changes_done(self, ref: BatchRef, outcomes: Sequence[ChangeOutcome]) -> None:
        """Every change of the batch answered: the batch's state: done, with its rejections."""
        ...

    def audit(self, entry: AuditEntry) -> None: ...

    def progress(self, school_id: str, period: str, sync_id: str | None = None) -> SyncProgress | None:
        """The latest (or the named) run of the school's sync of the period, None if there is none."""
        ...

    def batch_states(self, school_id: str, period: str, sync_id: str) -> list[BatchState]: ...

    def sync_ids(self, school_id: str, period: str) -> list[str]:
        """The runs of the school's sync of the period, most recent first."""
        ...

    def finish_run(self, progress: SyncProgress) -> None: ...


class BreakerStore(Protocol):
    """The breaker a school's batches of one period share (``domain.breaker``), in the school's keys."""

    def transition(self, school_id: str, period: str, step: Callable[[Breaker], tuple[Breaker, T]]) -> T:
        """Applies ``step`` to the stored breaker atomically (re-read and re-applied when another
        batch changed it meanwhile); stores its new breaker unless unchanged; returns its second
        value. ``BreakerContention`` when it cannot win a write after a few tries."""
        ...


class Ministry(Protocol):
    """Every call names the request it serves (``correlation_id``, sent as a header)."""

    def submit(
        self,
        client_batch_id: str,
        school_code: str,
        period: str,
        records: Sequence[GradeRecord],
        *,
        correlation_id: str | None = None,
    ) -> list[RecordOutcome]:
        """One verdict per record, or a ``MinistryError`` (``domain.errors``)."""
        ...

    def fetch(
        self,
        client_batch_id: str,
        *,
        records: Sequence[GradeRecord] | None = None,
        correlation_id: str | None = None,
    ) -> list[RecordOutcome] | None:
        """The verdict the ministry holds for this batch id, or None when it holds none."""
        ...

    def amend(
        self,
        client_change_id: str,
        school_code: str,
        record: GradeRecord,
        *,
        correlation_id: str | None = None,
    ) -> ChangeOutcome:
        """The ministry's answer to a record's amendment to ``record`` (its latest version)."""
        ...

    def retract(
        self,
        client_change_id: str,
        school_code: str,
        record: GradeRecord,
        *,
        correlation_id: str | None = None,
    ) -> ChangeOutcome:
        """The ministry's answer to the record's retraction (at ``record.version``)."""
        ...


class Executions(Protocol):
    """The state machine's executions (Step Functions)."""

    def start(self, name: str, payload: dict[str, object]) -> tuple[str, bool]:
        """Starts the execution ``name``; returns (its ARN, True if this call started it). An
        execution of that name that already exists is returned as it is, never started again."""
        ...

    def status(self, name: str) -> str | None:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED; None when there is no such execution."""
        ...


class DeadLetterQueue(Protocol):
    """The sync's DLQ (SQS): the messages the state machine's DeadLetter state sent."""

    def messages(self) -> list[tuple[str, str]]:
        """(message id, body) of every message in the queue, none removed."""
        ...

    def remove(self, message_ids: set[str]) -> int:
        """Deletes these messages; returns how many it deleted."""
        ...
