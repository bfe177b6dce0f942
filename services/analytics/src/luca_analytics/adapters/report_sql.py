"""The report queries, in the one SQL both engines run: DuckDB locally, Athena (Trino) in AWS.

Every query starts ``WHERE school_id = ?`` and its first parameter is the school, which the lake
adapter supplies from the verified principal (never from the request). Every other value is a
positional ``?`` parameter: nothing a caller sends is ever formatted into the text. The only thing
formatted in is the table's name, an identifier from configuration, checked against a strict pattern.

Dialect notes (kept to the common subset of DuckDB 1.x/2.x and Trino as Athena runs it):

* Parameters are positional ``?``: Athena's ``ExecutionParameters`` (and ``EXECUTE ... USING``) are
  positional only; DuckDB's ``$name`` has no Trino equivalent. An optional filter is therefore
  ``(? = '' OR term_id = ?)`` with the value bound twice (``ReportQuery.params`` lists it twice),
  in textual ``?`` order.
* Athena substitutes execution parameters before planning, so partition projection prunes on
  ``school_id = ?`` as on a literal. ``year * 100 + month BETWEEN ? AND ?`` is an expression on
  partition columns: Trino still filters partitions by it, but projection may enumerate the school's
  projected months first; the school equality already bounds that to one school.
* Division is only ever of DOUBLEs (``score``, ``weight``, ``1.0``): Trino divides integers as
  integers, DuckDB as doubles.
* Athena accepts ``?`` only in WHERE clauses (not in a SELECT list), so every parameter here filters;
  computed values that depend on a request (the distribution's buckets) are derived by the caller.
* Months come back as ``year`` and ``month`` integers and are formatted by the caller: DuckDB
  (``strftime``, ``printf``) and Trino (``format``, ``lpad``) share no string formatting function.
* Changes are versions: the lake keeps every INSERT and MODIFY of a record, so each query keeps the
  latest by ``ROW_NUMBER() OVER (PARTITION BY record_id ORDER BY ...)`` (both engines), ordered by
  ``LATEST_FIRST``: the record's version, then the stream's sequence number (zero-padded text), both
  total within a record; ``changed_at`` comes last only for rows written before those columns
  existed (their files lack them: NULL, read as version 1 and no sequence). Tombstones (``retracted``)
  are dropped *after* ranking, so a retracted grade's earlier versions never count either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LAKE_TABLE = "lake_grades"  # the DuckDB view over the school's dataset; in Athena, the Glue table
SCHOOL_PARAMETER = "school_id"
# A school id as the table's keys allow it; anything else never reaches a path or a query.
SCHOOL_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127})?$")


# A record's rows, latest first (see the module's notes), as every query below spells it. Rows from
# before the version and sequence columns read them as NULL: version 1, no sequence.
LATEST_FIRST = "COALESCE(version, 1) DESC, COALESCE(sequence_number, '') DESC, changed_at DESC"


@dataclass(frozen=True, slots=True)
class ReportQuery:
    name: str
    template: str  # ``{table}`` is the only placeholder
    params: tuple[str, ...]  # the request parameters bound, in ``?`` order; the school is first

    def sql(self, table: str = LAKE_TABLE) -> str:
        if not _TABLE_NAME.match(table):
            raise ValueError(f"not a table name: {table!r}")
        return self.template.format(table=table)


# Each text is written out whole (no composition), so what runs is what is read here. The CTE ranks
# each record's versions of one school (every query by ``LATEST_FIRST``); the latest is kept unless
# it is a tombstone, and term and subject then filter those versions (a correction may move a grade
# to another term).
QUERIES: dict[str, ReportQuery] = {
    q.name: q
    for q in (
        ReportQuery(
            "subject_averages",
            """WITH latest AS (
    SELECT student_key, subject_id, term_id, score, weight, retracted,
           ROW_NUMBER() OVER (
               PARTITION BY record_id
               ORDER BY COALESCE(version, 1) DESC, COALESCE(sequence_number, '') DESC, changed_at DESC
           ) AS version_rank
    FROM {table}
    WHERE school_id = ? AND item_type = 'evaluation'
)
SELECT subject_id, term_id,
       SUM(score * COALESCE(weight, 1.0)) / SUM(COALESCE(weight, 1.0)) AS weighted_average,
       COUNT(*) AS grades,
       COUNT(DISTINCT student_key) AS students
