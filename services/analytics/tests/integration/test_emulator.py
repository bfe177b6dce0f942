"""The query service's real adapters on the embedded emulator: the roster and the rules from the
table through per-school sessions, and the lake read from the emulator's S3 with pyarrow."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from luca_analytics.adapters.lake_schema import LAKE_PREFIX, file_schema, partition_path
from luca_analytics.adapters.school_data import DynamoRoster
from luca_analytics.bootstrap import bootstrap, build_lake
from luca_analytics.config import AnalyticsSettings
from luca_kernel.access import Principal, Role
from luca_kernel.grading import GradingRule
from luca_kernel.ids import SchoolId, SubjectId
from luca_kernel.rule_cache import RuleCache
from luca_platform.aws import AwsClients
from luca_platform.contracts.rules import TableRules
from luca_testing.emulator import REGION, create_table, running_emulator, tenant_role
from luca_testing.seed import SchoolSeed

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with running_emulator() as endpoint:
        yield endpoint


@dataclass(frozen=True)
class School:
    """The table as the grading service leaves it (written through the published contracts)."""

    clients: AwsClients
    table_name: str


@pytest.fixture(scope="module")
def grading(emulator: str) -> School:
    table = create_table(emulator)
    clients = AwsClients(region=REGION, endpoint_url=emulator, tenant_role_arn=tenant_role(emulator))
    a = SchoolSeed(clients, table, "school-a").course("1A").course("2B").subject("math").subject("history")
    a.student("st-1", "1A", "Ana Rojas").student("st-2", "1A", "Benja Soto").student(
        "st-3", "2B", "Carla Diaz"
    )
    a.rule(GradingRule(subject_id=SubjectId("math"), passing_grade=Decimal("5.0")))
    SchoolSeed(clients, table, "school-b").course("1A").subject("math").student("st-9", "1A", "Zoe Bravo")
    return School(clients, table)


KEY = b"analytics-test-pseudonym-key"


@pytest.fixture(scope="module")
def bucket(emulator: str, make_lake_row: Callable[..., dict[str, Any]]) -> str:
    name = f"lake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", region_name=REGION, endpoint_url=emulator).create_bucket(Bucket=name)
    s3 = pafs.S3FileSystem(endpoint_override=emulator.removeprefix("http://"), scheme="http", region=REGION)
    rows = {
        "school-a": [
            make_lake_row("school-a", "a1", student="st-1", month=3, score=4.5),
            make_lake_row("school-a", "a2", student="st-3", month=3, score=6.0),
        ],
        "school-b": [make_lake_row("school-b", "b1", student="st-9", month=3, score=1.0)],
    }
    for school, school_rows in rows.items():
        path = f"{name}/{LAKE_PREFIX}/{partition_path(school, 2025, 3)}/part-0.parquet"
        with s3.open_output_stream(path) as out:
            pq.write_table(pa.Table.from_pylist(school_rows, schema=file_schema()), out)
    return name


@pytest.fixture(scope="module")
def settings(emulator: str, grading: School, bucket: str) -> AnalyticsSettings:
    return AnalyticsSettings(
        table_name=grading.table_name,
        user_pool_id="pool",
        user_pool_client_id="client",
        pseudonym_key=KEY,
        lake_bucket=bucket,
        aws_region=REGION,
        aws_endpoint_url=emulator,
    )


class _NoTokens:
    def authenticate(self, authorization: str | None) -> Principal:  # pragma: no cover - not called
        raise AssertionError("the use cases are called directly here")


def test_the_roster_is_every_course_students_of_the_school_only(grading: School) -> None:
    roster = DynamoRoster(grading.clients, grading.table_name)
    assert sorted(roster.student_ids("school-a")) == ["st-1", "st-2", "st-3"]
    assert sorted(roster.student_ids("school-b")) == ["st-9"]


def test_rules_come_from_the_school_table(grading: School) -> None:
    rules = TableRules(grading.clients, grading.table_name, RuleCache(ttl_seconds=60))
    assert rules.rule_for("school-a", "math").passing_grade == Decimal("5.0")
    assert rules.rule_for("school-b", "math").passing_grade == Decimal("4.0")


def test_a_report_over_the_emulator_s3_reads_only_the_school_files(
    settings: AnalyticsSettings, grading: School, bucket: str
) -> None:
    lake = build_lake(settings)
    container = bootstrap(settings, lake=lake, clients=grading.clients, authenticator=_NoTokens())
    teacher = Principal(SchoolId("school-a"), subject="t", roles=frozenset({Role.TEACHER}))
    below = container.reports.students_below_passing(teacher, term_id="2025-T1")
    assert [(s.student_id, s.weighted_average, s.passing_grade) for s in below] == [("st-1", 4.5, 5.0)]
    statistics = lake.last_statistics
    assert statistics is not None
    expected = f"{bucket}/{LAKE_PREFIX}/{partition_path('school-a', 2025, 3)}/part-0.parquet"
    assert statistics.files_read == (expected,)
    assert lake.size().files == 2
