"""A scenario file (TOML): how many schools, how big, and how they use the platform in a month."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Scenario:
    name: str
    schools: int
    students_per_school: int
    teachers_per_school: int
    courses_per_school: int
    grades_per_student_per_term: float
    terms_per_year: int
    school_days_per_month: float
    exercises_per_student_per_day: float
    behaviour_notes_per_student_per_month: float
    correction_share: float  # of grades recorded
    # Interactive reads a teacher makes per school day, by operation name (as measured).
    reads_per_teacher_per_day: dict[str, float] = field(default_factory=dict)
    peak_hour_share: float = 0.2  # of a school day's interactive requests, in its busiest hour
    fargate_utilisation_target: float = 0.6  # CPU a task runs at in the peak so p95 stays < 120 ms
    recesses_per_day: int = 2
    recess_minutes: float = 15.0
    recess_share_of_exercises: float = 0.6
    recess_overlap: float = 0.5  # share of schools whose recess falls in the same window
    largest_school_factor: float = 3.0  # the hottest school's size against the average
    students_active_share: float = 0.8  # students who use the app on a school day
    report_queries_per_school_per_day: float = 10.0
    report_mix: dict[str, float] = field(default_factory=dict)  # report name -> share of queries
    lake_retention_months: int = 36
    lake_months_scanned: float = 3.0  # a term's partitions: what a report's query reads
    cognito_mau_share: float = 1.0  # of students + teachers who sign in during a month
    api_bytes_per_request: int = 2048  # logged per request in access and service logs

    @property
    def students(self) -> int:
        return self.schools * self.students_per_school

    @property
    def teachers(self) -> int:
        return self.schools * self.teachers_per_school


def load(path: Path) -> Scenario:
    data: dict[str, Any] = tomllib.loads(path.read_text())
    known = {f.name for f in fields(Scenario)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{path.name}: unknown keys {sorted(unknown)}")
    return Scenario(**data)
