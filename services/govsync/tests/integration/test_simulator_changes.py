"""The simulator's amendments and retractions on a real port with the real client: the contract, the
ministry's rules for changing what it holds, deduplication by client change id (a repeated id gets
the first answer and is never applied twice), and the fault plan applied to these calls too."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from luca_govsync.adapters.ministry_client import MinistryClient, MinistrySettings
from luca_govsync.domain.changes import client_change_id
from luca_govsync.domain.errors import MinistryGarbled, MinistryRefused, MinistryTimeout, MinistryUnavailable
from luca_govsync.domain.model import GradeRecord, RecordStatus, client_batch_id
from luca_govsync.domain.tally import ChangeKind
from luca_govsync.simulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimulatorServer
from luca_govsync.simulator.faults import GARBAGE_KINDS

SCHOOL = "RBD-10234"
PERIOD = "2025-T1"
HANG = 1.0
Contract = Callable[[str, Any], None]


@pytest.fixture(scope="module")
def tls() -> ssl.SSLContext:
    return ssl.create_default_context()


@pytest.fixture
def sim(simulator: SimulatorServer, tls: ssl.SSLContext) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.url, timeout=5, verify=tls) as http:
        yield http


@pytest.fixture
def client(simulator: SimulatorServer, tls: ssl.SSLContext) -> Iterator[MinistryClient]:
    settings = MinistrySettings(
        base_url=simulator.url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        timeout_seconds=0.3,
    )
    with MinistryClient(settings, ssl_context=tls) as fresh:
        yield fresh


@pytest.fixture
def held(client: MinistryClient, grade_record: Callable[..., GradeRecord]) -> list[GradeRecord]:
    """Three records the ministry accepted (version 1)."""
    records = [grade_record(f"r-{n}", student_id=f"st-{n}") for n in range(1, 4)]
    client.submit(client_batch_id(SCHOOL, PERIOD, [r.record_id for r in records]), SCHOOL, PERIOD, records)
    return records


def later(record: GradeRecord, version: int = 2, **values: Any) -> GradeRecord:
    return replace(record, version=version, **values)


def change_id(kind: ChangeKind, record: GradeRecord) -> str:
    return client_change_id(kind, SCHOOL, PERIOD, record.record_id, record.version)


def amend(client: MinistryClient, record: GradeRecord) -> Any:
    return client.amend(change_id(ChangeKind.AMENDMENT, record), SCHOOL, record)


def retract(client: MinistryClient, record: GradeRecord) -> Any:
    return client.retract(change_id(ChangeKind.RETRACTION, record), SCHOOL, record)


def faults(sim: httpx.Client, **plan: Any) -> None:
    assert sim.put("/_sim/faults", json=plan).status_code == 200


def books(sim: httpx.Client) -> dict[str, Any]:
    return dict(sim.get("/_sim/ledger", params={"entries": "true"}).json())


def entry(sim: httpx.Client, record_id: str) -> dict[str, Any]:
    return next(e for e in books(sim)["entries"] if e["record_id"] == record_id)


def test_the_change_answers_and_problems_conform_to_the_document(
    sim: httpx.Client, held: list[GradeRecord], contract: Contract
) -> None:
    token = sim.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    path = f"/v1/grade-records/{SCHOOL}/{PERIOD}/r-1/amendments/luca-a-1"
    body = {"version": 2, "student_id": "st-1", "course_id": "1A", "subject_id": "math", "grade": "6.9",
            "recorded_at": "2025-04-30T15:00:00Z"}  # fmt: skip

    fresh = sim.put(path, json=body, headers=auth)
    replay = sim.put(path, json=body, headers=auth)
    retraction = sim.put(
        f"/v1/grade-records/{SCHOOL}/{PERIOD}/r-2/retractions/luca-r-2", json={"version": 2}, headers=auth
    )

    for answer in (fresh, replay, retraction):
        assert answer.status_code == 200
        contract("ChangeAnswer", answer.json())
    assert (fresh.json()["replayed"], replay.json()["replayed"]) == (False, True)
    assert replay.json()["received_at"] == fresh.json()["received_at"]
    problems = {
        "409": sim.put(path, json={**body, "grade": "5.0"}, headers=auth),
        "422": sim.put(
            path.replace("luca-a-1", "luca-a-9"), json={**body, "version": 1, "extra": 1}, headers=auth
        ),
        "400": sim.put(path, content=b"{not json", headers=auth),
        "401": sim.put(path, json=body, headers={"Authorization": "Bearer nope"}),
    }
    for name, answer in problems.items():
        assert answer.status_code == int(name), name
        assert answer.headers["content-type"] == "application/problem+json", name
        contract("Problem", answer.json())
    contract("ValidationProblem", problems["422"].json())
    assert {e["pointer"] for e in problems["422"].json()["errors"]} == {"/version", "/extra"}


def test_an_amendment_changes_what_the_ministry_holds_once_however_often_it_is_sent(
    client: MinistryClient, sim: httpx.Client, held: list[GradeRecord]
) -> None:
    corrected = later(held[0], score="6.9")

    first, second = amend(client, corrected), amend(client, corrected)

    assert (first.status, first.replayed, second.status, second.replayed) == (
        RecordStatus.ACCEPTED,
        False,
        RecordStatus.ACCEPTED,
        True,
    )
    assert (entry(sim, "r-1")["version"], entry(sim, "r-1")["grade"]) == (2, "6.9")
    ledger = books(sim)
    assert ledger["changes"]["amendments"] == {"applied": 1, "records": 1, "duplicates": 0}
    assert ledger["acceptances"] == 3  # the record was not accepted again
    stats = sim.get("/_sim/stats").json()
    assert (stats["changes_processed"], stats["change_replays"]) == (1, 1)
    assert stats["calls"]["amend"] == {"200": 2}


def test_a_retraction_is_final(client: MinistryClient, sim: httpx.Client, held: list[GradeRecord]) -> None:
    retracted = later(held[1], retracted=True)
    assert retract(client, retracted).status is RecordStatus.ACCEPTED

    after = amend(client, later(held[1], version=3, score="7.0"))
    again = retract(client, later(held[1], version=4, retracted=True))

    assert (after.status, after.reason_code) == (RecordStatus.REJECTED, "RECORD_RETRACTED")
    assert (again.status, again.reason_code) == (RecordStatus.REJECTED, "RECORD_RETRACTED")
    assert entry(sim, "r-2")["retracted"] is True
    ledger = books(sim)
    assert ledger["retracted"] == 1
    assert ledger["changes"]["retractions"] == {"applied": 1, "records": 1, "duplicates": 0}


def test_a_change_the_ministry_cannot_apply_is_rejected_with_its_reason_and_changes_nothing(
    client: MinistryClient, sim: httpx.Client, held: list[GradeRecord]
) -> None:
    unknown = amend(client, later(replace(held[2], record_id="r-unknown")))
    amend(client, later(held[2], version=3, score="5.5"))  # the ministry now holds version 3
    stale = client.amend("luca-a-stale", SCHOOL, later(held[2], version=2, score="4.4"))
    out_of_range = amend(client, later(held[1], score="7.5"))

    assert [(a.status, a.reason_code) for a in (unknown, stale, out_of_range)] == [
        (RecordStatus.REJECTED, "RECORD_NOT_FOUND"),
        (RecordStatus.REJECTED, "STALE_VERSION"),
        (RecordStatus.REJECTED, "GRADE_OUT_OF_RANGE"),
    ]
    assert (entry(sim, "r-3")["version"], entry(sim, "r-3")["grade"]) == (3, "5.5")
    assert entry(sim, "r-2")["version"] == 1
    assert books(sim)["changes"]["amendments"]["applied"] == 1


def test_the_same_change_id_for_another_change_is_refused_and_applies_nothing(
    client: MinistryClient, sim: httpx.Client, held: list[GradeRecord]
) -> None:
    amend(client, later(held[0], score="6.0"))
    with pytest.raises(MinistryRefused) as refused:
        client.amend(change_id(ChangeKind.AMENDMENT, later(held[0])), SCHOOL, later(held[0], score="2.0"))
    assert refused.value.status == 409
    assert entry(sim, "r-1")["grade"] == "6.0"


# -- the fault plan applies to changes ------------------------------------------------------------------
def test_a_lost_answer_then_a_resend_applies_the_change_once(
    client: MinistryClient, sim: httpx.Client, held: list[GradeRecord]
) -> None:
    faults(sim, endpoints=["amend"], timeout_after_rate=1.0, hang_seconds=HANG)
    with pytest.raises(MinistryTimeout):
        amend(client, later(held[0], score="6.6"))
    assert entry(sim, "r-1")["version"] == 2, "the ministry applied it before hanging"

    faults(sim)
    answer = amend(client, later(held[0], score="6.6"))

    assert (answer.status, answer.replayed) == (RecordStatus.ACCEPTED, True)
    assert books(sim)["changes"]["amendments"]["applied"] == 1


@pytest.mark.parametrize("endpoint", ["amend", "retract"])
def test_transient_errors_and_throttling_hit_changes_and_apply_nothing(
    client: MinistryClient, sim: httpx.Client, held: list[GradeRecord], endpoint: str
) -> None:
    faults(sim, endpoints=[endpoint], error_rate=1.0, seed=3)
    send = amend if endpoint == "amend" else retract
    with pytest.raises(MinistryUnavailable):
        send(client, later(held[0], retracted=endpoint == "retract"))
    # the other kind of change is not targeted by this plan
    other = retract if endpoint == "amend" else amend
    assert other(client, later(held[1], retracted=endpoint == "amend")).status is RecordStatus.ACCEPTED
    assert entry(sim, "r-1")["version"] == 1
    assert sim.get("/_sim/stats").json()["faults"] == {"error": 1}


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
@pytest.mark.parametrize("processed", [True, False], ids=["processed", "not-processed"])
def test_a_garbled_answer_to_a_change_is_garbled_and_a_resend_applies_it_once(
    client: MinistryClient, sim: httpx.Client, held: list[GradeRecord], kind: str, processed: bool
) -> None:
    faults(sim, endpoints=["retract"], garbage_rate=1.0, garbage_kinds=[kind], garbage_processed=processed)
    with pytest.raises(MinistryGarbled):
        retract(client, later(held[0], retracted=True))
    assert entry(sim, "r-1")["retracted"] is processed

    faults(sim)
    answer = retract(client, later(held[0], retracted=True))

    assert (answer.status, answer.replayed) == (RecordStatus.ACCEPTED, processed)
    assert books(sim)["changes"]["retractions"] == {"applied": 1, "records": 1, "duplicates": 0}


def test_an_outage_makes_changes_unavailable(
    client: MinistryClient, sim: httpx.Client, held: list[GradeRecord]
) -> None:
    faults(sim, outage_seconds=600)
    with pytest.raises(MinistryUnavailable) as unavailable:
        amend(client, later(held[0]))
    assert unavailable.value.status == 503
    assert books(sim)["changes"]["amendments"]["applied"] == 0
