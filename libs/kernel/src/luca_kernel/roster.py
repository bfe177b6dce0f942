"""The school's roster as value types: its students, subjects and courses.

The grading service owns these records; other services read them through the published roster
contract (``luca_platform.contracts.roster``).
"""

from __future__ import annotations

from dataclasses import dataclass

from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId


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
