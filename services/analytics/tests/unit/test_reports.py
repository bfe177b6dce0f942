"""The report use cases on fakes: who may read, what a valid request is, and re-identification."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from luca_analytics.domain.lake import student_key
from luca_analytics.service_layer.reports import ReportName, Reports
from luca_kernel.access import Principal
from luca_kernel.errors import Forbidden, InvalidInput
from luca_kernel.grading import ScaleKind

SCHOOL = "school-a"


@pytest.fixture
def reports(fake_lake: Any, fake_rules: Any, fake_roster: Any, pseudonym_key: bytes) -> Reports:
    return Reports(lake=fake_lake, rules=fake_rules, roster=fake_roster, pseudonym_key=pseudonym_key)


# -- who may read -------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["admin-a", "teacher-a", "service-a"])
def test_staff_and_services_of_the_school_read_its_reports(
    reports: Reports, fake_lake: Any, tokens: Mapping[str, Principal], token: str
) -> None:
    reports.subject_averages(tokens[token], term_id="2025-T1")
    assert fake_lake.calls == [(SCHOOL, ReportName.SUBJECT_AVERAGES, {"term_id": "2025-T1"})]


def test_students_read_no_report(reports: Reports, fake_lake: Any, tokens: Mapping[str, Principal]) -> None:
    student = tokens["student-a"]
    calls = [
        lambda: reports.subject_averages(student),
        lambda: reports.students_below_passing(student, term_id="2025-T1"),
        lambda: reports.behavior_trend(student),
        lambda: reports.grade_distribution(student, term_id="2025-T1"),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()
    assert fake_lake.calls == []


def test_naming_another_school_is_forbidden_and_reads_nothing(
    reports: Reports, fake_lake: Any, tokens: Mapping[str, Principal]
) -> None:
    with pytest.raises(Forbidden):
        reports.subject_averages(tokens["admin-a"], school_id="school-b")
    with pytest.raises(Forbidden):
        reports.students_below_passing(tokens["admin-a"], term_id="2025-T1", school_id="school-b")
    assert fake_lake.calls == []


def test_naming_the_own_school_is_the_same_as_naming_none(
    reports: Reports, fake_lake: Any, tokens: Mapping[str, Principal]
) -> None:
    reports.behavior_trend(tokens["admin-a"], school_id=SCHOOL)
    assert fake_lake.calls[0][0] == SCHOOL


def test_the_school_goes_to_the_lake_as_its_own_argument_never_a_parameter(
    reports: Reports, fake_lake: Any, tokens: Mapping[str, Principal]
) -> None:
    admin = tokens["admin-b"]
    reports.subject_averages(admin)
    reports.students_below_passing(admin, term_id="2025-T1", subject_id="math")
    reports.behavior_trend(admin, from_month="2025-03")
    reports.grade_distribution(admin, term_id="2025-T1")
    assert {school for school, _, _ in fake_lake.calls} == {"school-b"}
    assert all("school_id" not in params for _, _, params in fake_lake.calls)


# -- parameters --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "term",
    ["2025-T1' OR school_id <> 'x", "2025-T5", "2025-t1", "25-T1", "2025-T1 ", "2025-T1;--", "2025-T\uff11"],
)
def test_a_malformed_term_is_refused_before_the_lake(
    reports: Reports, fake_lake: Any, tokens: Mapping[str, Principal], term: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        reports.subject_averages(tokens["admin-a"], term_id=term)
    assert refused.value.field == "term_id"
    assert fake_lake.calls == []


def test_a_term_is_required_where_the_report_needs_one(
    reports: Reports, tokens: Mapping[str, Principal]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        reports.students_below_passing(tokens["admin-a"], term_id="")
    assert refused.value.field == "term_id"


@pytest.mark.parametrize(
    "subject", ["math'; DROP TABLE lake_grades; --", "math' OR '1'='1", "a b", "x" * 65, "matemáticas", "*"]
)
def test_a_malformed_subject_is_refused(
    reports: Reports, fake_lake: Any, tokens: Mapping[str, Principal], subject: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        reports.students_below_passing(tokens["admin-a"], term_id="2025-T1", subject_id=subject)
    assert refused.value.field == "subject_id"
    with pytest.raises(InvalidInput):
        reports.grade_distribution(tokens["admin-a"], term_id="2025-T1", subject_id=subject)
    assert fake_lake.calls == []


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        ("2025-13", "", "from_month"),
        ("2025-3", "", "from_month"),
        ("", "2025-00", "to_month"),
        ("2025-05", "2025-04", "from_month"),
    ],
)
def test_malformed_or_reversed_months_are_refused(
    reports: Reports, tokens: Mapping[str, Principal], first: str, last: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        reports.behavior_trend(tokens["admin-a"], from_month=first, to_month=last)
    assert refused.value.field == field


def test_months_reach_the_lake_as_numbers(
    reports: Reports, fake_lake: Any, tokens: Mapping[str, Principal]
) -> None:
    reports.behavior_trend(tokens["admin-a"], from_month="2025-03", to_month="2025-04")
    reports.behavior_trend(tokens["admin-a"])
    assert [params for _, _, params in fake_lake.calls] == [
        {"from_month": 202503, "to_month": 202504},
        {"from_month": 0, "to_month": 999_999},
    ]


@pytest.mark.parametrize("width", [-1.0, float("nan"), float("inf"), 0.01, 6.5])
def test_a_bucket_width_that_makes_no_sensible_histogram_is_refused(
    reports: Reports, fake_lake: Any, tokens: Mapping[str, Principal], width: float
) -> None:
    with pytest.raises(InvalidInput) as refused:
        reports.grade_distribution(tokens["admin-a"], term_id="2025-T1", bucket_width=width)
    assert refused.value.field == "bucket_width"
    assert fake_lake.calls == []


# -- the answers ---------------------------------------------------------------------------------------
def test_students_below_passing_are_re_identified_from_the_school_roster(
    reports: Reports, fake_lake: Any, fake_roster: Any, tokens: Mapping[str, Principal], pseudonym_key: bytes
) -> None:
    def key(student: str, school: str = SCHOOL) -> str:
        return student_key(pseudonym_key, school, student)

    fake_lake.rows[ReportName.STUDENT_AVERAGES] = [
        {"student_key": key("st-1"), "subject_id": "lang", "weighted_average": 4.5, "grades": 1},
        {"student_key": key("st-2"), "subject_id": "lang", "weighted_average": 5.0, "grades": 1},
        {"student_key": key("st-1"), "subject_id": "math", "weighted_average": 4.0, "grades": 2},
        {"student_key": key("st-2"), "subject_id": "math", "weighted_average": 3.9, "grades": 3},
        # 3.95 rounds half-up to 4.0 under the rule: passing in the grading service, so not listed.
        {"student_key": key("st-3"), "subject_id": "math", "weighted_average": 3.95, "grades": 2},
        {"student_key": key("st-gone"), "subject_id": "math", "weighted_average": 2.0, "grades": 1},
        # Another school's key for a student id this school also has: not this school's st-1.
        {"student_key": key("st-1", "school-b"), "subject_id": "math", "weighted_average": 1.0, "grades": 1},
    ]
    found = reports.students_below_passing(tokens["admin-a"], term_id="2025-T1")
    assert [(s.subject_id, s.student_id, s.weighted_average, s.passing_grade) for s in found] == [
        ("lang", "st-1", 4.5, 5.0),  # lang passes at 5.0 in school A: 5.0 itself is not below
        ("math", "st-2", 3.9, 4.0),  # 4.0 is not below 4.0
        ("math", None, 2.0, 4.0),
        ("math", None, 1.0, 4.0),
    ]
    assert not found[-1].identified
    assert fake_roster.asked == [SCHOOL]


def test_nobody_below_passing_needs_no_roster(
    reports: Reports, fake_lake: Any, fake_roster: Any, tokens: Mapping[str, Principal]
) -> None:
    fake_lake.rows[ReportName.STUDENT_AVERAGES] = [
        {"student_key": "k", "subject_id": "math", "weighted_average": 6.0, "grades": 1}
    ]
    assert reports.students_below_passing(tokens["admin-a"], term_id="2025-T1") == []
    assert fake_roster.asked == []


def test_the_distribution_covers_the_whole_scale_and_counts_the_top_in_the_last_bucket(
    reports: Reports, fake_lake: Any, tokens: Mapping[str, Principal]
) -> None:
    fake_lake.rows[ReportName.GRADE_DISTRIBUTION] = [
        {"score": 1.0, "grades": 1},
        {"score": 1.9, "grades": 1},
        {"score": 6.0, "grades": 0},
        {"score": 7.0, "grades": 1},
    ]
    buckets = reports.grade_distribution(tokens["admin-a"], term_id="2025-T1", bucket_width=1.0)
    assert [(b.from_score, b.to_score, b.grades) for b in buckets] == [
        (1.0, 2.0, 2),
        (2.0, 3.0, 0),
        (3.0, 4.0, 0),
        (4.0, 5.0, 0),
        (5.0, 6.0, 0),
        (6.0, 7.0, 1),
    ]
    assert fake_lake.calls[0][2] == {"term_id": "2025-T1", "subject_id": ""}


def test_the_default_bucket_width_follows_the_subject_scale(
    fake_lake: Any, fake_roster: Any, tokens: Mapping[str, Principal], pseudonym_key: bytes, rules_with: Any
) -> None:
    reports = Reports(
        lake=fake_lake,
        rules=rules_with(physics=ScaleKind.PERCENTAGE),
        roster=fake_roster,
        pseudonym_key=pseudonym_key,
    )
    assert len(reports.grade_distribution(tokens["admin-a"], term_id="2025-T1", subject_id="physics")) == 10
    assert len(reports.grade_distribution(tokens["admin-a"], term_id="2025-T1", subject_id="math")) == 12


def test_behavior_months_are_named_yyyy_mm(
    reports: Reports, fake_lake: Any, tokens: Mapping[str, Principal]
) -> None:
    fake_lake.rows[ReportName.BEHAVIOR_TREND] = [{"year": 2025, "month": 3, "positive": 2, "negative": 1}]
    (month,) = reports.behavior_trend(tokens["teacher-a"])
    assert (month.month, month.positive, month.negative) == ("2025-03", 2, 1)


def test_an_empty_pseudonym_key_is_refused(fake_lake: Any, fake_rules: Any, fake_roster: Any) -> None:
    with pytest.raises(ValueError, match="key is empty"):
        Reports(lake=fake_lake, rules=fake_rules, roster=fake_roster, pseudonym_key=b"")
