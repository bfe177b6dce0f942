"""Fixtures for the query service's tests: principals and a fake authenticator, in-memory rules and
roster, and a small lake of three schools written with pyarrow in the real layout.

The lake's facts (school A, term 2025-T1 unless said):

| record | student | subject | score | weight | note |
|--------|---------|---------|-------|--------|------|
| a1 | st-1 | math | 6.0, then 7.0 | 1 | corrected (version 2, stamped earlier): 7.0 counts |
| a2 | st-1 | math | 5.0 | 1 | its row delivered twice: counts once |
| a3 | st-2 | math | 3.0 | 2 | |
| a4 | st-2 | math | 5.0 | 1 | |
| a5 | st-3 | math | 3.5 | 1 | |
| a6 | st-gone | math | 2.0 | 1 | not on the roster any more |
| a7 | st-1 | lang | 4.5 | 1 | lang passes at 5.0 |
| a8 | st-2 | lang | 6.0 | 1 | |
| a9 | st-1 | math | 6.0, then 6.5 | 1 | term 2025-T2, in a file from before versions: the later counts |
| a10 | st-3 | math | 1.0 | 1 | retracted (its tombstone keeps the score): not counted |
| a11 | st-2 | math | 1.0 | 1 | two rows of one version: the later in the stream, a tombstone, wins |

plus behavior notes (2025-03: 2 positive, 1 negative; 2025-04: 1 negative) and exercise results
(not grades). Schools B and C have the same student and subject ids with very different scores, so
any leak changes every number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from luca_analytics.adapters.lake_schema import LAKE_PREFIX, file_schema, partition_path
from luca_analytics.domain.lake import SEQUENCE_DIGITS, student_key
from luca_kernel.access import Principal, Role
from luca_kernel.errors import Unauthenticated
from luca_kernel.grading import GradingRule, default_rule
from luca_kernel.ids import SchoolId, StudentId, SubjectId

KEY = b"analytics-test-pseudonym-key"
SCHOOL_A, SCHOOL_B, SCHOOL_C = "school-a", "school-b", "school-c"
ROSTERS: Mapping[str, tuple[str, ...]] = {
    SCHOOL_A: ("st-1", "st-2", "st-3"),
    SCHOOL_B: ("st-1", "st-2", "st-9"),
    SCHOOL_C: ("st-1",),
}
PASSING: Mapping[tuple[str, str], Decimal] = {(SCHOOL_A, "lang"): Decimal("5.0")}


def principal(school: str, *roles: Role, student: str | None = None) -> Principal:
    return Principal(
        school_id=SchoolId(school),
        subject=f"user-{school}",
        roles=frozenset(roles),
        student_id=StudentId(student) if student else None,
    )


TOKENS: Mapping[str, Principal] = {
    "admin-a": principal(SCHOOL_A, Role.ADMIN),
    "teacher-a": principal(SCHOOL_A, Role.TEACHER),
    "service-a": principal(SCHOOL_A, Role.SERVICE),
    "student-a": principal(SCHOOL_A, Role.STUDENT, student="st-1"),
    "admin-b": principal(SCHOOL_B, Role.ADMIN),
}


class FakeAuthenticator:
    """Bearer tokens are names in ``TOKENS``; anything else is unauthenticated."""

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthenticated("missing bearer token")
        found = TOKENS.get(authorization.removeprefix("Bearer "))
        if found is None:
            raise Unauthenticated("invalid token")
        return found


class FakeRules:
    def __init__(self, passing: Mapping[tuple[str, str], Decimal] = PASSING, **scales: Any) -> None:
        self._passing = dict(passing)
        self._scales = scales  # subject -> ScaleKind, for every school
        self.asked: list[tuple[str, str]] = []

    def rule_for(self, school_id: str, subject_id: str) -> GradingRule:
        self.asked.append((school_id, subject_id))
        if subject_id in self._scales:
            return GradingRule(
                subject_id=SubjectId(subject_id), scale=self._scales[subject_id], passing_grade=Decimal("60")
            )
        grade = self._passing.get((school_id, subject_id))
        rule = default_rule(SubjectId(subject_id))
        return rule if grade is None else GradingRule(subject_id=SubjectId(subject_id), passing_grade=grade)


class FakeRoster:
    def __init__(self, rosters: Mapping[str, Iterable[str]] = ROSTERS) -> None:
        self._rosters = {school: tuple(ids) for school, ids in rosters.items()}
        self.asked: list[str] = []

    def student_ids(self, school_id: str) -> Iterable[str]:
        self.asked.append(school_id)
        return self._rosters.get(school_id, ())


@dataclass
class FakeLake:
    """Answers every query with canned rows and remembers what it was asked."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def query(self, school_id: str, sql_name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        self.calls.append((school_id, sql_name, dict(params)))
        return list(self.rows.get(sql_name, []))


