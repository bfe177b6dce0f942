"""The ministry simulator on a real port with the real client: the contract, exactly-once under
replays and lost answers, every fault classified as the state machine expects, and the books
(ledger, stats) that prove nothing was accepted twice."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from starlette.routing import Route

from luca_govsync.adapters.ministry_client import MinistryClient, MinistrySettings
from luca_govsync.domain.errors import (
    MinistryError,
    MinistryGarbled,
    MinistryRefused,
    MinistryThrottled,
    MinistryTimeout,
    MinistryUnavailable,
)
from luca_govsync.domain.model import GradeRecord, RecordStatus, client_batch_id
from luca_govsync.ministry import openapi_document, openapi_text
from luca_govsync.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, FaultPlan, SimulatorServer
from luca_govsync.simulator.__main__ import parser, plan_from
from luca_govsync.simulator.faults import GARBAGE_KINDS

SCHOOL = "RBD-10234"
PERIOD = "2025-T1"
CLIENT_TIMEOUT = 0.3
HANG = 1.0  # longer than the client waits; the server lets it go when it stops or is reset
FUZZ_EXAMPLES = 8
Contract = Callable[[str, Any], None]


@pytest.fixture(scope="module")
def tls() -> ssl.SSLContext:
    """One trust store for the module: loading it costs more than a test (the simulator is plain HTTP)."""
    return ssl.create_default_context()


@pytest.fixture
def sim(simulator: SimulatorServer, tls: ssl.SSLContext) -> Iterator[httpx.Client]:
    """A plain HTTP client for the simulator's own endpoints (and raw ministry calls)."""
    with httpx.Client(base_url=simulator.url, timeout=5, verify=tls) as http:
        yield http


def ministry_client(url: str, tls: ssl.SSLContext, secret: str = DEFAULT_CLIENT_SECRET) -> MinistryClient:
    settings = MinistrySettings(
        base_url=url, client_id=DEFAULT_CLIENT_ID, client_secret=secret, timeout_seconds=CLIENT_TIMEOUT
    )
    return MinistryClient(settings, ssl_context=tls)


@pytest.fixture
def client(simulator: SimulatorServer, tls: ssl.SSLContext) -> Iterator[MinistryClient]:
    with ministry_client(simulator.url, tls) as fresh:
        yield fresh


@pytest.fixture
def records(grade_record: Callable[..., GradeRecord]) -> list[GradeRecord]:
    return [grade_record(f"r-{n:03d}", student_id=f"st-{n}") for n in range(1, 6)]


def batch_id(records: list[GradeRecord], school: str = SCHOOL) -> str:
    return client_batch_id(school, PERIOD, [record.record_id for record in records])


def faults(sim: httpx.Client, **plan: Any) -> dict[str, Any]:
    answer = sim.put("/_sim/faults", json=plan)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def ledger(sim: httpx.Client, **params: str) -> dict[str, Any]:
    return dict(sim.get("/_sim/ledger", params=params).json())


def stats(sim: httpx.Client) -> dict[str, Any]:
    return dict(sim.get("/_sim/stats").json())


def bearer(sim: httpx.Client) -> dict[str, str]:
    answer = sim.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def payload(records: list[GradeRecord], school: str = SCHOOL) -> dict[str, Any]:
    return {
        "school_code": school,
        "period": PERIOD,
        "records": [
            {
                "record_id": r.record_id,
                "student_id": r.student_id,
                "course_id": r.course_id,
                "subject_id": r.subject_id,
                "grade": r.score,
                "recorded_at": r.recorded_at,
            }
            for r in records
        ],
    }


def submit(client: MinistryClient, records: list[GradeRecord], school: str = SCHOOL) -> list[Any]:
    return client.submit(batch_id(records, school), school, PERIOD, records)


# -- the contract ----------------------------------------------------------------------------------------
def test_the_document_is_valid_openapi_shipped_as_package_data() -> None:
    document = yaml.safe_load(openapi_text())
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document == openapi_document()


