"""The operations tools against a deployed stage (``--stage NAME``), with the emulator as the stage.

The emulator is provisioned like a stage (the platform's provisioning, names of this test's own, a
state machine and a sync DLQ) and its resources document is published as stage ``staging``. The real
CLI entry then runs with AWS_ENDPOINT_URL pointing at the emulator and no state directory: whatever
it finds, it found through SSM and the AWS credential chain, as it would in an account.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from luca_govsync.adapters.dynamodb_store import DynamoSyncStore
from luca_govsync.domain.model import BatchRef
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory
from luca_infra import stage_resources
from luca_infra.cli import main
from luca_infra.cli.stage import from_platform_state, local
from luca_infra.definitions import PlatformDefinition, TableDefinition
from luca_infra.local.emulator import Emulator
from luca_infra.local.platform import PlatformState
from luca_infra.local.provision import ProvisionedResources, provision
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TermId
from luca_kernel.roster import Student, Subject, Term
from luca_platform.aws import AwsClients
from luca_platform.contracts import roster
from luca_platform.contracts.exercise_results import EXERCISE_SK_PREFIX
from luca_platform.contracts.roster import student_pk
from luca_platform.table import keys
from luca_platform.table.codec import to_wire

pytestmark = pytest.mark.emulator
SCHOOL = "school-a"
PERIOD = "2025-T1"


@dataclass
class Stage:
    name: str
    resources: ProvisionedResources
    document: stage_resources.StageResources
    definition: PlatformDefinition
    emulator: Emulator

    def client(self, service: str) -> Any:
        session: Any = boto3.session.Session(region_name=self.emulator.region)
        return session.client(service, endpoint_url=self.emulator.url)

    def dead_letter(self, body: str) -> str:
        """Fail a message maxReceiveCount times on the events queue: SQS moves it to the DLQ."""
        sqs = self.client("sqs")
        queue = self.document.events_queue_url
        message_id = sqs.send_message(
            QueueUrl=queue,
            MessageBody=body,
            MessageAttributes={
                "school_id": {"DataType": "String", "StringValue": SCHOOL},
                "correlation_id": {"DataType": "String", "StringValue": "corr-stage-1"},
            },
        )["MessageId"]
        for _ in range(self.definition.ingest.max_receive_count):
            (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1)["Messages"]
            sqs.change_message_visibility(
                QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        assert sqs.receive_message(QueueUrl=queue).get("Messages", []) == []
        return str(message_id)

    def visible(self, queue_url: str) -> list[dict[str, Any]]:
        received = self.client("sqs").receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
        )
        return list(received.get("Messages", []))

    def store(self) -> DynamoSyncStore:
        clients = AwsClients(
            region=self.emulator.region,
            endpoint_url=self.emulator.url,
            tenant_role_arn=self.document.tenant_role_arn,
        )
        return DynamoSyncStore(clients, self.document.table_name)


def event_body(event_id: str, student: str = "st-unknown") -> str:
    return json.dumps(
        {
            "event_id": event_id,
            "student_id": student,
            "course_id": "1A",
            "subject_id": "math",
            "occurred_at": datetime.now(UTC).isoformat(),
            "schema_version": 1,
            "exercise_submission": {"exercise_id": "ex-1", "score": "6.0"},
        }
    )


@pytest.fixture
def stage(
    emulator: Emulator, definition: PlatformDefinition, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Stage:
    suffix = uuid.uuid4().hex[:10]
    definition = replace(definition, table=TableDefinition(name=f"luca-stage-{suffix}"))
    resources = provision(emulator.url, definition=definition)
    repository = DynamoRepositoryFactory(
        clients=AwsClients(region=emulator.region, endpoint_url=emulator.url),
        table_name=resources.table_name,
    ).for_school(SchoolId(SCHOOL))
    repository.put_subject(Subject(SchoolId(SCHOOL), SubjectId("math"), "Matemática"))
    repository.put_student(Student(SchoolId(SCHOOL), StudentId("st-1"), CourseId("1A"), "Ana"))
    client = boto3.client("sqs", region_name=emulator.region, endpoint_url=emulator.url)
    sync_dlq = client.create_queue(QueueName=f"govsync-dlq-{suffix}")["QueueUrl"]
    sfn = boto3.client("stepfunctions", region_name=emulator.region, endpoint_url=emulator.url)
    machine = sfn.create_state_machine(
        name=f"government-sync-{suffix}",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=f"arn:aws:iam::123456789012:role/sync-{suffix}",
    )["stateMachineArn"]
    name = f"staging-{suffix}"
    document = stage_resources.StageResources(
        stage=name,
        region=emulator.region,
        table_name=resources.table_name,
        tenant_role_arn=resources.tenant_role_arn,
        batch_role_arn=resources.batch_role_arn,
        events_queue_url=resources.events_queue_url,
        events_dlq_url=resources.events_dlq_url,
        govsync_state_machine_arn=machine,
        govsync_dlq_url=sync_dlq,
        govsync_manifest_bucket=f"manifests-{suffix}",
        lake_bucket="",
    )
    stage_resources.publish(
        boto3.client("ssm", region_name=emulator.region, endpoint_url=emulator.url), document
    )
    # The operator's shell: the normal chain pointed at the "account", and no local platform here.
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.url)
    monkeypatch.setenv("AWS_REGION", emulator.region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", emulator.region)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.chdir(tmp_path)
    return Stage(name, resources, document, definition, emulator)


def test_dlq_list_shows_a_poison_message_with_its_school_and_reason(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    message_id = stage.dead_letter(event_body("ev-poison-1"))

    code = main(["dlq", "list", "--json", "--stage", stage.name])

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert code == 0
    (letter,) = [line for line in lines if line["message_id"] == message_id]
    assert letter["school_id"] == SCHOOL
    assert letter["event_id"] == "ev-poison-1"
    assert letter["status"] == "failed"
    assert letter["reason"]  # the processor's own reason (an unknown student)
    assert len(stage.visible(stage.document.events_dlq_url)) == 1  # listing removes nothing


def test_dlq_redrive_all_moves_it_back_with_body_and_attributes(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    body = event_body("ev-poison-2")
    stage.dead_letter(body)

    code = main(["dlq", "redrive", "--all", "--stage", stage.name])

    assert code == 0
    assert "moved 1 back to the events queue" in capsys.readouterr().out
    assert stage.visible(stage.document.events_dlq_url) == []
    (back,) = stage.visible(stage.document.events_queue_url)
    assert back["Body"] == body
    assert back["MessageAttributes"]["school_id"]["StringValue"] == SCHOOL
    assert back["MessageAttributes"]["correlation_id"]["StringValue"] == "corr-stage-1"


def test_events_show_lists_a_stored_result(stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    stage.client("dynamodb").put_item(
        TableName=stage.document.table_name,
        Item={
            keys.TABLE_PARTITION_KEY: {"S": student_pk(SCHOOL, "st-1")},
            keys.TABLE_SORT_KEY: {"S": f"{EXERCISE_SK_PREFIX}ev-stored-1"},
            "event_id": {"S": "ev-stored-1"},
            "student_id": {"S": "st-1"},
            "score": {"N": str(Decimal("6.5"))},
            "graded_at": {"S": "2025-03-01T10:00:00+00:00"},
        },
    )

    code = main(["events", "show", "--school", SCHOOL, "--student", "st-1", "--json", "--stage", stage.name])

    assert code == 0
    (item,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert item["event_id"] == "ev-stored-1"
    assert item["student_id"] == "st-1"


def test_events_show_on_a_stage_needs_a_student_rather_than_scanning_every_school(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["events", "show", "--school", SCHOOL, "--stage", stage.name])

    assert code == 2
    assert "--student" in capsys.readouterr().err


def close_term(stage: Stage) -> None:
    closed = Term(SchoolId(SCHOOL), TermId(PERIOD), PERIOD, closed_at=datetime(2025, 7, 1, tzinfo=UTC))
    stage.client("dynamodb").put_item(
        TableName=stage.document.table_name,
        Item=to_wire({k: v for k, v in roster.term_item(closed).items() if v is not None}),
    )


def luca_process(*arguments: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, as an operator runs it: commands that start executions install
    a tracer provider, which must not outlive them in the test process."""
    return subprocess.run(
        [sys.executable, "-m", "luca_infra.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_sync_start_on_a_stage_starts_the_schools_execution_once(stage: Stage) -> None:
    command = ["sync", "start", "--period", PERIOD, "--school", SCHOOL, "--no-wait", "--stage", stage.name]
    refused = luca_process(*command)
    assert refused.returncode == 2  # the term is open: the sync submits closed terms only
    assert "not closed" in refused.stderr
    close_term(stage)

    first = luca_process(*command, "--correlation-id", "ops-start-0001")
    again = luca_process(*command)  # a second start of the same school and period starts nothing new

    assert (first.returncode, again.returncode) == (0, 0), first.stderr + again.stderr
    assert "started" in first.stdout
    assert "already exists" in again.stdout
    assert f"luca trace ops-start-0001 --stage {stage.name}" in first.stdout
    sfn = stage.client("stepfunctions")
    (execution,) = sfn.list_executions(stateMachineArn=stage.document.govsync_state_machine_arn)["executions"]
    started = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert started["school_id"] == SCHOOL
    assert started["period"] == PERIOD
    assert started["correlation_id"] == "ops-start-0001"


def test_a_malformed_correlation_id_is_refused_before_anything_starts(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sync", "start", "--period", PERIOD, "--correlation-id", "a b;c", "--stage", stage.name])

    assert exited.value.code == 2
    assert "correlation id" in capsys.readouterr().err
    sfn = stage.client("stepfunctions")
    assert sfn.list_executions(stateMachineArn=stage.document.govsync_state_machine_arn)["executions"] == []


def batch(number: int = 1) -> BatchRef:
    return BatchRef(
        school_id=SCHOOL,
        period=PERIOD,
        sync_id="sync-1",
        number=number,
        client_batch_id=f"cb-{number}",
        manifest_key=f"{SCHOOL}/{PERIOD}/sync-1/{number}.json",
        records=3,
    )


def test_sync_status_of_a_seeded_session(stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    store = stage.store()
    store.start_run(SCHOOL, PERIOD, "sync-1", "ops", 3)
    store.put_batches([batch()])

    code = main(["sync", "status", "--period", PERIOD, "--school", SCHOOL, "--json", "--stage", stage.name])

    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sync_id"] == "sync-1"
    assert report["school_id"] == SCHOOL


def test_sync_dlq_and_redrive_over_a_dead_lettered_batch(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = batch(2)
    sqs = stage.client("sqs")
    message_id = sqs.send_message(
        QueueUrl=stage.document.govsync_dlq_url,
        MessageBody=json.dumps({**ref.to_json(), "error": {"Error": "MinistryUnavailable"}}),
    )["MessageId"]

    assert main(["sync", "dlq", "--json", "--stage", stage.name]) == 0
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.strip()]
    assert line["message_id"] == message_id
    assert (line["school_id"], line["batch"], line["error"]) == (SCHOOL, 2, "MinistryUnavailable")

    redriven = luca_process("sync", "redrive", "--no-wait", "--stage", stage.name)
    assert redriven.returncode == 0, redriven.stderr
    assert "redriving 1 batches in 1 executions; 1 DLQ messages removed" in redriven.stdout
    assert stage.visible(stage.document.govsync_dlq_url) == []
    executions = stage.client("stepfunctions").list_executions(
        stateMachineArn=stage.document.govsync_state_machine_arn
    )["executions"]
    (execution,) = executions
    started = json.loads(
        stage.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])["input"]
    )
    assert started["mode"] == "redrive"
    (resent,) = started["batches"]
    # The batch as it was, now carrying the redrive's own request id (the execution's).
    assert resent.pop("correlation_id") == started["correlation_id"] != ""
    assert resent == ref.to_json()


@pytest.mark.parametrize(
    "command",
    [
        ["dlq", "list"],
        ["dlq", "redrive", "--all"],
        ["sync", "dlq"],
        ["sync", "redrive"],
        ["sync", "status", "--period", PERIOD, "--school", SCHOOL],
        ["events", "show", "--school", SCHOOL, "--student", "st-1"],
        ["lake", "show"],
    ],
)
def test_a_stage_that_does_not_exist_is_said_plainly_with_exit_code_2(
    stage: Stage, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*command, "--stage", "nowhere"])

    captured = capsys.readouterr()
    assert code == 2
    assert "/luca/nowhere/resources" in captured.err + captured.out
    assert "Traceback" not in captured.err


def local_state(stage: Stage, state_dir: Path) -> PlatformState:
    """A running local platform's state file, naming the stage's emulator and resources."""
    return PlatformState(
        pid=1,
        started_at="2025-03-01T10:00:00+00:00",
        region=stage.emulator.region,
        emulator_url=stage.emulator.url,
        gateway_url="http://127.0.0.1:9",
        grading_rest_url="http://127.0.0.1:9",
        grading_grpc_target="127.0.0.1:9",
        jwks_url=stage.resources.jwks_url,
        user_pool_id=stage.resources.user_pool_id,
        user_pool_client_id=stage.resources.user_pool_client_id,
        table_name=stage.document.table_name,
        stream_arn=stage.resources.stream_arn,
        tenant_role_arn=stage.document.tenant_role_arn,
        batch_role_arn=stage.document.batch_role_arn,
        service_key_id=stage.resources.service_key_id,
        users={SCHOOL: {}},
        access_log="access.jsonl",
        metrics_file="metrics.jsonl",
        traces_file=str(state_dir / "traces.jsonl"),
        events_queue_url=stage.document.events_queue_url,
        events_dlq_url=stage.document.events_dlq_url,
    )


def test_without_stage_the_local_platform_is_found_through_its_state_file(
    stage: Stage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    state = local_state(stage, tmp_path)
    state.write(tmp_path)
    ssm = stage.client("ssm")
    name = stage_resources.parameter_name(stage_resources.LOCAL_STAGE)
    ssm.delete_parameters(Names=[name])

    # A platform that published no document: built from platform.json.
    target = local(tmp_path)
    assert target.resources == from_platform_state(state)
    assert target.endpoint_url == stage.emulator.url

    # One that did: its document wins (here, the stage's, under the name ``local``).
    published = replace(stage.document, stage=stage_resources.LOCAL_STAGE)
    stage_resources.publish(ssm, published)
    try:
        assert local(tmp_path).resources == published
        stage.dead_letter(event_body("ev-local-1"))
        assert main(["dlq", "redrive", "--all", "--state-dir", str(tmp_path)]) == 0
        assert len(stage.visible(stage.document.events_queue_url)) == 1
    finally:
        ssm.delete_parameters(Names=[name])


def test_a_local_sync_start_is_the_root_of_one_trace_through_the_execution(
    stage: Stage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    local_state(stage, tmp_path).write(tmp_path)
    ssm = stage.client("ssm")
    stage_resources.publish(ssm, replace(stage.document, stage=stage_resources.LOCAL_STAGE))
    close_term(stage)
    try:
        started = luca_process(
            "sync", "start", "--period", PERIOD, "--school", SCHOOL, "--no-wait",
            "--correlation-id", "ops-local-0001", "--state-dir", str(tmp_path),
        )  # fmt: skip
    finally:
        ssm.delete_parameters(Names=[stage_resources.parameter_name(stage_resources.LOCAL_STAGE)])

    assert started.returncode == 0, started.stderr
    spans = [json.loads(line) for line in (tmp_path / "traces.jsonl").read_text().splitlines()]
    mine = [s for s in spans if s["attributes"].get("luca.correlation_id") == "ops-local-0001"]
    by_name = {span["name"]: span for span in mine}
    root, start = by_name["luca sync start"], by_name["StepFunctions StartExecution"]
    # The command's span is the root; the StartExecution that hands its trace on is inside it.
    assert root["parent_id"] is None
    assert start["context"]["trace_id"] == root["context"]["trace_id"]
    assert start["parent_id"] == root["context"]["span_id"]
    assert root["resource"]["attributes"]["service.name"] == "luca-cli"
