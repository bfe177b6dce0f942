"""The cross-check: every school's averages from the lake's reports against the table's current
grades and against what the bench asked for; and the table against the bench's requests."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from bench.lake_platform import Bench
from bench.lake_queries import admin_of, make_reports
from bench.lake_workload import Ledger, School
from luca_analytics.adapters import report_sql
from luca_analytics.domain.lake import student_key
from luca_platform.contracts import grades as grades_contract
from luca_platform.table import keys
from luca_platform.table.codec import from_wire, to_wire

Averages = dict[str, tuple[float, int]]  # group -> (weighted average, grades)


def averaged(grades: Iterable[tuple[str, Decimal, Decimal]]) -> Averages:
    """Weighted averages of (group, score, weight), exactly (Decimals), and how many grades."""
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
    for group, score, weight in grades:
        total = sums[group]
        total[0] += score * weight
        total[1] += weight
        total[2] += 1
    return {group: (float(s / w), int(n)) for group, (s, w, n) in sorted(sums.items())}


def requested_averages(ledger: Ledger, school_id: str, *, counting_retracted: bool = False) -> Averages:
    """The school's subject averages from what the bench wrote and asked the API to change (the
    latest version of each grade; retracted ones left out)."""
    return averaged(
        (f"{g.subject}/{g.term}", g.score, g.weight)
        for (school, _), g in ledger.grades.items()
        if school == school_id and (counting_retracted or not g.retracted)
    )


def table_grades(bench: Bench, school_id: str, term: str) -> list[dict[str, Any]]:
    """The school's grades of the term as the table holds them, read as the government sync reads
    them (the school-term index, the school's own client), each checked against its contract."""
    client = bench.clients.dynamodb_for(school_id)
    index = keys.SCHOOL_TERM_INDEX
    request: dict[str, Any] = {
        "TableName": bench.resources.table_name,
        "IndexName": index.name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": index.partition_key},
        "ExpressionAttributeValues": to_wire({":pk": grades_contract.school_term_pk(school_id, term)}),
    }
    found: list[dict[str, Any]] = []
    while True:
        page = client.query(**request)
        for raw in page["Items"]:
            item = from_wire(raw)
            grades_contract.check_evaluation(item)
            found.append(item)
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def differences(school_id: str, what: str, got: Averages, want: Averages) -> list[dict[str, Any]]:
    return [
        {
            "school": school_id,
            "check": what,
            "group": group,
            "lake": got.get(group),
            "expected": want.get(group),
        }
        for group in sorted(set(got) | set(want))
        if group not in got
        or group not in want
        or got[group][1] != want[group][1]
        or not math.isclose(got[group][0], want[group][0], rel_tol=1e-9)
    ]


def cross_check(
    bench: Bench, schools: Sequence[School], ledger: Ledger, term: str, key: bytes
) -> dict[str, Any]:
    """Every school's averages from the lake's reports against the table's current grades (per
    subject, as a school admin asks ``Reports.subject_averages``; per student and subject, the
    ``student_averages`` report query with its pseudonyms matched to the roster), and the subject
    averages also against what the bench asked for; and the table against the bench's requests."""
    reports = make_reports(bench, key)
    mismatches: list[dict[str, Any]] = []
    table_vs_requests: list[str] = []
    subject_groups = student_groups = retracted = 0
    retracted_gap = 0.0
    for school in schools:
        sid = school.school_id
        table = table_grades(bench, sid, term)
        current = [item for item in table if not grades_contract.is_retracted(item)]
        retracted += len(table) - len(current)
        for item in table:
            asked = ledger.grades.get((sid, item["evaluation_id"]))
            stands = (
                grades_contract.version_of(item),
                grades_contract.is_retracted(item),
                item["score"],
                item["weight"],
            )
            if asked is None or stands != (asked.version, asked.retracted, asked.score, asked.weight):
                table_vs_requests.append(f"{sid}/{item['evaluation_id']}: table {stands}, asked {asked}")
        by_subject = {
            f"{a.subject_id}/{a.term_id}": (a.weighted_average, a.grades)
            for a in reports.subject_averages(admin_of(sid), term_id=term)
        }
        table_subjects = averaged(
            (f"{i['subject_id']}/{i['term_id']}", i["score"], i["weight"]) for i in current
        )
        names = {student_key(key, sid, student): student for _, student in school.students}
        rows = bench.duck.query(
            sid, report_sql.query("student_averages").name, {"term_id": term, "subject_id": ""}
        )
        by_student = {
            f"{names.get(row['student_key'], row['student_key'])}/{row['subject_id']}": (
                float(row["weighted_average"]), int(row["grades"]),
            )
            for row in rows
        }  # fmt: skip
        table_students = averaged(
            (f"{i['student_id']}/{i['subject_id']}", i["score"], i["weight"]) for i in current
        )
        requested = requested_averages(ledger, sid)
        mismatches += differences(sid, "subject averages vs the table", by_subject, table_subjects)
        mismatches += differences(sid, "student averages vs the table", by_student, table_students)
        mismatches += differences(sid, "subject averages vs the requests", by_subject, requested)
        subject_groups += len(table_subjects)
        student_groups += len(table_students)
        for group, (average, _) in requested_averages(ledger, sid, counting_retracted=True).items():
            if group in requested:
                retracted_gap = max(retracted_gap, abs(average - requested[group][0]))
    return {
        "schools": len(schools),
        "subject_groups_checked": subject_groups,
        "student_groups_checked": student_groups,
        "mismatches": mismatches,
        "table_vs_requests": table_vs_requests,
        "retracted_in_table": retracted,
        "max_gap_if_retracted_counted": round(retracted_gap, 6),
    }
