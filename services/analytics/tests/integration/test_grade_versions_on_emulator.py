"""Corrections and retractions reach the lake exactly as the table holds them.

GIVEN a school's grades written as the grading service writes them (contract v2 items through the
school's own client: a correction puts the same item with the next version, conditioned on the
version it replaces, beside a history item and an idempotency record; a retraction does the same with
``retracted``), a few grades from before versions (contract v1) corrected later, the grading
service's bookkeeping items (history, assignments, terms) and a practice result that expires,
WHEN the table's stream runs through the lake pipeline into Parquet in the emulator's S3 (and every
correction is delivered a second time, as Pipes may),
THEN each version is a row, each retraction a tombstone, nothing else lands, and the averages the
reports compute from the lake equal those computed from the table's current, unretracted grades.
"""

from __future__ import annotations

import io
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from luca_analytics.adapters.duckdb_lake import DuckDbLake
from luca_analytics.adapters.school_data import DynamoRoster
from luca_analytics.bootstrap_pipeline import PipelineSettings, StreamPipeline, build_pipeline
from luca_analytics.domain.lake import student_key
from luca_analytics.service_layer.reports import Reports
from luca_kernel.access import Principal, Role
from luca_kernel.ids import SchoolId
from luca_kernel.rule_cache import RuleCache
from luca_platform.aws import AwsClients
from luca_platform.contracts import grades
from luca_platform.contracts.rules import TableRules
from luca_platform.table import guard, keys
from luca_platform.table.codec import from_wire, timestamp, to_wire
from luca_testing.emulator import REGION, create_table, tenant_role
from luca_testing.seed import SchoolSeed

pytestmark = pytest.mark.emulator

KEY = b"analytics-versions-test-key"
SCHOOL, OTHER = "school-a", "school-b"
TERM = "2025-T1"
RECORDED = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


