"""The per-school reports over the lake, as use cases: who may read them, what a valid request is,
and how the lake's rows become the answers.

The tenant boundary is decided here and nowhere else:

* The school is the verified principal's, never the request's. A request may *name* a school (the
  REST query string can carry ``school_id``) only to be told 403 when it is not the caller's own.
* The school goes to the ``Lake`` as its own argument, which the adapter forces into the partition
  filter; request parameters are validated against strict patterns and handed over only as bound
  parameters (``report_sql`` never formats a value into SQL).
* Who may read: a school's admins and teachers, and services acting for the school. Students may
  not: every report is about other students (a class's averages, the list of students at risk).
* Re-identification (students below passing) happens inside the school's boundary: the lake holds
  only ``student_key`` = HMAC(key, school#student); we compute the keys of the school's own roster
  and match. A key no roster student produces is reported as unidentified, never guessed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from luca_analytics.domain.lake import student_key
from luca_kernel.access import Principal, Role
from luca_kernel.errors import Forbidden, InvalidInput
from luca_kernel.grading import DEFAULT_SUBJECT, SCALE_BOUNDS, GradingRule, ScaleKind

TERM_PATTERN = re.compile(r"^[0-9]{4}-T[1-4]$")  # the school term, as the government sync's period
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MONTH_PATTERN = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
# 0 asks for the scale's default width; anything else must give between 1 and MAX_BUCKETS buckets.
DEFAULT_BUCKET_WIDTH: Mapping[ScaleKind, float] = {ScaleKind.CHILEAN: 0.5, ScaleKind.PERCENTAGE: 10.0}
MAX_BUCKETS = 200
# Months are passed to the lake as year*100 + month; these mean "no bound".
NO_LOWER_MONTH, NO_UPPER_MONTH = 0, 999_999


class ReportName(StrEnum):
    """The lake queries (``adapters.report_sql``) the use cases run, by name."""

    SUBJECT_AVERAGES = "subject_averages"
    STUDENT_AVERAGES = "student_averages"
    BEHAVIOR_TREND = "behavior_trend"
    GRADE_DISTRIBUTION = "grade_distribution"


# -- ports ------------------------------------------------------------------------------------------
class LakeUnavailable(Exception):
    """The lake could not answer now (the engine failed, refused or did not finish in time). Not the
    caller's fault: entrypoints map it to 503 / ``UNAVAILABLE``. ``detail`` is safe to show a
    caller; the exception's text is for the log."""

    detail = "the reports are unavailable right now; try again shortly"

    def __init__(self, message: str, *, query_execution_id: str | None = None) -> None:
        super().__init__(message)
        self.query_execution_id = query_execution_id


