"""The real government-sync definition on the emulator's Step Functions engine, against the
ministry simulator with faults: every grade reaches the ministry exactly once.

Only configuration differs from production: short retry intervals and a small batch size. The
states, retries and catches are ``luca_govsync.definition``'s.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from luca_govsync.bootstrap import build_operations
from luca_govsync.config import OperationsSettings
from luca_govsync.definition import DEAD_LETTERED, RetryPolicy
from luca_govsync.domain.model import BatchRef, BatchStatus, SyncStatus
from luca_govsync.simulator.faults import FaultPlan
from luca_grading.adapters.dynamodb_repository import evaluation_item
from luca_grading.domain.model import Evaluation
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.emulator import Emulator
from luca_infra.local.govsync import GovSyncConfig, LocalGovSync
from luca_infra.local.provision import ProvisionedResources, provision
from luca_infra.local.stepfunctions import wait_for_execution
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Term
from luca_platform.contracts import roster
from luca_platform.table.codec import to_wire

pytestmark = pytest.mark.emulator
PERIOD = "2025-T1"
FAST_RETRY = RetryPolicy(interval_seconds=1, backoff_rate=1.5, max_attempts=4, max_delay_seconds=2)


@pytest.fixture(scope="module")
def resources(emulator: Emulator) -> ProvisionedResources:
    return provision(emulator.url)


def seed_grades(
    resources: ProvisionedResources, school: str, count: int, *, rejected_student: str
) -> list[str]:
    dynamodb = boto3.client("dynamodb", region_name=resources.region, endpoint_url=resources.endpoint_url)
    ids = []
    for n in range(count):
        student = rejected_student if n % 10 == 0 else f"st-{n % 9}"
        evaluation = Evaluation(
            school_id=SchoolId(school),
            evaluation_id=f"ev-{n:04d}",
            student_id=StudentId(student),
            course_id=CourseId("1A"),
            subject_id=SubjectId("math"),
            term_id=TermId(PERIOD),
            score=Decimal("5.5"),
            weight=Decimal("1"),
            teacher_id=TeacherId("t-1"),
            recorded_at=datetime(2025, 3, 1, 10, 0, tzinfo=UTC) + timedelta(minutes=n),
        )
        item = {k: v for k, v in evaluation_item(evaluation).items() if v is not None}
        dynamodb.put_item(TableName=resources.table_name, Item=to_wire(item))
        ids.append(evaluation.evaluation_id)
    # The sync submits closed terms only.
    closed = roster.term_item(
        Term(SchoolId(school), TermId(PERIOD), PERIOD, closed_at=datetime(2025, 7, 1, tzinfo=UTC))
    )
    dynamodb.put_item(
        TableName=resources.table_name, Item=to_wire({k: v for k, v in closed.items() if v is not None})
    )
    return ids


@pytest.fixture
def govsync(resources: ProvisionedResources) -> Iterator[Any]:
    """``govsync(faults)``: the government path on the emulator, with names of this test's own."""
    started: list[LocalGovSync] = []

    def start(faults: FaultPlan, schools: tuple[str, ...] = (), **config: Any) -> LocalGovSync:
        suffix = uuid.uuid4().hex[:8]
        definition = replace(
            PLATFORM_DEFINITION.govsync,
            state_machine_name=f"govsync-test-{suffix}",
            function_prefix=f"govsync-{suffix}-",
            dlq_name=f"govsync-dlq-{suffix}",
            manifest_bucket_prefix=f"govsync-{suffix}",
            batch_size=10,
        )
        local = LocalGovSync(
            emulator_url=resources.endpoint_url,
            region=resources.region,
            table_name=resources.table_name,
            tenant_role_arn=resources.tenant_role_arn,
            definition=definition,
            schools=lambda: list(schools),
            config=GovSyncConfig(
                **{
                    "retry": FAST_RETRY,
                    "schedule_expression": "",
                    "faults": faults,
                    "ministry_timeout_seconds": 1.0,
                }
                | config
            ),
        )
        local.start()
        started.append(local)
        return local

    yield start
    for local in started:
        local.stop()


def run(local: LocalGovSync, school: str, **input_: Any) -> dict[str, Any]:
    (started,) = local.start_sync(PERIOD, [school], "test@ops")
    assert started.started
    sfn = local.client("stepfunctions")
    return wait_for_execution(sfn, started.execution_arn, timeout_seconds=180)