def test_the_document_and_the_simulator_serve_the_same_operations(simulator: SimulatorServer) -> None:
    documented = {
        (path, method.upper())
        for path, operations in openapi_document()["paths"].items()
        for method in operations
        if method in {"get", "put", "post", "delete", "patch"}
    }
    served = {
        (route.path, method)
        for route in simulator.app.routes
        if isinstance(route, Route) and not route.path.startswith("/_sim/")
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert served == documented
    assert documented == {
        ("/oauth2/token", "POST"),
        ("/v1/grade-batches/{client_batch_id}", "PUT"),
        ("/v1/grade-batches/{client_batch_id}", "GET"),
        ("/v1/grade-records/{school_code}/{period}/{record_id}/amendments/{client_change_id}", "PUT"),
        ("/v1/grade-records/{school_code}/{period}/{record_id}/retractions/{client_change_id}", "PUT"),
    }


def test_the_simulators_answers_conform_to_the_document(
    sim: httpx.Client, records: list[GradeRecord], contract: Contract
) -> None:
    faults(sim, unknown_students=["st-2"])
    token = sim.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    contract("Token", token.json())
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    path = f"/v1/grade-batches/{batch_id(records)}"

    fresh = sim.put(path, json=payload(records), headers=auth)
    replay = sim.put(path, json=payload(records[::-1]), headers=auth)
    stored = sim.get(path, headers=auth)

    for answer in (fresh, replay, stored):
        assert answer.status_code == 200
        contract("BatchVerdict", answer.json())
    assert fresh.json()["replayed"] is False
    assert replay.json()["replayed"] is True, "the order of records does not make a payload different"
    assert stored.json()["results"] == fresh.json()["results"]
    assert replay.json()["received_at"] == fresh.json()["received_at"]

    problems = {
        "404": sim.get("/v1/grade-batches/luca-nothing-here", headers=auth),
        "409": sim.put(path, json=payload(records[:2]), headers=auth),
        "400": sim.put(path, content=b"{not json", headers=auth),
        "401": sim.put(path, json=payload(records), headers={"Authorization": "Bearer nope"}),
        "token-401": sim.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, auth=("luca", "wrong")
        ),
    }
    for name, answer in problems.items():
        assert answer.headers["content-type"] == "application/problem+json", name
        contract("Problem", answer.json())
    assert problems["401"].headers["www-authenticate"].startswith("Bearer")
    contract("OAuthProblem", problems["token-401"].json())
    assert problems["token-401"].json()["error"] == "invalid_client"

    invalid = dict(payload(records))
    invalid["records"] = [
        {**invalid["records"][0], "grade": "six"},
        invalid["records"][0],
        {"record_id": "x"},
    ]
    refused = sim.put("/v1/grade-batches/luca-invalid", json=invalid, headers=auth)
    assert refused.status_code == 422
    contract("ValidationProblem", refused.json())
    pointers = {error["pointer"] for error in refused.json()["errors"]}
    assert {"/records/0/grade", "/records/1/record_id", "/records/2/student_id"} <= pointers


def test_fuzzed_requests_get_answers_within_the_contract(
    sim: httpx.Client, simulator: SimulatorServer
) -> None:
    """Schemathesis sends what the document allows (and what it does not): no 5xx without a fault,
    and every answer has a documented status and matches its schema."""
    auth = bearer(sim)
    api = schemathesis.openapi.from_dict(openapi_document())
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) == 5
    for operation in operations:
        fuzz(operation, simulator.url, {} if operation.path == "/oauth2/token" else auth)
    books = ledger(sim)
    assert books["duplicates"] == 0
    assert books["changes"]["duplicate_changes"] == []


def fuzz(operation: Any, url: str, headers: dict[str, str]) -> None:
    session = requests.Session()

    @given(case=operation.as_strategy())
    @settings(
        max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def conforms(case: schemathesis.Case) -> None:
        answer = case.call(base_url=url, session=session, headers={**(case.headers or {}), **headers})
        assert answer.status_code < 500, f"{case.method} {case.formatted_path}: {answer.text}"
        case.validate_response(answer, checks=[status_code_conformance, response_schema_conformance])

    conforms()


def test_the_token_endpoint_speaks_client_credentials_only(sim: httpx.Client, contract: Contract) -> None:
    basic = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    wrong_grant = sim.post("/oauth2/token", data={"grant_type": "password"}, auth=basic)
    no_auth = sim.post("/oauth2/token", data={"grant_type": "client_credentials"})
    as_json = sim.post("/oauth2/token", json={"grant_type": "client_credentials"}, auth=basic)
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "unsupported_grant_type")
    assert (no_auth.status_code, no_auth.json()["error"]) == (401, "invalid_client")
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    for answer in (wrong_grant, no_auth, as_json):
        contract("OAuthProblem", answer.json())


