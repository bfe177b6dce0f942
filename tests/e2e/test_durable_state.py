"""Local state survives a restart of ``luca up``: after a clean stop, after a hard kill, and
``--fresh`` starts empty.

Each platform runs as ``python -m luca_infra.cli up`` in its own process (on free ports, with a
scratch state directory), as a developer runs it: a clean stop is SIGTERM (what Ctrl-C does), a hard
kill SIGKILL. What is recorded: a grade through the gateway (and the lake file it lands in), a user,
a message waiting in the events DLQ and, for the clean stop, a government sync's outcome. What is
read back uses the teacher's token issued before the restart.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from luca_infra.local.demo import DEMO_TERM, SCHOOL_A, example_evaluation, id_token
from luca_infra.local.durable_state import SNAPSHOT_FILE
from luca_infra.local.emulator import ensure_dummy_credentials
from luca_infra.local.platform import STATE_FILE, PlatformState
from luca_testing.polling import eventually

pytestmark = pytest.mark.e2e

START_TIMEOUT_SECONDS = 120.0
FREE_PORTS = (
    "--port",
    "--rest-port",
    "--grpc-port",
    "--emulator-port",
    "--sync-grpc-port",
    "--analytics-rest-port",
    "--analytics-grpc-port",
)


def luca(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "luca_infra.cli", *arguments]


@contextmanager
def luca_up(state_dir: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], PlatformState]]:
    """``luca up`` in a process of its own; yields it once its platform.json names it. Whatever the
    test did to it, it is gone afterwards."""
    command = luca("up", "--state-dir", str(state_dir), "--sync-schedule", "off", "--log-level", "WARNING")
    for flag in FREE_PORTS:
        command += [flag, "0"]
    process = subprocess.Popen(
        [*command, "--snapshot-interval", "1", *extra],
        stdout=subprocess.DEVNULL,
        stderr=(state_dir.parent / f"{state_dir.name}-up.stderr").open("ab"),
    )

    def announced() -> PlatformState | None:
        assert process.poll() is None, f"luca up exited with {process.returncode}"
        try:
            state = PlatformState.read(state_dir)
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return state if state.pid == process.pid else None  # not a hard-killed run's leftover

    try:
        yield process, eventually(announced, timeout=START_TIMEOUT_SECONDS, interval=0.5, what="luca up")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def clean_stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


def aws(state: PlatformState, service: str) -> Any:
    ensure_dummy_credentials()  # the emulator takes any
    return boto3.client(service, region_name=state.region, endpoint_url=state.emulator_url)  # type: ignore[call-overload]


def teacher_token(state: PlatformState) -> str:
    return id_token(
        aws(state, "cognito-idp"),
        state.user_pool_id,
        state.user_pool_client_id,
        SCHOOL_A.username("teacher"),
        "Luca-demo-2025!",
    )


def evaluations(state: PlatformState, token: str) -> httpx.Response:
    return httpx.get(
        f"{state.gateway_url}/v1/students/{SCHOOL_A.student_user_id}/evaluations",
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
        trust_env=False,
    )


def lake_files(state: PlatformState) -> set[str]:
    s3 = aws(state, "s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=state.lake_bucket)
    return {
        item["Key"] for page in pages for item in page.get("Contents", []) if item["Key"].endswith(".parquet")
    }


def dlq_bodies(state: PlatformState) -> list[str]:
    answer = aws(state, "sqs").receive_message(
        QueueUrl=state.events_dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [message["Body"] for message in answer.get("Messages", [])]


def user_exists(state: PlatformState, username: str) -> bool:
    cognito = aws(state, "cognito-idp")
    try:
        cognito.admin_get_user(UserPoolId=state.user_pool_id, Username=username)
    except cognito.exceptions.UserNotFoundException:
        return False
    return True


@dataclass
class Recorded:
    token: str
    description: str
    evaluation_ids: list[str]
    username: str
    dlq_body: str
    lake_files: set[str]


def record(state: PlatformState) -> Recorded:
    token = teacher_token(state)
    description = f"durable-{uuid.uuid4()}"
    recorded = httpx.post(
        f"{state.gateway_url}/v1/evaluations",
        json=example_evaluation(SCHOOL_A) | {"description": description},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"durable-{uuid.uuid4()}"},
        timeout=15,
        trust_env=False,
    )
    assert recorded.status_code == 201, recorded.text
    username = f"durable-user-{uuid.uuid4().hex[:8]}"
    aws(state, "cognito-idp").admin_create_user(
        UserPoolId=state.user_pool_id, Username=username, MessageAction="SUPPRESS"
    )
    # Nothing consumes the DLQ: a message there waits for an operator, across restarts too.
    dlq_body = json.dumps({"event_id": f"evt-durable-{uuid.uuid4()}"})
    aws(state, "sqs").send_message(QueueUrl=state.events_dlq_url, MessageBody=dlq_body)
    listed = evaluations(state, token)
    assert listed.status_code == 200
    files = eventually(lambda: lake_files(state), timeout=60, interval=0.5, what="a lake file")
    return Recorded(
        token=token,
        description=description,
        evaluation_ids=sorted(e["evaluation_id"] for e in listed.json()["evaluations"]),
        username=username,
        dlq_body=dlq_body,
        lake_files=files,
    )


def assert_resumed(state: PlatformState, recorded: Recorded) -> None:
    assert state.resumed
    # The token issued before the restart still verifies (same pool id, same signing key).
    listed = evaluations(state, recorded.token)
    assert listed.status_code == 200, listed.text
    found = listed.json()["evaluations"]
    assert recorded.description in {e["description"] for e in found}
    # The demo seed ran once: no grade was added by starting again.
    assert sorted(e["evaluation_id"] for e in found) == recorded.evaluation_ids
    assert user_exists(state, recorded.username)
    assert recorded.dlq_body in dlq_bodies(state)
    assert recorded.lake_files <= lake_files(state)


def sync_outcomes(state: PlatformState) -> dict[str, str]:
    sfn = aws(state, "stepfunctions")
    executions = sfn.list_executions(stateMachineArn=state.govsync_state_machine_arn)["executions"]
    return {execution["name"]: execution["status"] for execution in executions}


def test_a_clean_stop_keeps_everything_and_fresh_starts_empty(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with luca_up(state_dir) as (process, state):
        recorded = record(state)
        synced = subprocess.run(
            luca(
                "sync",
                "start",
                "--period",
                DEMO_TERM,
                "--school",
                SCHOOL_A.school_id,
                "--state-dir",
                str(state_dir),
            ),
            capture_output=True,
            timeout=180,
            check=False,
        )
        assert synced.returncode == 0, synced.stdout + synced.stderr
        outcomes = sync_outcomes(state)
        assert "SUCCEEDED" in outcomes.values()
        clean_stop(process)
    assert (state_dir / SNAPSHOT_FILE).exists()
    assert not (state_dir / STATE_FILE).exists()

    with luca_up(state_dir) as (process, state):
        assert_resumed(state, recorded)
        assert sync_outcomes(state) == outcomes
        clean_stop(process)

    with luca_up(state_dir, "--fresh") as (process, state):
        assert not state.resumed
        # A new user pool: the old token is refused, and what was recorded is gone.
        assert evaluations(state, recorded.token).status_code == 401
        listed = evaluations(state, teacher_token(state))
        assert listed.status_code == 200
        assert recorded.description not in {e["description"] for e in listed.json()["evaluations"]}
        assert not user_exists(state, recorded.username)
        assert recorded.dlq_body not in dlq_bodies(state)
        assert sync_outcomes(state) == {}
        clean_stop(process)


def test_a_hard_kill_keeps_what_the_last_snapshot_held(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    snapshot = state_dir / SNAPSHOT_FILE
    with luca_up(state_dir) as (process, state):
        recorded = record(state)
        recorded_at = time.time_ns()
        # A snapshot begun before the recording ended may not hold it: wait for one begun after.
        first = eventually(
            lambda: (
                snapshot.exists()
                and snapshot.stat().st_mtime_ns > recorded_at
                and snapshot.stat().st_mtime_ns
            ),
            timeout=30,
            what="a snapshot after the recording",
        )
        eventually(lambda: snapshot.stat().st_mtime_ns > first, timeout=30, what="the next snapshot")

        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    with luca_up(state_dir) as (process, state):
        assert_resumed(state, recorded)
        clean_stop(process)
