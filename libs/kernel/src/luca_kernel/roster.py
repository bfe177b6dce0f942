"""The school's roster as value types: its students, subjects, courses and terms.

The grading service owns these records; other services read them through the published roster
contract (``luca_platform.contracts.roster``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TermId


@dataclass(frozen=True, slots=True)
class Student:
    school_id: SchoolId
    student_id: StudentId
    course_id: CourseId
    display_name: str


@dataclass(frozen=True, slots=True)
class Subject:
    school_id: SchoolId
    subject_id: SubjectId
    name: str


@dataclass(frozen=True, slots=True)
class Course:
    school_id: SchoolId
    course_id: CourseId
    name: str


@dataclass(frozen=True, slots=True)
class Term:
    """A grading period. Open terms take grades; an admin closes a term, and closing is what the
    government sync submits."""

    school_id: SchoolId
    term_id: TermId
    name: str
    closed_at: datetime | None = None
    closed_by: str = ""

    @property
    def closed(self) -> bool:
        return self.closed_at is not None