# -- exactly once ----------------------------------------------------------------------------------------
def test_happy_path_every_record_accepted_once(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord]
) -> None:
    outcomes = submit(client, records)

    assert [(o.record_id, o.student_id, o.status) for o in outcomes] == [
        (r.record_id, r.student_id, RecordStatus.ACCEPTED) for r in records
    ]
    books = ledger(sim)
    assert (books["records"], books["acceptances"], books["duplicates"]) == (5, 5, 0)
    assert books["by_school"] == {SCHOOL: {"records": 5, "periods": {PERIOD: 5}}}
    counts = stats(sim)
    assert counts["batches_processed"] == 1
    assert counts["calls"] == {"submit": {"200": 1}, "token": {"200": 1}}


def test_the_same_batch_twice_is_counted_once_and_answered_as_a_replay(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord]
) -> None:
    first = submit(client, records)
    second = submit(client, records)

    assert second == first
    books = ledger(sim, entries="true")
    assert (books["acceptances"], books["duplicates"]) == (5, 0)
    assert {entry["acceptances"] for entry in books["entries"]} == {1}
    counts = stats(sim)
    assert (counts["batches_processed"], counts["replays"]) == (1, 1)
    assert client.fetch(batch_id(records), records=records) == first


def test_the_same_batch_id_with_another_payload_is_refused_and_records_nothing(
    client: MinistryClient,
    sim: httpx.Client,
    records: list[GradeRecord],
    grade_record: Callable[..., GradeRecord],
) -> None:
    submit(client, records)
    changed = [*records[:-1], grade_record(records[-1].record_id, student_id="st-5", score="5.5")]

    with pytest.raises(MinistryRefused) as refused:
        client.submit(batch_id(records), SCHOOL, PERIOD, changed)

    assert refused.value.status == 409
    assert "different payload" in refused.value.detail
    assert ledger(sim)["acceptances"] == 5
    assert stats(sim)["conflicts"] == 1


def test_a_batch_the_ministry_finds_invalid_is_refused(
    client: MinistryClient, sim: httpx.Client, grade_record: Callable[..., GradeRecord]
) -> None:
    with pytest.raises(MinistryRefused) as refused:
        submit(client, [grade_record("r-1"), grade_record("r-2", score="seis")])
    assert refused.value.status == 422
    assert ledger(sim)["records"] == 0


def test_a_school_the_client_may_not_submit_for_is_refused(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord]
) -> None:
    faults(sim, forbidden_schools=[SCHOOL])
    with pytest.raises(MinistryRefused) as refused:
        submit(client, records)
    assert refused.value.status == 403
    assert ledger(sim)["records"] == 0


def test_concurrent_resends_of_the_same_batches_are_accepted_once(
    client: MinistryClient, sim: httpx.Client, grade_record: Callable[..., GradeRecord]
) -> None:
    batches = [[grade_record(f"b{b}-r{n}", student_id=f"st-{b}{n}") for n in range(20)] for b in range(4)]
    failures: list[BaseException] = []

    def send(batch: list[GradeRecord]) -> None:
        try:
            submit(client, batch)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(batch,)) for batch in batches * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert failures == []
    books = ledger(sim)
    assert (books["records"], books["acceptances"], books["duplicates"]) == (80, 80, 0)
    counts = stats(sim)
    assert (counts["batches_processed"], counts["replays"]) == (4, 8)


# -- faults, as the client classifies them ----------------------------------------------------------------
@pytest.mark.parametrize("html_share", [0.0, 1.0], ids=["problem-body", "html-page"])
def test_transient_errors_are_unavailable(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord], html_share: float
) -> None:
    faults(sim, endpoints=["submit"], error_rate=1.0, error_html_share=html_share, seed=3)

    for _ in range(3):
        with pytest.raises(MinistryUnavailable) as unavailable:
            submit(client, records)
        assert unavailable.value.status in {500, 502, 503}
    assert ledger(sim)["records"] == 0
    assert stats(sim)["faults"] == {"error": 3}


def test_a_429_burst_is_throttled_with_retry_after_then_passes(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord]
) -> None:
    assert faults(sim, endpoints=["submit"], throttle_next=2, retry_after_seconds=4)["throttle_next"] == 2

    for remaining in (1, 0):
        with pytest.raises(MinistryThrottled) as throttled:
            submit(client, records)
        assert throttled.value.retry_after == 4
        assert sim.get("/_sim/faults").json()["throttle_next"] == remaining

    assert len(submit(client, records)) == 5
    assert stats(sim)["calls"]["submit"] == {"429": 2, "200": 1}