@pytest.fixture
def fake_authenticator() -> FakeAuthenticator:
    return FakeAuthenticator()


@pytest.fixture
def fake_rules() -> FakeRules:
    return FakeRules()


@pytest.fixture
def rules_with() -> type[FakeRules]:
    """``FakeRules`` with subjects on other scales: ``rules_with(physics=ScaleKind.PERCENTAGE)``."""
    return FakeRules


@pytest.fixture
def fake_roster() -> FakeRoster:
    return FakeRoster()


@pytest.fixture
def fake_lake() -> FakeLake:
    return FakeLake()


@pytest.fixture
def tokens() -> Mapping[str, Principal]:
    return TOKENS


@pytest.fixture
def pseudonym_key() -> bytes:
    return KEY


# -- the lake -----------------------------------------------------------------------------------------
def _at(month: int, day: int = 10, hour: int = 12) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


def lake_row(
    school: str,
    record_id: str,
    *,
    student: str,
    month: int,
    item_type: str = "evaluation",
    subject: str = "math",
    term: str = "2025-T1",
    score: float | None = None,
    weight: float | None = 1.0,
    kind: str = "",
    change: str = "INSERT",
    changed_hour: int = 12,
    version: int = 1,
    retracted: bool = False,
    sequence: int = 0,
    legacy: bool = False,
) -> dict[str, Any]:
    """A row of the files (partition columns are the path), as the pipeline writes it; ``legacy``:
    as it wrote them before versions (no version, retracted or sequence number columns)."""
    evaluation = item_type == "evaluation"
    lifecycle = {
        "version": version,
        "retracted": retracted,
        "sequence_number": str(sequence).zfill(SEQUENCE_DIGITS) if sequence else "",
    }
    return {
        "item_type": item_type,
        "change": change,
        "changed_at": _at(month, hour=changed_hour),
        "record_id": record_id,
        "student_key": student_key(KEY, school, student),
        "course_id": "1A",
        "subject_id": subject if item_type != "behavior_note" else "",
        "term_id": term if evaluation else "",
        "score": score,
        "weight": weight if evaluation else None,
        "behavior_kind": kind,
        "passing": (score or 0) >= 4.0 if item_type == "exercise_result" else None,
        "occurred_at": _at(month),
        "source_schema_version": 1 if legacy else 2,
        **({} if legacy else lifecycle),
    }


@pytest.fixture(scope="session")
def make_lake_row() -> Callable[..., dict[str, Any]]:
    return lake_row