def dead_letters(local: LocalGovSync) -> list[dict[str, Any]]:
    sqs = local.client("sqs")
    assert local.resources is not None
    messages = []
    while True:
        got = sqs.receive_message(
            QueueUrl=local.resources.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            return messages
        messages.extend(got)


def test_every_grade_lands_once_through_transient_errors_and_lost_answers(
    govsync: Any, resources: ProvisionedResources
) -> None:
    school = f"gs-{uuid.uuid4().hex[:8]}"
    ids = seed_grades(resources, school, 60, rejected_student="ghost")
    local = govsync(
        FaultPlan(
            seed=1,
            error_rate=0.3,
            timeout_after_rate=0.1,  # the ministry stores the batch, then our call times out
            hang_seconds=1.5,
            unknown_students=frozenset({"ghost"}),
        )
    )

    execution = run(local, school)

    assert execution["status"] == "SUCCEEDED", execution
    report = json.loads(execution["output"])
    assert report["status"] == SyncStatus.COMPLETED_WITH_FAILURES.value  # rejections, no lost batch
    assert (report["batches_total"], report["batches_done"], report["batches_failed"]) == (6, 6, 0)
    assert local.simulator is not None
    ledger = local.simulator.ministry.ledger()
    assert ledger["duplicates"] == 0
    accepted = {i for i in ids if int(i[3:]) % 10 != 0}
    assert ledger["by_school"][school]["records"] == len(accepted) == report["records_accepted"]
    assert {r["record_id"] for r in report["rejected"]} == set(ids) - accepted
    assert {r["reason_code"] for r in report["rejected"]} == {"UNKNOWN_STUDENT"}
    stats = local.simulator.ministry.stats()
    # The faults were met and retried: a lost answer is read back (GET), a 5xx sent again.
    assert stats["faults"].get("error", 0) > 0
    assert stats["faults"].get("timeout_after", 0) > 0
    calls = stats["calls"]
    assert sum(calls["submit"].values()) + sum(calls.get("fetch", {}).values()) > 6
    assert stats["batches_processed"] == 6  # a batch stored before its answer was lost is not stored again
    # Every step left an audit entry; the retried attempts too.
    assert local.app is not None
    trail = local.app.store.audit_trail(school, PERIOD)
    steps = [entry["step"] for entry in trail]
    assert steps.count("prepare") == 1
    assert steps.count("report") == 1
    assert steps.count("submit") >= 7
    assert all(entry["actor"] and entry["at"] and entry["outcome"] for entry in trail)
    assert dead_letters(local) == []


def test_an_outage_sends_batches_to_the_dlq_and_a_redrive_lands_them_once(
    govsync: Any, resources: ProvisionedResources
) -> None:
    school = f"gs-{uuid.uuid4().hex[:8]}"
    ids = seed_grades(resources, school, 25, rejected_student="st-0")
    now = datetime.now(UTC)
    local = govsync(
        FaultPlan(seed=5, outage_start=now - timedelta(seconds=1), outage_end=now + timedelta(hours=1))
    )

    execution = run(local, school)

    # The execution fails (so the alarm counts it), every batch is in the DLQ with its reference.
    assert execution["status"] == "FAILED"
    assert execution.get("error") == DEAD_LETTERED
    letters = dead_letters(local)
    assert len(letters) == 3
    refs = []
    for letter in letters:
        body = json.loads(letter["Body"])
        assert body["error"]["Error"] == "MinistryUnavailable"
        assert letter["MessageAttributes"]["school_id"]["StringValue"] == school
        refs.append(
            (BatchRef.from_json({k: v for k, v in body.items() if k != "error"}), letter["MessageId"])
        )
    assert local.app is not None
    progress = local.app.store.progress(school, PERIOD)
    assert progress is not None
    assert progress.count(BatchStatus.FAILED) == 3
    assert local.simulator is not None
    assert local.simulator.ministry.ledger()["records"] == 0

    # Every DLQ message names the sync's request, as an attribute and in its body.
    sync_id = json.loads(execution["input"])["correlation_id"]
    assert {m["MessageAttributes"]["correlation_id"]["StringValue"] for m in letters} == {sync_id}
    assert {json.loads(m["Body"])["correlation_id"] for m in letters} == {sync_id}
    make_visible(local, letters)

    # The ministry recovers; the operators' code redrives the school's dead letters (and removes
    # them), then a second redrive of the same messages finds the first.
    local.simulator.ministry.set_plan(FaultPlan(seed=5))
    operations = operations_of(local, resources)
    found = operations.dead_letters(school)
    assert sorted(letter.message_id for letter in found) == sorted(message_id for _, message_id in refs)
    assert {letter.correlation_id for letter in found} == {sync_id}
    done = operations.redrive_dead_letters(found, "test@ops", "corr-redrive-1")
    (redrive,) = done.started
    again = local.starter.redrive(refs, "test@ops")
    redriven = wait_for_execution(local.client("stepfunctions"), redrive.execution_arn, timeout_seconds=120)

    assert redriven["status"] == "SUCCEEDED", redriven
    assert done.removed == 3
    assert dead_letters(local) == []
    assert not again[0].started
    # The redrive is a request of its own: its ministry calls carry its id, not the first run's.
    resent = [r for r in local.simulator.ministry.received() if r["endpoint"] == "submit"]
    assert {r["correlation_id"] for r in resent[-3:]} == {"corr-redrive-1"}
    ledger = local.simulator.ministry.ledger()
    assert ledger["duplicates"] == 0
    assert ledger["records"] == len(ids)  # st-0 is a known student to this ministry
    final = local.app.store.progress(school, PERIOD)
    assert final is not None
    assert final.count(BatchStatus.DONE) == 3
    assert final.status is SyncStatus.SUCCEEDED


def make_visible(local: LocalGovSync, messages: list[dict[str, Any]]) -> None:
    sqs = local.client("sqs")
    assert local.resources is not None
    for message in messages:
        sqs.change_message_visibility(
            QueueUrl=local.resources.dlq_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )


def operations_of(local: LocalGovSync, resources: ProvisionedResources) -> Any:
    """The operators' code (``luca sync``'s), built by the service's composition root."""
    assert local.resources is not None
    return build_operations(
        OperationsSettings(
            table_name=resources.table_name,
            state_machine_arn=local.resources.state_machine_arn,
            aws_region=resources.region,
            aws_endpoint_url=resources.endpoint_url,
            tenant_role_arn=resources.tenant_role_arn,
            dlq_url=local.resources.dlq_url,
        )
    )


def test_one_correlation_id_and_one_trace_run_from_the_start_to_every_ministry_call(
    govsync: Any, resources: ProvisionedResources, spans: InMemorySpanExporter
) -> None:
    school = f"gs-{uuid.uuid4().hex[:8]}"
    seed_grades(resources, school, 15, rejected_student="st-0")
    local = govsync(FaultPlan(seed=4, throttle_next=2))  # retried calls must carry them too
    correlation = f"corr-sync-{uuid.uuid4().hex[:8]}"

    with trace.get_tracer("test").start_as_current_span("operator asks") as root:
        (started,) = local.start_sync(PERIOD, [school], "test@ops", correlation)
    execution = wait_for_execution(local.client("stepfunctions"), started.execution_arn, timeout_seconds=120)

    assert execution["status"] == "SUCCEEDED", execution
    trace_id = trace.format_trace_id(root.get_span_context().trace_id)
    assert json.loads(execution["input"])["correlation_id"] == correlation
    assert execution["traceHeader"].startswith(f"Root=1-{trace_id[:8]}-{trace_id[8:]};")
    # The ministry saw the id and the trace on every call: the token's, each submit and its retries.
    assert local.simulator is not None
    received = local.simulator.ministry.received()
    assert {r["endpoint"] for r in received} >= {"token", "submit"}
    calls = local.simulator.ministry.stats()["calls"]
    assert sum(statuses.get("429", 0) for statuses in calls.values()) == 2  # refused, then retried
    assert len(received) == sum(sum(statuses.values()) for statuses in calls.values())
    assert {r["correlation_id"] for r in received} == {correlation}
    assert {r["trace_header"].split(";")[0] for r in received} == {f"Root=1-{trace_id[:8]}-{trace_id[8:]}"}
    # Every audit entry names the request.
    assert local.app is not None
    trail = local.app.store.audit_trail(school, PERIOD)
    assert {entry["step"] for entry in trail} == {"prepare", "submit", "report"}
    assert {entry.get("correlation_id") for entry in trail} == {correlation}
    # One trace: the start, each task's invocation and span, each ministry call.
    traced = [s for s in spans.get_finished_spans() if s.context.trace_id == root.get_span_context().trace_id]
    names = {span.name for span in traced}
    assert {"StepFunctions StartExecution", "govsync prepare", "govsync submit", "govsync report"} <= names
    assert {"ministry token", "ministry submit"} <= names
    ministry_calls = [span for span in traced if span.name == "ministry submit"]
    assert all(
        span.attributes and span.attributes["luca.correlation_id"] == correlation for span in ministry_calls
    )


def test_a_second_start_of_the_same_sync_never_runs_twice(
    govsync: Any, resources: ProvisionedResources
) -> None:
    school = f"gs-{uuid.uuid4().hex[:8]}"
    seed_grades(resources, school, 5, rejected_student="st-0")
    local = govsync(FaultPlan(seed=1))

    first = local.start_sync(PERIOD, [school], "ops-a")
    second = local.start_sync(PERIOD, [school], "ops-b")
    wait_for_execution(local.client("stepfunctions"), first[0].execution_arn, timeout_seconds=60)
    third = local.start_sync(PERIOD, [school], "ops-c")

    assert first[0].started
    assert not second[0].started
    assert not third[0].started
    assert first[0].execution_arn == second[0].execution_arn == third[0].execution_arn
    assert local.simulator is not None
    assert local.simulator.ministry.ledger()["acceptances"] == 5


def test_the_schedule_syncs_every_listed_school_for_the_term_that_just_ended(
    govsync: Any, resources: ProvisionedResources
) -> None:
    schools = (f"gs-{uuid.uuid4().hex[:8]}", f"gs-{uuid.uuid4().hex[:8]}")
    for school in schools:
        seed_grades(resources, school, 3, rejected_student="st-0")
    local = govsync(FaultPlan(seed=2), schools)

    local._scheduled(datetime(2025, 4, 1, 6, 0, tzinfo=UTC))  # what the quarterly schedule fires

    sfn = local.client("stepfunctions")
    assert local.resources is not None
    prefix = local.resources.state_machine_arn.replace(":stateMachine:", ":execution:")
    for school in schools:
        execution = wait_for_execution(sfn, f"{prefix}:govsync-{school}-{PERIOD}", timeout_seconds=60)
        assert execution["status"] == "SUCCEEDED"
        assert json.loads(execution["input"])["started_by"] == "schedule"
    assert local.simulator is not None
    assert set(local.simulator.ministry.ledger()["by_school"]) == set(schools)


def test_during_an_outage_the_schools_batches_stop_calling_the_ministry_and_resume_after(
    govsync: Any, resources: ProvisionedResources
) -> None:
    school = f"gs-{uuid.uuid4().hex[:8]}"
    ids = seed_grades(resources, school, 80, rejected_student="st-0")  # 8 batches, 4 at a time
    retry = RetryPolicy(interval_seconds=1, backoff_rate=2.0, max_attempts=4, max_delay_seconds=4)
    outage = 10.0
    now = datetime.now(UTC)
    local = govsync(
        FaultPlan(seed=5, outage_start=now, outage_end=now + timedelta(seconds=outage)),
        retry=retry,
        breaker_threshold=2,
    )

    execution = run(local, school)
    ended = datetime.now(UTC)

    # Every batch landed once, after the outage: none waited beyond its budget, none was sent twice.
    assert execution["status"] == "SUCCEEDED", execution
    assert local.simulator is not None
    assert local.app is not None
    ledger = local.simulator.ministry.ledger()
    assert (ledger["records"], ledger["duplicates"]) == (len(ids), 0)
    assert ended > now + timedelta(seconds=outage)
    # Alone, each of the four batches in flight would have called 1 + 4 times in the outage (and the
    # next ones after them); together they made the calls in flight when it began, then one probe
    # per interval (1, 2, 4, 4 s) until the ministry answered.
    outage_calls = local.simulator.ministry.stats()["faults"].get("outage", 0)
    assert 2 <= outage_calls <= 4 + 5, outage_calls
    trail = local.app.store.audit_trail(school, PERIOD)
    assert any(entry["step"] == "pause" for entry in trail)
    # The breaker is the school's own item, under its keys, closed again.
    dynamodb = boto3.client("dynamodb", region_name=resources.region, endpoint_url=resources.endpoint_url)
    pk = f"SCHOOL#{school}#GOVSYNC#{PERIOD}"
    item = dynamodb.get_item(TableName=resources.table_name, Key={"PK": {"S": pk}, "SK": {"S": "BREAKER"}})
    assert item["Item"]["state"]["S"] == "closed"
    assert item["Item"]["school_id"]["S"] == school
