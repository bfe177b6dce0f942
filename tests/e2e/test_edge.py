"""The gateway in front of the real service: authorizer, correlation ids, throttling, access log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from luca_infra.local.demo import DEMO_PASSWORD, SCHOOL_A, SCHOOL_B, DemoSchool, id_token
from luca_infra.local.gateway import RateLimit
from luca_infra.local.platform import LocalPlatform
from luca_testing.polling import eventually

if TYPE_CHECKING:
    from conftest import Auth

pytestmark = pytest.mark.e2e
PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def other_pool_token(platform: LocalPlatform) -> str:
    """A genuine ID token from another user pool on the same emulator (same signing key, other issuer)."""
    cognito = platform.cognito()
    pool_id = cognito.create_user_pool(
        PoolName=f"e2e-other-{uuid.uuid4().hex[:6]}",
        Schema=[{"Name": "school_id", "AttributeDataType": "String", "Mutable": False}],
    )["UserPool"]["Id"]
    cognito.create_group(UserPoolId=pool_id, GroupName="teachers")
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="impostor", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username="impostor",
        UserAttributes=[{"Name": "custom:school_id", "Value": SCHOOL_B.school_id}],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username="impostor", Password=DEMO_PASSWORD, Permanent=True
    )
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username="impostor", GroupName="teachers")
    return id_token(cognito, pool_id, client_id, "impostor", DEMO_PASSWORD)


def other_client_token(platform: LocalPlatform) -> str:
    """A genuine ID token of a demo teacher, issued to an app client the platform does not use."""
    cognito = platform.cognito()
    pool_id = platform.resources.user_pool_id
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=f"e2e-other-{uuid.uuid4().hex[:6]}",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return id_token(cognito, pool_id, client_id, SCHOOL_A.username("teacher"), DEMO_PASSWORD)


BAD_AUTHORIZATIONS: dict[str, Callable[[LocalPlatform, Auth], str | None]] = {
    "missing": lambda _p, _a: None,
    "garbage": lambda _p, _a: "Bearer garbage",
    "not-bearer": lambda _p, a: f"Basic {a.token(SCHOOL_A.school_id, 'teacher')}",
    "expired": lambda _p, a: f"Bearer {a.expired_token(SCHOOL_A.school_id, 'teacher')}",
    "wrong-pool": lambda p, _a: f"Bearer {other_pool_token(p)}",
    "wrong-app-client": lambda p, _a: f"Bearer {other_client_token(p)}",
}


@pytest.mark.parametrize("case", list(BAD_AUTHORIZATIONS))
def test_bad_tokens_get_401_at_the_gateway(
    platform: LocalPlatform, auth: Auth, gateway: httpx.Client, case: str
) -> None:
    value = BAD_AUTHORIZATIONS[case](platform, auth)
    headers = {"Authorization": value} if value is not None else {}

    response = gateway.get(f"/v1/students/{SCHOOL_B.student_user_id}/evaluations", headers=headers)

    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert SCHOOL_B.students[0].display_name not in response.text
    assert body["correlation_id"] == response.headers["x-correlation-id"]


@pytest.mark.parametrize("case", ["expired", "wrong-pool"])
def test_the_service_refuses_the_same_tokens_itself(platform: LocalPlatform, auth: Auth, case: str) -> None:
    # Defence in depth: whatever slips past (or around) the edge meets the same checks in the service.
    token = BAD_AUTHORIZATIONS[case](platform, auth)
    assert token is not None

    response = httpx.get(
        f"{platform.grading_rest_url}/v1/students/{SCHOOL_A.student_user_id}/evaluations",
        headers={"Authorization": token},
        trust_env=False,
    )

    assert_problem(response, 401)


def test_health_and_unknown_routes(gateway: httpx.Client) -> None:
    assert gateway.get("/healthz").json() == {"status": "ok"}
    assert_problem(gateway.get("/v2/evaluations"), 404)
    assert_problem(gateway.get("/"), 404)


def test_a_correlation_id_is_minted_and_carried_to_the_service_and_back(
    auth: Auth, gateway: httpx.Client
) -> None:
    response = gateway.get(
        f"/v1/students/{SCHOOL_B.student_user_id}/evaluations",
        headers=auth.headers(SCHOOL_A.school_id, "teacher"),
    )

    minted = response.headers["x-correlation-id"]
    uuid.UUID(minted)
    # The body is the service's own problem: it saw the id the gateway minted.
    assert assert_problem(response, 404)["correlation_id"] == minted


def test_a_callers_correlation_id_is_kept_end_to_end(auth: Auth, gateway: httpx.Client) -> None:
    mine = f"e2e-{uuid.uuid4().hex}"

    response = gateway.get(
        "/v1/courses/nope/terms/2025-T1/grades",
        headers=auth.headers(SCHOOL_A.school_id, "admin", **{"X-Correlation-Id": mine}),
    )

    assert response.headers.get_list("x-correlation-id") == [mine]
    assert assert_problem(response, 404)["correlation_id"] == mine


def test_one_json_access_log_line_per_request(
    platform: LocalPlatform, auth: Auth, gateway: httpx.Client
) -> None:
    ids = {name: f"e2e-log-{name}-{uuid.uuid4().hex[:8]}" for name in ("health", "unknown", "unauth", "ok")}
    teacher = auth.headers(SCHOOL_A.school_id, "teacher", **{"User-Agent": "e2e-teacher-app/1.0"})
    gateway.get("/healthz", headers={"X-Correlation-Id": ids["health"]})
    gateway.get("/nowhere", headers={"X-Correlation-Id": ids["unknown"]})
    gateway.get("/v1/grading-rules/math", headers={"X-Correlation-Id": ids["unauth"]})
    gateway.get("/v1/grading-rules/math", headers=teacher | {"X-Correlation-Id": ids["ok"]})

    lines = [json.loads(line) for line in platform.access_log_path.read_text(encoding="utf-8").splitlines()]
    mine = {name: [line for line in lines if line["correlation_id"] == cid] for name, cid in ids.items()}

    assert {name: len(found) for name, found in mine.items()} == dict.fromkeys(ids, 1)
    assert [mine[name][0]["status"] for name in ids] == [200, 404, 401, 200]
    ok = mine["ok"][0]
    assert ok["school_id"] == SCHOOL_A.school_id
    assert ok["method"] == "GET"
    assert ok["path"] == "/v1/grading-rules/math"
    assert ok["user_agent"] == "e2e-teacher-app/1.0"
    assert ok["latency_ms"] >= ok["upstream_latency_ms"] > 0
    assert ok["requestId"]
    assert mine["unauth"][0]["school_id"] is None


def test_the_service_writes_emf_metrics_per_school(
    platform: LocalPlatform, auth: Auth, gateway: httpx.Client
) -> None:
    gateway.get("/v1/grading-rules/math", headers=auth.headers(SCHOOL_B.school_id, "teacher"))

    def written() -> bool:
        lines = platform.metrics_path.read_text(encoding="utf-8").splitlines()
        return any(
            m.get("school_id") == SCHOOL_B.school_id
            and m["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Luca/Platform"
            for m in (json.loads(line) for line in lines)
        )

    # The service writes its request metrics once a second.
    eventually(written, timeout=10, what="the school's EMF line")


def test_each_schools_bucket_is_its_enrolment_tier_from_the_one_definition(platform: LocalPlatform) -> None:
    throttling = platform.config.definition.throttling
    for school in (SCHOOL_A, SCHOOL_B):
        tier = throttling.tier_for_enrolment(school.enrolment)
        # The gateway's bucket is the tier's shape, the usage plan the school has in AWS.
        assert platform.rate_limit_for(school.school_id) == RateLimit(tier.rate, tier.burst)
    assert platform.rate_limit_for(SCHOOL_A.school_id) != platform.rate_limit_for(SCHOOL_B.school_id)


def test_a_school_over_its_bucket_gets_429_and_the_others_do_not(
    platform: LocalPlatform, auth: Auth, gateway: httpx.Client, throttled_school: DemoSchool
) -> None:
    limit = platform.rate_limit_for(throttled_school.school_id)
    flooding = auth.headers(throttled_school.school_id, "teacher")

    allowed = [
        gateway.get("/v1/grading-rules/math", headers=flooding).status_code for _ in range(limit.burst)
    ]
    throttled = gateway.get("/v1/grading-rules/math", headers=flooding)
    others = [
        gateway.get("/v1/grading-rules/math", headers=auth.headers(school, "teacher")).status_code
        for school in (SCHOOL_A.school_id, SCHOOL_B.school_id)
        for _ in range(limit.burst + 2)
    ]

    assert allowed == [200] * limit.burst
    body = assert_problem(throttled, 429)
    assert body["type"].endswith("/rate-limited")
    assert int(throttled.headers["retry-after"]) >= 1
    assert others == [200] * len(others)
    lines = [json.loads(line) for line in platform.access_log_path.read_text(encoding="utf-8").splitlines()]
    (logged,) = [line for line in lines if line["correlation_id"] == throttled.headers["x-correlation-id"]]
    assert (logged["status"], logged["school_id"]) == (429, throttled_school.school_id)
    # Counted per school, as the access log's metric filter counts them in AWS.
    metrics = [json.loads(line) for line in platform.metrics_path.read_text(encoding="utf-8").splitlines()]
    counted = [
        m for m in metrics if "ThrottledRequests" in m and m.get("school_id") == throttled_school.school_id
    ]
    assert counted, "no ThrottledRequests line for the throttled school"
    assert not [
        m for m in metrics if "ThrottledRequests" in m and m.get("school_id") != throttled_school.school_id
    ]


def test_the_state_dir_holds_the_local_artefacts(platform: LocalPlatform) -> None:
    state_dir: Path = platform.config.state_dir
    assert (state_dir / "platform.json").is_file()
    assert platform.access_log_path.is_file()
    assert platform.metrics_path.is_file()
