"""The government path on the running platform: ``luca sync start`` submits a school's grades of a
term to the ministry simulator, and ``luca sync status`` shows where it stands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from luca.govsync.v1 import govsync_pb2, govsync_pb2_grpc
from luca_grading.adapters.dynamodb_repository import evaluation_item
from luca_grading.domain.model import Evaluation
from luca_infra.cli import main
from luca_infra.cli.up import sync_flow
from luca_infra.local.demo import DEMO_TERM, SCHOOL_A, SCHOOL_B, DemoRole
from luca_infra.local.platform import LocalPlatform
from luca_infra.local.stepfunctions import wait_for_execution
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Term
from luca_platform.contracts import roster
from luca_platform.table.codec import to_wire

if TYPE_CHECKING:
    from conftest import Auth


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_a_sync_started_from_the_cli_lands_the_schools_grades_once(
    platform: LocalPlatform, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(
        capsys,
        "sync",
        "start",
        "--period",
        DEMO_TERM,
        "--school",
        SCHOOL_A.school_id,
        "--state-dir",
        str(state_dir),
    )

    assert code == 0, out
    assert f"govsync-{SCHOOL_A.school_id}-{DEMO_TERM} started" in out
    code, status = run(
        capsys,
        "sync",
        "status",
        "--period",
        DEMO_TERM,
        "--school",
        SCHOOL_A.school_id,
        "--json",
        "--state-dir",
        str(state_dir),
    )
    assert code == 0
    report = json.loads(status)
    assert report["status"] == "succeeded"
    assert report["records_total"] > 0
    assert report["records_accepted"] == report["records_total"]
    assert platform.govsync is not None
    assert platform.govsync.simulator is not None
    ledger = platform.govsync.simulator.ministry.ledger()
    assert ledger["duplicates"] == 0
    assert ledger["by_school"][SCHOOL_A.school_id]["records"] == report["records_total"]
    assert SCHOOL_B.school_id not in ledger["by_school"]  # only the school asked for

    # Starting it again finds the first run: nothing is sent twice.
    code, again = run(
        capsys,
        "sync",
        "start",
        "--period",
        DEMO_TERM,
        "--school",
        SCHOOL_A.school_id,
        "--state-dir",
        str(state_dir),
    )
    assert code == 0
    assert "not started again" in again
    assert platform.govsync.simulator.ministry.ledger()["acceptances"] == ledger["acceptances"]


@pytest.mark.parametrize("period", ["2025-Q9", "last-term"])
def test_an_unknown_period_is_refused_with_a_clear_error(
    state_dir: Path, capsys: pytest.CaptureFixture[str], period: str
) -> None:
    code = main(
        ["sync", "start", "--period", period, "--school", SCHOOL_A.school_id, "--state-dir", str(state_dir)]
    )

    assert code == 2
    assert "unknown period" in capsys.readouterr().err


# -- the gRPC API (luca.govsync.v1.GovSyncService) ------------------------------------------------
@pytest.fixture(scope="module")
def govsync_stub(platform: LocalPlatform) -> Iterator[govsync_pb2_grpc.GovSyncServiceStub]:
    assert platform.govsync_grpc_port
    with grpc.insecure_channel(f"127.0.0.1:{platform.govsync_grpc_port}") as channel:
        yield govsync_pb2_grpc.GovSyncServiceStub(channel)


def error_reason(error: grpc.RpcError) -> tuple[grpc.StatusCode, str, list[str]]:
    status = rpc_status.from_call(error)
    assert status is not None, "a status with details"
    reason, fields = "", []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return error.code(), reason, fields


def test_a_school_admin_starts_and_follows_the_schools_sync_over_grpc(
    govsync_stub: govsync_pb2_grpc.GovSyncServiceStub, auth: Auth, platform: LocalPlatform
) -> None:
    metadata = auth.metadata(SCHOOL_B.school_id, "admin")

    started = govsync_stub.StartSync(
        govsync_pb2.StartSyncRequest(request=govsync_pb2.SyncRequest(period=DEMO_TERM)), metadata=metadata
    )

    (sync,) = started.syncs
    assert (sync.school_id, sync.period) == (SCHOOL_B.school_id, DEMO_TERM)  # the token's school
    assert platform.govsync is not None
    sfn = platform.govsync.client("stepfunctions")
    arn = platform.govsync_resources.state_machine_arn.replace(":stateMachine:", ":execution:")
    wait_for_execution(sfn, f"{arn}:govsync-{SCHOOL_B.school_id}-{DEMO_TERM}", timeout_seconds=120)
    progress = govsync_stub.GetSyncProgress(
        govsync_pb2.GetSyncProgressRequest(period=DEMO_TERM), metadata=metadata
    ).progress
    assert progress.status == govsync_pb2.SYNC_STATUS_SUCCEEDED
    assert progress.records_accepted == progress.records_total > 0
    assert progress.batches_done == progress.batches_total
    syncs = govsync_stub.ListSyncs(govsync_pb2.ListSyncsRequest(period=DEMO_TERM), metadata=metadata).syncs
    assert [s.sync_id for s in syncs] == [progress.sync_id]
    failed = govsync_stub.ListFailedBatches(
        govsync_pb2.ListFailedBatchesRequest(period=DEMO_TERM), metadata=metadata
    )
    assert list(failed.batches) == []


@pytest.mark.parametrize(
    ("who", "school", "period", "code", "reason"),
    [
        ("admin", SCHOOL_B.school_id, DEMO_TERM, grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_SCHOOL"),
        ("teacher", "", DEMO_TERM, grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_SCHOOL"),
        ("student", "", DEMO_TERM, grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_SCHOOL"),
        ("admin", "", "2025-T9", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST"),
    ],
)
def test_a_sync_the_caller_does_not_administer_or_cannot_exist_is_refused(
    govsync_stub: govsync_pb2_grpc.GovSyncServiceStub,
    auth: Auth,
    platform: LocalPlatform,
    who: DemoRole,
    school: str,
    period: str,
    code: grpc.StatusCode,
    reason: str,
) -> None:
    assert platform.govsync is not None
    assert platform.govsync.simulator is not None
    before = platform.govsync.simulator.ministry.stats()["batches_processed"]
    request = govsync_pb2.StartSyncRequest(request=govsync_pb2.SyncRequest(period=period, school_id=school))

    with pytest.raises(grpc.RpcError) as refused:
        govsync_stub.StartSync(request, metadata=auth.metadata(SCHOOL_A.school_id, who))

    got_code, got_reason, fields = error_reason(refused.value)
    assert (got_code, got_reason) == (code, reason)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert fields == ["request.period"]  # the field's path in the request (protovalidate)
    # Nothing was submitted for anyone.
    assert platform.govsync.simulator.ministry.stats()["batches_processed"] == before


def test_without_a_token_the_grpc_api_is_unauthenticated(
    govsync_stub: govsync_pb2_grpc.GovSyncServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        govsync_stub.GetSyncProgress(govsync_pb2.GetSyncProgressRequest(period=DEMO_TERM))

    assert error_reason(refused.value)[:2] == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_printed_sync_example_works_when_pasted_into_a_shell(state_dir: Path) -> None:
    luca = Path(sys.executable).with_name("luca")
    script = sync_flow(command=str(luca), state_dir=state_dir)
    # An operator's shell has no AWS credentials: the commands use the emulator's own.
    shell = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=shell,
    )

    assert result.returncode == 0, result.stderr
    assert f"govsync-{SCHOOL_A.school_id}-{DEMO_TERM}" in result.stdout
    assert "accepted" in result.stdout  # `luca sync status`'s table
    assert "batches in the DLQ" in result.stdout


def test_batches_the_ministry_refuses_wait_in_the_dlq_and_a_redrive_lands_them_once(
    platform: LocalPlatform, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a school with grades the ministry refuses for now (403: a permanent error, no retries)
    assert platform.govsync is not None
    simulator = platform.govsync.simulator
    assert simulator is not None
    school = f"gs-cli-{uuid.uuid4().hex[:8]}"
    seed_grades(platform, school, 7)
    healthy = simulator.ministry.plan
    simulator.ministry.set_plan(replace(healthy, forbidden_schools=frozenset({school})))
    try:
        code, out = run(
            capsys, "sync", "start", "--period", DEMO_TERM, "--school", school, "--state-dir", str(state_dir)
        )
    finally:
        simulator.ministry.set_plan(healthy)

    # THEN the sync fails, its batch is in the DLQ with the ministry's refusal, nothing was accepted
    assert code == 1, out
    code, listed = run(capsys, "sync", "dlq", "--json", "--state-dir", str(state_dir))
    mine = [json.loads(line) for line in listed.splitlines() if school in line]
    assert [(m["school_id"], m["records"], m["error"]) for m in mine] == [(school, 7, "MinistryRefused")]
    assert school not in simulator.ministry.ledger()["by_school"]

    # WHEN the ministry accepts the school again and the DLQ is redriven
    code, redriven = run(capsys, "sync", "redrive", "--by", "ops@test", "--state-dir", str(state_dir))

    # THEN every grade lands once, and the DLQ no longer holds the batch
    assert code == 0, redriven
    ledger = simulator.ministry.ledger()
    assert ledger["by_school"][school]["records"] == 7
    assert ledger["duplicates"] == 0
    code, after = run(capsys, "sync", "dlq", "--json", "--state-dir", str(state_dir))
    assert school not in after
    code, status = run(
        capsys,
        "sync",
        "status",
        "--period",
        DEMO_TERM,
        "--school",
        school,
        "--json",
        "--state-dir",
        str(state_dir),
    )
    report = json.loads(status)
    assert (report["batches_failed"], report["records_accepted"]) == (0, 7)


def seed_grades(platform: LocalPlatform, school: str, count: int) -> None:
    dynamodb = boto3.client(
        "dynamodb", region_name=platform.resources.region, endpoint_url=platform.emulator_url
    )
    for n in range(count):
        evaluation = Evaluation(
            school_id=SchoolId(school),
            evaluation_id=f"ev-{n:03d}",
            student_id=StudentId(f"st-{n}"),
            course_id=CourseId("1A"),
            subject_id=SubjectId("math"),
            term_id=TermId(DEMO_TERM),
            score=Decimal("6.1"),
            weight=Decimal("1"),
            teacher_id=TeacherId("t-1"),
            recorded_at=datetime(2025, 3, 1, 10, n, tzinfo=UTC),
        )
        item = {k: v for k, v in evaluation_item(evaluation).items() if v is not None}
        dynamodb.put_item(TableName=platform.resources.table_name, Item=to_wire(item))
    # The sync submits closed terms only.
    closed = roster.term_item(
        Term(SchoolId(school), TermId(DEMO_TERM), DEMO_TERM, closed_at=datetime(2025, 7, 1, tzinfo=UTC))
    )
    dynamodb.put_item(
        TableName=platform.resources.table_name,
        Item=to_wire({k: v for k, v in closed.items() if v is not None}),
    )