class GradeWriter:
    """The grading service's writes of official grades, through the school's own client."""

    def __init__(self, clients: AwsClients, table: str, school: str) -> None:
        self._client = clients.dynamodb_for(school)
        self._table = table
        self._school = school
        self._keys = 0

    def record(
        self,
        evaluation_id: str,
        student: str,
        subject: str,
        score: str,
        *,
        weight: str = "1",
        v1: bool = False,
    ) -> dict[str, Any]:
        recorded = timestamp(RECORDED)
        item: dict[str, Any] = {
            keys.TABLE_PARTITION_KEY: keys.school_key(self._school, "STUDENT", student),
            keys.TABLE_SORT_KEY: f"EVAL#{TERM}#{subject}#{recorded}#{evaluation_id}",
            keys.SCHOOL_TERM_INDEX.partition_key: grades.school_term_pk(self._school, TERM),
            keys.SCHOOL_TERM_INDEX.sort_key: f"STUDENT#{student}#{evaluation_id}",
            "type": "Evaluation",
            "schema_version": 1 if v1 else grades.EVALUATION.schema_version,
            "school_id": self._school,
            "evaluation_id": evaluation_id,
            "student_id": student,
            "course_id": "1A",
            "subject_id": subject,
            "term_id": TERM,
            "score": Decimal(score),
            "weight": Decimal(weight),
            "teacher_id": "teacher-7",
            "recorded_at": recorded,
            "description": f"Prueba de {student}",
        }
        if not v1:
            item["version"] = 1
        self._transact([self._put(item, "attribute_not_exists(#pk)"), self._put(self._idempotency())])
        return item

    def correct(
        self, current: Mapping[str, Any], *, reason: str, score: str | None = None, weight: str | None = None
    ) -> dict[str, Any]:
        values = {"score": Decimal(score or current["score"]), "weight": Decimal(weight or current["weight"])}
        return self._change(current, values, reason)

    def retract(self, current: Mapping[str, Any], *, reason: str) -> dict[str, Any]:
        return self._change(current, {"retracted": True}, reason)

    def _change(self, current: Mapping[str, Any], values: Mapping[str, Any], reason: str) -> dict[str, Any]:
        version = grades.version_of(current) + 1
        updated = {
            **current,
            **values,
            "schema_version": grades.EVALUATION.schema_version,
            "version": version,
            "updated_at": timestamp(datetime.now(UTC)),
            "updated_by": "teacher-7",
            "change_reason": reason,
        }
        history = {
            keys.TABLE_PARTITION_KEY: current[keys.TABLE_PARTITION_KEY],
            keys.TABLE_SORT_KEY: f"EVALHIST#{current['evaluation_id']}#{version:06d}",
            "type": "EvaluationChange",
            "schema_version": 1,
            "school_id": self._school,
            "evaluation_id": current["evaluation_id"],
            "version": version,
            "reason": reason,
            "before_score": current["score"],
        }
        # The version it replaces, or (a v1 item) none at all: a lost race writes nothing.
        if "version" in current:
            put = self._put(updated, "#v = :v", {"#v": "version"}, {":v": current["version"]})
        else:
            put = self._put(updated, "attribute_not_exists(#v)", {"#v": "version"})
        self._transact([put, self._put(history, "attribute_not_exists(#pk)"), self._put(self._idempotency())])
        return updated

    def _idempotency(self) -> dict[str, Any]:
        self._keys += 1
        return {
            keys.TABLE_PARTITION_KEY: keys.school_key(self._school, "IDEMPOTENCY", f"k{self._keys}"),
            keys.TABLE_SORT_KEY: "IDEMPOTENCY",
            "type": "Idempotency",
            "schema_version": 1,
            "school_id": self._school,
            keys.TTL_ATTRIBUTE: 4_000_000_000,
        }

    def _put(
        self,
        item: Mapping[str, Any],
        condition: str = "",
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        if item.get("type") == "Evaluation":
            grades.check_evaluation(item)  # what the writer's tests hold it to
        guard.check_item(SchoolId(self._school), item)
        put: dict[str, Any] = {"TableName": self._table, "Item": to_wire(dict(item))}
        if condition:
            put["ConditionExpression"] = condition
            put["ExpressionAttributeNames"] = dict(names or {"#pk": keys.TABLE_PARTITION_KEY})
        if values:
            put["ExpressionAttributeValues"] = to_wire(dict(values))
        return {"Put": put}

    def _transact(self, operations: list[dict[str, Any]]) -> None:
        self._client.transact_write_items(TransactItems=operations)  # type: ignore[arg-type]


Averages = dict[tuple[str, ...], tuple[float, int]]  # group -> (weighted average, grades)


@dataclass(frozen=True)
class Scenario:
    endpoint: str
    table: str
    clients: AwsClients
    records: list[dict[str, Any]]
    lake: DuckDbLake
    delivery: StreamPipeline


def deliver(endpoint: str, records: Iterable[Mapping[str, Any]]) -> tuple[DuckDbLake, StreamPipeline]:
    """The records through the lake pipeline into a fresh bucket of the emulator's S3, one flush."""
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", region_name=REGION, endpoint_url=endpoint).create_bucket(Bucket=bucket)
    settings = PipelineSettings(
        pseudonym_key=KEY, lake_bucket=bucket, aws_region=REGION, aws_endpoint_url=endpoint
    )
    delivery = build_pipeline(settings, metrics=io.StringIO())
    for record in records:
        assert delivery.take(record)
    delivery.pipeline.flush()
    return DuckDbLake.s3(bucket, region=REGION, endpoint_url=endpoint), delivery


def stream_records(endpoint: str, table: str) -> list[dict[str, Any]]:
    """Every record of the table's stream so far, in order (what Pipes would read)."""
    arn = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint).describe_table(TableName=table)
    streams = boto3.client("dynamodbstreams", region_name=REGION, endpoint_url=endpoint)
    stream_arn = arn["Table"]["LatestStreamArn"]
    found: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        ).get("ShardIterator")
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            if not page["Records"]:
                break
            found.extend(page["Records"])
            iterator = page.get("NextShardIterator")
    return [in_whole_seconds(record) for record in found]


def in_whole_seconds(record: dict[str, Any]) -> dict[str, Any]:
    """The record's creation time as DynamoDB Streams gives it, rounded down to the second (the
    emulator keeps microseconds): the changes of a busy second are not ordered by it."""
    section = record["dynamodb"]
    created = section["ApproximateCreationDateTime"].replace(microsecond=0)
    return {**record, "dynamodb": {**section, "ApproximateCreationDateTime": created}}


