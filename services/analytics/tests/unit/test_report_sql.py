"""The report SQL stays inside what both engines accept (DuckDB here, Athena in AWS)."""

from __future__ import annotations

import re

import pytest

from luca_analytics.adapters import report_sql

CLAUSE = re.compile(r"\b(SELECT|FROM|WHERE|GROUP BY|ORDER BY|HAVING)\b")


@pytest.mark.parametrize("name", sorted(report_sql.QUERIES))
def test_every_parameter_is_in_a_where_clause(name: str) -> None:
    """Athena takes execution parameters only in WHERE clauses (``SELECT ? FROM t`` is refused)."""
    text = report_sql.query(name).sql()
    for position in (m.start() for m in re.finditer(r"\?", text)):
        clauses = CLAUSE.findall(text[:position])
        assert clauses, f"{name}: a ? before any clause"
        assert clauses[-1] == "WHERE", f"{name}: a ? in a {clauses[-1]} clause"


@pytest.mark.parametrize("name", sorted(report_sql.QUERIES))
def test_the_school_is_the_first_parameter_and_every_parameter_is_named(name: str) -> None:
    query = report_sql.query(name)
    assert query.params[0] == report_sql.SCHOOL_PARAMETER
    assert query.sql().count("?") == len(query.params)
    assert "WHERE school_id = ?" in query.sql()


def test_only_a_plain_table_name_is_formatted_in() -> None:
    query = report_sql.query("subject_averages")
    assert "luca_analytics.lake_grades" in query.sql("luca_analytics.lake_grades")
    with pytest.raises(ValueError, match="not a table name"):
        query.sql("lake_grades; DROP TABLE x")


@pytest.mark.parametrize("name", sorted(report_sql.QUERIES))
def test_every_query_keeps_the_latest_version_by_version_then_stream_order(name: str) -> None:
    text = report_sql.query(name).sql()
    assert f"ORDER BY {report_sql.LATEST_FIRST}" in text
    assert report_sql.LATEST_FIRST.startswith("COALESCE(version, 1) DESC, COALESCE(sequence_number, '') DESC")
    assert "version_rank = 1" in text


@pytest.mark.parametrize("name", ["subject_averages", "student_averages", "grade_distribution"])
def test_grade_queries_drop_a_retracted_grade_after_ranking_its_versions(name: str) -> None:
    text = report_sql.query(name).sql()
    ranked, outer = text.split("FROM latest", 1)
    # Filtering tombstones before ranking would let an earlier version of a retracted grade count.
    assert "retracted" not in ranked.split(f"FROM {report_sql.LAKE_TABLE}", 1)[1]
    assert "NOT COALESCE(retracted, FALSE)" in outer