FROM latest
WHERE version_rank = 1 AND NOT COALESCE(retracted, FALSE) AND score IS NOT NULL
  AND (? = '' OR term_id = ?)
GROUP BY subject_id, term_id
ORDER BY subject_id, term_id""",
            (SCHOOL_PARAMETER, "term_id", "term_id"),
        ),
        ReportQuery(
            "student_averages",
            """WITH latest AS (
    SELECT student_key, subject_id, term_id, score, weight, retracted,
           ROW_NUMBER() OVER (
               PARTITION BY record_id
               ORDER BY COALESCE(version, 1) DESC, COALESCE(sequence_number, '') DESC, changed_at DESC
           ) AS version_rank
    FROM {table}
    WHERE school_id = ? AND item_type = 'evaluation'
)
SELECT student_key, subject_id,
       SUM(score * COALESCE(weight, 1.0)) / SUM(COALESCE(weight, 1.0)) AS weighted_average,
       COUNT(*) AS grades
FROM latest
WHERE version_rank = 1 AND NOT COALESCE(retracted, FALSE) AND score IS NOT NULL
  AND (? = '' OR term_id = ?)
  AND (? = '' OR subject_id = ?)
GROUP BY student_key, subject_id
ORDER BY subject_id, student_key""",
            (SCHOOL_PARAMETER, "term_id", "term_id", "subject_id", "subject_id"),
        ),
        ReportQuery(
            "behavior_trend",
            """WITH latest AS (
    SELECT year, month, behavior_kind,
           ROW_NUMBER() OVER (
               PARTITION BY record_id
               ORDER BY COALESCE(version, 1) DESC, COALESCE(sequence_number, '') DESC, changed_at DESC
           ) AS version_rank
    FROM {table}
    WHERE school_id = ? AND item_type = 'behavior_note'
      AND year * 100 + month BETWEEN ? AND ?
)
SELECT year, month,
       SUM(CASE WHEN behavior_kind = 'positive' THEN 1 ELSE 0 END) AS positive,
       SUM(CASE WHEN behavior_kind = 'negative' THEN 1 ELSE 0 END) AS negative
FROM latest
WHERE version_rank = 1
GROUP BY year, month
ORDER BY year, month""",
            (SCHOOL_PARAMETER, "from_month", "to_month"),
        ),
        ReportQuery(
            "grade_distribution",
            """WITH latest AS (
    SELECT subject_id, term_id, score, retracted,
           ROW_NUMBER() OVER (
               PARTITION BY record_id
               ORDER BY COALESCE(version, 1) DESC, COALESCE(sequence_number, '') DESC, changed_at DESC
           ) AS version_rank
    FROM {table}
    WHERE school_id = ? AND item_type = 'evaluation'
)
SELECT score, COUNT(*) AS grades
FROM latest
WHERE version_rank = 1 AND NOT COALESCE(retracted, FALSE) AND score IS NOT NULL
  AND (? = '' OR term_id = ?)
  AND (? = '' OR subject_id = ?)
GROUP BY score
ORDER BY score""",
            # Counts per distinct score (a scale has few: 1.0-7.0 in tenths, 0-100); the use case
            # buckets them. Athena takes ``?`` only in WHERE clauses, so the width cannot be bound.
            (SCHOOL_PARAMETER, "term_id", "term_id", "subject_id", "subject_id"),
        ),
    )
}


def check_school(school_id: str) -> str:
    """The school id, if it is one (a full match: no path segment, quote or newline gets through)."""
    if not SCHOOL_ID.fullmatch(school_id):
        raise ValueError("not a school id")
    return school_id


def bind(school_id: str, name: str, params: Mapping[str, Any]) -> tuple[ReportQuery, list[Any]]:
    """The named query and its values in ``?`` order, the school first: what both lake adapters run.

    The school is the adapter's argument (the verified principal's), never one of ``params``."""
    check_school(school_id)
    if SCHOOL_PARAMETER in params:
        raise ValueError("the school is not a query parameter")
    report = query(name)
    if report.params[:1] != (SCHOOL_PARAMETER,):
        raise ValueError(f"report {report.name!r} does not bind the school first")
    return report, [school_id if p == SCHOOL_PARAMETER else params[p] for p in report.params]


def query(name: str) -> ReportQuery:
    try:
        return QUERIES[name]
    except KeyError:
        raise KeyError(f"no report query {name!r}") from None
