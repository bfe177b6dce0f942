"""The grade lifecycle through the gateway, as a teacher app and an admin tool use it: real Cognito
tokens, the local edge, the grading service, the emulator's table."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from luca_infra.local.demo import SCHOOL_A, SCHOOL_B

if TYPE_CHECKING:
    from conftest import Auth

pytestmark = pytest.mark.e2e


def record(gateway: httpx.Client, auth: Auth, score: str = "4.5") -> dict[str, Any]:
    body = {
        "student_id": SCHOOL_A.student_user_id,
        "course_id": SCHOOL_A.course_id,
        "subject_id": next(iter(SCHOOL_A.subjects)),
        "term_id": SCHOOL_A.current_term_id,
        "score": score,
    }
    headers = auth.headers(SCHOOL_A.school_id, "teacher", **{"Idempotency-Key": str(uuid.uuid4())})
    response = gateway.post("/v1/evaluations", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_teacher_corrects_a_typo_through_the_gateway_and_a_stale_copy_loses_nothing(
    gateway: httpx.Client, auth: Auth
) -> None:
    recorded = record(gateway, auth, "4.5")
    path = f"/v1/students/{recorded['student_id']}/evaluations/{recorded['evaluation_id']}"
    teacher = auth.headers(SCHOOL_A.school_id, "teacher")
    etag = gateway.get(path, headers=teacher).headers["etag"]

    def patch(score: str, if_match: str) -> httpx.Response:
        headers = teacher | {"If-Match": if_match, "Idempotency-Key": str(uuid.uuid4())}
        return gateway.patch(path, json={"score": score, "reason": "typed it wrong"}, headers=headers)

    fixed = patch("5.4", etag)
    stale = patch("3.0", etag)

    assert fixed.status_code == 200, fixed.text
    assert fixed.headers["etag"] == '"v2"'
    assert stale.status_code == 412
    assert stale.json()["current_version"] == "2"
    assert gateway.get(path, headers=teacher).json()["score"] == "5.4"
    history = gateway.get(f"{path}/history", headers=auth.headers(SCHOOL_A.school_id, "admin")).json()
    assert [(c["before"]["score"], c["after"]["score"]) for c in history["changes"]] == [("4.5", "5.4")]


def test_a_retracted_grade_leaves_the_students_view(gateway: httpx.Client, auth: Auth) -> None:
    recorded = record(gateway, auth, "1.0")
    path = f"/v1/students/{recorded['student_id']}/evaluations/{recorded['evaluation_id']}"
    headers = auth.headers(
        SCHOOL_A.school_id, "teacher", **{"If-Match": '"v1"', "Idempotency-Key": str(uuid.uuid4())}
    )

    retracted = gateway.post(f"{path}/retraction", json={"reason": "entered twice"}, headers=headers)

    assert retracted.status_code == 200, retracted.text
    own = gateway.get(
        f"/v1/students/{recorded['student_id']}/evaluations",
        params={"term_id": SCHOOL_A.current_term_id},
        headers=auth.headers(SCHOOL_A.school_id, "student"),
    ).json()
    assert recorded["evaluation_id"] not in [e["evaluation_id"] for e in own["evaluations"]]
    assert gateway.get(path, headers=auth.headers(SCHOOL_A.school_id, "student")).status_code == 404


def test_another_schools_staff_can_neither_read_nor_change_the_grade(
    gateway: httpx.Client, auth: Auth
) -> None:
    recorded = record(gateway, auth, "6.0")
    path = f"/v1/students/{recorded['student_id']}/evaluations/{recorded['evaluation_id']}"
    for role in ("teacher", "admin"):
        other = auth.headers(SCHOOL_B.school_id, role)
        change = other | {"If-Match": '"v1"', "Idempotency-Key": str(uuid.uuid4())}
        for response in (
            gateway.get(path, headers=other),
            gateway.patch(path, json={"score": "1.0", "reason": "x"}, headers=change),
        ):
            assert response.status_code in (403, 404), response.text
            assert "6.0" not in response.text
    assert gateway.get(path, headers=auth.headers(SCHOOL_A.school_id, "teacher")).json()["version"] == 1


def test_the_demo_term_is_closed_and_refuses_new_grades(gateway: httpx.Client, auth: Auth) -> None:
    body = {
        "student_id": SCHOOL_A.student_user_id,
        "course_id": SCHOOL_A.course_id,
        "subject_id": next(iter(SCHOOL_A.subjects)),
        "term_id": SCHOOL_A.term_id,
        "score": "5.0",
    }
    headers = auth.headers(SCHOOL_A.school_id, "teacher", **{"Idempotency-Key": str(uuid.uuid4())})
    late = gateway.post("/v1/evaluations", json=body, headers=headers)
    assert late.status_code == 409
    assert (late.json()["type"].rsplit("/", 1)[-1], late.json()["term_id"]) == (
        "term-closed",
        SCHOOL_A.term_id,
    )


def test_a_cursor_replayed_by_another_school_is_refused(gateway: httpx.Client, auth: Auth) -> None:
    first = gateway.get(
        "/v1/subjects", params={"page_size": 1}, headers=auth.headers(SCHOOL_A.school_id, "admin")
    )
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    assert cursor, "school A has more than one subject"

    replayed = gateway.get(
        "/v1/subjects",
        params={"page_size": 1, "cursor": cursor},
        headers=auth.headers(SCHOOL_B.school_id, "admin"),
    )
    own = gateway.get(
        "/v1/subjects",
        params={"page_size": 1, "cursor": cursor},
        headers=auth.headers(SCHOOL_A.school_id, "admin"),
    )

    assert replayed.status_code == 400
    assert replayed.json()["type"].endswith("/invalid-cursor")
    assert own.status_code == 200
    assert own.json()["items"] != first.json()["items"]
