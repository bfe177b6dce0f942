"""The flow ``luca up`` prints: get a token, record a grade through the gateway, read it back."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from luca_infra.cli import main
from luca_infra.cli.up import example_flow
from luca_infra.local.demo import SCHOOL_A, example_evaluation
from luca_infra.local.platform import LocalPlatform, PlatformState

pytestmark = pytest.mark.e2e


def evaluation_ids(gateway: httpx.Client, headers: dict[str, str], student_id: str) -> list[str]:
    response = gateway.get(f"/v1/students/{student_id}/evaluations", headers=headers)
    assert response.status_code == 200, response.text
    return [e["evaluation_id"] for e in response.json()["evaluations"]]


def test_token_command_then_record_then_read_back(
    platform: LocalPlatform, state_dir: Path, gateway: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a token from the CLI, as the banner tells a developer to get it
    assert (
        main(["token", "--school", SCHOOL_A.school_id, "--role", "teacher", "--state-dir", str(state_dir)])
        == 0
    )
    token = capsys.readouterr().out.strip()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"e2e-{uuid.uuid4()}"}
    body = example_evaluation(SCHOOL_A)

    # WHEN the grade is recorded through the gateway, and the request is retried
    recorded = gateway.post("/v1/evaluations", json=body, headers=headers)
    retried = gateway.post("/v1/evaluations", json=body, headers=headers)

    # THEN it is stored once and reads back
    assert recorded.status_code == 201, recorded.text
    evaluation = recorded.json()
    assert {k: evaluation[k] for k in ("student_id", "course_id", "subject_id", "term_id")} == {
        k: body[k] for k in ("student_id", "course_id", "subject_id", "term_id")
    }
    assert evaluation["score"] == body["score"]
    assert evaluation["teacher_id"] == SCHOOL_A.username("teacher")
    assert retried.status_code == 200
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.json()["evaluation_id"] == evaluation["evaluation_id"]
    ids = evaluation_ids(gateway, {"Authorization": f"Bearer {token}"}, body["student_id"])
    assert ids.count(evaluation["evaluation_id"]) == 1


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash"
)
def test_the_printed_commands_work_when_pasted_into_a_shell(
    platform: LocalPlatform, state_dir: Path, gateway: httpx.Client
) -> None:
    luca = Path(sys.executable).with_name("luca")
    script = example_flow(PlatformState.read(state_dir), command=str(luca), state_dir=state_dir)
    headers = {"Authorization": f"Bearer {platform.token_for(SCHOOL_A.school_id, 'teacher')}"}
    before = evaluation_ids(gateway, headers, SCHOOL_A.student_user_id)

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    after = evaluation_ids(gateway, headers, SCHOOL_A.student_user_id)
    (new,) = set(after) - set(before)
    # The POST's answer and the read-back both carry the new evaluation.
    assert result.stdout.count(new) == 2


def test_the_state_file_names_what_is_running(platform: LocalPlatform, state_dir: Path) -> None:
    state = PlatformState.read(state_dir)

    assert state.gateway_url == platform.gateway_url
    assert state.grading_grpc_target == platform.grading_grpc_target
    assert state.jwks_url.startswith(platform.emulator_url)
    assert state.users[SCHOOL_A.school_id]["teacher"] == SCHOOL_A.username("teacher")


def test_token_command_without_a_running_platform_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["token", "--school", SCHOOL_A.school_id, "--role", "teacher", "--state-dir", str(tmp_path)])
        == 1
    )
    assert "luca up" in capsys.readouterr().err
