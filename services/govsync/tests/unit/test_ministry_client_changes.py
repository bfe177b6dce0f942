"""The ministry client's amendments and retractions against a scripted ministry
(``httpx.MockTransport``): what it sends (by the contract), and that an answer it cannot trust is
never taken for an accepted change."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from luca_govsync.adapters.ministry_client import MinistryClient, MinistrySettings
from luca_govsync.domain.changes import ChangeOutcome
from luca_govsync.domain.errors import (
    MinistryGarbled,
    MinistryRefused,
    MinistryThrottled,
    MinistryUnavailable,
)
from luca_govsync.domain.model import GradeRecord, RecordStatus
from luca_govsync.domain.tally import ChangeKind

SCHOOL_CODE = "RBD-10234"
CHANGE_ID = "luca-a-0123456789abcdef0123456789abcdef01234567"
Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


class ScriptedMinistry:
    """Issues tokens; answers a change as the contract says (accepted), unless a script says otherwise."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.requests: list[httpx.Request] = []
        self.tokens = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/oauth2/token":
            self.tokens += 1
            return httpx.Response(
                200, json={"access_token": f"token-{self.tokens}", "token_type": "Bearer", "expires_in": 300}
            )
        answer = self.answers.pop(0) if self.answers else self.accepted
        return answer(request) if callable(answer) else answer

    @staticmethod
    def body(request: httpx.Request, **changes: Any) -> dict[str, Any]:
        parts = request.url.path.split("/")
        sent = json.loads(request.content)
        return {
            "client_change_id": parts[-1],
            "record_id": parts[-3],
            "kind": "amendment" if parts[-2] == "amendments" else "retraction",
            "version": sent["version"],
            "status": "accepted",
            "received_at": "2025-05-02T12:00:00.000Z",
            "replayed": False,
            **changes,
        }

    def accepted(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=self.body(request))

    def spoiled(self, **changes: Any) -> Callable[[httpx.Request], httpx.Response]:
        return lambda request: httpx.Response(200, json=self.body(request, **changes))

    def changes(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.startswith("/v1/")]


@pytest.fixture
def ministry() -> ScriptedMinistry:
    return ScriptedMinistry()


@pytest.fixture
def client(ministry: ScriptedMinistry) -> MinistryClient:
    settings = MinistrySettings(
        base_url="https://records.ministry.example", client_id="luca", client_secret="s"
    )
    return MinistryClient(settings, transport=httpx.MockTransport(ministry))


@pytest.fixture
def corrected(grade_record: Callable[..., GradeRecord]) -> GradeRecord:
    return replace(grade_record("ev-7", student_id="st-7", score="6.1"), version=3)


def test_an_amendment_sends_the_records_later_version_in_full_to_its_own_path(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    corrected: GradeRecord,
    contract: Callable[[str, Any], None],
) -> None:
    answer = client.amend(CHANGE_ID, SCHOOL_CODE, corrected, correlation_id="corr-1")

    assert answer == ChangeOutcome("ev-7", "st-7", ChangeKind.AMENDMENT, 3, RecordStatus.ACCEPTED)
    (put,) = ministry.changes()
    assert put.method == "PUT"
    assert put.url.path == f"/v1/grade-records/{SCHOOL_CODE}/2025-T1/ev-7/amendments/{CHANGE_ID}"
    assert put.headers["x-correlation-id"] == "corr-1"
    body = json.loads(put.content)
    contract("Amendment", body)
    assert body == {
        "version": 3,
        "student_id": "st-7",
        "course_id": "1A",
        "subject_id": "math",
        "grade": "6.1",
        "recorded_at": "2025-04-30T15:00:00Z",
    }
    contract("ChangeAnswer", ministry.body(put))


def test_a_retraction_sends_only_the_version_and_reads_a_rejection_with_its_reason(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    corrected: GradeRecord,
    contract: Callable[[str, Any], None],
) -> None:
    ministry.answers = [
        ministry.spoiled(status="rejected", reason_code="RECORD_RETRACTED", reason="retracted", replayed=True)
    ]

    answer = client.retract("luca-r-1", SCHOOL_CODE, replace(corrected, retracted=True))

    assert answer == ChangeOutcome(
        "ev-7", "st-7", ChangeKind.RETRACTION, 3, RecordStatus.REJECTED, "RECORD_RETRACTED", "retracted", True
    )
    (put,) = ministry.changes()
    assert put.url.path == f"/v1/grade-records/{SCHOOL_CODE}/2025-T1/ev-7/retractions/luca-r-1"
    assert json.loads(put.content) == {"version": 3}
    contract("Retraction", json.loads(put.content))


