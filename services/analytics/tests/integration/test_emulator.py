"""The query service's real adapters on the embedded emulator: the roster and the rules from the
table through per-school sessions, and the lake read from the emulator's S3 with pyarrow."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from grading_emulated import REGION, EmulatedGrading, build, seed_roster
from luca_analytics.adapters.lake_schema import LAKE_PREFIX, file_schema, partition_path
from luca_analytics.adapters.school_data import DynamoRoster, SchoolRules
from luca_analytics.bootstrap import bootstrap, build_lake
from luca_analytics.config import AnalyticsSettings
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory
from luca_grading.domain.access import Principal, Role
from luca_grading.domain.model import GradingRule, SchoolId, SubjectId
from luca_grading.service_layer.rule_cache import RuleCache

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for variable, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(variable, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def grading(emulator: str) -> EmulatedGrading:
    built = build(emulator)  # per-school sessions on (tenant role)
    seed_roster(built, "school-a", {"st-1": "Ana Rojas", "st-2": "Benja Soto"})
    admin = Principal(SchoolId("school-a"), subject="seed-admin", roles=frozenset({Role.ADMIN}))
    built.container.service.put_course(admin, "2B", "Second B")
    built.container.service.put_student(admin, "st-3", "2B", "Carla Diaz")
    built.container.service.put_rule(
        admin, GradingRule(subject_id=SubjectId("math"), passing_grade=Decimal("5.0"))
    )
    seed_roster(built, "school-b", {"st-9": "Zoe Bravo"})
    return built


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
def settings(emulator: str, grading: EmulatedGrading, bucket: str) -> AnalyticsSettings:
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


def test_the_roster_is_every_course_students_of_the_school_only(grading: EmulatedGrading) -> None:
    roster = DynamoRoster(grading.clients, grading.table_name)
    assert sorted(roster.student_ids("school-a")) == ["st-1", "st-2", "st-3"]
    assert sorted(roster.student_ids("school-b")) == ["st-9"]


def test_rules_come_from_the_school_table(grading: EmulatedGrading) -> None:
    factory = DynamoRepositoryFactory(clients=grading.clients, table_name=grading.table_name)
    rules = SchoolRules(factory, RuleCache(ttl_seconds=60))
    assert rules.rule_for("school-a", "math").passing_grade == Decimal("5.0")
    assert rules.rule_for("school-b", "math").passing_grade == Decimal("4.0")


def test_a_report_over_the_emulator_s3_reads_only_the_school_files(
    settings: AnalyticsSettings, grading: EmulatedGrading, bucket: str
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