class Lake(Protocol):
    def query(self, school_id: str, sql_name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Rows of the named report query over ``school_id``'s partitions only; ``params`` are
        bound parameters and never contain the school."""
        ...


class Rules(Protocol):
    def rule_for(self, school_id: str, subject_id: str) -> GradingRule:
        """The rule in force: the subject's own, else the school default, else the platform's."""
        ...


class Roster(Protocol):
    def student_ids(self, school_id: str) -> Iterable[str]:
        """Every student id of the school's roster."""
        ...


# -- results ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SubjectAverage:
    subject_id: str
    term_id: str
    weighted_average: float
    grades: int
    students: int


@dataclass(frozen=True, slots=True)
class StudentBelowPassing:
    student_id: str | None  # None: the lake's key matches no student of the roster
    subject_id: str
    weighted_average: float
    passing_grade: float
    grades: int

    @property
    def identified(self) -> bool:
        return self.student_id is not None


@dataclass(frozen=True, slots=True)
class BehaviorMonth:
    month: str  # YYYY-MM
    positive: int
    negative: int


@dataclass(frozen=True, slots=True)
class GradeBucket:
    from_score: float
    to_score: float
    grades: int


# -- validation -------------------------------------------------------------------------------------
def reader_school(principal: Principal, school_id: str = "") -> str:
    """The school whose reports the caller may read: its own (an empty school means it), never
    another's; students read none."""
    if not principal.has(Role.ADMIN, Role.TEACHER, Role.SERVICE):
        raise Forbidden("only a school's admins and teachers may read its reports")
    if school_id and school_id != principal.school_id:
        raise Forbidden("you may only read your own school's reports")
    return principal.school_id


def term(value: str, *, required: bool) -> str:
    if not value:
        if required:
            raise InvalidInput("term_id is required (a term such as 2025-T1)", field="term_id")
        return ""
    # fullmatch: a pattern's '$' also matches before a trailing newline, which the contract refuses.
    if not TERM_PATTERN.fullmatch(value):
        raise InvalidInput("term_id must be a term such as 2025-T1", field="term_id")
    return value


def identifier(value: str, *, field: str) -> str:
    if value and not ID_PATTERN.fullmatch(value):
        raise InvalidInput(f"{field} must be 1-64 letters, digits, '_', '.' or '-'", field=field)
    return value


def month(value: str, *, field: str, default: int) -> int:
    if not value:
        return default
    found = MONTH_PATTERN.fullmatch(value)
    if not found:
        raise InvalidInput(f"{field} must be a month such as 2025-03", field=field)
    return int(found.group(1)) * 100 + int(found.group(2))


def checked_bucket_width(value: float, rule: GradingRule) -> float:
    low, high = (float(bound) for bound in SCALE_BOUNDS[rule.scale])
    if value == 0:
        return DEFAULT_BUCKET_WIDTH[rule.scale]
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput("bucket_width must be a positive number", field="bucket_width")
    if value > high - low or (high - low) / value > MAX_BUCKETS:
        raise InvalidInput(
            f"bucket_width must give 1 to {MAX_BUCKETS} buckets on the {rule.scale} scale {low:g}-{high:g}",
            field="bucket_width",
        )
    return value


# -- the use cases ----------------------------------------------------------------------------------
class Reports:
    def __init__(self, *, lake: Lake, rules: Rules, roster: Roster, pseudonym_key: bytes) -> None:
        if not pseudonym_key:
            raise ValueError("the pseudonymisation key is empty")
        self._lake, self._rules, self._roster, self._key = lake, rules, roster, pseudonym_key

    def subject_averages(
        self, principal: Principal, *, term_id: str = "", school_id: str = ""
    ) -> list[SubjectAverage]:
        school = reader_school(principal, school_id)
        rows = self._lake.query(
            school, ReportName.SUBJECT_AVERAGES, {"term_id": term(term_id, required=False)}
        )
        return [
            SubjectAverage(
                subject_id=str(row["subject_id"]),
                term_id=str(row["term_id"]),
                weighted_average=float(row["weighted_average"]),
                grades=int(row["grades"]),
                students=int(row["students"]),
            )
            for row in rows
        ]

    def students_below_passing(
        self, principal: Principal, *, term_id: str, subject_id: str = "", school_id: str = ""
    ) -> list[StudentBelowPassing]:
        school = reader_school(principal, school_id)
        params = {
            "term_id": term(term_id, required=True),
            "subject_id": identifier(subject_id, field="subject_id"),
        }
        rows = self._lake.query(school, ReportName.STUDENT_AVERAGES, params)
        rules: dict[str, GradingRule] = {}
        below = []
        for row in rows:
            subject = str(row["subject_id"])
            if subject not in rules:
                rules[subject] = self._rules.rule_for(school, subject)
            # Rounded by the subject's rule, as the grading service shows (and judges) an average:
            # 3.95 rounds half-up to 4.0 and passes there, so it is not "below" here either.
            average = rules[subject].round(Decimal(repr(float(row["weighted_average"]))))
            if not rules[subject].is_passing(average):
                below.append((str(row["student_key"]), subject, float(average), int(row["grades"])))
        if not below:
            return []
        students = self._reidentify(school, {key for key, *_ in below})
        found = [
            StudentBelowPassing(
                student_id=students.get(key),
                subject_id=subject,
                weighted_average=average,
                passing_grade=float(rules[subject].passing_grade),
                grades=grades,
            )
            for key, subject, average, grades in below
        ]
        return sorted(found, key=lambda s: (s.subject_id, s.student_id is None, s.student_id or ""))

    def _reidentify(self, school: str, keys: set[str]) -> dict[str, str]:
        """The school's students whose pseudonym is among ``keys`` (computed, never looked up in
        the lake: the mapping exists only inside this call)."""
        found = {}
        for student in self._roster.student_ids(school):
            key = student_key(self._key, school, student)
            if key in keys:
                found[key] = student
        return found

    def behavior_trend(
        self, principal: Principal, *, from_month: str = "", to_month: str = "", school_id: str = ""
    ) -> list[BehaviorMonth]:
        school = reader_school(principal, school_id)
        first = month(from_month, field="from_month", default=NO_LOWER_MONTH)
        last = month(to_month, field="to_month", default=NO_UPPER_MONTH)
        if first > last:
            raise InvalidInput("from_month must not be after to_month", field="from_month")
        rows = self._lake.query(school, ReportName.BEHAVIOR_TREND, {"from_month": first, "to_month": last})
        return [
            BehaviorMonth(
                month=f"{int(row['year']):04d}-{int(row['month']):02d}",
                positive=int(row["positive"]),
                negative=int(row["negative"]),
            )
            for row in rows
        ]

    def grade_distribution(
        self,
        principal: Principal,
        *,
        term_id: str,
        subject_id: str = "",
        bucket_width: float = 0.0,
        school_id: str = "",
    ) -> list[GradeBucket]:
        """Every bucket from the bottom of the scale to its top (empty ones too); the top score
        falls in the last bucket. Without a subject, the school default rule's scale applies."""
        school = reader_school(principal, school_id)
        checked_term = term(term_id, required=True)
        subject = identifier(subject_id, field="subject_id")
        rule = self._rules.rule_for(school, subject or DEFAULT_SUBJECT)
        width = checked_bucket_width(bucket_width, rule)
        low, high = (float(bound) for bound in SCALE_BOUNDS[rule.scale])
        count = max(1, math.ceil((high - low) / width - 1e-9))
        rows = self._lake.query(
            school, ReportName.GRADE_DISTRIBUTION, {"term_id": checked_term, "subject_id": subject}
        )
        grades = [0] * count
        for row in rows:
            # Clamped: the top of the scale (and any score a rule change left outside it) counts in
            # the nearest bucket rather than vanishing. The epsilon keeps 5.0 in [5.0, 5.5) despite
            # binary floating point.
            bucket = math.floor((float(row["score"]) - low) / width + 1e-9)
            grades[min(max(bucket, 0), count - 1)] += int(row["grades"])
        return [
            GradeBucket(
                from_score=round(low + n * width, 6),
                to_score=round(min(low + (n + 1) * width, high), 6),
                grades=grades[n],
            )
            for n in range(count)
        ]
