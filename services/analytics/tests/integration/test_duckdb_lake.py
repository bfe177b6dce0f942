"""The reports over a real Parquet lake of three schools (pyarrow files, DuckDB queries): the
numbers, and the partition wall (a query reads only the caller's school's files, whatever it sends)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from luca_analytics.adapters import report_sql
from luca_analytics.adapters.duckdb_lake import DuckDbLake
from luca_analytics.domain.lake import student_key
from luca_analytics.service_layer.reports import LakeUnavailable, ReportName, Reports
from luca_kernel.access import Principal
from luca_kernel.errors import Forbidden, InvalidInput

SCHOOL_A = "school-a"
EVERY_QUERY: Mapping[str, dict[str, Any]] = {
    ReportName.SUBJECT_AVERAGES: {"term_id": ""},
    ReportName.STUDENT_AVERAGES: {"term_id": "2025-T1", "subject_id": ""},
    ReportName.BEHAVIOR_TREND: {"from_month": 0, "to_month": 999_999},
    ReportName.GRADE_DISTRIBUTION: {"term_id": "2025-T1", "subject_id": ""},
}


@pytest.fixture
def lake(lake_directory: tuple[Path, dict[str, list[str]]]) -> DuckDbLake:
    return DuckDbLake.local(str(lake_directory[0]), duckdb_threads=1)


@pytest.fixture
def files(lake_directory: tuple[Path, dict[str, list[str]]]) -> dict[str, list[str]]:
    return lake_directory[1]


@pytest.fixture
def reports(lake: DuckDbLake, fake_rules: Any, fake_roster: Any, pseudonym_key: bytes) -> Reports:
    return Reports(lake=lake, rules=fake_rules, roster=fake_roster, pseudonym_key=pseudonym_key)


# -- the numbers ------------------------------------------------------------------------------------
def test_subject_averages_are_weighted_and_count_the_latest_version_of_each_grade(
    reports: Reports, tokens: Mapping[str, Principal]
) -> None:
    found = reports.subject_averages(tokens["admin-a"])
    assert [(a.subject_id, a.term_id, round(a.weighted_average, 4), a.grades, a.students) for a in found] == [
        ("lang", "2025-T1", 5.25, 2, 2),
        # (7 + 5 + 3*2 + 5 + 3.5 + 2) / 7: a1's MODIFY (7.0) replaces its INSERT (6.0)
        ("math", "2025-T1", round(28.5 / 7, 4), 6, 4),
        ("math", "2025-T2", 6.5, 1, 1),
    ]
    one_term = reports.subject_averages(tokens["teacher-a"], term_id="2025-T2")
    assert [(a.subject_id, a.term_id) for a in one_term] == [("math", "2025-T2")]


def test_each_grade_counts_once_in_its_latest_version_and_not_at_all_once_retracted(
    lake: DuckDbLake, pseudonym_key: bytes
) -> None:
    """a1: version 2 wins although stamped earlier; a2: a redelivered row counts once; a10: its
    tombstone (which kept a score) drops it; a11: of two rows of one version, the later in the stream
    (a tombstone) wins; a9: rows from before versions still read, the later change winning."""
    rows = lake.query(SCHOOL_A, "student_averages", {"term_id": "", "subject_id": "math"})
    by_student = {row["student_key"]: (round(row["weighted_average"], 4), row["grades"]) for row in rows}
    key = {student: student_key(pseudonym_key, SCHOOL_A, student) for student in ("st-1", "st-2", "st-3")}
    assert by_student[key["st-1"]] == (round((7.0 + 5.0 + 6.5) / 3, 4), 3)
    assert by_student[key["st-2"]] == (round((3.0 * 2 + 5.0) / 3, 4), 2)
    assert by_student[key["st-3"]] == (3.5, 1)


def test_students_below_passing_by_each_subject_rule_re_identified_or_reported_unknown(
    reports: Reports, tokens: Mapping[str, Principal]
) -> None:
    found = reports.students_below_passing(tokens["admin-a"], term_id="2025-T1")
    assert [
        (s.subject_id, s.student_id, round(s.weighted_average, 4), s.passing_grade, s.grades) for s in found
    ] == [
        ("lang", "st-1", 4.5, 5.0, 1),
        ("math", "st-2", 3.7, 4.0, 2),  # 11/3, rounded by the rule as grading shows it
        ("math", "st-3", 3.5, 4.0, 1),
        ("math", None, 2.0, 4.0, 1),  # st-gone left the roster: unidentified, not guessed
    ]
    only_lang = reports.students_below_passing(tokens["admin-a"], term_id="2025-T1", subject_id="lang")
    assert [s.student_id for s in only_lang] == ["st-1"]


def test_behavior_trend_counts_notes_per_month(reports: Reports, tokens: Mapping[str, Principal]) -> None:
    found = reports.behavior_trend(tokens["admin-a"])
    assert [(m.month, m.positive, m.negative) for m in found] == [("2025-03", 2, 1), ("2025-04", 0, 1)]
    april = reports.behavior_trend(tokens["admin-a"], from_month="2025-04", to_month="2025-12")
    assert [m.month for m in april] == ["2025-04"]


def test_grade_distribution_buckets_the_term_grades(
    reports: Reports, tokens: Mapping[str, Principal]
) -> None:
    default = reports.grade_distribution(tokens["admin-a"], term_id="2025-T1", subject_id="math")
    assert len(default) == 12
    assert (default[0].from_score, default[-1].to_score) == (1.0, 7.0)
    assert {b.from_score: b.grades for b in default if b.grades} == {2.0: 1, 3.0: 1, 3.5: 1, 5.0: 2, 6.5: 1}
    wide = reports.grade_distribution(tokens["admin-a"], term_id="2025-T1", bucket_width=2.0)
    assert [(b.from_score, b.to_score, b.grades) for b in wide] == [
        (1.0, 3.0, 1),
        (3.0, 5.0, 3),
        (5.0, 7.0, 4),
    ]


# -- the partition wall -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(EVERY_QUERY))
def test_a_one_school_query_opens_only_that_school_files(
    lake: DuckDbLake, files: dict[str, list[str]], name: str
) -> None:
    _, statistics = lake.query_with_statistics(SCHOOL_A, name, EVERY_QUERY[name])
    assert set(statistics.files_read) == set(files[SCHOOL_A])
    assert all("/school_id=school-a/" in path for path in statistics.files_read)
    whole = lake.size()
    assert whole.files == sum(len(paths) for paths in files.values())
    assert statistics.file_count < whole.files
    assert 0 < statistics.bytes_read == lake.size(SCHOOL_A).bytes < whole.bytes
    assert lake.last_statistics == statistics


def test_the_dataset_duckdb_sees_holds_only_the_school_rows(lake: DuckDbLake) -> None:
    dataset, _ = lake.school_dataset("school-b")
    schools = set(dataset.to_table(columns=["school_id"]).column("school_id").to_pylist())
    assert schools == {"school-b"}


def test_a_school_without_files_reads_nothing(lake: DuckDbLake) -> None:
    rows, statistics = lake.query_with_statistics("school-z", ReportName.SUBJECT_AVERAGES, {"term_id": ""})
    assert rows == []
    assert (statistics.files_read, statistics.bytes_read) == ((), 0)


def test_the_school_is_never_a_parameter_nor_a_path_fragment(lake: DuckDbLake) -> None:
    with pytest.raises(ValueError, match="not a query parameter"):
        lake.query(SCHOOL_A, ReportName.SUBJECT_AVERAGES, {"term_id": "", "school_id": "school-b"})
    for school in ("school-a' OR '1'='1", "../school-b", "school-a/../school-b", "", "*"):
        with pytest.raises(ValueError, match="not a school id"):
            lake.query(school, ReportName.SUBJECT_AVERAGES, {"term_id": ""})


@pytest.mark.parametrize(
    "term", ["2025-T1' OR school_id <> 'x", "' OR '1'='1", "x'); SELECT * FROM lake_grades; --"]
)
def test_values_are_bound_so_a_crafted_value_that_slipped_past_validation_matches_nothing(
    lake: DuckDbLake, term: str
) -> None:
    # Straight to the adapter, past the use case's validation: the value is data, not SQL.
    rows = lake.query(SCHOOL_A, ReportName.SUBJECT_AVERAGES, {"term_id": term})
    assert rows == []


def test_crafted_report_parameters_are_refused_and_read_nothing(
    reports: Reports, lake: DuckDbLake, tokens: Mapping[str, Principal]
) -> None:
    admin = tokens["admin-a"]
    before = lake.last_statistics
    for attempt in (
        lambda: reports.subject_averages(admin, term_id="2025-T1' OR school_id <> 'x"),
        lambda: reports.students_below_passing(
            admin, term_id="2025-T1", subject_id="math'; DROP TABLE x; --"
        ),
        lambda: reports.grade_distribution(admin, term_id="2025-T1", subject_id="math' OR '1'='1"),
        lambda: reports.behavior_trend(admin, from_month="2025-01' OR 1=1 --"),
    ):
        with pytest.raises(InvalidInput):
            attempt()
    assert lake.last_statistics is before  # no query ran


def test_a_school_a_token_naming_school_b_is_forbidden(
    reports: Reports, lake: DuckDbLake, tokens: Mapping[str, Principal]
) -> None:
    before = lake.last_statistics
    with pytest.raises(Forbidden):
        reports.subject_averages(tokens["admin-a"], school_id="school-b")
    assert lake.last_statistics is before


def test_every_report_query_filters_the_school_partition_first() -> None:
    for query in report_sql.QUERIES.values():
        assert query.params[0] == report_sql.SCHOOL_PARAMETER
        first_where = query.sql().split("WHERE", 1)[1].strip()
        assert first_where.startswith("school_id = ?")
        assert query.sql().count("?") == len(query.params)


def test_an_unreachable_bucket_is_lake_unavailable_not_a_crash() -> None:
    # A port nothing listens on: the S3 listing fails (after the SDK's own retries).
    lake = DuckDbLake.s3("no-such-lake", region="us-east-1", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(LakeUnavailable):
        lake.query(SCHOOL_A, ReportName.SUBJECT_AVERAGES, EVERY_QUERY[ReportName.SUBJECT_AVERAGES])


@pytest.mark.parametrize("school", ["school-a\n", "school-a/../school-b", "", "a" * 65])
def test_a_crafted_school_id_is_refused(lake: DuckDbLake, school: str) -> None:
    with pytest.raises(ValueError, match="not a school id"):
        lake.query(school, ReportName.SUBJECT_AVERAGES, EVERY_QUERY[ReportName.SUBJECT_AVERAGES])
