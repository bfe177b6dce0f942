"""The ministry client against a scripted ministry (``httpx.MockTransport``): what it sends, how it
keeps its token, and how it classifies every kind of answer. A verdict it cannot trust is never a
success; the client never retries on its own except once after a 401."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from luca_govsync.adapters.ministry_client import MinistryClient, MinistrySettings, parse_retry_after
from luca_govsync.domain.errors import (
    MinistryError,
    MinistryGarbled,
    MinistryRefused,
    MinistryThrottled,
    MinistryTimeout,
    MinistryUnavailable,
)
from luca_govsync.domain.model import GradeRecord, RecordOutcome, RecordStatus
from luca_govsync.ministry import MAX_RECORDS_PER_BATCH, openapi_document

BATCH_ID = "luca-0123456789abcdef0123456789abcdef01234567"
SCHOOL_CODE = "RBD-10234"
PERIOD = "2025-T1"
NOW = datetime(2025, 5, 2, 12, 0, tzinfo=UTC)
SECRET = "s3cr3t-client-secret"
Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class ScriptedMinistry:
    """A ministry that answers from scripts, then as the contract says; it keeps every request."""

    def __init__(self) -> None:
        self.token_answers: list[Answer] = []
        self.batch_answers: list[Answer] = []
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.expires_in = 300
        self.rejected_students: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/oauth2/token":
            answer = self.token_answers.pop(0) if self.token_answers else self.token
        else:
            answer = self.batch_answers.pop(0) if self.batch_answers else self.verdict
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer

    def token(self, _request: httpx.Request) -> httpx.Response:
        self.tokens_issued += 1
        return httpx.Response(
            200,
            json={
                "access_token": f"token-{self.tokens_issued}",
                "token_type": "Bearer",
                "expires_in": self.expires_in,
            },
        )

    def verdict_body(self, request: httpx.Request) -> dict[str, Any]:
        sent = json.loads(request.content)
        results = []
        for record in sent["records"]:
            if record["student_id"] in self.rejected_students:
                results.append(
                    {
                        "record_id": record["record_id"],
                        "status": "rejected",
                        "reason_code": "UNKNOWN_STUDENT",
                        "reason": "not in the registry",
                    }
                )
            else:
                results.append({"record_id": record["record_id"], "status": "accepted"})
        return {
            "client_batch_id": request.url.path.rsplit("/", 1)[-1],
            "received_at": "2025-05-02T12:00:00.000Z",
            "replayed": False,
            "results": results,
        }

    def verdict(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=self.verdict_body(request))

    def spoiled(self, spoil: Callable[[dict[str, Any]], Any]) -> Callable[[httpx.Request], httpx.Response]:
        """A 200 whose body is the right verdict passed through ``spoil``."""

        def answer(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json=spoil(self.verdict_body(request)))

        return answer

    def calls(self, path_prefix: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path.startswith(path_prefix)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ministry() -> ScriptedMinistry:
    return ScriptedMinistry()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(ministry: ScriptedMinistry, clock: FakeClock) -> MinistryClient:
    settings = MinistrySettings(
        base_url="https://records.ministry.example",
        client_id="luca",
        client_secret=SECRET,
        timeout_seconds=5,
        token_refresh_margin_seconds=60,
    )
    return MinistryClient(settings, transport=httpx.MockTransport(ministry), clock=clock, now=lambda: NOW)


@pytest.fixture
def batch(grade_record: Callable[..., GradeRecord]) -> list[GradeRecord]:
    return [
        grade_record("r-1", student_id="st-11111111"),
        grade_record("r-2", student_id="st-22222222", score="4.0"),
        grade_record("r-3", student_id="st-33333333", score="7.0"),
    ]


def submit(client: MinistryClient, batch: list[GradeRecord]) -> list[RecordOutcome]:
    return client.submit(BATCH_ID, SCHOOL_CODE, PERIOD, batch)


def problem(status: int, detail: str, **headers: str) -> httpx.Response:
    body = {"type": "/problems/x", "title": "Some Title", "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json", **headers})


# -- what is sent ----------------------------------------------------------------------------------------
def test_submit_sends_the_contracts_batch_and_returns_one_outcome_per_record_in_order(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    batch: list[GradeRecord],
    contract: Callable[[str, Any], None],
) -> None:
    ministry.rejected_students = {"st-22222222"}

    outcomes = client.submit(BATCH_ID, SCHOOL_CODE, PERIOD, batch, correlation_id="corr-1")

    assert outcomes == [
        RecordOutcome("r-1", "st-11111111", RecordStatus.ACCEPTED),
        RecordOutcome("r-2", "st-22222222", RecordStatus.REJECTED, "UNKNOWN_STUDENT", "not in the registry"),
        RecordOutcome("r-3", "st-33333333", RecordStatus.ACCEPTED),
    ]
    token_request, put = ministry.requests
    assert token_request.method == "POST"
    assert token_request.headers["authorization"].startswith("Basic ")
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    contract("TokenRequest", dict(httpx.QueryParams(token_request.content.decode())))
    assert put.method == "PUT"
    assert put.url.path == f"/v1/grade-batches/{BATCH_ID}"
    assert put.headers["authorization"] == "Bearer token-1"
    assert put.headers["x-correlation-id"] == "corr-1"
    body = json.loads(put.content)
    contract("GradeBatch", body)
    assert body["school_code"] == SCHOOL_CODE
    assert body["period"] == PERIOD
    assert body["records"][1] == {
        "record_id": "r-2",
        "student_id": "st-22222222",
        "course_id": "1A",
        "subject_id": "math",
        "grade": "4.0",
        "recorded_at": "2025-04-30T15:00:00Z",
    }


def test_the_scripted_verdict_is_itself_a_contract_verdict(
    ministry: ScriptedMinistry,
    client: MinistryClient,
    batch: list[GradeRecord],
    contract: Callable[[str, Any], None],
) -> None:
    """Guards the fake: what the unit tests call a good verdict is one by the document."""
    ministry.rejected_students = {"st-11111111"}
    submit(client, batch)
    contract("BatchVerdict", ministry.verdict_body(ministry.calls("/v1/")[0]))
    contract("Token", ministry.token(ministry.requests[0]).json())


def test_the_client_limit_is_the_documents_limit() -> None:
    records = openapi_document()["components"]["schemas"]["GradeBatch"]["properties"]["records"]
    assert records["maxItems"] == MAX_RECORDS_PER_BATCH


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda batch: [], "at least one record"),
        (lambda batch: batch + batch[:1], "twice"),
        (
            lambda batch: [*batch[:2], GradeRecord("r-9", "st-9", "1A", "math", "2025-T2", "5.0", "x")],
            "period",
        ),
        (
            lambda batch: [
                GradeRecord(f"r-{i}", "st", "1A", "math", PERIOD, "5.0", "x")
                for i in range(MAX_RECORDS_PER_BATCH + 1)
            ],
            "at most",
        ),
    ],
    ids=["empty", "repeated-record", "other-period", "too-many"],
)
def test_a_batch_that_must_not_be_sent_is_a_caller_error_and_nothing_is_sent(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    batch: list[GradeRecord],
    change: Callable[[list[GradeRecord]], list[GradeRecord]],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        submit(client, change(batch))
    assert ministry.requests == []


# -- tokens ----------------------------------------------------------------------------------------------
def test_the_token_is_cached_until_the_refresh_margin_before_expiry(
    client: MinistryClient, ministry: ScriptedMinistry, clock: FakeClock, batch: list[GradeRecord]
) -> None:
    submit(client, batch)
    clock.now += 300 - 60 - 1  # one second before the margin
    submit(client, batch)
    assert ministry.tokens_issued == 1

    clock.now += 2  # inside the margin
    submit(client, batch)

    assert ministry.tokens_issued == 2
    assert ministry.calls("/v1/")[-1].headers["authorization"] == "Bearer token-2"


def test_a_short_lived_token_is_refreshed_at_half_its_life_at_the_latest(
    client: MinistryClient, ministry: ScriptedMinistry, clock: FakeClock, batch: list[GradeRecord]
) -> None:
    ministry.expires_in = 20  # shorter than the 60 s margin: the margin shrinks to 10 s
    submit(client, batch)
    clock.now += 9
    submit(client, batch)
    assert ministry.tokens_issued == 1
    clock.now += 2
    submit(client, batch)
    assert ministry.tokens_issued == 2


def test_a_401_gets_a_fresh_token_and_one_retry(
    client: MinistryClient, ministry: ScriptedMinistry, batch: list[GradeRecord]
) -> None:
    submit(client, batch)  # caches token-1
    ministry.batch_answers = [
        problem(401, "token expired", **{"WWW-Authenticate": 'Bearer error="invalid_token"'})
    ]

    outcomes = submit(client, batch)

    assert [outcome.status for outcome in outcomes] == [RecordStatus.ACCEPTED] * 3
    puts = ministry.calls("/v1/")
    assert [put.headers["authorization"] for put in puts] == [
        "Bearer token-1",
        "Bearer token-1",
        "Bearer token-2",
    ]
    assert ministry.tokens_issued == 2


def test_a_second_401_is_refused_without_a_third_try(
    client: MinistryClient, ministry: ScriptedMinistry, batch: list[GradeRecord]
) -> None:
    ministry.batch_answers = [problem(401, "no"), problem(401, "still no")]

    with pytest.raises(MinistryRefused) as refused:
        submit(client, batch)

    assert refused.value.status == 401
    assert len(ministry.calls("/v1/")) == 2
    assert ministry.tokens_issued == 2


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        (problem(401, "invalid_client"), MinistryRefused, 401),
        (problem(400, "unsupported_grant_type"), MinistryRefused, 400),
        (problem(403, "client disabled"), MinistryRefused, 403),
        (problem(429, "slow down", **{"Retry-After": "30"}), MinistryThrottled, 429),
        (problem(503, "maintenance"), MinistryUnavailable, 503),
        (httpx.Response(502, html="<html><body>502 Bad Gateway</body></html>"), MinistryUnavailable, 502),
        (httpx.ReadTimeout("slow"), MinistryTimeout, None),
        (httpx.ConnectError("refused"), MinistryUnavailable, None),
        (httpx.Response(200, html="<html>Portal</html>"), MinistryGarbled, 200),
        (httpx.Response(200, text='{"access_token": "abc", "tok'), MinistryGarbled, 200),
        (httpx.Response(200, json={"token_type": "Bearer", "expires_in": 60}), MinistryGarbled, 200),
        (
            httpx.Response(200, json={"access_token": "abc", "token_type": "mac", "expires_in": 60}),
            MinistryGarbled,
            200,
        ),
        (httpx.Response(200, json={"access_token": "abc", "token_type": "Bearer"}), MinistryGarbled, 200),
        (
            httpx.Response(200, json={"access_token": "abc", "token_type": "Bearer", "expires_in": "soon"}),
            MinistryGarbled,
            200,
        ),
    ],
    ids=[
        "401",
        "400",
        "403",
        "429",
        "503",
        "502-html",
        "timeout",
        "connect-error",
        "200-html",
        "200-truncated",
        "200-no-token",
        "200-not-bearer",
        "200-no-expiry",
        "200-bad-expiry",
    ],
)
def test_a_failing_token_endpoint_is_classified_like_any_call_and_no_batch_is_sent(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    batch: list[GradeRecord],
    answer: Answer,
    error: type[MinistryError],
    status: int | None,
) -> None:
    ministry.token_answers = [answer]

    with pytest.raises(MinistryError) as raised:
        submit(client, batch)

    assert type(raised.value) is error
    assert raised.value.status == status
    assert ministry.calls("/v1/") == []


def test_a_token_failure_is_not_cached(
    client: MinistryClient, ministry: ScriptedMinistry, batch: list[GradeRecord]
) -> None:
    ministry.token_answers = [problem(503, "down")]
    with pytest.raises(MinistryUnavailable):
        submit(client, batch)
    assert len(submit(client, batch)) == 3


# -- classification of the batch call --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        (problem(500, "boom"), MinistryUnavailable, 500),
        (problem(502, "bad gateway"), MinistryUnavailable, 502),
        (problem(503, "overloaded"), MinistryUnavailable, 503),
        (problem(504, "gateway timeout"), MinistryUnavailable, 504),
        (httpx.Response(503, html="<html><h1>Estamos en mantención</h1></html>"), MinistryUnavailable, 503),
        (httpx.Response(500, text=""), MinistryUnavailable, 500),
        (problem(409, "batch id reused with another payload"), MinistryRefused, 409),
        (problem(422, "records: at most 500"), MinistryRefused, 422),
        (problem(403, "not your school"), MinistryRefused, 403),
        (problem(404, "no such route"), MinistryRefused, 404),
        (problem(400, "not JSON"), MinistryRefused, 400),
        (httpx.Response(418, text="teapot"), MinistryRefused, 418),
        (httpx.Response(302, headers={"Location": "/maintenance.html"}), MinistryRefused, 302),
        (httpx.Response(202, json={"status": "queued"}), MinistryRefused, 202),
    ],
    ids=[
        "500",
        "502",
        "503",
        "504",
        "503-html-maintenance-page",
        "500-empty",
        "409",
        "422",
        "403",
        "404-on-put",
        "400",
        "418",
        "302",
        "202",
    ],
)
def test_statuses_are_classified(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    batch: list[GradeRecord],
    answer: httpx.Response,
    error: type[MinistryError],
    status: int,
) -> None:
    ministry.batch_answers = [answer]

    with pytest.raises(MinistryError) as raised:
        submit(client, batch)

    assert type(raised.value) is error
    assert raised.value.status == status
    assert len(ministry.calls("/v1/")) == 1, "the client never retries on its own"


def test_a_refusal_carries_the_problems_detail(
    client: MinistryClient, ministry: ScriptedMinistry, batch: list[GradeRecord]
) -> None:
    ministry.batch_answers = [problem(409, "this client batch id was already used with a different payload")]

    with pytest.raises(MinistryRefused) as refused:
        submit(client, batch)

    assert "already used with a different payload" in refused.value.detail
    assert "Some Title" in refused.value.detail
    assert refused.value.transient is False


def test_a_long_problem_detail_is_cut(
    client: MinistryClient, ministry: ScriptedMinistry, batch: list[GradeRecord]
) -> None:
    ministry.batch_answers = [problem(422, "x" * 5000)]
    with pytest.raises(MinistryRefused) as refused:
        submit(client, batch)
    assert len(refused.value.detail) < 400


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        ("soon", None),
        (None, None),
    ],
    ids=["seconds", "zero", "http-date", "past-date", "unreadable", "absent"],
)
def test_429_is_throttled_with_retry_after_in_seconds(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    batch: list[GradeRecord],
    header: str | None,
    expected: float | None,
) -> None:
    ministry.batch_answers = [problem(429, "slow down", **({"Retry-After": header} if header else {}))]

    with pytest.raises(MinistryThrottled) as throttled:
        submit(client, batch)

    assert throttled.value.status == 429
    assert throttled.value.retry_after == expected
    assert throttled.value.transient is True


def test_retry_after_parsing_without_a_clock_uses_now() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    seconds = parse_retry_after(later)
    assert seconds is not None
    assert 3500 < seconds <= 3600


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.ConnectTimeout("connect"), MinistryTimeout),
        (httpx.ReadTimeout("read"), MinistryTimeout),
        (httpx.WriteTimeout("write"), MinistryTimeout),
        (httpx.PoolTimeout("pool"), MinistryTimeout),
        (httpx.ConnectError("connection refused"), MinistryUnavailable),
        (httpx.ReadError("connection reset by peer"), MinistryUnavailable),
        (httpx.RemoteProtocolError("server disconnected without sending a response"), MinistryUnavailable),
        (httpx.DecodingError("bad gzip"), MinistryGarbled),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.__name__,
)
def test_transport_failures_are_classified(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    batch: list[GradeRecord],
    failure: Exception,
    error: type[MinistryError],
) -> None:
    ministry.batch_answers = [failure]

    with pytest.raises(error) as raised:
        submit(client, batch)

    assert raised.value.transient is True
    assert raised.value.__cause__ is failure


def first_result(spoil: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(verdict: dict[str, Any]) -> dict[str, Any]:
        spoil(verdict["results"][0])
        return verdict

    return change


GARBLED_VERDICTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "a-json-array": lambda verdict: [verdict],
    "a-json-string": lambda verdict: "accepted",
    "no-results": lambda verdict: {key: value for key, value in verdict.items() if key != "results"},
    "results-not-a-list": lambda verdict: {**verdict, "results": {"r-1": "accepted"}},
    "another-batch-id": lambda verdict: {**verdict, "client_batch_id": "luca-other"},
    "no-batch-id": lambda verdict: {key: value for key, value in verdict.items() if key != "client_batch_id"},
    "replayed-not-boolean": lambda verdict: {**verdict, "replayed": "no"},
    "no-received-at": lambda verdict: {key: value for key, value in verdict.items() if key != "received_at"},
    "wrong-schema": lambda verdict: {"ok": True, "data": verdict},
    "unknown-status": first_result(lambda result: result.update(status="pending_review")),
    "status-in-capitals": first_result(lambda result: result.update(status="ACCEPTED")),
    "no-status": first_result(lambda result: result.pop("status")),
    "no-record-id": first_result(lambda result: result.pop("record_id")),
    "record-id-not-a-string": first_result(lambda result: result.update(record_id=1)),
    "rejection-without-reason-code": first_result(lambda result: result.update(status="rejected")),
    "reason-not-a-string": first_result(
        lambda result: result.update(status="rejected", reason_code="X", reason=["no"])
    ),
    "result-not-an-object": lambda verdict: {**verdict, "results": ["r-1", *verdict["results"][1:]]},
    "missing-record": lambda verdict: {**verdict, "results": verdict["results"][:-1]},
    "no-results-at-all": lambda verdict: {**verdict, "results": []},
    "extra-record": lambda verdict: {
        **verdict,
        "results": [*verdict["results"], {"record_id": "r-99", "status": "accepted"}],
    },
    "duplicated-record": lambda verdict: {
        **verdict,
        "results": [*verdict["results"][:-1], verdict["results"][0]],
    },
    "duplicated-record-on-top": lambda verdict: {
        **verdict,
        "results": [*verdict["results"], verdict["results"][0]],
    },
}


@pytest.mark.parametrize("spoil", GARBLED_VERDICTS.values(), ids=GARBLED_VERDICTS.keys())
def test_a_verdict_that_does_not_match_the_contract_or_the_batch_is_garbled(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    batch: list[GradeRecord],
    spoil: Callable[[dict[str, Any]], Any],
) -> None:
    ministry.batch_answers = [ministry.spoiled(spoil)]

    with pytest.raises(MinistryGarbled) as garbled:
        submit(client, batch)

    assert garbled.value.status == 200
    assert garbled.value.transient is True


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, html="<!DOCTYPE html><html><body>Sesión expirada</body></html>"),
        httpx.Response(200, text='{"client_batch_id": "luca-0123", "results": [{"record_id": "r-1", "sta'),
        httpx.Response(200, text=""),
        httpx.Response(200, content=b"\xff\xfe\x00garbage", headers={"content-type": "application/json"}),
        httpx.Response(200, text="OK"),
    ],
    ids=["html", "truncated-json", "empty", "not-utf8", "plain-text"],
)
def test_a_200_that_is_not_json_is_garbled(
    client: MinistryClient, ministry: ScriptedMinistry, batch: list[GradeRecord], answer: httpx.Response
) -> None:
    ministry.batch_answers = [answer]
    with pytest.raises(MinistryGarbled):
        submit(client, batch)


def test_extra_fields_in_a_verdict_are_tolerated(
    client: MinistryClient, ministry: ScriptedMinistry, batch: list[GradeRecord]
) -> None:
    """The contract may grow; an added field is not a reason to distrust an answer."""
    ministry.batch_answers = [
        ministry.spoiled(
            lambda verdict: {
                **verdict,
                "trace": "x",
                "results": [{**r, "note": "ok"} for r in verdict["results"]],
            }
        )
    ]
    assert len(submit(client, batch)) == 3


def test_results_in_another_order_are_returned_in_the_order_sent(
    client: MinistryClient, ministry: ScriptedMinistry, batch: list[GradeRecord]
) -> None:
    ministry.batch_answers = [
        ministry.spoiled(lambda verdict: {**verdict, "results": verdict["results"][::-1]})
    ]
    assert [outcome.record_id for outcome in submit(client, batch)] == ["r-1", "r-2", "r-3"]


def test_a_replayed_verdict_is_a_verdict(
    client: MinistryClient, ministry: ScriptedMinistry, batch: list[GradeRecord]
) -> None:
    ministry.batch_answers = [ministry.spoiled(lambda verdict: {**verdict, "replayed": True})]
    assert len(submit(client, batch)) == 3


# -- fetch -----------------------------------------------------------------------------------------------
def test_fetch_of_an_unknown_batch_is_none(client: MinistryClient, ministry: ScriptedMinistry) -> None:
    ministry.batch_answers = [problem(404, "no batch under this id")]
    assert client.fetch(BATCH_ID) is None
    assert ministry.calls("/v1/")[0].method == "GET"


def test_fetch_returns_the_stored_verdict(
    client: MinistryClient, ministry: ScriptedMinistry, batch: list[GradeRecord]
) -> None:
    ministry.rejected_students = {"st-33333333"}
    submit(client, batch)
    put = ministry.calls("/v1/")[0]
    stored = {**ministry.verdict_body(put), "replayed": True}
    ministry.batch_answers = [httpx.Response(200, json=stored), httpx.Response(200, json=stored)]

    anonymous = client.fetch(BATCH_ID)
    matched = client.fetch(BATCH_ID, records=batch)

    assert anonymous is not None
    assert matched is not None
    assert [(o.record_id, o.student_id, o.status) for o in anonymous] == [
        ("r-1", "", RecordStatus.ACCEPTED),
        ("r-2", "", RecordStatus.ACCEPTED),
        ("r-3", "", RecordStatus.REJECTED),
    ]
    assert matched[2] == RecordOutcome(
        "r-3", "st-33333333", RecordStatus.REJECTED, "UNKNOWN_STUDENT", "not in the registry"
    )


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (problem(503, "down"), MinistryUnavailable),
        (problem(429, "slow", **{"Retry-After": "3"}), MinistryThrottled),
        (problem(403, "not yours"), MinistryRefused),
        (httpx.ReadTimeout("slow"), MinistryTimeout),
        (httpx.Response(200, html="<html></html>"), MinistryGarbled),
        (
            httpx.Response(
                200,
                json={"client_batch_id": "luca-other", "received_at": "x", "replayed": True, "results": []},
            ),
            MinistryGarbled,
        ),
    ],
    ids=["503", "429", "403", "timeout", "html", "other-batch"],
)
def test_fetch_is_classified_like_submit(
    client: MinistryClient, ministry: ScriptedMinistry, answer: Answer, error: type[MinistryError]
) -> None:
    ministry.batch_answers = [answer]
    with pytest.raises(error):
        client.fetch(BATCH_ID)


def test_fetch_with_records_must_cover_exactly_them(
    client: MinistryClient, ministry: ScriptedMinistry, batch: list[GradeRecord]
) -> None:
    stored = {
        "client_batch_id": BATCH_ID,
        "received_at": "2025-05-02T12:00:00Z",
        "replayed": True,
        "results": [{"record_id": "r-1", "status": "accepted"}],
    }
    ministry.batch_answers = [httpx.Response(200, json=stored)]
    with pytest.raises(MinistryGarbled):
        client.fetch(BATCH_ID, records=batch)


def test_fetch_refreshes_an_expired_token_once(client: MinistryClient, ministry: ScriptedMinistry) -> None:
    ministry.batch_answers = [problem(401, "expired"), problem(404, "none")]
    assert client.fetch(BATCH_ID) is None
    assert ministry.tokens_issued == 2


# -- what is never written down --------------------------------------------------------------------------
def test_logs_carry_counts_and_ids_never_record_contents_or_secrets(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    batch: list[GradeRecord],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="luca_govsync")
    ministry.rejected_students = {"st-22222222"}
    submit(client, batch)
    ministry.batch_answers = [
        problem(422, "bad"),
        ministry.spoiled(lambda verdict: {**verdict, "results": []}),
    ]
    with pytest.raises(MinistryRefused):
        submit(client, batch)
    with pytest.raises(MinistryGarbled):
        submit(client, batch)

    logged = [record for record in caplog.records if record.name.startswith("luca_govsync")]
    answered = next(record for record in logged if record.getMessage() == "ministry batch answered")
    assert answered.__dict__["client_batch_id"] == BATCH_ID
    assert (answered.__dict__["accepted"], answered.__dict__["rejected"]) == (2, 1)
    assert "latency_ms" in answered.__dict__
    assert sum(record.getMessage() == "ministry call failed" for record in logged) == 2
    standard = set(vars(logging.makeLogRecord({})))
    everything = " ".join(
        f"{record.getMessage()} {[value for key, value in vars(record).items() if key not in standard]}"
        for record in logged
    )
    for secret in ("st-11111111", "st-22222222", "st-33333333", "4.0", "7.0", SECRET, "token-1"):
        assert secret not in everything


def test_settings_never_show_the_secret_and_refuse_nonsense() -> None:
    settings = MinistrySettings("https://records.ministry.example", "luca", SECRET)
    assert SECRET not in repr(settings)
    with pytest.raises(ValueError, match="http"):
        MinistrySettings("records.ministry.example", "luca", SECRET)
    with pytest.raises(ValueError, match="positive"):
        MinistrySettings("https://records.ministry.example", "luca", SECRET, timeout_seconds=0)
    with pytest.raises(ValueError, match="required"):
        MinistrySettings("https://records.ministry.example", "luca", "")