def school_a_rows() -> list[tuple[int, dict[str, Any]]]:
    s = SCHOOL_A
    return [
        (3, lake_row(s, "a1", student="st-1", month=3, score=6.0, sequence=100)),
        # Approximate creation times are no order: the correction is stamped before the original.
        (
            3,
            lake_row(
                s, "a1", student="st-1", month=3, score=7.0, change="MODIFY", changed_hour=11, version=2
            ),
        ),
        (3, lake_row(s, "a2", student="st-1", month=3, score=5.0, sequence=101)),
        (3, lake_row(s, "a2", student="st-1", month=3, score=5.0, sequence=101)),  # redelivered
        (3, lake_row(s, "a3", student="st-2", month=3, score=3.0, weight=2.0)),
        (4, lake_row(s, "a4", student="st-2", month=4, score=5.0)),
        (4, lake_row(s, "a5", student="st-3", month=4, score=3.5)),
        (4, lake_row(s, "a6", student="st-gone", month=4, score=2.0)),
        (3, lake_row(s, "a7", student="st-1", month=3, subject="lang", score=4.5)),
        (4, lake_row(s, "a8", student="st-2", month=4, subject="lang", score=6.0)),
        (6, lake_row(s, "a9", student="st-1", month=6, term="2025-T2", score=6.0, legacy=True)),
        (
            6,
            lake_row(
                s,
                "a9",
                student="st-1",
                month=6,
                term="2025-T2",
                score=6.5,
                change="MODIFY",
                changed_hour=15,
                legacy=True,
            ),
        ),
        (4, lake_row(s, "a10", student="st-3", month=4, score=1.0, sequence=300)),
        (
            4,
            lake_row(
                s,
                "a10",
                student="st-3",
                month=4,
                score=1.0,
                change="MODIFY",
                version=2,
                retracted=True,
                sequence=301,
            ),
        ),
        # Never written by grading (a version is one state): here to pin the tie-break.
        (4, lake_row(s, "a11", student="st-2", month=4, score=1.0, change="MODIFY", version=3, sequence=401)),
        (
            4,
            lake_row(
                s,
                "a11",
                student="st-2",
                month=4,
                score=1.0,
                change="MODIFY",
                version=3,
                retracted=True,
                sequence=402,
                changed_hour=9,
            ),
        ),
        (3, lake_row(s, "n1", student="st-1", month=3, item_type="behavior_note", kind="positive")),
        (3, lake_row(s, "n2", student="st-2", month=3, item_type="behavior_note", kind="positive")),
        (3, lake_row(s, "n3", student="st-3", month=3, item_type="behavior_note", kind="negative")),
        (4, lake_row(s, "n4", student="st-3", month=4, item_type="behavior_note", kind="negative")),
        (4, lake_row(s, "x1", student="st-1", month=4, item_type="exercise_result", score=1.0)),
    ]


def other_school_rows(school: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for n in range(8):
        month = 3 + n % 2
        rows.append((month, lake_row(school, f"{school}-e{n}", student="st-1", month=month, score=1.0)))
        rows.append(
            (
                month,
                lake_row(school, f"{school}-l{n}", student="st-2", month=month, subject="lang", score=1.5),
            )
        )
        kind = "negative"
        rows.append(
            (
                month,
                lake_row(
                    school,
                    f"{school}-n{n}",
                    student="st-1",
                    month=month,
                    item_type="behavior_note",
                    kind=kind,
                ),
            )
        )
    rows.append(
        (3, lake_row(school, f"{school}-s", student="st-9", month=3, subject=f"secret-{school}", score=2.0))
    )
    return rows


def write_lake(
    root: Path, rows_by_school: Mapping[str, list[tuple[int, dict[str, Any]]]]
) -> dict[str, list[str]]:
    """Writes two files per partition (as a buffered writer would), legacy rows with the columns
    files had before versions; returns each school's file paths."""
    written: dict[str, list[str]] = {}
    legacy_schema = pa.schema(
        [f for f in file_schema() if f.name not in ("version", "retracted", "sequence_number")]
    )
    for school, rows in rows_by_school.items():
        by_month: dict[int, list[dict[str, Any]]] = {}
        for month, row in rows:
            by_month.setdefault(month, []).append(row)
        for month, month_rows in sorted(by_month.items()):
            directory = root / LAKE_PREFIX / partition_path(school, 2025, month)
            directory.mkdir(parents=True, exist_ok=True)
            half = (len(month_rows) + 1) // 2
            for part, chunk in enumerate((month_rows[:half], month_rows[half:])):
                if not chunk:
                    continue
                path = directory / f"part-{part}.parquet"
                schema = file_schema() if "version" in chunk[0] else legacy_schema
                pq.write_table(pa.Table.from_pylist(chunk, schema=schema), path)
                written.setdefault(school, []).append(str(path))
    return written


@pytest.fixture(scope="session")
def lake_directory(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("lake")
    files = write_lake(
        root,
        {
            SCHOOL_A: school_a_rows(),
            SCHOOL_B: other_school_rows(SCHOOL_B),
            SCHOOL_C: other_school_rows(SCHOOL_C),
        },
    )
    return root, files