def test_random_429_bursts_come_in_runs(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord]
) -> None:
    faults(sim, endpoints=["submit"], throttle_rate=1.0, throttle_burst=3)
    with pytest.raises(MinistryThrottled):
        submit(client, records)
    assert sim.get("/_sim/faults").json()["throttle_next"] == 2


def test_retry_after_as_an_http_date_is_read_as_seconds(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord]
) -> None:
    faults(sim, endpoints=["submit"], throttle_next=1, retry_after_seconds=30, retry_after_as_date=True)
    with pytest.raises(MinistryThrottled) as throttled:
        submit(client, records)
    assert throttled.value.retry_after is not None
    assert 25 <= throttled.value.retry_after <= 32


def test_a_timeout_before_processing_records_nothing_and_a_resend_is_fresh(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord]
) -> None:
    faults(sim, endpoints=["submit"], timeout_before_rate=1.0, hang_seconds=HANG)
    with pytest.raises(MinistryTimeout):
        submit(client, records)
    assert ledger(sim)["records"] == 0

    faults(sim)
    submit(client, records)

    assert stats(sim)["replays"] == 0
    assert ledger(sim)["acceptances"] == 5


def test_a_timeout_after_processing_then_a_resend_is_counted_once(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord]
) -> None:
    """The case that proves exactly-once: the ministry recorded the batch, the answer was lost."""
    faults(sim, endpoints=["submit"], timeout_after_rate=1.0, hang_seconds=HANG)
    with pytest.raises(MinistryTimeout):
        submit(client, records)
    assert ledger(sim)["acceptances"] == 5, "the ministry recorded the batch before hanging"

    faults(sim)
    outcomes = submit(client, records)

    assert [outcome.status for outcome in outcomes] == [RecordStatus.ACCEPTED] * 5
    books = ledger(sim)
    assert (books["records"], books["acceptances"], books["duplicates"]) == (5, 5, 0)
    assert stats(sim)["replays"] == 1


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
@pytest.mark.parametrize("processed", [True, False], ids=["processed", "not-processed"])
def test_garbage_is_garbled_and_a_resend_is_counted_once(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord], kind: str, processed: bool
) -> None:
    faults(sim, endpoints=["submit"], garbage_rate=1.0, garbage_kinds=[kind], garbage_processed=processed)
    with pytest.raises(MinistryGarbled):
        submit(client, records)
    assert ledger(sim)["records"] == (5 if processed else 0)

    faults(sim)
    submit(client, records)

    books = ledger(sim)
    assert (books["acceptances"], books["duplicates"]) == (5, 0)
    assert stats(sim)["replays"] == (1 if processed else 0)


@pytest.mark.parametrize("kind", ["html", "truncated", "wrong_schema"])
def test_a_garbled_token_answer_is_garbled(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord], kind: str
) -> None:
    faults(sim, endpoints=["token"], garbage_rate=1.0, garbage_kinds=[kind])
    with pytest.raises(MinistryGarbled):
        submit(client, records)
    assert "submit" not in stats(sim)["calls"]


def test_an_outage_for_the_next_seconds_makes_every_call_unavailable(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord], simulator: SimulatorServer
) -> None:
    submit(client, records)  # a cached token: the outage hits the batch call itself
    plan = faults(sim, outage_seconds=600)
    assert plan["outage_start"] is not None

    with pytest.raises(MinistryUnavailable) as unavailable:
        submit(client, records)
    assert unavailable.value.status == 503
    assert "HTML" in unavailable.value.detail
    answer = sim.get(f"/v1/grade-batches/{batch_id(records)}")
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("text/html")
    assert "Retry-After" in answer.headers

    simulator.ministry.set_plan(FaultPlan())
    assert len(submit(client, records)) == 5
    assert stats(sim)["faults"] == {"outage": 2}