@pytest.fixture(scope="module")
def scenario(emulator_endpoint: str) -> Scenario:
    table = create_table(emulator_endpoint)
    clients = AwsClients(
        region=REGION, endpoint_url=emulator_endpoint, tenant_role_arn=tenant_role(emulator_endpoint)
    )
    for school in (SCHOOL, OTHER):
        seed = SchoolSeed(clients, table, school).course("1A").subject("math").subject("lang").term(TERM)
        for student in ("st-1", "st-2", "st-3", "st-4"):
            seed.student(student, "1A")
    a, b = GradeWriter(clients, table, SCHOOL), GradeWriter(clients, table, OTHER)
    SchoolSeed(clients, table, SCHOOL).put(
        {
            keys.TABLE_PARTITION_KEY: keys.school_key(SCHOOL, "TEACHER", "teacher-7"),
            keys.TABLE_SORT_KEY: "ASSIGNMENT#1A#math",
            "type": "Assignment",
            "schema_version": 1,
            "school_id": SCHOOL,
        }
    )
    e1 = a.correct(a.record("e1", "st-1", "math", "5.0"), score="6.0", reason="typo")
    e1 = a.correct(e1, weight="2", reason="it was the term exam")
    a.retract(a.record("e2", "st-1", "math", "3.0"), reason="entered twice")
    a.record("e3", "st-2", "math", "4.0")
    a.retract(
        a.correct(a.record("e4", "st-2", "math", "2.0"), score="6.5", reason="typo"), reason="wrong student"
    )
    a.correct(a.record("e5", "st-3", "lang", "5.5", v1=True), score="4.5", reason="recounted")
    a.record("e6", "st-3", "lang", "6.0", v1=True)
    a.retract(a.record("e7", "st-4", "math", "1.0"), reason="absent that day")
    with pytest.raises(ClientError, match="TransactionCanceled"):
        a.correct({**e1, "version": 1}, score="1.0", reason="a stale copy")  # a lost race: nothing lands
    b.record("e1", "st-1", "math", "7.0")  # the same ids in another school
    result = {
        keys.TABLE_PARTITION_KEY: keys.school_key(SCHOOL, "STUDENT", "st-1"),
        keys.TABLE_SORT_KEY: "RESULT#evt-1",
        "type": "ExerciseResult",
        "schema_version": 1,
        "school_id": SCHOOL,
        "event_id": "evt-1",
        "student_id": "st-1",
        "course_id": "1A",
        "subject_id": "math",
        "occurred_at": timestamp(RECORDED),
        "score": Decimal("1.0"),
        "passing": False,
    }
    SchoolSeed(clients, table, SCHOOL).put(result)
    clients.dynamodb_for(SCHOOL).delete_item(  # its TTL expiry: a REMOVE
        TableName=table,
        Key=to_wire({k: result[k] for k in (keys.TABLE_PARTITION_KEY, keys.TABLE_SORT_KEY)}),
    )

    records = stream_records(emulator_endpoint, table)
    lake, delivery = deliver(emulator_endpoint, records)
    return Scenario(emulator_endpoint, table, clients, records, lake, delivery)


