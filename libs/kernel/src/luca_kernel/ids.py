"""The identifiers of the school's world. Every one of them lives inside exactly one school."""

from __future__ import annotations

from typing import NewType

SchoolId = NewType("SchoolId", str)
StudentId = NewType("StudentId", str)
CourseId = NewType("CourseId", str)
SubjectId = NewType("SubjectId", str)
TermId = NewType("TermId", str)
TeacherId = NewType("TeacherId", str)
