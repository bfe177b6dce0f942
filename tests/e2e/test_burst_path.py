"""The burst path end to end: a student's app → gateway → queue → grade processor → table.

Real Cognito tokens of the demo users, the gateway stand-in's SQS integration, the event-source
mapping's pollers and the Lambda handler in their own process, the emulator's table.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import httpx
import pytest

from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory
from luca_infra.cli.up import event_flow
from luca_infra.local.demo import SCHOOL_A, SCHOOL_B, DemoSchool
from luca_infra.local.platform import LocalPlatform, PlatformState
from luca_kernel.ids import CourseId, SchoolId, StudentId
from luca_kernel.roster import Student
from luca_platform.aws import AwsClients
from luca_platform.contracts import exercise_results
from luca_platform.contracts import roster as roster_contract
from luca_platform.table import keys
from luca_platform.table.codec import from_wire
from luca_testing.polling import eventually

if TYPE_CHECKING:
    from conftest import Auth

pytestmark = pytest.mark.e2e
PROBLEM_JSON = "application/problem+json"
# The mapping gathers for up to 5 s; an event is stored well within this.
STORED_WITHIN_SECONDS = 60.0
T = TypeVar("T")


def student_event(school: DemoSchool, student_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"evt-e2e-{uuid.uuid4()}",
        "student_id": student_id or school.student_user_id,
        "course_id": school.course_id,
        "subject_id": "math",
        "occurred_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "schema_version": 1,
        "exercise_submission": {
            "exercise_id": "ex-e2e",
            "answers": {"items": [{"question_id": f"q{n}", "correct": n != 3} for n in range(1, 5)]},
        },
    }
    body.update(overrides)
    return body


def stored_result(
    platform: LocalPlatform, school_id: str, student_id: str, event_id: str
) -> dict[str, Any] | None:
    dynamodb = boto3.client(
        "dynamodb", region_name=platform.resources.region, endpoint_url=platform.emulator_url
    )
    item = dynamodb.get_item(
        TableName=platform.resources.table_name,
        Key={
            keys.TABLE_PARTITION_KEY: {"S": roster_contract.student_pk(school_id, student_id)},
            keys.TABLE_SORT_KEY: {"S": exercise_results.exercise_result_sk(event_id)},
        },
    ).get("Item")
    return from_wire(item) if item else None


def stored_soon(probe: Callable[[], T | None], what: str) -> T:
    return eventually(probe, timeout=STORED_WITHIN_SECONDS, interval=0.25, what=what)


def test_a_students_event_is_accepted_and_shortly_graded_and_stored(
    platform: LocalPlatform, auth: Auth, gateway: httpx.Client
) -> None:
    event = student_event(SCHOOL_A)

    response = gateway.post("/v1/events", json=event, headers=auth.headers(SCHOOL_A.school_id, "student"))

    assert response.status_code == 202, response.text
    assert response.json() == {"event_ids": [event["event_id"]]}
    stored = stored_soon(
        lambda: stored_result(platform, SCHOOL_A.school_id, event["student_id"], event["event_id"]),
        "the event is stored",
    )
    assert stored["type"] == "ExerciseResult"
    assert (stored["school_id"], stored["course_id"], stored["subject_id"]) == (
        SCHOOL_A.school_id,
        SCHOOL_A.course_id,
        "math",
    )
    assert (stored["answers_correct"], stored["answers_total"]) == (3, 4)
    # The id minted at the edge travelled with the message to the stored result.
    assert stored["correlation_id"] == response.headers["x-correlation-id"]


def test_a_batch_of_events_is_stored_one_result_per_event(
    platform: LocalPlatform, auth: Auth, gateway: httpx.Client
) -> None:
    # A teacher's classroom device sends the whole class's submissions: its token names no student.
    events = [student_event(SCHOOL_B, student.student_id) for student in SCHOOL_B.students]

    response = gateway.post(
        "/v1/events/batch", json={"events": events}, headers=auth.headers(SCHOOL_B.school_id, "teacher")
    )

    assert response.status_code == 202, response.text
    assert response.json() == {"event_ids": [e["event_id"] for e in events]}
    for event in events:
        stored = stored_soon(
            lambda event=event: stored_result(
                platform, SCHOOL_B.school_id, event["student_id"], event["event_id"]
            ),
            f"event {event['event_id']} is stored",
        )
        assert stored["school_id"] == SCHOOL_B.school_id


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("names a school", student_event(SCHOOL_A, school_id=SCHOOL_B.school_id)),
        ("no student", {k: v for k, v in student_event(SCHOOL_A).items() if k != "student_id"}),
        ("no submission", {k: v for k, v in student_event(SCHOOL_A).items() if k != "exercise_submission"}),
    ],
)
def test_a_bad_body_is_a_400_at_the_edge(
    auth: Auth, gateway: httpx.Client, case: str, body: dict[str, Any]
) -> None:
    response = gateway.post("/v1/events", json=body, headers=auth.headers(SCHOOL_A.school_id, "student"))

    assert response.status_code == 400, f"{case}: {response.text}"
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"].endswith("/validation")


def test_an_event_without_a_token_is_a_401(gateway: httpx.Client) -> None:
    response = gateway.post("/v1/events", json=student_event(SCHOOL_A))

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_school_a_token_cannot_make_an_event_land_in_school_b(
    platform: LocalPlatform, auth: Auth, gateway: httpx.Client
) -> None:
    # GIVEN a student id enrolled in both schools, in the course and subject the event names
    shared = f"st-shared-{uuid.uuid4().hex[:8]}"
    factory = DynamoRepositoryFactory(
        clients=AwsClients(region=platform.resources.region, endpoint_url=platform.emulator_url),
        table_name=platform.resources.table_name,
    )
    for school in (SCHOOL_A, SCHOOL_B):
        factory.for_school(SchoolId(school.school_id)).put_student(
            Student(SchoolId(school.school_id), StudentId(shared), CourseId(SCHOOL_A.course_id), shared)
        )
    event = student_event(SCHOOL_A, shared)
    headers = auth.headers(SCHOOL_A.school_id, "teacher") | {"X-School-Id": SCHOOL_B.school_id}

    # WHEN school A's classroom app sends it (claiming school B in a header), and then in the body
    accepted = gateway.post("/v1/events", json=event, headers=headers)
    refused = gateway.post(
        "/v1/events",
        json={**event, "event_id": f"{event['event_id']}-b", "school_id": SCHOOL_B.school_id},
        headers=headers,
    )

    # THEN it is stored for school A only: the school came from the token
    assert accepted.status_code == 202, accepted.text
    assert refused.status_code == 400
    stored = stored_soon(
        lambda: stored_result(platform, SCHOOL_A.school_id, shared, event["event_id"]), "the event is stored"
    )
    assert stored["school_id"] == SCHOOL_A.school_id
    assert stored_result(platform, SCHOOL_B.school_id, shared, event["event_id"]) is None


def test_a_students_token_cannot_submit_for_a_classmate(
    platform: LocalPlatform, auth: Auth, gateway: httpx.Client
) -> None:
    classmate = next(s.student_id for s in SCHOOL_A.students if s.student_id != SCHOOL_A.student_user_id)
    own, theirs = student_event(SCHOOL_A), student_event(SCHOOL_A, classmate)
    headers = auth.headers(SCHOOL_A.school_id, "student")

    refused = gateway.post("/v1/events/batch", json={"events": [own, theirs]}, headers=headers)
    accepted = gateway.post("/v1/events", json={**own, "event_id": f"{own['event_id']}-own"}, headers=headers)

    assert refused.status_code == 403, refused.text
    assert refused.json()["event_ids"] == [theirs["event_id"]]
    assert accepted.status_code == 202, accepted.text
    # Once the student's own later event is stored, the refused request has left nothing behind.
    stored_soon(
        lambda: stored_result(platform, SCHOOL_A.school_id, own["student_id"], f"{own['event_id']}-own"),
        "the student's own event is stored",
    )
    assert stored_result(platform, SCHOOL_A.school_id, classmate, theirs["event_id"]) is None
    assert stored_result(platform, SCHOOL_A.school_id, own["student_id"], own["event_id"]) is None


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash"
)
def test_the_printed_event_example_works_when_pasted_into_a_shell(
    platform: LocalPlatform, state_dir: Path
) -> None:
    luca = Path(sys.executable).with_name("luca")
    script = event_flow(PlatformState.read(state_dir), command=str(luca), state_dir=state_dir)

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stderr
    assert '"event_ids"' in result.stdout  # the edge's 202
    assert "exercise results stored for demo-school-a" in result.stdout  # read back by `luca events show`
    assert SCHOOL_A.student_user_id in result.stdout
