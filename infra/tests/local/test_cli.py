"""The ``luca`` command line: its arguments and the example it prints (the flow itself runs in tests/e2e)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from luca_infra.cli import main
from luca_infra.cli.up import event_flow, example_event, example_flow
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.demo import SCHOOL_A, example_evaluation
from luca_infra.local.platform import PlatformState


def state(gateway_url: str = "http://127.0.0.1:8000") -> PlatformState:
    return PlatformState(
        pid=1,
        started_at="2025-03-01T10:00:00+00:00",
        region="us-east-1",
        emulator_url="http://127.0.0.1:4566",
        gateway_url=gateway_url,
        grading_rest_url="http://127.0.0.1:8080",
        grading_grpc_target="127.0.0.1:50051",
        jwks_url="http://127.0.0.1:4566/pool/.well-known/jwks.json",
        user_pool_id="pool",
        user_pool_client_id="client",
        table_name="luca-platform",
        stream_arn="arn",
        tenant_role_arn="arn",
        service_key_id="key",
        users={SCHOOL_A.school_id: {role: name for role, name in SCHOOL_A.usernames().items()}},
        access_log=".luca/access.jsonl",
        metrics_file=".luca/metrics.jsonl",
        traces_file=".luca/traces.jsonl",
        events_queue_url="http://127.0.0.1:4566/123456789012/luca-student-events",
        events_dlq_url="http://127.0.0.1:4566/123456789012/luca-student-events-dlq",
    )


def test_the_example_gets_a_token_records_a_valid_grade_and_reads_it_back() -> None:
    script = example_flow(state("http://127.0.0.1:9000"))

    lines = script.splitlines()
    assert lines[0] == f"TOKEN=$(luca token --school {SCHOOL_A.school_id} --role teacher)"
    assert "curl -sS -X POST http://127.0.0.1:9000/v1/evaluations" in script
    assert "Idempotency-Key: " in script
    body = json.loads(script.split("-d '", 1)[1].split("'", 1)[0])
    assert body == example_evaluation(SCHOOL_A)
    assert lines[-1].startswith(
        f"curl -sS http://127.0.0.1:9000/v1/students/{SCHOOL_A.student_user_id}/evaluations"
    )


def test_the_example_names_a_non_default_state_dir(tmp_path: Path) -> None:
    script = example_flow(state(), state_dir=tmp_path)
    events = event_flow(state(), state_dir=tmp_path)

    assert f"--state-dir {tmp_path}" in script.splitlines()[0]
    assert f"--state-dir {tmp_path}" in events.splitlines()[0]
    assert events.splitlines()[-1].endswith(f"--state-dir {tmp_path}")


def test_the_event_example_sends_a_students_event_and_waits_for_it_to_be_stored() -> None:
    script = event_flow(state("http://127.0.0.1:9000"))

    lines = script.splitlines()
    assert lines[0] == f"STUDENT_TOKEN=$(luca token --school {SCHOOL_A.school_id} --role student)"
    assert "curl -sS -X POST http://127.0.0.1:9000/v1/events" in script
    assert lines[-1].startswith(
        f"luca events show --school {SCHOOL_A.school_id} --student {SCHOOL_A.student_user_id} "
        '--event-id "$EVENT_ID" --wait'
    )
    # The body is the example event with the shell's values spliced in.
    body = script.split("-d '", 1)[1].rsplit("'", 1)[0]
    spliced = body.replace("'\"$EVENT_ID\"'", "EVENT_ID").replace(
        "'\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"'", "OCCURRED_AT"
    )
    assert json.loads(spliced) == example_event(SCHOOL_A)
    assert "school_id" not in body  # the school comes from the token


def test_state_round_trips_through_the_state_file(tmp_path: Path) -> None:
    written = state()
    written.write(tmp_path)

    assert PlatformState.read(tmp_path) == written


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "{up,token,events,dlq,sync,lake,trace,schools}" in capsys.readouterr().out


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """``luca up`` configures the root logger for its process; give the test process its own back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if getattr(handler, "_luca", False) and handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.usefixtures("restored_logging")
def test_up_on_a_taken_port_fails_fast_and_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]

        code = main(["up", "--port", str(port), "--emulator-port", "0", "--state-dir", str(tmp_path)])

    assert code == 1
    assert f"port {port}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags",
    [
        ["--processor-concurrency", "0"],
        ["--processor-concurrency", str(PLATFORM_DEFINITION.ingest.max_concurrency + 1)],
        ["--retry-delay", "-1"],
        ["--sync-schedule", "cron(0 6 1 1,4,7,10 * *)"],
        ["--sync-schedule", "every quarter"],
        ["--sync-retry-interval", "0"],
    ],
)
def test_up_refuses_settings_the_deployed_resources_cannot_have(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["up", *flags])

    assert exited.value.code == 2
    assert flags[0] in capsys.readouterr().err