def test_an_outage_window_is_absolute_time(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord], ministry_clock: Any
) -> None:
    now = datetime.now(UTC)
    faults(
        sim,
        outage_start=(now + timedelta(hours=1)).isoformat(),
        outage_end=(now + timedelta(hours=2)).isoformat(),
    )
    submit(client, records)  # before the window

    ministry_clock.advance(90 * 60)  # inside it
    with pytest.raises(MinistryUnavailable):
        submit(client, records)

    # After it. The ministry's clock is now 2.5 h on, so it has expired the client's token: the
    # client gets a 401, refreshes once and passes.
    ministry_clock.advance(60 * 60)
    assert len(submit(client, records)) == 5
    assert stats(sim)["faults"] == {"outage": 1}


def test_an_expired_token_is_refreshed_once_by_the_client(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord], ministry_clock: Any
) -> None:
    faults(sim, token_ttl_seconds=120)
    submit(client, records)
    ministry_clock.advance(121)  # expired for the ministry, still fresh for the client's clock

    submit(client, records)

    counts = stats(sim)
    assert counts["tokens_issued"] == 2
    assert counts["calls"]["submit"] == {"200": 2, "401": 1}


def test_revoked_tokens_are_refreshed_once(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord]
) -> None:
    submit(client, records)
    assert sim.delete("/_sim/tokens").json() == {"revoked": 1}
    submit(client, records)
    assert stats(sim)["tokens_issued"] == 2


def test_wrong_credentials_are_refused(
    simulator: SimulatorServer, records: list[GradeRecord], tls: ssl.SSLContext
) -> None:
    with (
        ministry_client(simulator.url, tls, "not-the-secret") as wrong,
        pytest.raises(MinistryRefused) as refused,
    ):
        submit(wrong, records)
    assert refused.value.status == 401


def test_latency_is_added_without_changing_the_answer(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord]
) -> None:
    faults(sim, latency_seconds=0.01, jitter_seconds=0.01)
    assert len(submit(client, records)) == 5


def test_a_stopped_ministry_is_unavailable(records: list[GradeRecord], tls: ssl.SSLContext) -> None:
    with SimulatorServer() as stopped:
        url = stopped.url
    with ministry_client(url, tls) as client, pytest.raises(MinistryUnavailable):
        submit(client, records)


# -- rejections ------------------------------------------------------------------------------------------
def test_rejections_are_deterministic_and_carry_reason_codes(
    client: MinistryClient, sim: httpx.Client, grade_record: Callable[..., GradeRecord]
) -> None:
    plan = {"unknown_students": ["st-ghost"], "reject_rate": 0.3}
    batch = [grade_record(f"r-{n:02d}", student_id=f"st-{n}") for n in range(30)]
    batch += [
        grade_record("r-low", score="0.5"),
        grade_record("r-high", score="7.1"),
        grade_record("r-ghost", student_id="st-ghost"),
    ]
    faults(sim, **plan)
    first = {o.record_id: (o.status, o.reason_code) for o in submit(client, batch)}

    # A fresh ministry with the same rules, and the same records under another batch id.
    sim.post("/_sim/reset")
    faults(sim, **plan)
    again = {
        o.record_id: (o.status, o.reason_code) for o in client.submit("luca-other-id", SCHOOL, PERIOD, batch)
    }

    assert again == first
    assert first["r-low"] == first["r-high"] == (RecordStatus.REJECTED, "GRADE_OUT_OF_RANGE")
    assert first["r-ghost"] == (RecordStatus.REJECTED, "UNKNOWN_STUDENT")
    by_hash = [
        code
        for record_id, (_, code) in first.items()
        if record_id.startswith("r-") and record_id[2:].isdigit()
    ]
    assert 0 < by_hash.count("ENROLLMENT_MISMATCH") < 30
    rejected = sum(status is RecordStatus.REJECTED for status, _ in first.values())
    assert ledger(sim)["records"] == len(batch) - rejected


# -- the simulator's own surface -------------------------------------------------------------------------
def test_the_fault_plan_round_trips_and_refuses_nonsense(sim: httpx.Client) -> None:
    plan = faults(sim, error_rate=0.25, endpoints=["submit", "token"], garbage_kinds=["html"], seed=9)
    assert sim.get("/_sim/faults").json() == plan
    assert (plan["error_rate"], plan["endpoints"], plan["seed"]) == (0.25, ["submit", "token"], 9)

    for nonsense in (
        {"error_rate": 2},
        {"no_such_fault": 1},
        {"endpoints": ["admin"]},
        {"outage_start": "yesterday"},
        {"outage_start": "2025-05-02T10:00:00+00:00"},
        {"outage_start": "2025-05-02T10:00:00Z", "outage_end": "2025-05-02T09:00:00Z"},
        {"outage_start": "2025-05-02T10:00:00", "outage_end": "2025-05-02T11:00:00"},
    ):
        answer = sim.put("/_sim/faults", json=nonsense)
        assert answer.status_code == 422, nonsense
        assert answer.headers["content-type"] == "application/problem+json"
    assert sim.get("/_sim/faults").json() == plan


