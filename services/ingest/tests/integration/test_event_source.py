"""The grade processor behind the local event-source mapping, against the embedded emulator.

GIVEN the table, the events queue and its DLQ provisioned by the local platform's own provisioning
(names of this module's own), and a roster in two schools; WHEN messages go through the queue to
the handler's ``process`` (the app built once, as in a warm instance) by the local mapping's runner;
THEN the burst path's promises hold: one result per event however often it is sent or delivered,
poison messages end in the DLQ without holding back their batch, every result lands in the
partition of the school the message attribute names (and nowhere else), and only the records that
succeeded leave the queue.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from luca_infra.definitions import PLATFORM_DEFINITION, PlatformDefinition, TableDefinition
from luca_infra.local.emulator import Emulator
from luca_infra.local.event_source import BatchReport, EventSourceMapping, EventSourceRunner
from luca_infra.local.provision import ProvisionedResources, provision
from luca_ingest.bootstrap import IngestApp, build
from luca_ingest.config import IngestSettings
from luca_ingest.entrypoints.handler import process
from luca_platform.aws import AwsClients
from luca_platform.contracts.roster import student_pk
from luca_platform.table import keys
from luca_platform.table.codec import from_wire
from luca_testing.seed import SchoolSeed

pytestmark = pytest.mark.emulator

SCHOOL_A = "school-a"
SCHOOL_B = "school-b"
COURSE = "1A"
SUBJECT = "math"
SHARED_STUDENT = "st-shared"  # the same student id in both schools
ROSTER = {SCHOOL_A: ["st-a-1", "st-a-2", SHARED_STUDENT], SCHOOL_B: ["st-b-1", SHARED_STUDENT]}
WAIT_SECONDS = 90.0


@dataclass
class Burst:
    """Everything a test needs: the provisioned resources, clients, and the warm app."""

    emulator: Emulator
    definition: PlatformDefinition
    resources: ProvisionedResources
    app: IngestApp
    sqs: Any
    dynamodb: Any

    def mapping(self, **overrides: Any) -> EventSourceMapping:
        """The deployed mapping, with a retry delay of 0 and short polls (tests wait on nothing else)."""
        mapping = EventSourceMapping.from_definition(
            self.definition.ingest,
            queue_url=self.resources.events_queue_url,
            queue_arn=self.resources.events_queue_arn,
            region=self.emulator.region,
            endpoint_url=self.emulator.url,
            retry_delay_seconds=0,
            poll_wait_seconds=1,
        )
        return replace(mapping, **overrides)

    def function(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return process(event, context, self.app)

    def send(self, messages: list[tuple[str, str | None]]) -> list[str]:
        """(body, school attribute or None) in one or more SendMessageBatch calls; the message ids."""
        ids: list[str] = []
        for start in range(0, len(messages), 10):
            entries = []
            for n, (body, school) in enumerate(messages[start : start + 10]):
                attributes = {"correlation_id": {"DataType": "String", "StringValue": f"corr-{uuid.uuid4()}"}}
                if school is not None:
                    attributes[self.definition.ingest.school_attribute] = {
                        "DataType": "String",
                        "StringValue": school,
                    }
                entries.append({"Id": str(n), "MessageBody": body, "MessageAttributes": attributes})
            response = self.sqs.send_message_batch(QueueUrl=self.resources.events_queue_url, Entries=entries)
            assert not response.get("Failed")
            ids.extend(
                entry["MessageId"] for entry in sorted(response["Successful"], key=lambda e: int(e["Id"]))
            )
        return ids

    def results(self) -> list[dict[str, Any]]:
        """Every ExerciseResult item in the table."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self.resources.table_name,
            "FilterExpression": "#t = :t",
            "ExpressionAttributeNames": {"#t": "type"},
            "ExpressionAttributeValues": {":t": {"S": "ExerciseResult"}},
        }
        while True:
            page = self.dynamodb.scan(**request)
            items.extend(from_wire(item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def results_for(self, event_id: str) -> list[dict[str, Any]]:
        return [item for item in self.results() if item["event_id"] == event_id]

    def messages(self, queue_url: str) -> list[dict[str, Any]]:
        """The queue's visible messages, received (and so hidden for its visibility timeout)."""
        found: list[dict[str, Any]] = []
        while True:
            received = self.sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                return found
            found.extend(received)

    def depth(self, queue_url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def event_body(student: str, event_id: str | None = None, **overrides: Any) -> str:
    body: dict[str, Any] = {
        "event_id": event_id or f"evt-{uuid.uuid4()}",
        "student_id": student,
        "course_id": COURSE,
        "subject_id": SUBJECT,
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "schema_version": 1,
        "exercise_submission": {
            "exercise_id": "ex-1",
            "answers": {
                "items": [{"question_id": "q1", "correct": True}, {"question_id": "q2", "correct": False}]
            },
        },
    }
    body.update(overrides)
    return json.dumps(body)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    running = Emulator(port=0)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def burst(emulator: Emulator) -> Burst:
    """Fresh table and queues per test (moto's state is process-wide: the names are this test's own)."""
    suffix = uuid.uuid4().hex[:10]
    definition = replace(
        PLATFORM_DEFINITION,
        table=TableDefinition(name=f"luca-burst-{suffix}"),
        ingest=replace(
            PLATFORM_DEFINITION.ingest, queue_name=f"events-{suffix}", dlq_name=f"events-dlq-{suffix}"
        ),
    )
    resources = provision(emulator.url, definition=definition)
    clients = AwsClients(region=emulator.region, endpoint_url=emulator.url)
    for school, students in ROSTER.items():
        seed = SchoolSeed(clients, resources.table_name, school).subject(SUBJECT, "Matemática")
        for student in students:
            seed.student(student, COURSE, student)
    app = build(
        IngestSettings(
            table_name=resources.table_name,
            aws_region=emulator.region,
            aws_endpoint_url=emulator.url,
            batch_role_arn=resources.batch_role_arn,
        )
    )
    return Burst(
        emulator=emulator,
        definition=definition,
        resources=resources,
        app=app,
        sqs=boto3.client("sqs", region_name=emulator.region, endpoint_url=emulator.url),
        dynamodb=boto3.client("dynamodb", region_name=emulator.region, endpoint_url=emulator.url),
    )


@pytest.fixture
def running(burst: Burst) -> Iterator[EventSourceRunner]:
    """The mapping's poller in a background thread, as in the platform (a 1 s window keeps tests short)."""
    runner = EventSourceRunner(burst.mapping(max_batching_window_seconds=1), burst.function).start()
    yield runner
    runner.stop()


# -- (a) duplicates and redelivery ---------------------------------------------------------------------------
def test_an_event_sent_three_times_is_stored_once(burst: Burst, running: EventSourceRunner) -> None:
    body = event_body("st-a-1")
    event_id = json.loads(body)["event_id"]

    burst.send([(body, SCHOOL_A)])
    burst.send([(body, SCHOOL_A), (body, SCHOOL_A)])  # the app retried twice
    wait_until(lambda: burst.depth(burst.resources.events_queue_url) == 0, "the queue is drained")

    (stored,) = burst.results_for(event_id)
    assert stored[keys.TABLE_PARTITION_KEY] == student_pk(SCHOOL_A, "st-a-1")
    assert running.totals.deleted == 3
    assert running.totals.failed == 0


def test_a_batch_redelivered_after_it_was_stored_is_not_stored_again(burst: Burst) -> None:
    """The invocation stores its results, then dies: Lambda redelivers the whole batch."""
    reports: list[BatchReport] = []
    stored_before_the_crash: list[list[dict[str, Any]]] = []

    def stores_then_crashes_once(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response = burst.function(event, context)
        if not stored_before_the_crash:
            stored_before_the_crash.append(burst.results())
            raise TimeoutError("the invocation died after writing")
        return response

    runner = EventSourceRunner(burst.mapping(max_batching_window_seconds=0), stores_then_crashes_once)
    bodies = [event_body("st-a-1"), event_body("st-a-2"), event_body("st-b-1")]
    burst.send([(bodies[0], SCHOOL_A), (bodies[1], SCHOOL_A), (bodies[2], SCHOOL_B)])

    while (report := runner.run_once()) is not None:
        reports.append(report)

    assert [r.outcome for r in reports] == ["error", "ok"]
    assert len(reports[1].deleted) == 3  # redelivered, recognised as duplicates, deleted
    assert sorted(burst.results(), key=lambda r: r["event_id"]) == sorted(
        stored_before_the_crash[0], key=lambda r: r["event_id"]
    )  # one result per event, the first write unchanged
    assert len(burst.results()) == 3
    assert burst.depth(burst.resources.events_queue_url) == 0


# -- (b) poison messages -------------------------------------------------------------------------------------
def test_poison_messages_end_in_the_dlq_after_max_receive_count_and_the_rest_is_stored(
    burst: Burst, running: EventSourceRunner
) -> None:
    good = [event_body("st-a-1"), event_body("st-a-2")]
    unknown_student = event_body("st-nobody")
    malformed = '{"event_id": "evt-malformed-1", "student_id": '
    burst.send([(good[0], SCHOOL_A), (unknown_student, SCHOOL_A), (malformed, SCHOOL_A), (good[1], SCHOOL_A)])

    wait_until(
        lambda: burst.depth(burst.resources.events_dlq_url) == 2, "both poison messages are dead-lettered"
    )
    wait_until(lambda: burst.depth(burst.resources.events_queue_url) == 0, "the queue is drained")

    dead = burst.messages(burst.resources.events_dlq_url)
    assert sorted(m["Body"] for m in dead) == sorted([unknown_student, malformed])
    for message in dead:
        assert message["MessageAttributes"]["school_id"]["StringValue"] == SCHOOL_A  # attributes kept
        # Received maxReceiveCount times from the queue (plus once here, from the DLQ).
        assert (
            int(message["Attributes"]["ApproximateReceiveCount"])
            == burst.definition.ingest.max_receive_count + 1
        )
    for body in good:
        assert len(burst.results_for(json.loads(body)["event_id"])) == 1
    assert running.totals.failed == 2 * burst.definition.ingest.max_receive_count
    assert running.totals.deleted == 2


# -- (c) schools -----------------------------------------------------------------------------------------------
def test_a_mixed_school_batch_stores_each_result_in_its_own_schools_partition_only(burst: Burst) -> None:
    runner = EventSourceRunner(burst.mapping(max_batching_window_seconds=0), burst.function)
    a, b, shared = event_body("st-a-1"), event_body("st-b-1"), event_body(SHARED_STUDENT)
    other_schools_student = event_body("st-b-1")  # named by a message of school A
    no_school = event_body("st-a-2")
    ids = burst.send(
        [
            (a, SCHOOL_A),
            (b, SCHOOL_B),
            (shared, SCHOOL_A),
            (other_schools_student, SCHOOL_A),
            (no_school, None),
        ]
    )

    report = runner.run_once()

    assert report is not None
    assert report.failed == {ids[3], ids[4]}
    for body, school, student in (
        (a, SCHOOL_A, "st-a-1"),
        (b, SCHOOL_B, "st-b-1"),
        (shared, SCHOOL_A, SHARED_STUDENT),
    ):
        (stored,) = burst.results_for(json.loads(body)["event_id"])
        assert stored[keys.TABLE_PARTITION_KEY] == student_pk(school, student)
        assert stored["school_id"] == school
    assert burst.results_for(json.loads(other_schools_student)["event_id"]) == []
    assert burst.results_for(json.loads(no_school)["event_id"]) == []
    for item in burst.results():
        assert item[keys.TABLE_PARTITION_KEY].startswith(keys.school_prefix(item["school_id"]))


# -- (d) deletion ----------------------------------------------------------------------------------------------
def test_only_the_records_that_succeeded_are_deleted(burst: Burst) -> None:
    runner = EventSourceRunner(burst.mapping(max_batching_window_seconds=0), burst.function)
    succeeded = [event_body("st-a-1"), event_body("st-b-1")]
    failing = [event_body("st-nobody"), "not json"]
    ids = burst.send(
        [(succeeded[0], SCHOOL_A), (failing[0], SCHOOL_A), (succeeded[1], SCHOOL_B), (failing[1], SCHOOL_B)]
    )

    report = runner.run_once()

    assert report is not None
    assert report.deleted == {ids[0], ids[2]}
    assert report.failed == {ids[1], ids[3]}
    left = burst.messages(burst.resources.events_queue_url)  # visible again at once (retry delay 0)
    assert sorted(m["MessageId"] for m in left) == sorted([ids[1], ids[3]])
    assert sorted(m["Body"] for m in left) == sorted(failing)


def test_concurrent_pollers_store_every_event_exactly_once(burst: Burst) -> None:
    """Several pollers invoke the same warm app at once (its clients and caches are shared)."""
    runner = EventSourceRunner(
        burst.mapping(max_concurrency=3, batch_size=10, max_batching_window_seconds=1), burst.function
    ).start()
    bodies = [event_body(ROSTER[SCHOOL_A][n % 3]) for n in range(30)]
    try:
        burst.send([(body, SCHOOL_A) for body in bodies])
        wait_until(lambda: runner.totals.deleted == len(bodies), "every event is processed")
    finally:
        runner.stop()

    stored = burst.results()
    assert sorted(item["event_id"] for item in stored) == sorted(json.loads(b)["event_id"] for b in bodies)
    assert runner.totals.failed == 0
