"""``luca dlq list`` and ``luca dlq redrive`` against the emulator: explain, never lose, move back intact.

Each test provisions its own table, queue and DLQ (the platform's provisioning, names of its own),
enrols a small roster, and dead-letters messages the way SQS does: received ``maxReceiveCount``
times without being deleted, then moved by the redrive policy on the next receive.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory
from luca_infra.cli import main
from luca_infra.cli.dlq import redrive
from luca_infra.definitions import PlatformDefinition, TableDefinition
from luca_infra.local.emulator import Emulator
from luca_infra.local.platform import PlatformState
from luca_infra.local.provision import ProvisionedResources, provision
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId
from luca_kernel.roster import Student, Subject
from luca_platform.aws import AwsClients

pytestmark = pytest.mark.emulator
SCHOOL = "school-a"


@dataclass
class Dlq:
    resources: ProvisionedResources
    definition: PlatformDefinition
    state_dir: Path
    sqs: Any

    def dead_letter(self, body: str, school: str | None = SCHOOL) -> str:
        """Send ``body`` to the queue and fail it maxReceiveCount times: SQS moves it to the DLQ."""
        attributes = {"correlation_id": {"DataType": "String", "StringValue": f"corr-{uuid.uuid4()}"}}
        if school is not None:
            attributes["school_id"] = {"DataType": "String", "StringValue": school}
        queue = self.resources.events_queue_url
        message_id = self.sqs.send_message(QueueUrl=queue, MessageBody=body, MessageAttributes=attributes)[
            "MessageId"
        ]
        for _ in range(self.definition.ingest.max_receive_count):
            (message,) = self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1)["Messages"]
            self.sqs.change_message_visibility(
                QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        assert self.sqs.receive_message(QueueUrl=queue).get("Messages", []) == []  # moved, not received
        return str(message_id)

    def visible(self, queue_url: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while received := self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", []):
            fresh = [m for m in received if m["MessageId"] not in {f["MessageId"] for f in found}]
            if not fresh:
                return found
            found.extend(fresh)
        return found


def body(student: str, event_id: str) -> str:
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
def dlq(emulator: Emulator, definition: PlatformDefinition, sqs: Any, tmp_path: Path) -> Dlq:
    definition = replace(definition, table=TableDefinition(name=f"luca-dlq-{uuid.uuid4().hex[:10]}"))
    resources = provision(emulator.url, definition=definition)
    repository = DynamoRepositoryFactory(
        clients=AwsClients(region=emulator.region, endpoint_url=emulator.url), table_name=resources.table_name
    ).for_school(SchoolId(SCHOOL))
    repository.put_subject(Subject(SchoolId(SCHOOL), SubjectId("math"), "Matemática"))
    repository.put_student(Student(SchoolId(SCHOOL), StudentId("st-1"), CourseId("1A"), "Ana"))
    state = PlatformState(
        pid=os.getpid(),
        started_at="2025-03-01T10:00:00+00:00",
        region=emulator.region,
        emulator_url=emulator.url,
        gateway_url="http://127.0.0.1:9",
        grading_rest_url="http://127.0.0.1:9",
        grading_grpc_target="127.0.0.1:9",
        jwks_url=resources.jwks_url,
        user_pool_id=resources.user_pool_id,
        user_pool_client_id=resources.user_pool_client_id,
        table_name=resources.table_name,
        stream_arn=resources.stream_arn,
        tenant_role_arn=resources.tenant_role_arn,
        batch_role_arn=resources.batch_role_arn,
        service_key_id=resources.service_key_id,
        users={},
        access_log="access.jsonl",
        metrics_file="metrics.jsonl",
        traces_file="traces.jsonl",
        events_queue_url=resources.events_queue_url,
        events_dlq_url=resources.events_dlq_url,
    )
    state.write(tmp_path)
    return Dlq(resources=resources, definition=definition, state_dir=tmp_path, sqs=sqs)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_list_explains_each_dead_letter_and_leaves_them_in_the_dlq(
    dlq: Dlq, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = dlq.dead_letter(body("st-nobody", "evt-unknown-1"))
    malformed = dlq.dead_letter("{not json")
    no_school = dlq.dead_letter(body("st-1", "evt-noschool-1"), school=None)
    fixed_since = dlq.dead_letter(body("st-1", "evt-fine-now-1"))  # e.g. the roster was late

    code, out = run(capsys, "dlq", "list", "--json", "--state-dir", str(dlq.state_dir))

    assert code == 0
    letters = {letter["message_id"]: letter for letter in map(json.loads, out.splitlines())}
    assert set(letters) == {unknown, malformed, no_school, fixed_since}
    assert (letters[unknown]["school_id"], letters[unknown]["event_id"]) == (SCHOOL, "evt-unknown-1")
    assert (letters[unknown]["status"], letters[unknown]["reason"]) == ("failed", "unknown_student")
    assert letters[malformed]["reason"] == "malformed"
    assert letters[malformed]["event_id"] is None
    assert (letters[no_school]["school_id"], letters[no_school]["reason"]) == (None, "no_school_attribute")
    assert letters[no_school]["event_id"] == "evt-noschool-1"
    assert letters[fixed_since]["status"] == "stored"  # would succeed now: nothing was written
    assert {letter["receives"] for letter in letters.values()} == {dlq.definition.ingest.max_receive_count}
    # Listed, not consumed: all still there, visible at once.
    assert len(dlq.visible(dlq.resources.events_dlq_url)) == 4


def test_list_prints_a_table_and_an_empty_dlq_says_so(dlq: Dlq, capsys: pytest.CaptureFixture[str]) -> None:
    code, empty = run(capsys, "dlq", "list", "--state-dir", str(dlq.state_dir))
    dlq.dead_letter(body("st-nobody", "evt-unknown-2"))
    code_after, listed = run(capsys, "dlq", "list", "--state-dir", str(dlq.state_dir))

    assert (code, code_after) == (0, 0)
    assert "the DLQ is empty" in empty
    assert "evt-unknown-2" in listed
    assert "unknown_student" in listed


def test_redrive_all_moves_every_message_back_with_body_and_attributes(
    dlq: Dlq, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(12):  # more than one SQS batch
        dlq.dead_letter(body("st-1", f"evt-redrive-{n:02d}"))
    before = {m["Body"]: m["MessageAttributes"] for m in dlq.visible(dlq.resources.events_dlq_url)}

    code, out = run(capsys, "dlq", "redrive", "--all", "--state-dir", str(dlq.state_dir))

    assert code == 0
    assert "moved 12" in out
    assert dlq.visible(dlq.resources.events_dlq_url) == []
    after = {m["Body"]: m["MessageAttributes"] for m in dlq.visible(dlq.resources.events_queue_url)}
    assert after == before


def test_redrive_by_message_id_moves_only_those_and_reports_the_missing(
    dlq: Dlq, capsys: pytest.CaptureFixture[str]
) -> None:
    chosen = dlq.dead_letter(body("st-1", "evt-chosen-1"))
    others = {dlq.dead_letter(body("st-1", f"evt-other-{n}")) for n in range(2)}

    code, out = run(
        capsys,
        "dlq",
        "redrive",
        "--message-id",
        chosen,
        "--message-id",
        "no-such-id",
        "--state-dir",
        str(dlq.state_dir),
    )

    assert code == 1  # one was not found
    assert "moved 1" in out
    assert "not found 1" in out
    assert [json.loads(m["Body"])["event_id"] for m in dlq.visible(dlq.resources.events_queue_url)] == [
        "evt-chosen-1"
    ]
    assert {m["MessageId"] for m in dlq.visible(dlq.resources.events_dlq_url)} == others


def test_a_redrive_that_cannot_send_deletes_nothing(dlq: Dlq, emulator: Emulator) -> None:
    dead = {dlq.dead_letter(body("st-1", f"evt-kept-{n}")) for n in range(3)}
    started = time.monotonic()

    with pytest.raises(ClientError):
        redrive(
            dlq.sqs,
            dlq_url=dlq.resources.events_dlq_url,
            queue_url=f"{emulator.url}/123456789012/no-such-queue",
        )

    # Still in the DLQ, and released at once rather than after the hold.
    assert {m["MessageId"] for m in dlq.visible(dlq.resources.events_dlq_url)} == dead
    assert time.monotonic() - started < 30


def test_the_commands_need_a_running_platform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dlq", "list", "--state-dir", str(tmp_path)]) == 1
    assert main(["events", "show", "--school", SCHOOL, "--state-dir", str(tmp_path)]) == 1
    assert "luca up" in capsys.readouterr().err


def test_state_carries_the_queues(dlq: Dlq) -> None:
    state = PlatformState.read(dlq.state_dir)

    assert asdict(state)["events_queue_url"] == dlq.resources.events_queue_url
    assert state.events_dlq_url == dlq.resources.events_dlq_url
