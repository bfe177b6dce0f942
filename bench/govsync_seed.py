"""The government-sync benchmark's workload: one term's grades in five schools, seeded into the table."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from luca_grading.adapters.dynamodb_repository import evaluation_item
from luca_grading.domain.model import Evaluation
from luca_infra.local.provision import ProvisionedResources
from luca_kernel.grading import GradingRule, ScaleKind
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Term
from luca_platform.aws import AwsClients
from luca_platform.contracts import roster
from luca_platform.contracts.rules import rule_item
from luca_platform.table.codec import to_wire

PERIOD = "2025-T1"
STARTED_BY = "bench"
# Five schools of uneven size; the smallest grades on percentages (passing at 60%).
SCHOOLS: tuple[tuple[str, float], ...] = (
    ("liceo-andes", 0.30),
    ("colegio-bosque", 0.25),
    ("escuela-costa", 0.20),
    ("liceo-desierto", 0.15),
    ("colegio-estrella", 0.10),
)
PERCENTAGE_SCHOOL = "colegio-estrella"
SUBJECTS = ("math", "language", "history", "science", "english")
COURSES = ("1A", "1B", "2A", "2B", "3A", "3B", "4A", "4B")
GRADES_PER_STUDENT = 10  # two per subject in the term
BATCH_WRITE = 25  # DynamoDB's BatchWriteItem limit
SEED_WORKERS = 4
TERM_CLOSED_AT = datetime(2025, 5, 23, 18, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Seeded:
    """What the benchmark put in the table: every grade's record id per school, who the ministry's
    registry does not know, and each grade's item as written (a correction rewrites it)."""

    records: dict[str, list[str]]
    unknown_students: frozenset[str]
    students: dict[str, int]
    items: dict[tuple[str, str], dict[str, Any]]

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.records.values())


def school_sizes(grades: int) -> dict[str, int]:
    sizes = {school: int(grades * share) for school, share in SCHOOLS}
    sizes[SCHOOLS[0][0]] += grades - sum(sizes.values())
    return sizes


def chilean_grade(rng: random.Random) -> Decimal:
    return Decimal(f"{min(7.0, max(1.0, rng.gauss(5.4, 0.9))):.1f}")


def percentage_grade(rng: random.Random) -> Decimal:
    return Decimal(round(min(100.0, max(0.0, rng.gauss(72.0, 14.0)))))


def evaluations(
    school: str, count: int, unknown_share: float, rng: random.Random
) -> tuple[list[Evaluation], set[str]]:
    """A school's official grades of the term: ``GRADES_PER_STUDENT`` per student over the subjects,
    and the students (about ``unknown_share`` of them) the ministry's registry does not know."""
    students = max(1, math.ceil(count / GRADES_PER_STUDENT))
    roster = [f"{school}-st-{n:04d}" for n in range(students)]
    unknown = set(rng.sample(roster, max(1, round(students * unknown_share)))) if unknown_share else set()
    grade = percentage_grade if school == PERCENTAGE_SCHOOL else chilean_grade
    start = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    out = []
    for n in range(count):
        student = roster[n % students]
        out.append(
            Evaluation(
                school_id=SchoolId(school),
                evaluation_id=f"ev-{n:06d}",
                student_id=StudentId(student),
                course_id=CourseId(COURSES[(n % students) % len(COURSES)]),
                subject_id=SubjectId(SUBJECTS[(n // students) % len(SUBJECTS)]),
                term_id=TermId(PERIOD),
                score=grade(rng),
                weight=Decimal("1"),
                teacher_id=TeacherId(f"{school}-t-{(n // students) % len(SUBJECTS)}"),
                recorded_at=start + timedelta(minutes=rng.randint(0, 60 * 24 * 80)),
            )
        )
    return out, unknown


def school_clients(region: str, endpoint_url: str, tenant_role_arn: str | None) -> AwsClients:
    """Each school's own client (the tenant role, tagged with the school), as the grading service
    writes its items."""
    return AwsClients(region=region, endpoint_url=endpoint_url, tenant_role_arn=tenant_role_arn)


def write_items(clients: AwsClients, table: str, items: Sequence[dict[str, Any]], label: str) -> None:
    """Items straight into the table, 25 a call, each school's through that school's client."""
    by_school: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_school.setdefault(str(item["school_id"]), []).append(item)
    chunks = [
        (school, mine[i : i + BATCH_WRITE])
        for school, mine in sorted(by_school.items())
        for i in range(0, len(mine), BATCH_WRITE)
    ]

    def write(job: tuple[str, list[dict[str, Any]]]) -> int:
        school, chunk = job
        client = clients.dynamodb_for(school)
        requests: list[Any] = [{"PutRequest": {"Item": to_wire(item)}} for item in chunk]
        while requests:
            answer = client.batch_write_item(RequestItems={table: requests})
            requests = list(answer.get("UnprocessedItems", {}).get(table, []))
        return len(chunk)

    written, started = 0, time.monotonic()
    with ThreadPoolExecutor(max_workers=SEED_WORKERS) as pool:
        for count in pool.map(write, chunks):
            written += count
            if written % 1000 < BATCH_WRITE or written == len(items):
                print(
                    f"\r  {label} {written:6d}/{len(items)} grades ({time.monotonic() - started:5.1f} s)",
                    end="",
                    flush=True,
                )
    print()


def seed(resources: ProvisionedResources, grades: int, unknown_share: float, rng: random.Random) -> Seeded:
    """Every school's grades, its closed term (and the percentage school's rule) into the table."""
    clients = school_clients(resources.region, resources.endpoint_url, resources.tenant_role_arn)
    percentage = GradingRule(
        SubjectId("*"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal("60"), decimals=0
    )
    clients.dynamodb_for(PERCENTAGE_SCHOOL).put_item(
        TableName=resources.table_name,
        Item=to_wire(
            {k: v for k, v in rule_item(SchoolId(PERCENTAGE_SCHOOL), percentage).items() if v is not None}
        ),
    )
    records: dict[str, list[str]] = {}
    unknown: set[str] = set()
    students: dict[str, int] = {}
    items: list[dict[str, Any]] = []
    for school, count in school_sizes(grades).items():
        made, ghosts = evaluations(school, count, unknown_share, rng)
        records[school] = [evaluation.evaluation_id for evaluation in made]
        unknown |= ghosts
        students[school] = len({evaluation.student_id for evaluation in made})
        items.extend({k: v for k, v in evaluation_item(e).items() if v is not None} for e in made)
        # The term ended and its admin closed it: what the sync submits.
        term = Term(
            SchoolId(school), TermId(PERIOD), f"Term {PERIOD}", closed_at=TERM_CLOSED_AT, closed_by="bench"
        )
        term_item = {k: v for k, v in roster.term_item(term).items() if v is not None}
        clients.dynamodb_for(school).put_item(TableName=resources.table_name, Item=to_wire(term_item))
    write_items(clients, resources.table_name, items, "seeded")
    by_key = {(str(item["school_id"]), str(item["evaluation_id"])): item for item in items}
    return Seeded(records, frozenset(unknown), students, by_key)