def table_grades(scenario: Scenario, school: str) -> list[Mapping[str, Any]]:
    """The school's grades of the term as the table holds them now, read as the government sync reads
    them (the school-term index) and kept if current: not retracted."""
    client = scenario.clients.dynamodb_for(school)
    items: list[Mapping[str, Any]] = []
    request: dict[str, Any] = {
        "TableName": scenario.table,
        "IndexName": keys.SCHOOL_TERM_INDEX.name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": keys.SCHOOL_TERM_INDEX.partition_key},
        "ExpressionAttributeValues": to_wire({":pk": grades.school_term_pk(school, TERM)}),
    }
    while True:
        page = client.query(**request)
        for raw in page["Items"]:
            item = from_wire(raw)
            grades.check_evaluation(item)
            if not grades.is_retracted(item):
                items.append(item)
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def weighted(items: Iterable[Mapping[str, Any]], *group: str) -> Averages:
    sums: dict[tuple[str, ...], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
    for item in items:  # exactly, in Decimals, as the table holds them
        total = sums[tuple(str(item[name]) for name in group)]
        total[0] += Decimal(item["score"]) * Decimal(item["weight"])
        total[1] += Decimal(item["weight"])
        total[2] += 1
    return {name: (float(s / w), int(n)) for name, (s, w, n) in sums.items()}


def assert_same(lake: Averages, table: Averages) -> None:
    assert set(lake) == set(table)
    for group, (average, count) in table.items():
        assert lake[group][1] == count, group
        assert math.isclose(lake[group][0], average, rel_tol=1e-12), group


def lake_averages(
    scenario: Scenario, school: str, lake: DuckDbLake | None = None
) -> tuple[Averages, Averages]:
    """Per subject (the report use case, as a school admin asks) and per student and subject (the
    report query, its pseudonyms matched to the roster)."""
    lake = lake or scenario.lake
    reports = Reports(
        lake=lake,
        rules=TableRules(scenario.clients, scenario.table, RuleCache(ttl_seconds=60)),
        roster=DynamoRoster(scenario.clients, scenario.table),
        pseudonym_key=KEY,
    )
    admin = Principal(SchoolId(school), "admin", frozenset({Role.ADMIN}))
    by_subject: Averages = {
        (a.subject_id,): (a.weighted_average, a.grades) for a in reports.subject_averages(admin, term_id=TERM)
    }
    names = {student_key(KEY, school, s): s for s in ("st-1", "st-2", "st-3", "st-4")}
    rows = lake.query(school, "student_averages", {"term_id": TERM, "subject_id": ""})
    by_student: Averages = {
        (names[row["student_key"]], row["subject_id"]): (row["weighted_average"], row["grades"])
        for row in rows
    }
    return by_subject, by_student


def test_every_version_is_a_row_and_every_retraction_a_tombstone(scenario: Scenario) -> None:
    dataset, _ = scenario.lake.school_dataset(SCHOOL)
    rows = [r for r in dataset.to_table().to_pylist() if r["item_type"] == "evaluation"]
    versions = {
        record: sorted(
            (r["version"], r["retracted"], r["score"], r["weight"]) for r in rows if r["record_id"] == record
        )
        for record in {r["record_id"] for r in rows}
    }
    assert versions["e1"] == [(1, False, 5.0, 1.0), (2, False, 6.0, 1.0), (3, False, 6.0, 2.0)]
    assert versions["e4"] == [(1, False, 2.0, 1.0), (2, False, 6.5, 1.0), (3, True, None, None)]
    assert versions["e5"] == [(1, False, 5.5, 1.0), (2, False, 4.5, 1.0)]  # a v1 item, corrected
    assert (versions["e3"], versions["e6"]) == ([(1, False, 4.0, 1.0)], [(1, False, 6.0, 1.0)])
    assert sorted({r["source_schema_version"] for r in rows}) == [1, 2]
    sequences = [r["sequence_number"] for r in rows if r["record_id"] == "e1"]
    assert all(len(s) == 40 for s in sequences)
    assert len(set(sequences)) == 3
    # The stale correction wrote nothing; the other school's e1 is not here.
    assert len(rows) == 3 + 2 + 1 + 3 + 2 + 1 + 2


def test_nothing_but_grade_notes_and_results_lands_and_a_remove_never_does(scenario: Scenario) -> None:
    counters = scenario.delivery.pipeline.counters
    assert counters.records_in == len(scenario.records)
    assert counters.skipped["remove"] == 1
    # History, assignments, terms, idempotency records and the roster: known, and not facts.
    assert set(counters.skipped) == {"remove", "not_a_fact"}
    assert counters.rows_out == 14 + 1 + 1  # school-a's versions, school-b's grade, the result's INSERT


def test_the_reports_averages_equal_the_tables_after_corrections_and_retractions(scenario: Scenario) -> None:
    for school in (SCHOOL, OTHER):
        current = table_grades(scenario, school)
        by_subject, by_student = lake_averages(scenario, school)
        assert_same(by_subject, weighted(current, "subject_id"))
        assert_same(by_student, weighted(current, "student_id", "subject_id"))
    # The figures themselves: e1 at weight 2 and e3; e2, e4 and e7 retracted; e5 corrected.
    assert weighted(table_grades(scenario, SCHOOL), "subject_id") == {
        ("math",): ((6.0 * 2 + 4.0) / 3, 2),
        ("lang",): ((4.5 + 6.0) / 2, 2),
    }


def test_changes_delivered_again_and_late_change_no_average(scenario: Scenario) -> None:
    """Pipes delivers at least once, and a batch retried after later ones lands after them: every
    record comes again, in a later file, last first (older versions after newer ones)."""
    lake, delivery = deliver(scenario.endpoint, scenario.records)
    for record in reversed(scenario.records):
        delivery.take(record)
    delivery.pipeline.flush()
    assert delivery.pipeline.counters.files_written > scenario.delivery.pipeline.counters.files_written
    current = table_grades(scenario, SCHOOL)
    by_subject, by_student = lake_averages(scenario, SCHOOL, lake)
    assert_same(by_subject, weighted(current, "subject_id"))
    assert_same(by_student, weighted(current, "student_id", "subject_id"))
