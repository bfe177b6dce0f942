"""Corrections, retractions, history, closed terms and assignments over REST, end to end in process:
real JWT verification, emulator-backed table. Every refusal is an RFC 9457 problem and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from grading_emulated import EmulatedGrading, build, seed_roster
from luca_grading.entrypoints.rest import create_app

pytestmark = pytest.mark.emulator

TERM = "2026-T1"


@pytest.fixture(scope="module")
def grading(emulator_endpoint: str) -> EmulatedGrading:
    built = build(emulator_endpoint)
    seed_roster(built, "school-a", {"st-1": "Ana Rojas", "st-2": "Benja Soto"})
    seed_roster(built, "school-b", {"st-9": "Zoe Bravo"})
    return built


@pytest.fixture(scope="module")
def api(grading: EmulatedGrading) -> Iterator[TestClient]:
    with TestClient(create_app(grading.container), raise_server_exceptions=False) as client:
        yield client


def headers(grading: EmulatedGrading, role: str, school: str = "school-a", **kwargs: Any) -> dict[str, str]:
    return grading.bearer(school, role, **kwargs)


def other_teacher(grading: EmulatedGrading) -> dict[str, str]:
    """A teacher of school A with no assignment at all."""
    return {
        "Authorization": "Bearer " + grading.mint.token("school-a", ["teachers"], username="teacher-nobody")
    }


def record(
    api: TestClient, grading: EmulatedGrading, score: str = "4.5", term: str = TERM, **extra: str
) -> dict[str, Any]:
    body = {
        "student_id": "st-1",
        "course_id": "1A",
        "subject_id": "math",
        "term_id": term,
        "score": score,
    } | extra
    response = api.post(
        "/v1/evaluations",
        json=body,
        headers=headers(grading, "teacher") | {"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return response.json()


def change(
    api: TestClient,
    who: dict[str, str],
    evaluation: dict[str, Any],
    body: dict[str, Any],
    *,
    if_match: str | None = '"v1"',
    key: str | None = None,
    retract: bool = False,
) -> Any:
    path = f"/v1/students/{evaluation['student_id']}/evaluations/{evaluation['evaluation_id']}"
    extra = {"Idempotency-Key": key or str(uuid.uuid4())}
    if if_match is not None:
        extra["If-Match"] = if_match
    if retract:
        return api.post(f"{path}/retraction", json=body, headers=who | extra)
    return api.patch(path, json=body, headers=who | extra)


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/" + kind), body
    return body


def student_view(api: TestClient, grading: EmulatedGrading) -> dict[str, Any]:
    response = api.get(
        "/v1/students/st-1/evaluations",
        params={"term_id": TERM},
        headers=headers(grading, "student", student_id="st-1"),
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_correction_needs_the_version_it_changes_and_returns_the_next(
    api: TestClient, grading: EmulatedGrading
) -> None:
    teacher = headers(grading, "teacher")
    recorded = record(api, grading, "4.5")
    path = f"/v1/students/st-1/evaluations/{recorded['evaluation_id']}"

    read = api.get(path, headers=teacher)
    assert (read.status_code, read.headers["etag"], read.json()["version"]) == (200, '"v1"', 1)

    problem(
        change(api, teacher, recorded, {"score": "5.4", "reason": "typo"}, if_match=None),
        428,
        "precondition-required",
    )
    stale = problem(
        change(api, teacher, recorded, {"score": "5.4", "reason": "typo"}, if_match='"v7"'),
        412,
        "version-mismatch",
    )
    assert stale["current_version"] == "1"
    problem(change(api, teacher, recorded, {"score": "5.4"}), 400, "validation")  # reason is required

    key = str(uuid.uuid4())
    fixed = change(api, teacher, recorded, {"score": "5.4", "reason": "typed 4.5 for 5.4"}, key=key)
    assert fixed.status_code == 200, fixed.text
    assert (fixed.headers["etag"], fixed.json()["score"], fixed.json()["version"]) == ('"v2"', "5.4", 2)
    again = change(api, teacher, recorded, {"score": "5.4", "reason": "typed 4.5 for 5.4"}, key=key)
    assert (again.status_code, again.headers["idempotent-replayed"], again.json()) == (
        200,
        "true",
        fixed.json(),
    )

    history = api.get(f"{path}/history", headers=teacher)
    assert history.status_code == 200
    (entry,) = history.json()["changes"]
    assert (entry["version"], entry["before"]["score"], entry["after"]["score"]) == (2, "4.5", "5.4")
    assert (entry["changed_by"], entry["reason"]) == ("teacher-school-a", "typed 4.5 for 5.4")
    assert entry["correlation_id"] == fixed.headers["x-correlation-id"]


def test_two_editors_of_one_version_one_wins_and_the_other_is_told(
    api: TestClient, grading: EmulatedGrading
) -> None:
    teacher, admin = headers(grading, "teacher"), headers(grading, "admin")
    recorded = record(api, grading, "3.0")

    first = change(api, admin, recorded, {"score": "3.5", "reason": "recount"})
    second = change(api, teacher, recorded, {"score": "6.0", "reason": "typo"})

    assert first.status_code == 200
    problem(second, 412, "version-mismatch")
    now = api.get(f"/v1/students/st-1/evaluations/{recorded['evaluation_id']}", headers=teacher).json()
    assert (now["score"], now["version"]) == ("3.5", 2)  # the winner's update, not lost, not mixed


def test_a_retracted_grade_leaves_the_views_and_averages_and_stays_in_history(
    api: TestClient, grading: EmulatedGrading
) -> None:
    teacher = headers(grading, "teacher")
    before = student_view(api, grading)
    twice = record(api, grading, "1.0")

    done = change(api, teacher, twice, {"reason": "entered twice"}, retract=True)

    assert done.status_code == 200, done.text
    assert (done.json()["retracted"], done.json()["version"]) == (True, 2)
    after = student_view(api, grading)
    assert twice["evaluation_id"] not in [e["evaluation_id"] for e in after["evaluations"]]
    assert after["averages"] == before["averages"]
    course = api.get(f"/v1/courses/1A/terms/{TERM}/grades", headers=teacher).json()
    assert twice["evaluation_id"] not in [e["evaluation_id"] for e in course["evaluations"]]
    path = f"/v1/students/st-1/evaluations/{twice['evaluation_id']}"
    problem(api.get(path, headers=headers(grading, "student", student_id="st-1")), 404, "not-found")
    problem(
        api.get(f"{path}/history", headers=headers(grading, "student", student_id="st-1")), 403, "forbidden"
    )
    history = api.get(f"{path}/history", headers=headers(grading, "admin")).json()
    assert [c["kind"] for c in history["changes"]] == ["retracted"]
    problem(
        change(api, teacher, twice, {"score": "2.0", "reason": "undo"}, if_match='"v2"'), 409, "retracted"
    )


def test_a_teacher_without_the_assignment_gets_403_on_every_route(
    api: TestClient, grading: EmulatedGrading
) -> None:
    recorded = record(api, grading, "5.0")
    nobody = other_teacher(grading)
    path = f"/v1/students/st-1/evaluations/{recorded['evaluation_id']}"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"student_id": "st-1", "course_id": "1A", "subject_id": "math", "term_id": TERM, "score": "5.0"}

    for response in (
        api.post("/v1/evaluations", json=body, headers=nobody | key),
        api.get(f"/v1/courses/1A/terms/{TERM}/grades", headers=nobody),
        api.get(f"/v1/courses/1A/terms/{TERM}/grades", params={"subject_id": "math"}, headers=nobody),
        api.get("/v1/students/st-1/evaluations", headers=nobody),
        api.get("/v1/students/st-1/behavior-profile", headers=nobody),
        api.post(
            "/v1/behavior-notes",
            json={"student_id": "st-1", "course_id": "1A", "kind": "positive", "text": "helped"},
            headers=nobody | key,
        ),
        api.get(path, headers=nobody),
        api.get(f"{path}/history", headers=nobody),
        change(api, nobody, recorded, {"score": "6.0", "reason": "x"}),
        change(api, nobody, recorded, {"reason": "x"}, retract=True),
    ):
        body_seen = problem(response, 403, "forbidden")
        assert "Ana" not in str(body_seen)
    assert api.get(path, headers=headers(grading, "teacher")).json()["version"] == 1


def test_admins_assign_and_withdraw_teachers(api: TestClient, grading: EmulatedGrading) -> None:
    admin = headers(grading, "admin")
    nobody = other_teacher(grading)
    assigned = api.put("/v1/teachers/teacher-nobody/assignments/1A/history", headers=admin)
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assigned_by"] == "admin-school-a"

    grades = api.get(f"/v1/courses/1A/terms/{TERM}/grades", headers=nobody)
    assert grades.status_code == 200
    assert {e["subject_id"] for e in grades.json()["evaluations"]} <= {"history"}
    problem(
        api.get(f"/v1/courses/1A/terms/{TERM}/grades", params={"subject_id": "math"}, headers=nobody),
        403,
        "forbidden",
    )

    problem(api.put("/v1/teachers/teacher-nobody/assignments/1A/history", headers=nobody), 403, "forbidden")
    problem(
        api.put("/v1/teachers/teacher-nobody/assignments/9Z/history", headers=admin), 404, "unknown-course"
    )
    assert api.delete("/v1/teachers/teacher-nobody/assignments/1A/history", headers=admin).status_code == 204
    problem(api.delete("/v1/teachers/teacher-nobody/assignments/1A/history", headers=admin), 404, "not-found")
    problem(api.get(f"/v1/courses/1A/terms/{TERM}/grades", headers=nobody), 403, "forbidden")


def test_another_schools_grade_is_never_shown_or_changed(api: TestClient, grading: EmulatedGrading) -> None:
    recorded = record(api, grading, "6.0")
    path = f"/v1/students/st-1/evaluations/{recorded['evaluation_id']}"
    for role in ("teacher", "admin"):
        other = headers(grading, role, school="school-b")
        for response in (
            api.get(path, headers=other),
            api.get(f"{path}/history", headers=other),
            change(api, other, recorded, {"score": "1.0", "reason": "x"}),
            change(api, other, recorded, {"reason": "x"}, retract=True),
        ):
            assert response.status_code in (403, 404), response.text
            assert recorded["evaluation_id"] not in response.text or response.status_code == 404
            assert "6.0" not in response.text
    assert api.get(path, headers=headers(grading, "teacher")).json()["version"] == 1


def test_a_closed_term_refuses_grades_and_teacher_changes_and_names_itself(
    api: TestClient, grading: EmulatedGrading
) -> None:
    teacher, admin = headers(grading, "teacher"), headers(grading, "admin")
    recorded = record(api, grading, "4.0", term="2025-T1")

    problem(api.post("/v1/terms/2025-T1/closure", headers=teacher), 403, "forbidden")
    closed = api.post("/v1/terms/2025-T1/closure", headers=admin)
    assert closed.status_code == 200, closed.text
    assert (closed.json()["closed"], closed.json()["closed_by"]) == (True, "admin-school-a")

    late = api.post(
        "/v1/evaluations",
        json={
            "student_id": "st-1",
            "course_id": "1A",
            "subject_id": "math",
            "term_id": "2025-T1",
            "score": "5.0",
        },
        headers=teacher | {"Idempotency-Key": str(uuid.uuid4())},
    )
    assert problem(late, 409, "term-closed")["term_id"] == "2025-T1"
    assert (
        problem(change(api, teacher, recorded, {"score": "5.0", "reason": "x"}), 409, "term-closed")[
            "term_id"
        ]
        == "2025-T1"
    )
    problem(change(api, teacher, recorded, {"reason": "x"}, retract=True), 409, "term-closed")

    fixed = change(api, admin, recorded, {"score": "4.2", "reason": "ministry review"})
    assert fixed.status_code == 200, fixed.text
    renamed = api.put("/v1/terms/2025-T1", json={"name": "2025 first term"}, headers=admin)
    assert (renamed.status_code, renamed.json()["closed"]) == (200, True)
    problem(api.post("/v1/terms/2099-T1/closure", headers=admin), 404, "unknown-term")
    unknown = api.post(
        "/v1/evaluations",
        json={
            "student_id": "st-1",
            "course_id": "1A",
            "subject_id": "math",
            "term_id": "2099-T1",
            "score": "5.0",
        },
        headers=teacher | {"Idempotency-Key": str(uuid.uuid4())},
    )
    problem(unknown, 404, "unknown-term")


def test_the_stored_grade_keeps_the_id_of_the_request_that_last_wrote_it(
    api: TestClient, grading: EmulatedGrading
) -> None:
    teacher = headers(grading, "teacher")
    body = {"student_id": "st-1", "course_id": "1A", "subject_id": "math", "term_id": TERM, "score": "4.0"}
    recorded = api.post(
        "/v1/evaluations",
        json=body,
        headers=teacher | {"Idempotency-Key": str(uuid.uuid4()), "X-Correlation-Id": "corr-recorded"},
    )
    assert recorded.status_code == 201, recorded.text

    def stored() -> dict[str, Any]:
        (item,) = [
            item
            for item in grading.table_items()
            if item["type"] == {"S": "Evaluation"}
            and item["evaluation_id"] == {"S": recorded.json()["evaluation_id"]}
        ]
        return item

    assert stored()["correlation_id"] == {"S": "corr-recorded"}

    corrected = change(
        api,
        teacher | {"X-Correlation-Id": "corr-corrected"},
        recorded.json(),
        {"score": "4.2", "reason": "recount"},
    )
    assert corrected.status_code == 200, corrected.text
    assert stored()["correlation_id"] == {"S": "corr-corrected"}

    retracted = change(
        api,
        teacher | {"X-Correlation-Id": "corr-retracted"},
        recorded.json(),
        {"reason": "wrong student"},
        if_match='"v2"',
        retract=True,
    )
    assert retracted.status_code == 200, retracted.text
    assert stored()["correlation_id"] == {"S": "corr-retracted"}