@pytest.mark.parametrize(
    "spoil",
    [
        {"client_change_id": "luca-a-other"},
        {"record_id": "ev-8"},
        {"kind": "retraction"},
        {"version": 2},
        {"replayed": "no"},
        {"status": "pending_review"},
        {"status": "rejected"},  # a rejection without its reason code
        {"received_at": None},
    ],
    ids=[
        "other-change",
        "other-record",
        "other-kind",
        "other-version",
        "replayed",
        "status",
        "no-code",
        "no-date",
    ],
)
def test_an_answer_that_is_not_about_this_change_is_garbled(
    client: MinistryClient, ministry: ScriptedMinistry, corrected: GradeRecord, spoil: dict[str, Any]
) -> None:
    ministry.answers = [ministry.spoiled(**spoil)]
    with pytest.raises(MinistryGarbled):
        client.amend(CHANGE_ID, SCHOOL_CODE, corrected)


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        (httpx.Response(200, html="<html>Portal</html>"), MinistryGarbled, 200),
        (httpx.Response(200, text='{"client_change_id": "luca-a-01'), MinistryGarbled, 200),
        (httpx.Response(429, json={"title": "slow"}, headers={"Retry-After": "7"}), MinistryThrottled, 429),
        (httpx.Response(503, html="<html>mantención</html>"), MinistryUnavailable, 503),
        (httpx.Response(409, json={"title": "Conflict", "detail": "change id reused"}), MinistryRefused, 409),
        (httpx.Response(422, json={"title": "Unprocessable"}), MinistryRefused, 422),
    ],
    ids=["html-200", "truncated", "429", "503-html", "409", "422"],
)
def test_a_change_without_a_trustworthy_answer_is_a_typed_error(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    corrected: GradeRecord,
    answer: httpx.Response,
    error: type[Exception],
    status: int,
) -> None:
    ministry.answers = [answer]
    with pytest.raises(error) as raised:
        client.retract("luca-r-1", SCHOOL_CODE, corrected)
    assert getattr(raised.value, "status", None) == status


def test_a_401_on_a_change_gets_a_fresh_token_and_one_retry(
    client: MinistryClient, ministry: ScriptedMinistry, corrected: GradeRecord
) -> None:
    ministry.answers = [httpx.Response(401, json={"title": "expired"})]

    answer = client.amend(CHANGE_ID, SCHOOL_CODE, corrected)

    assert answer.status is RecordStatus.ACCEPTED
    assert [r.headers["authorization"] for r in ministry.changes()] == ["Bearer token-1", "Bearer token-2"]


@pytest.mark.parametrize(
    ("change_id", "school", "version", "message"),
    [
        ("luca/a", SCHOOL_CODE, 3, "path segments"),
        (CHANGE_ID, "school code with spaces", 3, "school code"),
        (CHANGE_ID, SCHOOL_CODE, 1, "later version"),
    ],
    ids=["change-id", "school-code", "first-version"],
)
def test_a_change_that_must_not_be_sent_is_a_caller_error_and_nothing_is_sent(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    corrected: GradeRecord,
    change_id: str,
    school: str,
    version: int,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        client.amend(change_id, school, replace(corrected, version=version))
    assert ministry.requests == []


def test_a_later_version_rides_in_a_submission_and_a_first_version_says_nothing_of_it(
    client: MinistryClient,
    ministry: ScriptedMinistry,
    corrected: GradeRecord,
    grade_record: Callable[..., GradeRecord],
    contract: Callable[[str, Any], None],
) -> None:
    ministry.answers = [
        lambda request: httpx.Response(
            200,
            json={
                "client_batch_id": "luca-b",
                "received_at": "2025-05-02T12:00:00.000Z",
                "replayed": False,
                "results": [
                    {"record_id": r["record_id"], "status": "accepted"}
                    for r in json.loads(request.content)["records"]
                ],
            },
        )
    ]

    outcomes = client.submit("luca-b", SCHOOL_CODE, "2025-T1", [grade_record("ev-1"), corrected])

    body = json.loads(ministry.changes()[0].content)
    contract("GradeBatch", body)
    assert "version" not in body["records"][0]
    assert body["records"][1]["version"] == 3
    assert [o.version for o in outcomes] == [1, 3]
