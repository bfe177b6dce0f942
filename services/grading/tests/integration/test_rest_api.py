"""The REST API end to end in process: real JWT verification, emulator-backed table.

Every failure must be a 4xx RFC 9457 problem and leave the table as it was.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from grading_emulated import EmulatedGrading
from luca_grading.entrypoints.rest import create_app

pytestmark = pytest.mark.emulator

GRADE = {"student_id": "st-1", "course_id": "1A", "subject_id": "math", "term_id": "2026-T1", "score": 6.5}


@pytest.fixture(scope="module")
def api(grading: EmulatedGrading) -> Iterator[TestClient]:
    with TestClient(create_app(grading.container), raise_server_exceptions=False) as client:
        yield client


def post_grade(api: TestClient, headers: dict[str, str], body: Any = None, key: str | None = None) -> Any:
    return api.post(
        "/v1/evaluations",
        json=GRADE if body is None else body,
        headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )


def assert_problem(response: Any, status: int, kind: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    if kind:
        assert body["type"].endswith("/" + kind), body
    return body


def test_a_teacher_records_a_grade_and_reads_it_back(api: TestClient, grading: EmulatedGrading) -> None:
    teacher = grading.bearer("school-a", "teacher")
    created = post_grade(api, teacher)
    assert created.status_code == 201, created.text
    assert created.json()["score"] == "6.5"
    assert created.headers["x-correlation-id"]

    listed = api.get("/v1/students/st-1/evaluations", params={"term_id": "2026-T1"}, headers=teacher)
    assert listed.status_code == 200
    ids = [e["evaluation_id"] for e in listed.json()["evaluations"]]
    assert created.json()["evaluation_id"] in ids
    assert listed.json()["averages"][0]["subject_id"] == "math"


def test_a_retry_with_the_same_idempotency_key_replays_without_writing(
    api: TestClient, grading: EmulatedGrading
) -> None:
    teacher = grading.bearer("school-a", "teacher")
    key = str(uuid.uuid4())
    first = post_grade(api, teacher, key=key)
    before = len(grading.table_items())
    again = post_grade(api, teacher, key=key)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(grading.table_items()) == before

    reused = post_grade(api, teacher, body={**GRADE, "score": 2.0}, key=key)
    assert_problem(reused, 422, "idempotency-key-reused")


def test_a_supplied_correlation_id_is_kept_and_a_bad_one_replaced(
    api: TestClient, grading: EmulatedGrading
) -> None:
    teacher = grading.bearer("school-a", "teacher")
    kept = api.get("/v1/grading-rules/math", headers={**teacher, "X-Correlation-Id": "abc-123"})
    assert kept.headers["x-correlation-id"] == "abc-123"
    replaced = api.get("/v1/grading-rules/math", headers={**teacher, "X-Correlation-Id": "bad id\twith junk"})
    assert replaced.headers["x-correlation-id"] != "bad id\twith junk"


BAD_BODIES = [
    pytest.param({**GRADE, "score": 7.5}, 422, "score-out-of-scale", id="score above the scale"),
    pytest.param({**GRADE, "score": 0}, 422, "score-out-of-scale", id="score below the scale"),
    pytest.param({**GRADE, "score": 5.55}, 400, "validation", id="too many decimals"),
    pytest.param({**GRADE, "student_id": "st-404"}, 404, "unknown-student", id="unknown student"),
    pytest.param({**GRADE, "subject_id": "alchemy"}, 404, "unknown-subject", id="unknown subject"),
    pytest.param({k: v for k, v in GRADE.items() if k != "score"}, 400, "validation", id="missing field"),
    pytest.param({**GRADE, "school_id": "school-b"}, 400, "validation", id="extra field naming a school"),
    pytest.param({**GRADE, "score": "six"}, 400, "validation", id="wrong type"),
    pytest.param({**GRADE, "score": True}, 400, "validation", id="boolean score"),
    pytest.param({**GRADE, "score": "NaN"}, 400, "validation", id="not a number"),
    pytest.param({**GRADE, "student_id": "SCHOOL#b#STUDENT#1"}, 400, "validation", id="key injection"),
    pytest.param([GRADE], 400, "validation", id="array instead of object"),
]


@pytest.mark.parametrize(("body", "status", "kind"), BAD_BODIES)
def test_bad_grades_get_a_problem_and_write_nothing(
    api: TestClient, grading: EmulatedGrading, body: Any, status: int, kind: str
) -> None:
    before = len(grading.table_items())
    response = post_grade(api, grading.bearer("school-a", "teacher"), body=body)
    assert_problem(response, status, kind)
    assert len(grading.table_items()) == before


def test_transport_level_bad_input_gets_problems(api: TestClient, grading: EmulatedGrading) -> None:
    teacher = {**grading.bearer("school-a", "teacher"), "Idempotency-Key": str(uuid.uuid4())}
    malformed = api.post(
        "/v1/evaluations",
        content=b'{"student_id": "st-1",',
        headers={**teacher, "Content-Type": "application/json"},
    )
    assert_problem(malformed, 400, "malformed-json")
    wrong_type = api.post(
        "/v1/evaluations", content=json.dumps(GRADE), headers={**teacher, "Content-Type": "text/plain"}
    )
    assert_problem(wrong_type, 415, "unsupported-media-type")
    huge = api.post("/v1/evaluations", json={**GRADE, "description": "x" * 40_000}, headers=teacher)
    assert_problem(huge, 413, "content-too-large")
    assert_problem(api.get("/v1/nowhere", headers=teacher), 404, "not-found")
    wrong_method = api.delete("/v1/evaluations", headers=teacher)
    assert_problem(wrong_method, 405, "method-not-allowed")
    assert "POST" in {
        m.strip() for m in wrong_method.headers["allow"].split(",")
    }  # RFC 9110: 405 says what is
    no_key = api.post("/v1/evaluations", json=GRADE, headers=grading.bearer("school-a", "teacher"))
    assert "Idempotency-Key" in assert_problem(no_key, 400, "validation")["detail"]


def test_a_405_allows_every_method_of_a_two_method_path(api: TestClient, grading: EmulatedGrading) -> None:
    # GET and PUT are two FastAPI routes: Starlette's own 405 would name only the first.
    wrong_method = api.delete("/v1/grading-rules/math", headers=grading.bearer("school-a", "admin"))

    assert_problem(wrong_method, 405, "method-not-allowed")
    assert {m.strip() for m in wrong_method.headers["allow"].split(",")} == {"GET", "PUT"}


def test_a_body_that_is_not_utf8_is_malformed_json(api: TestClient, grading: EmulatedGrading) -> None:
    teacher = {**grading.bearer("school-a", "teacher"), "Idempotency-Key": str(uuid.uuid4())}

    garbled = api.post(
        "/v1/evaluations", content=b"\xff\xfe{\x01", headers={**teacher, "Content-Type": "application/json"}
    )

    assert_problem(garbled, 400, "malformed-json")


@pytest.mark.parametrize(
    "query",
    ["term_id=", "subject_id=&term_id=2026-T1", "term_id=2026-T1&subject_id="],
)
def test_an_empty_query_value_is_a_400_not_an_absent_filter(
    api: TestClient, grading: EmulatedGrading, query: str
) -> None:
    teacher = grading.bearer("school-a", "teacher")

    found = api.get(f"/v1/students/st-1/evaluations?{query}", headers=teacher)

    assert_problem(found, 400, "validation")


def test_an_empty_subject_filter_on_the_course_view_is_a_400(
    api: TestClient, grading: EmulatedGrading
) -> None:
    found = api.get(
        "/v1/courses/1A/terms/2026-T1/grades?subject_id=", headers=grading.bearer("school-a", "teacher")
    )

    assert_problem(found, 400, "validation")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no token"),
        pytest.param({"Authorization": "Bearer not-a-jwt"}, id="garbage"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="wrong scheme"),
    ],
)
def test_requests_without_a_valid_token_are_401(api: TestClient, headers: dict[str, str]) -> None:
    response = api.get("/v1/students/st-1/evaluations", headers=headers)
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"exp": 1_000_000}, id="expired"),
        pytest.param({"aud": "another-client"}, id="another app client"),
        pytest.param(
            {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}, id="another pool"
        ),
        pytest.param({"token_use": "access"}, id="access token"),
    ],
)
def test_tokens_not_issued_for_this_app_are_401(
    api: TestClient, grading: EmulatedGrading, overrides: dict[str, Any]
) -> None:
    token = grading.mint.token("school-a", ["teachers"], **overrides)
    assert_problem(api.get("/v1/grading-rules/math", headers={"Authorization": f"Bearer {token}"}), 401)


def test_a_token_signed_by_another_key_is_401(api: TestClient, grading: EmulatedGrading) -> None:
    from grading_emulated import TokenMint

    forged = TokenMint(kid=grading.mint.kid).token("school-b", ["admins"])
    assert_problem(api.get("/v1/grading-rules/math", headers={"Authorization": f"Bearer {forged}"}), 401)


def test_a_token_without_a_school_is_401(api: TestClient, grading: EmulatedGrading) -> None:
    token = grading.mint.token(None, ["teachers"])
    assert_problem(api.get("/v1/grading-rules/math", headers={"Authorization": f"Bearer {token}"}), 401)


CROSS_SCHOOL_READS = [
    "/v1/students/st-9/evaluations",
    "/v1/students/st-9/evaluations?term_id=2026-T1",
    "/v1/students/st-9/behavior-profile",
]


@pytest.mark.parametrize("path", CROSS_SCHOOL_READS)
def test_a_school_a_teacher_cannot_read_school_b(
    api: TestClient, grading: EmulatedGrading, path: str
) -> None:
    b_teacher = grading.bearer("school-b", "teacher")
    assert post_grade(api, b_teacher, body={**GRADE, "student_id": "st-9"}).status_code == 201

    response = api.get(path, headers=grading.bearer("school-a", "teacher"))

    assert response.status_code in (403, 404)
    assert "Zoe" not in response.text
    assert "school-b" not in response.text


def test_a_school_a_teacher_cannot_write_to_school_b(api: TestClient, grading: EmulatedGrading) -> None:
    a_teacher = grading.bearer("school-a", "teacher")
    before = [i for i in grading.table_items() if i["school_id"]["S"] == "school-b"]
    response = post_grade(api, a_teacher, body={**GRADE, "student_id": "st-9"})
    note = api.post(
        "/v1/behavior-notes",
        json={"student_id": "st-9", "course_id": "1A", "kind": "negative", "text": "x"},
        headers={**a_teacher, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 404
    assert note.status_code == 404
    assert [i for i in grading.table_items() if i["school_id"]["S"] == "school-b"] == before


def test_a_forged_school_header_changes_nothing(api: TestClient, grading: EmulatedGrading) -> None:
    headers = {**grading.bearer("school-a", "teacher"), "X-School-Id": "school-b"}
    response = api.get("/v1/students/st-9/evaluations", headers=headers)
    assert response.status_code == 404


def test_roles(api: TestClient, grading: EmulatedGrading) -> None:
    student = grading.bearer("school-a", "student", student_id="st-1")
    assert api.get("/v1/students/st-1/evaluations", headers=student).status_code == 200
    assert_problem(api.get("/v1/students/st-2/evaluations", headers=student), 403, "forbidden")
    assert_problem(post_grade(api, student), 403, "forbidden")
    assert_problem(api.get("/v1/courses/1A/terms/2026-T1/grades", headers=student), 403)
    rule = {"scale": "percentage", "passing_grade": "60", "decimals": 0}
    assert_problem(
        api.put("/v1/grading-rules/math", json=rule, headers=grading.bearer("school-a", "teacher")), 403
    )
    assert (
        api.put(
            "/v1/grading-rules/history", json=rule, headers=grading.bearer("school-a", "admin")
        ).status_code
        == 200
    )


def test_the_course_view_and_behavior_profile(api: TestClient, grading: EmulatedGrading) -> None:
    teacher = grading.bearer("school-a", "teacher")
    post_grade(api, teacher, body={**GRADE, "student_id": "st-2", "score": 3.5})
    grades = api.get("/v1/courses/1A/terms/2026-T1/grades", headers=teacher)
    assert grades.status_code == 200
    assert {a["student_id"] for a in grades.json()["averages"]} >= {"st-1", "st-2"}

    note = api.post(
        "/v1/behavior-notes",
        json={"student_id": "st-2", "course_id": "1A", "kind": "positive", "text": "Great lab report"},
        headers={**teacher, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert note.status_code == 201
    profile = api.get("/v1/students/st-2/behavior-profile", headers=teacher).json()
    assert profile["positive_count"] >= 1


def test_each_interactive_request_emits_emf_with_the_school(
    api: TestClient, grading: EmulatedGrading
) -> None:
    grading.container.metrics.flush()  # lines are otherwise written once a second
    before = len(grading.metrics.getvalue())
    api.get("/v1/grading-rules/math", headers=grading.bearer("school-a", "teacher"))
    grading.container.metrics.flush()
    (last,) = [json.loads(line) for line in grading.metrics.getvalue()[before:].strip().splitlines()]
    assert last["route"] == "/v1/grading-rules/{subject_id}"
    series = {
        (tuple(sorted(dimensions)), metric["Name"])
        for directive in last["_aws"]["CloudWatchMetrics"]
        for dimensions in directive["Dimensions"]
        for metric in directive["Metrics"]
    }
    assert {d["Namespace"] for d in last["_aws"]["CloudWatchMetrics"]} == {"Luca/Platform"}
    assert series == {
        # Per school, for its p95 alarm and the dashboards: the latency alone (its SampleCount is
        # the count), so a school costs one custom metric.
        (("school_id", "service"), "InteractiveRequestLatency"),
        # Platform-wide, for the all-schools p95 alarm.
        (("service",), "InteractiveRequestLatency"),
        (("service",), "InteractiveRequestCount"),
    }
    assert last["school_id"] == "school-a"
    assert last["InteractiveRequestCount"] == [1.0]


def test_a_service_identity_acts_only_for_the_school_it_names(
    api: TestClient, grading: EmulatedGrading
) -> None:
    token = grading.service_tokens.token_for("school-a")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/v1/students/st-1/evaluations", headers=headers).status_code == 200
    assert api.get("/v1/students/st-9/evaluations", headers=headers).status_code == 404
    assert_problem(api.put("/v1/grading-rules/math", json={"passing_grade": "4"}, headers=headers), 403)
    long_lived = grading.service_tokens.token_for("school-a", lifetime_seconds=86_400)
    assert_problem(api.get("/v1/grading-rules/math", headers={"Authorization": f"Bearer {long_lived}"}), 401)
