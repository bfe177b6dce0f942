"""The platform recovers from a killed child: each child process (grading, analytics, grade processor,
gateway) is SIGKILLed, the restart is logged, and requests work again on the same address. While the
grading service is down the gateway answers 503 with Retry-After; an event accepted while the grade
processor is down is stored once it is back.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest

from luca_infra.local.demo import SCHOOL_A
from luca_infra.local.event_source import EventSourceMapping
from luca_infra.local.platform import LocalPlatform
from luca_infra.local.supervisor import Backoff, SupervisedChild
from luca_platform.contracts import exercise_results
from luca_platform.contracts import roster as roster_contract
from luca_platform.table import keys
from luca_testing.polling import eventually

if TYPE_CHECKING:
    from conftest import Auth

pytestmark = pytest.mark.e2e

PROBLEM_JSON = "application/problem+json"
STORED_WITHIN_SECONDS = 60.0
# How long the event-source runner's long poll waits (its mapping's default, which the platform uses).
LONG_POLL_SECONDS: int = EventSourceMapping.__dataclass_fields__["poll_wait_seconds"].default


def student_event() -> dict[str, Any]:
    return {
        "event_id": f"evt-supervision-{uuid.uuid4()}",
        "student_id": SCHOOL_A.student_user_id,
        "course_id": SCHOOL_A.course_id,
        "subject_id": "math",
        "occurred_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "schema_version": 1,
        "exercise_submission": {
            "exercise_id": "ex-supervision",
            "answers": {"items": [{"question_id": "q1", "correct": True}]},
        },
    }


def stored(platform: LocalPlatform, event: dict[str, Any]) -> bool:
    dynamodb = boto3.client(
        "dynamodb", region_name=platform.resources.region, endpoint_url=platform.emulator_url
    )
    key = {
        keys.TABLE_PARTITION_KEY: {"S": roster_contract.student_pk(SCHOOL_A.school_id, event["student_id"])},
        keys.TABLE_SORT_KEY: {"S": exercise_results.exercise_result_sk(event["event_id"])},
    }
    return "Item" in dynamodb.get_item(TableName=platform.resources.table_name, Key=key)


@pytest.fixture
def supervisor_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="luca.local.supervisor")
    return caplog


def kill(child: SupervisedChild) -> int:
    pid = child.process.pid
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: not child.up, timeout=10, what=f"{child.name} to die")
    return pid


def recovered(child: SupervisedChild, restarts: int) -> None:
    eventually(lambda: child.restarts == restarts and child.up, timeout=90, interval=0.2, what="the restart")


def crash_logged(caplog: pytest.LogCaptureFixture, name: str, pid: int) -> logging.LogRecord:
    return next(
        r
        for r in caplog.records
        if r.levelno == logging.ERROR and r.__dict__.get("child") == name and r.__dict__.get("pid") == pid
    )


def own_grades(platform: LocalPlatform, auth: Auth, gateway: httpx.Client) -> httpx.Response:
    return gateway.get(
        f"/v1/students/{SCHOOL_A.student_user_id}/evaluations",
        headers=auth.headers(SCHOOL_A.school_id, "teacher"),
    )


@pytest.mark.parametrize("name", ["grading", "analytics", "gateway"])
def test_a_killed_service_is_restarted_on_the_same_address(
    name: str,
    platform: LocalPlatform,
    auth: Auth,
    gateway: httpx.Client,
    supervisor_log: pytest.LogCaptureFixture,
) -> None:
    child = platform.children[name]
    ports, restarts = dict(child.ports), child.restarts

    pid = kill(child)
    if name == "grading":
        down = own_grades(platform, auth, gateway)
        # The service is down and nothing restarts it before the backoff: the gateway says so.
        assert down.status_code == 503, down.text
        assert down.headers["content-type"].startswith(PROBLEM_JSON)
        assert int(down.headers["retry-after"]) >= 1
        assert down.json()["type"].endswith("upstream-unavailable")

    recovered(child, restarts + 1)
    assert child.process.ports == ports
    crash = crash_logged(supervisor_log, child.name, pid)
    assert crash.__dict__["signal"] == "SIGKILL"
    assert own_grades(platform, auth, gateway).status_code == 200
    if name == "analytics":
        report = gateway.get(
            "/v1/analytics/subject-averages",
            params={"term_id": "2025-T1"},
            headers=auth.headers(SCHOOL_A.school_id, "admin"),
        )
        assert report.status_code == 200, report.text


def test_an_event_accepted_while_the_processor_is_down_is_stored_when_it_is_back(
    platform: LocalPlatform, auth: Auth, gateway: httpx.Client, supervisor_log: pytest.LogCaptureFixture
) -> None:
    processor = platform.children[platform.config.definition.ingest.function_name]
    restarts, backoff = processor.restarts, processor.backoff
    # A longer first delay, so the event is surely accepted while nothing polls the queue.
    processor.backoff = Backoff(initial=8, maximum=8)
    try:
        pid = kill(processor)
        # The dead poller's last long poll is still open in the emulator: an event sent now would be
        # handed to it and stay invisible for the queue's whole visibility timeout.
        time.sleep(LONG_POLL_SECONDS + 0.5)
        event = student_event()
        accepted = gateway.post("/v1/events", json=event, headers=auth.headers(SCHOOL_A.school_id, "student"))
        assert accepted.status_code == 202, accepted.text
        assert not processor.up  # accepted while the processor was down
    finally:
        processor.backoff = backoff

    recovered(processor, restarts + 1)
    crash_logged(supervisor_log, processor.name, pid)
    eventually(
        lambda: stored(platform, event),
        timeout=STORED_WITHIN_SECONDS,
        interval=0.25,
        what="the event's result",
    )
