"""The government sync's domain: periods, grade records, batches and their outcomes. No I/O here.

A sync submits one school's official grades of one period (a term, ``2025-T1``) to the ministry.
The records are chunked deterministically (sorted by record id), and each batch carries a client
batch id derived from its content: the ministry deduplicates by that id, so a batch sent again (a
retry after a timeout, a redrive from the DLQ) is never counted twice. Records the ministry already
accepted are left out of later syncs of the same period, so a new chunking never resends them;
a later version of one is sent as an amendment or a retraction (``domain.changes``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from luca_govsync.domain.tally import ChangeCounts, ChangeKind, ChangeTally
from luca_kernel.errors import LucaError
from luca_kernel.grading import GradingRule
from luca_kernel.ids import SubjectId

PERIOD_PATTERN = re.compile(r"^(?P<year>\d{4})-T(?P<term>[1-4])$")
# Step Functions execution names: 1-80 characters of [A-Za-z0-9_-].
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
MAX_EXECUTION_NAME = 80
# The platform's correlation ids (``luca_platform.telemetry.context``): short tokens, safe in logs,
# message attributes and HTTP headers.
MAX_CORRELATION_ID = 128


def valid_correlation_id(value: object) -> str:
    """``value`` if it is a correlation id the platform would accept, else "" (none)."""
    if (
        isinstance(value, str)
        and 0 < len(value) <= MAX_CORRELATION_ID
        # ASCII only, unlike the platform's check: the id becomes an HTTP header at the ministry.
        and all(c.isascii() and (c.isalnum() or c in "-_.:") for c in value)
    ):
        return value
    return ""


class InvalidSyncRequest(ValueError):
    """A sync request that cannot be run as asked (unknown period, bad school id, ...).

    ``field`` names the request field at fault (``period``, ``school_id``), or is empty when no one
    field is: entrypoints report it as given, never guessed from the message."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def parse_period(value: str) -> str:
    """A period is a school term, ``YYYY-Tn`` (n = 1..4); anything else is refused."""
    if not isinstance(value, str) or not PERIOD_PATTERN.fullmatch(value):
        raise InvalidSyncRequest(
            f"unknown period {value!r}: a period is a term such as 2025-T1", field="period"
        )
    return value


@dataclass(frozen=True, slots=True)
class SyncKey:
    """One school's sync of one period: at most one execution runs for it at a time."""

    school_id: str
    period: str

    def __post_init__(self) -> None:
        parse_period(self.period)
        if not self.school_id or "#" in self.school_id:
            raise InvalidSyncRequest(f"invalid school id {self.school_id!r}", field="school_id")

    def execution_name(self, attempt: str = "") -> str:
        """Deterministic: a second start of the same sync finds the first (Standard workflows
        refuse a reused name), so two runs of one sync can never overlap. ``attempt`` names a
        deliberate re-run (a redrive) and is part of the name."""
        base = f"govsync-{self.school_id}-{self.period}" + (f"-{attempt}" if attempt else "")
        safe = _NAME_UNSAFE.sub("_", base)
        if len(safe) <= MAX_EXECUTION_NAME:
            return safe
        digest = hashlib.sha256(base.encode()).hexdigest()[:12]
        return f"{safe[: MAX_EXECUTION_NAME - 13]}-{digest}"


@dataclass(frozen=True, slots=True)
class GradeRecord:
    """One official grade as the ministry receives it (no names, no free text)."""

    record_id: str
    student_id: str
    course_id: str
    subject_id: str
    period: str
    score: str
    recorded_at: str
    # The grades contract v2: 1 when recorded, +1 per correction or retraction (a v1 item reads as
    # version 1, not retracted). A retracted grade is never submitted.
    version: int = 1
    retracted: bool = False


class RecordStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """The ministry's verdict on one record; a rejection carries its reason and is not retried blindly."""

    record_id: str
    student_id: str
    status: RecordStatus
    reason_code: str = ""
    reason: str = ""
    version: int = 1  # the version of the record the verdict is on


def client_batch_id(school_id: str, period: str, record_ids: list[str] | tuple[str, ...]) -> str:
    """The id the ministry deduplicates by: the same records of the same school and period, the same id."""
    digest = hashlib.sha256("\n".join([school_id, period, *sorted(record_ids)]).encode()).hexdigest()
    return f"luca-{digest[:40]}"


