"""What a sync sends for a period, given what the ministry already holds: submissions, amendments and
retractions, and the ids the ministry deduplicates the changes by. No I/O here.

The sync keeps, per record, what the ministry holds (``Held``: the version it accepted, whether it
took a retraction, the last change it judged). A sync compares each grade as it is now (grades
contract v2: ``version``, ``retracted``) with that:

| the ministry holds              | the grade now          | sent                                      |
|---------------------------------|------------------------|-------------------------------------------|
| nothing, or a rejection         | not retracted          | a submission, in its latest state         |
| nothing, or a rejection         | retracted              | nothing: it never reached the ministry    |
| version v                       | version v              | nothing                                   |
| version v                       | version w > v          | an amendment to version w                 |
| version v                       | retracted              | a retraction                              |
| a retraction                    | anything               | nothing: a retraction is final            |

Each change carries a client id derived from (school, period, record, kind, version): a retry, a
redrive or a later run sends the same id for the same change, and the ministry answers a repeated
id with its first answer, never applying it twice. So a change the ministry already judged (the
same kind at the same version) is not sent again: it could only be answered the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from luca_govsync.domain.model import GradeRecord, RecordOutcome, RecordStatus
from luca_govsync.domain.tally import ChangeKind, ChangeTally

# Each change is one ministry call, and a changes batch makes its calls at once: an attempt then
# lasts about one ministry timeout at worst, well inside the task's time limit.
CHANGE_BATCH_SIZE = 5


@dataclass(frozen=True, slots=True)
class Held:
    """What the ministry holds of one record, as the sync stored its answers."""

    record_id: str
    status: RecordStatus  # the verdict on the record's submission
    version: int = 1  # accepted: the version the ministry holds; rejected: the version it judged
    retracted: bool = False  # the ministry accepted the record's retraction
    judged: tuple[ChangeKind, int] | None = None  # the last change the ministry answered (kind, version)


@dataclass(frozen=True, slots=True)
class GradeChange:
    """An amendment (the record's latest state) or a retraction of a record the ministry holds."""

    kind: ChangeKind
    record: GradeRecord
    client_change_id: str

    @property
    def version(self) -> int:
        return self.record.version


@dataclass(frozen=True, slots=True)
class ChangeOutcome:
    """The ministry's answer to one change: accepted, or rejected with its reason."""

    record_id: str
    student_id: str
    kind: ChangeKind
    version: int
    status: RecordStatus
    reason_code: str = ""
    reason: str = ""
    replayed: bool = False  # the first answer to this client id, given again

    def as_record_outcome(self) -> RecordOutcome:
        return RecordOutcome(self.record_id, self.student_id, self.status, self.reason_code, self.reason)


def client_change_id(kind: ChangeKind, school_id: str, period: str, record_id: str, version: int) -> str:
    """The id the ministry deduplicates a change by: the same change, the same id, whoever sends it."""
    text = "\n".join([kind.value, school_id, period, record_id, str(version)])
    prefix = "luca-a" if kind is ChangeKind.AMENDMENT else "luca-r"
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def change(kind: ChangeKind, school_id: str, record: GradeRecord) -> GradeChange:
    return GradeChange(
        kind, record, client_change_id(kind, school_id, record.period, record.record_id, record.version)
    )


@dataclass(frozen=True, slots=True)
class SyncPlan:
    submissions: tuple[GradeRecord, ...]
    changes: tuple[GradeChange, ...]
    unchanged: int  # held by the ministry as they are
    withheld: int  # retracted before the ministry accepted them: never sent
    judged: int  # changes the ministry already answered (a rejection stands; it is not resent)

    @property
    def amendments(self) -> int:
        return sum(1 for c in self.changes if c.kind is ChangeKind.AMENDMENT)

    @property
    def retractions(self) -> int:
        return sum(1 for c in self.changes if c.kind is ChangeKind.RETRACTION)


def plan_sync(school_id: str, grades: Iterable[GradeRecord], held: Mapping[str, Held]) -> SyncPlan:
    """What to send for the period's grades (the table above); deterministic for the same inputs."""
    submissions: list[GradeRecord] = []
    changes: list[GradeChange] = []
    unchanged = withheld = judged = 0
    for grade in sorted(grades, key=lambda record: record.record_id):
        state = held.get(grade.record_id)
        if state is None or state.status is not RecordStatus.ACCEPTED:
            if grade.retracted:
                withheld += 1
            else:
                submissions.append(grade)
            continue
        if state.retracted:
            unchanged += 1
            continue
        if grade.retracted:
            kind = ChangeKind.RETRACTION
        elif grade.version > state.version:
            kind = ChangeKind.AMENDMENT
        else:
            unchanged += 1
            continue
        if state.judged == (kind, grade.version):
            judged += 1
            continue
        changes.append(change(kind, school_id, grade))
    return SyncPlan(tuple(submissions), tuple(changes), unchanged, withheld, judged)


def new_work(plan: SyncPlan, held: Mapping[str, Held]) -> str | None:
    """A digest of what a run of the plan would send that the ministry has never judged (every
    change; a submission unless the ministry rejected that very version), or None when there is
    none. Starting a run names it after this, so two starts for the same work find one run."""
    items = [f"{c.kind.value}:{c.record.record_id}@{c.version}" for c in plan.changes]
    for record in plan.submissions:
        state = held.get(record.record_id)
        if state is None or state.version != record.version:
            items.append(f"submission:{record.record_id}@{record.version}")
    if not items:
        return None
    return hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()


def changes_batch_id(school_id: str, period: str, changes: Sequence[GradeChange]) -> str:
    """A changes batch's id (its state item and DLQ message name it; the ministry sees the changes' ids)."""
    text = "\n".join([school_id, period, *sorted(c.client_change_id for c in changes)])
    return f"luca-c-{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def chunk_changes(changes: Sequence[GradeChange], size: int = CHANGE_BATCH_SIZE) -> list[list[GradeChange]]:
    if size < 1:
        raise ValueError("a batch holds at least one change")
    ordered = sorted(changes, key=lambda c: (c.record.record_id, c.kind.value))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def tally(outcomes: Iterable[ChangeOutcome]) -> ChangeTally:
    counts = dict.fromkeys(ChangeTally.__slots__, 0)
    for outcome in outcomes:
        kind = "amendments" if outcome.kind is ChangeKind.AMENDMENT else "retractions"
        counts[f"{kind}_{outcome.status.value}"] += 1
        counts[f"{kind}_replayed"] += int(outcome.replayed)
    return ChangeTally(**counts)
