"""What the processor needs from the outside world, as protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from luca_ingest.domain.events import ExerciseResult, StudentEvent
from luca_kernel.grading import GradingRule
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId

# The rules read for a school in this batch: subject -> its stored rule (None: none stored).
StoredRules = Mapping[SubjectId, GradingRule | None]


@dataclass(frozen=True, slots=True)
class SchoolSnapshot:
    """What one school's table holds for the events of a batch: read once, before any write."""

    stored_events: frozenset[tuple[StudentId, str]] = frozenset()  # (student, event id) already stored
    students: dict[StudentId, CourseId] = field(default_factory=dict)  # the students found, by course
    subjects: frozenset[SubjectId] = frozenset()
    # The rule items read with the batch (a subject's own and the school default, for rules not warm).
    rules: dict[SubjectId, GradingRule | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    written: frozenset[tuple[SchoolId, StudentId, str]]
    # Stored meanwhile by another invocation (a redelivery racing this one): no second effect.
    already_stored: frozenset[tuple[SchoolId, StudentId, str]]
    write_calls: int
    # Why a school's results are neither written nor already stored (their records come back).
    errors: dict[SchoolId, Exception] = field(default_factory=dict)


class EventStore(Protocol):
    def snapshot(
        self,
        events: Mapping[SchoolId, Sequence[StudentEvent]],
        rule_subjects: Mapping[SchoolId, frozenset[SubjectId]],
    ) -> dict[SchoolId, SchoolSnapshot | Exception]:
        """Every school's snapshot for its events, and the stored rules of ``rule_subjects``, in as
        few reads as allowed (one batch of keys for every school); for a school whose read failed,
        why."""
        ...

    def write_new(self, results: Sequence[ExerciseResult]) -> WriteOutcome:
        """Store each result unless its event is already stored, every school in as few calls as allowed."""
        ...


class RuleSource(Protocol):
    def cold(self, school_id: SchoolId, subject_ids: frozenset[SubjectId]) -> frozenset[SubjectId]:
        """The subjects whose rule in force is not warm: the batch reads their rule items."""
        ...

    def rule_for(self, school_id: SchoolId, subject_id: SubjectId, stored: StoredRules) -> GradingRule:
        """The rule in force, from the cache or from the rule items read with the batch."""
        ...
