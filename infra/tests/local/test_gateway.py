"""The gateway stand-in against a fake upstream: authorizer, routing, headers, throttling, access log."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from luca_infra.local.gateway import AccessLog, Gateway, GatewaySettings, RateLimit, ServedGateway
from luca_platform.tokens import CognitoTokenVerifier

if TYPE_CHECKING:
    from conftest import FakeUpstream, Mint

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def access_log_path(tmp_path: Path) -> Path:
    return tmp_path / "access.jsonl"


def build(
    verifier: CognitoTokenVerifier,
    upstream: FakeUpstream,
    access_log_path: Path,
    **settings: Any,
) -> Gateway:
    return Gateway(
        GatewaySettings(upstream_url="http://grading.test", access_log_stdout=False, **settings),
        verifier=verifier,
        transport=httpx.ASGITransport(app=upstream.app),
        access_log=AccessLog(path=access_log_path, stdout=False),
    )


@contextlib.contextmanager
def serve(gateway: Gateway) -> Iterator[httpx.Client]:
    """The gateway on uvicorn on a free port, and a client for it."""
    served = ServedGateway(gateway, port=0)
    url = served.start()
    try:
        with httpx.Client(base_url=url, timeout=10, trust_env=False) as http:
            yield http
    finally:
        served.stop()


@pytest.fixture
def client(
    verifier: CognitoTokenVerifier, upstream: FakeUpstream, access_log_path: Path
) -> Iterator[httpx.Client]:
    with serve(build(verifier, upstream, access_log_path)) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def access_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://errors.luca.school/")
    assert body["title"]
    assert body["detail"]
    assert body["correlation_id"] == response.headers["x-correlation-id"]
    return body


# -- routing --------------------------------------------------------------------------------------------
def test_health_needs_no_token(client: httpx.Client, upstream: FakeUpstream) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert not upstream.requests


@pytest.mark.parametrize("path", ["/", "/v2/evaluations", "/v1evaluations", "/admin"])
def test_routes_outside_v1_are_404_problems_without_reaching_upstream(
    client: httpx.Client, upstream: FakeUpstream, mint: Mint, path: str
) -> None:
    response = client.get(path, headers=bearer(mint.token()))

    body = assert_problem(response, 404)
    assert body["instance"] == path
    assert not upstream.requests


def test_a_path_no_route_can_match_is_a_not_found_problem(
    client: httpx.Client, upstream: FakeUpstream, mint: Mint
) -> None:
    # A line break in the path: Starlette's catch-all path convertor never spans it.
    response = client.get("/v1/terms/a%0Ab/closure", headers=bearer(mint.token()))

    body = assert_problem(response, 404)
    assert body["type"].endswith("/not-found")
    assert not upstream.requests


def test_a_valid_token_reaches_the_upstream_with_path_query_method_and_body(
    client: httpx.Client, upstream: FakeUpstream, mint: Mint
) -> None:
    token = mint.token()
    payload = json.dumps({"student_id": "st-1", "score": "6.5"}).encode()
    headers = bearer(token) | {"Idempotency-Key": "k-12345678", "Content-Type": "application/json"}

    response = client.post("/v1/evaluations?dry=1&x=a%20b", content=payload, headers=headers)

    assert response.status_code == 200
    seen = upstream.requests[-1]
    assert (seen["method"], seen["path"], seen["query"]) == ("POST", "/v1/evaluations", "dry=1&x=a%20b")
    headers = dict(seen["headers"])
    # The service verifies the token again itself: it must arrive untouched.
    assert headers["authorization"] == f"Bearer {token}"
    assert headers["idempotency-key"] == "k-12345678"
    assert headers["content-type"] == "application/json"
    assert seen["body_sha"] == hashlib.sha256(payload).hexdigest()


# -- authorizer -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, "Bearer"),
        ({"Authorization": "Bearer"}, 'Bearer error="invalid_token"'),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 'Bearer error="invalid_token"'),
        ({"Authorization": "Bearer not-a-jwt"}, 'Bearer error="invalid_token"'),
        ({"Authorization": "Bearer a.b.c"}, 'Bearer error="invalid_token"'),
    ],
)
def test_missing_or_garbage_tokens_get_401_with_a_bearer_challenge(
    client: httpx.Client, upstream: FakeUpstream, headers: dict[str, str], challenge: str
) -> None:
    response = client.get("/v1/students/st-1/evaluations", headers=headers)

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == challenge
    assert not upstream.requests


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, id="expired"),
        pytest.param({"aud": "another-app-client"}, id="other-client"),
        pytest.param({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}, id="other-pool"),
        pytest.param({"token_use": "access"}, id="access-token"),
        pytest.param({"custom:school_id": None}, id="no-school"),
    ],
)
def test_tokens_the_authorizer_must_refuse(
    client: httpx.Client, upstream: FakeUpstream, mint: Mint, overrides: dict[str, Any]
) -> None:
    response = client.get("/v1/students/st-1/evaluations", headers=bearer(mint.token(**overrides)))

    assert_problem(response, 401)
    assert not upstream.requests


def test_a_token_signed_by_another_key_is_refused(
    client: httpx.Client, upstream: FakeUpstream, impostor: Mint
) -> None:
    response = client.get("/v1/students/st-1/evaluations", headers=bearer(impostor.token()))

    assert_problem(response, 401)
    assert not upstream.requests


# -- headers --------------------------------------------------------------------------------------------
def test_correlation_id_is_minted_forwarded_and_returned(
    client: httpx.Client, upstream: FakeUpstream, mint: Mint
) -> None:
    response = client.get("/v1/students/st-1/evaluations", headers=bearer(mint.token()))

    minted = response.headers["x-correlation-id"]
    assert len(minted) >= 32
    assert dict(upstream.requests[-1]["headers"])["x-correlation-id"] == minted
    # The upstream's own copy is replaced, never duplicated.
    assert response.headers.get_list("x-correlation-id") == [minted]
    assert response.headers["x-request-id"]


def test_a_sane_incoming_correlation_id_is_kept(
    client: httpx.Client, upstream: FakeUpstream, mint: Mint
) -> None:
    response = client.get(
        "/v1/students/st-1/evaluations",
        headers=bearer(mint.token()) | {"X-Correlation-Id": "class-4b.req_17"},
    )

    assert response.headers["x-correlation-id"] == "class-4b.req_17"
    assert dict(upstream.requests[-1]["headers"])["x-correlation-id"] == "class-4b.req_17"


@pytest.mark.parametrize("incoming", ["has spaces", "x" * 200, "new\\nline", "<script>"])
def test_an_unsafe_correlation_id_is_replaced(client: httpx.Client, mint: Mint, incoming: str) -> None:
    response = client.get("/v1/x", headers=bearer(mint.token()) | {"X-Correlation-Id": incoming})

    assert response.headers["x-correlation-id"] != incoming


def test_tenant_claims_and_hop_by_hop_headers_never_reach_the_upstream(
    client: httpx.Client, upstream: FakeUpstream, mint: Mint
) -> None:
    forged = {
        "X-School-Id": "school-b",
        "X-School": "school-b",
        "X-Luca-School-Id": "school-b",
        "X-Luca-Principal": "admin",
        "X-Amzn-Oidc-Identity": "someone-else",
        "X-Forwarded-For": "10.9.9.9",
        "X-Request-Id": "forged",
        "Connection": "keep-alive, X-Custom-Hop",
        "X-Custom-Hop": "1",
        "Proxy-Authorization": "Basic eA==",
        "TE": "trailers",
        "X-Kept": "yes",
    }

    response = client.get("/v1/students/st-1/evaluations", headers=bearer(mint.token("school-a")) | forged)

    assert response.status_code == 200
    names = [name for name, _ in upstream.requests[-1]["headers"]]
    for dropped in (
        "x-school-id",
        "x-school",
        "x-luca-school-id",
        "x-luca-principal",
        "x-amzn-oidc-identity",
        "x-request-id",
        "x-custom-hop",
        "proxy-authorization",
        "te",
    ):
        assert dropped not in names, dropped
    headers = dict(upstream.requests[-1]["headers"])
    # The gateway's own connection to the service has its own Connection header, not the caller's.
    assert "x-custom-hop" not in headers.get("connection", "").lower()
    assert headers["x-kept"] == "yes"
    assert headers["x-forwarded-for"] == "127.0.0.1"  # the edge's view of the caller, not the caller's claim


def test_upstream_status_body_and_repeated_headers_pass_through(
    client: httpx.Client, upstream: FakeUpstream, mint: Mint
) -> None:
    echoed = client.get("/v1/anything", headers=bearer(mint.token()))
    rejected = client.post("/v1/rejecting", json={}, headers=bearer(mint.token()))

    assert echoed.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert echoed.headers["idempotent-replayed"] == "true"
    assert rejected.status_code == 422
    assert rejected.headers["content-type"] == PROBLEM_JSON
    assert rejected.json()["status"] == 422


def test_large_bodies_stream_both_ways(client: httpx.Client, upstream: FakeUpstream, mint: Mint) -> None:
    payload = b"y" * (1024 * 1024 + 7)

    sent = client.put(
        "/v1/bulk",
        content=payload,
        headers=bearer(mint.token()) | {"Content-Type": "application/octet-stream"},
    )
    received = client.get("/v1/stream", headers=bearer(mint.token()))

    assert sent.json()["body_length"] == len(payload)
    assert sent.json()["body_sha"] == hashlib.sha256(payload).hexdigest()
    assert received.content == b"x" * (64 * 16384)


# -- throttling -----------------------------------------------------------------------------------------
def test_a_school_over_its_bucket_gets_429_with_retry_after_and_others_do_not(
    verifier: CognitoTokenVerifier, upstream: FakeUpstream, access_log_path: Path, mint: Mint
) -> None:
    gateway = build(
        verifier, upstream, access_log_path, school_limits={"school-a": RateLimit(rate=0.2, burst=3)}
    )
    with serve(gateway) as client:
        statuses = [client.get("/v1/x", headers=bearer(mint.token("school-a"))).status_code for _ in range(3)]
        throttled = client.get("/v1/x", headers=bearer(mint.token("school-a")))
        other = [client.get("/v1/x", headers=bearer(mint.token("school-b"))).status_code for _ in range(5)]

    assert statuses == [200, 200, 200]
    body = assert_problem(throttled, 429)
    assert body["type"].endswith("/rate-limited")
    assert int(throttled.headers["retry-after"]) >= 1
    assert other == [200] * 5
    assert len(upstream.requests) == 8


def test_unauthenticated_requests_spend_no_school_budget(
    verifier: CognitoTokenVerifier, upstream: FakeUpstream, access_log_path: Path, mint: Mint
) -> None:
    gateway = build(
        verifier, upstream, access_log_path, school_limits={"school-a": RateLimit(rate=0.1, burst=1)}
    )
    with serve(gateway) as client:
        for _ in range(5):
            client.get("/v1/x", headers={"Authorization": "Bearer garbage"})
        response = client.get("/v1/x", headers=bearer(mint.token("school-a")))

    assert response.status_code == 200


# -- access log -----------------------------------------------------------------------------------------
def test_exactly_one_json_access_line_per_request(
    client: httpx.Client, mint: Mint, access_log_path: Path
) -> None:
    client.get("/healthz")
    client.get("/nowhere")
    client.get("/v1/x")
    client.get(
        "/v1/students/st-1/evaluations",
        headers=bearer(mint.token("school-a")) | {"User-Agent": "teacher-app/1.2"},
    )

    lines = access_lines(access_log_path)
    assert [(line["path"], line["status"]) for line in lines] == [
        ("/healthz", 200),
        ("/nowhere", 404),
        ("/v1/x", 401),
        ("/v1/students/st-1/evaluations", 200),
    ]
    last = lines[-1]
    assert last["school_id"] == "school-a"
    assert last["method"] == "GET"
    assert last["user_agent"] == "teacher-app/1.2"
    assert last["latency_ms"] >= 0
    assert last["upstream_latency_ms"] is not None
    assert last["requestId"]
    assert last["correlation_id"] == lines[-1]["correlation_id"]
    assert lines[2]["school_id"] is None
    assert len({line["requestId"] for line in lines}) == 4


# -- upstream failures ----------------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_upstream_down_is_a_503_problem_not_a_hang(
    verifier: CognitoTokenVerifier, mint: Mint, access_log_path: Path
) -> None:
    gateway = Gateway(
        GatewaySettings(upstream_url=f"http://127.0.0.1:{_closed_port()}", access_log_stdout=False),
        verifier=verifier,
        access_log=AccessLog(path=access_log_path, stdout=False),
    )
    with serve(gateway) as client:
        response = client.get("/v1/x", headers=bearer(mint.token()))

    assert_problem(response, 503)


def test_a_silent_upstream_times_out_as_504(
    verifier: CognitoTokenVerifier, mint: Mint, access_log_path: Path
) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        gateway = Gateway(
            GatewaySettings(
                upstream_url=f"http://127.0.0.1:{port}", upstream_timeout_seconds=0.3, access_log_stdout=False
            ),
            verifier=verifier,
            access_log=AccessLog(path=access_log_path, stdout=False),
        )
        started = time.monotonic()
        with serve(gateway) as client:
            response = client.get("/v1/x", headers=bearer(mint.token()))

    assert_problem(response, 504)
    assert time.monotonic() - started < 5


# -- served -----------------------------------------------------------------------------------------------------
def test_served_on_a_free_port_and_stopped_cleanly(
    verifier: CognitoTokenVerifier, upstream: FakeUpstream, access_log_path: Path
) -> None:
    served = ServedGateway(build(verifier, upstream, access_log_path), port=0)
    url = served.start()
    try:
        assert served.port != 0
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200
    finally:
        served.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthz", timeout=1)


def test_a_method_no_route_takes_is_a_405_problem(client: httpx.Client, mint: Mint) -> None:
    response = client.request("TRACE", "/v1/x", headers=bearer(mint.token()))

    assert_problem(response, 405)
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST", "PUT", "DELETE"}


def test_the_public_document_needs_no_token_and_never_reaches_a_service(
    client: httpx.Client, upstream: FakeUpstream
) -> None:
    response = client.get("/v1/openapi.json")
    refused = client.post("/v1/openapi.json", json={})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["info"]["title"] == "Luca public API"
    assert_problem(refused, 405)
    assert refused.headers["allow"] == "GET, HEAD"
    assert upstream.requests == []


def test_a_routed_prefix_reaches_its_own_service_and_everything_else_the_grading_service(
    verifier: CognitoTokenVerifier, upstream: FakeUpstream, access_log_path: Path, mint: Mint
) -> None:
    gateway = build(verifier, upstream, access_log_path, routes={"/v1/analytics": "http://analytics.test"})
    token = bearer(mint.token(school="school-a", groups=("admins",)))

    with serve(gateway) as http:
        reports = http.get("/v1/analytics/subject-averages?term_id=2025-T1", headers=token)
        grades = http.get("/v1/students/st-1/evaluations", headers=token)
        lookalike = http.get("/v1/analyticsx", headers=token)

    assert (reports.status_code, grades.status_code, lookalike.status_code) == (200, 200, 200)
    hosts = [dict(seen["headers"])["host"] for seen in upstream.requests]
    assert hosts == ["analytics.test", "grading.test", "grading.test"]
    assert upstream.requests[0]["path"] == "/v1/analytics/subject-averages"
    assert upstream.requests[0]["query"] == "term_id=2025-T1"
