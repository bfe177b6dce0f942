"""What the processor needs from the outside world, as protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from luca_ingest.domain.events import ExerciseResult, StudentEvent
from luca_kernel.grading import GradingRule
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId


@dataclass(frozen=True, slots=True)
class SchoolSnapshot:
    """What one school's table holds for the events of a batch: read once, before any write."""

    stored_events: frozenset[tuple[StudentId, str]] = frozenset()  # (student, event id) already stored
    students: dict[StudentId, CourseId] = field(default_factory=dict)  # the students found, by course
    subjects: frozenset[SubjectId] = frozenset()


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    written: frozenset[tuple[StudentId, str]]
    # Stored meanwhile by another invocation (a redelivery racing this one): no second effect.
    already_stored: frozenset[tuple[StudentId, str]]
    write_calls: int


class EventStore(Protocol):
    def snapshot(self, school_id: SchoolId, events: Sequence[StudentEvent]) -> SchoolSnapshot: ...

    def write_new(self, school_id: SchoolId, results: Sequence[ExerciseResult]) -> WriteOutcome:
        """Store each result unless its event is already stored, in as few calls as allowed."""
        ...


class RuleSource(Protocol):
    def rule_for(self, school_id: SchoolId, subject_id: SubjectId) -> GradingRule: ...