def test_a_seed_makes_the_faults_reproducible(
    simulator: SimulatorServer,
    sim: httpx.Client,
    tls: ssl.SSLContext,
    grade_record: Callable[..., GradeRecord],
) -> None:
    """The same calls against the same seed get the same answers (a fresh client each run, so that
    no stale token adds a call to one run)."""

    def run() -> list[str]:
        faults(sim, seed=42, endpoints=["submit"], error_rate=0.3, throttle_rate=0.1, garbage_rate=0.2)
        fates = []
        with ministry_client(simulator.url, tls) as client:
            for n in range(15):
                try:
                    submit(client, [grade_record(f"seeded-{n}")])
                    fates.append("ok")
                except MinistryError as error:
                    fates.append(f"{type(error).__name__}:{error.status}")
        return fates

    first = run()
    sim.post("/_sim/reset")
    assert run() == first
    assert len(set(first)) > 2, "the plan produced a mix of answers"


def test_stats_count_calls_by_endpoint_and_status(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord]
) -> None:
    submit(client, records)
    submit(client, records)
    client.fetch("luca-unknown")
    faults(sim, endpoints=["submit"], error_rate=1.0, error_html_share=0.0, seed=1)
    with pytest.raises(MinistryUnavailable) as unavailable:
        submit(client, records)

    counts = stats(sim)
    assert counts["calls"] == {
        "token": {"200": 1},
        "submit": {"200": 2, str(unavailable.value.status): 1},
        "fetch": {"404": 1},
    }
    assert (counts["batches_processed"], counts["replays"], counts["faults"]) == (1, 1, {"error": 1})


def test_reset_forgets_everything(
    client: MinistryClient, sim: httpx.Client, records: list[GradeRecord]
) -> None:
    faults(sim, error_rate=0.5)
    assert sim.post("/_sim/reset").json()["plan"]["error_rate"] == 0.0
    submit(client, records)  # the client's cached token died with the reset: one 401, then a new one
    sim.post("/_sim/reset")
    assert ledger(sim)["records"] == 0
    assert stats(sim)["calls"] == {}


def test_unknown_paths_are_problems(sim: httpx.Client) -> None:
    missing = sim.get("/v2/anything")
    wrong_method = sim.delete("/v1/grade-batches/luca-x")
    assert (missing.status_code, wrong_method.status_code) == (404, 405)
    assert (
        missing.headers["content-type"] == wrong_method.headers["content-type"] == "application/problem+json"
    )


# -- the command line ------------------------------------------------------------------------------------
def test_the_command_line_flags_build_the_plan() -> None:
    arguments = parser().parse_args(
        [
            "--port", "0", "--seed", "5", "--error-rate", "0.3", "--latency", "0.1", "--timeout-after-rate", "0.2",
            "--garbage-kinds", "html,truncated", "--garbage-not-processed", "--unknown-students", "a,b",
            "--outage-seconds", "30",
        ]
    )  # fmt: skip
    plan = plan_from(arguments)
    assert (plan.seed, plan.error_rate, plan.latency_seconds, plan.timeout_after_rate) == (5, 0.3, 0.1, 0.2)
    assert plan.garbage_kinds == ("html", "truncated")
    assert plan.garbage_processed is False
    assert plan.unknown_students == frozenset({"a", "b"})
    assert plan.outage_start is not None
    assert plan.outage_end is not None
    assert plan.outage_end - plan.outage_start == timedelta(seconds=30)


def test_python_dash_m_serves_the_simulator() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "luca_govsync.simulator",
            "--port",
            str(port),
            "--error-rate",
            "0.3",
            "--log-level",
            "warning",
        ],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        plan = None
        for _ in range(100):
            try:
                plan = httpx.get(f"http://127.0.0.1:{port}/_sim/faults", timeout=1).json()
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    break
                threading.Event().wait(0.05)
        assert plan is not None, process.stderr.read().decode() if process.stderr else "no output"
        assert plan["error_rate"] == 0.3
    finally:
        process.terminate()
        process.wait(10)