def submission_batch_id(school_id: str, period: str, records: Sequence[GradeRecord]) -> str:
    """A submission batch's id. A later version of a record (a rejected grade, since corrected) is
    another payload, so it names the version: the same record ids would otherwise be the same id
    with a different payload, which the ministry refuses (409). Version 1 is named by the record id
    alone, so a batch of first versions keeps the id it had before grades had versions (a redrive
    or a resend of such a batch is still deduplicated)."""
    return client_batch_id(
        school_id,
        period,
        [r.record_id if r.version == 1 else f"{r.record_id}@v{r.version}" for r in records],
    )


def chunk(records: list[GradeRecord], size: int) -> list[list[GradeRecord]]:
    """Deterministic batches: sorted by record id, ``size`` records each (the last may be shorter)."""
    if size < 1:
        raise ValueError("a batch holds at least one record")
    ordered = sorted(records, key=lambda record: record.record_id)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


class BatchKind(StrEnum):
    SUBMISSION = "submission"  # new records, one ministry call for the batch
    CHANGES = "changes"  # amendments and retractions, one ministry call per change


class BatchStatus(StrEnum):
    PENDING = "pending"
    SUBMITTING = "submitting"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class BatchRef:
    """What travels through the state machine for one batch: a reference, never the records
    (they are in the manifest, in S3, so the execution's state stays small and free of personal data)."""

    school_id: str
    period: str
    sync_id: str
    number: int
    client_batch_id: str
    manifest_key: str
    records: int  # records submitted, or changes (amendments + retractions) sent
    kind: BatchKind = BatchKind.SUBMISSION
    retractions: int = 0  # of a changes batch's ``records``; the rest are amendments
    # The request that sent the batch (the sync's start or a redrive): its audit entries, its DLQ
    # message and its ministry calls carry it. Not part of the batch's identity.
    correlation_id: str = field(default="", compare=False)

    def to_json(self) -> dict[str, str | int]:
        value: dict[str, str | int] = {
            "school_id": self.school_id,
            "period": self.period,
            "sync_id": self.sync_id,
            "number": self.number,
            "client_batch_id": self.client_batch_id,
            "manifest_key": self.manifest_key,
            "records": self.records,
            "kind": self.kind.value,
            "retractions": self.retractions,
        }
        if self.correlation_id:
            value["correlation_id"] = self.correlation_id
        return value

    def for_request(self, correlation_id: str) -> BatchRef:
        """The same batch, sent on behalf of another request (a redrive)."""
        return replace(self, correlation_id=correlation_id)

    @classmethod
    def from_json(cls, value: object) -> BatchRef:
        if not isinstance(value, dict):
            raise InvalidSyncRequest("a batch reference is an object")
        try:
            ref = cls(
                school_id=str(value["school_id"]),
                period=parse_period(str(value["period"])),
                sync_id=str(value["sync_id"]),
                number=int(value["number"]),
                client_batch_id=str(value["client_batch_id"]),
                manifest_key=str(value["manifest_key"]),
                records=int(value["records"]),
                # References made before amendments existed (a DLQ message) are submissions.
                kind=BatchKind(str(value.get("kind", BatchKind.SUBMISSION.value))),
                retractions=int(value.get("retractions", 0)),
                # References made before the id travelled with them (a DLQ message) have none.
                correlation_id=valid_correlation_id(value.get("correlation_id")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidSyncRequest(f"not a batch reference: {exc}") from exc
        SyncKey(ref.school_id, ref.period)  # validates the school id
        # A batch's manifest lives under its own school and period: a reference pointing elsewhere
        # (another school's records under this school's name) is refused, whoever built it.
        if not ref.manifest_key.startswith(f"{ref.school_id}/{ref.period}/"):
            raise InvalidSyncRequest(
                f"batch {ref.number}'s manifest is not under {ref.school_id}/{ref.period}/"
            )
        return ref


@dataclass(frozen=True, slots=True)
class Attempt:
    """One more attempt at a batch: its number (1 for the first), and whether the previous attempt
    lost the ministry's answer (a timeout, an unreadable 200), so the ministry may hold it already."""

    number: int
    answer_lost: bool = False


@dataclass(frozen=True, slots=True)
class BatchState:
    ref: BatchRef
    status: BatchStatus
    attempts: int = 0
    last_error: str = ""
    accepted: int = 0
    rejected: int = 0
    updated_at: str = ""
    # The ministry's rejections in this batch, with their reasons (few; the batch item holds them).
    rejections: tuple[RecordOutcome, ...] = ()
    # A changes batch: its answers by kind (``accepted`` and ``rejected`` count both kinds).
    changes: ChangeTally = field(default_factory=ChangeTally)


def change_counts(batches: Sequence[BatchState]) -> tuple[ChangeCounts, ChangeCounts]:
    """(amendments, retractions) of a run, from its changes batches. A change is failed when its
    batch is in the DLQ without an answer for it (answers got before the batch failed count)."""
    totals = {kind: [0, 0, 0, 0, 0] for kind in ChangeKind}
    for batch in batches:
        if batch.ref.kind is not BatchKind.CHANGES:
            continue
        tally = batch.changes
        for kind, sent, accepted, rejected, replayed in (
            (
                ChangeKind.AMENDMENT,
                batch.ref.records - batch.ref.retractions,
                tally.amendments_accepted,
                tally.amendments_rejected,
                tally.amendments_replayed,
            ),
            (
                ChangeKind.RETRACTION,
                batch.ref.retractions,
                tally.retractions_accepted,
                tally.retractions_rejected,
                tally.retractions_replayed,
            ),
        ):
            failed = sent - accepted - rejected if batch.status is BatchStatus.FAILED else 0
            for index, value in enumerate((sent, accepted, rejected, failed, replayed)):
                totals[kind][index] += value
    amendments, retractions = (ChangeCounts(*totals[kind]) for kind in ChangeKind)
    return amendments, retractions


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what, when, to which part of a sync, and how it ended."""

    school_id: str
    period: str
    sync_id: str
    step: str
    actor: str
    what: str
    outcome: str
    at: str = ""
    correlation_id: str = ""  # the request the step worked for


class SyncStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    COMPLETED_WITH_FAILURES = "completed_with_failures"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SyncProgress:
    """Where one sync stands, counted from its batch states and the ministry's verdicts."""

    school_id: str
    period: str
    sync_id: str
    status: SyncStatus
    batches: tuple[BatchState, ...]
    records_total: int
    accepted: int
    rejected: tuple[RecordOutcome, ...]
    started_by: str = ""
    started_at: str = ""
    finished_at: str = ""

    def count(self, status: BatchStatus) -> int:
        return sum(1 for batch in self.batches if batch.status is status)

    @property
    def amendments(self) -> ChangeCounts:
        return change_counts(self.batches)[0]

    @property
    def retractions(self) -> ChangeCounts:
        return change_counts(self.batches)[1]

    @property
    def change_rejections(self) -> tuple[RecordOutcome, ...]:
        """Amendments and retractions the ministry refused, with its reasons."""
        return tuple(
            outcome
            for batch in self.batches
            if batch.ref.kind is BatchKind.CHANGES and batch.status is BatchStatus.DONE
            for outcome in batch.rejections
        )

    @property
    def settled(self) -> bool:
        """Every batch is done or failed: nothing more will happen without a redrive."""
        return all(batch.status in (BatchStatus.DONE, BatchStatus.FAILED) for batch in self.batches)

    def final_status(self) -> SyncStatus:
        if not self.settled:
            return SyncStatus.RUNNING
        if self.count(BatchStatus.FAILED) or self.rejected or self.change_rejections:
            return SyncStatus.COMPLETED_WITH_FAILURES
        return SyncStatus.SUCCEEDED


def period_before(year: int, month: int) -> str:
    """The term that ended before the given month (terms are the year's quarters): what a
    scheduled sync on that date submits. April 2026 -> 2026-T1; January 2026 -> 2025-T4."""
    if not 1 <= month <= 12:
        raise ValueError(f"month {month}")
    quarter = (month - 1) // 3  # 0..3: the quarter the date is in
    return f"{year - 1}-T4" if quarter == 0 else f"{year}-T{quarter}"


# The ministry records grades on the Chilean scale: 1.0 to 7.0, passing at 4.0, one decimal.
MINISTRY_SCALE = GradingRule(SubjectId("*"))


def ministry_grade(score: str, rule: GradingRule) -> str:
    """A grade as the ministry records it. A school grading on another scale (percentages) has its
    grades moved to the ministry's with their meaning kept: its passing grade becomes 4.0, its best
    7.0, linearly in between (the Chilean 60% "exigencia" rule)."""
    try:
        value = Decimal(score)
        fraction = rule.fraction_for_score(value)
    except (InvalidOperation, LucaError) as exc:
        raise InvalidSyncRequest(
            f"grade {score!r} cannot be read on its subject's {rule.scale} scale"
        ) from exc
    return str(MINISTRY_SCALE.score_for_fraction(fraction))
