"""The gateway's burst-path routes against a real queue: what the AWS edge's SQS integration does.

``POST /v1/events`` and ``POST /v1/events/batch`` check the token, the per-school limit and the body
against the contract's JSON Schema, then put the events on the queue with the school taken from the
token; they never reach the grading service.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from luca_infra.definitions import NOT_THE_SUBMITTER, PlatformDefinition
from luca_infra.local.emulator import Emulator
from luca_infra.local.gateway import (
    AccessLog,
    EventIntakeSettings,
    Gateway,
    GatewaySettings,
    RateLimit,
    ServedGateway,
)
from luca_infra.local.provision import EventQueues
from luca_platform.tokens import CognitoTokenVerifier

if TYPE_CHECKING:
    from conftest import FakeUpstream, Mint

pytestmark = pytest.mark.emulator
PROBLEM_JSON = "application/problem+json"
Drained = Callable[[str], list[dict[str, Any]]]


def event(event_id: str = "evt-00000001", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id,
        "student_id": "st-1",
        "course_id": "1A",
        "subject_id": "math",
        "occurred_at": "2025-03-01T10:00:00Z",
        "schema_version": 1,
        "exercise_submission": {"exercise_id": "ex-1", "score": "6.5"},
    }
    body.update(overrides)
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def access_log_path(tmp_path: Path) -> Path:
    return tmp_path / "access.jsonl"


@pytest.fixture
def serve(
    verifier: CognitoTokenVerifier,
    upstream: FakeUpstream,
    access_log_path: Path,
    emulator: Emulator,
    definition: PlatformDefinition,
    queues: EventQueues,
) -> Iterator[Callable[..., httpx.Client]]:
    """``serve(**settings)``: a gateway whose event routes put events on this test's queue."""
    with contextlib.ExitStack() as stack:

        def start(queue_url: str | None = None, **settings: Any) -> httpx.Client:
            events = EventIntakeSettings.from_definition(
                definition.ingest,
                queue_url=queue_url or queues.queue_url,
                region=emulator.region,
                endpoint_url=emulator.url,
            )
            gateway = Gateway(
                GatewaySettings(
                    upstream_url="http://grading.test", access_log_stdout=False, events=events, **settings
                ),
                verifier=verifier,
                transport=httpx.ASGITransport(app=upstream.app),
                access_log=AccessLog(path=access_log_path, stdout=False),
            )
            served = ServedGateway(gateway, port=0)
            url = served.start()
            stack.callback(served.stop)
            return stack.enter_context(httpx.Client(base_url=url, timeout=10, trust_env=False))

        yield start


@pytest.fixture
def client(serve: Callable[..., httpx.Client]) -> httpx.Client:
    return serve()


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == f"https://errors.luca.school/{kind}"
    assert body["detail"]
    assert body["correlation_id"] == response.headers["x-correlation-id"]
    return body


# -- accepted -----------------------------------------------------------------------------------------------
def test_an_event_is_queued_with_the_tokens_school_and_the_correlation_id(
    client: httpx.Client, mint: Mint, queues: EventQueues, drained: Drained, upstream: FakeUpstream
) -> None:
    sent = event()
    headers = bearer(mint.token(school="school-a", groups=("students",))) | {
        # Claims a client might try: the edge takes the school from the verified token only.
        "X-School-Id": "school-b",
        "X-Correlation-Id": "app-req-12345",
    }

    response = client.post("/v1/events", json=sent, headers=headers)

    assert response.status_code == 202, response.text
    assert response.json() == {"event_ids": [sent["event_id"]]}
    (message,) = drained(queues.queue_url)
    assert json.loads(message["Body"]) == sent
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes == {"school_id": "school-a", "correlation_id": "app-req-12345"}
    assert response.headers["x-correlation-id"] == "app-req-12345"
    assert not upstream.requests  # the grading service never sees the burst path


def test_a_batch_is_queued_in_order_one_message_per_event(
    client: httpx.Client, mint: Mint, queues: EventQueues, drained: Drained, upstream: FakeUpstream
) -> None:
    events = [event(f"evt-0000000{n}", student_id=f"st-{n}") for n in range(1, 4)]

    response = client.post(
        "/v1/events/batch", json={"events": events}, headers=bearer(mint.token(school="school-b"))
    )

    assert response.status_code == 202, response.text
    assert response.json() == {"event_ids": [e["event_id"] for e in events]}
    messages = drained(queues.queue_url)
    assert sorted(json.loads(m["Body"])["event_id"] for m in messages) == [e["event_id"] for e in events]
    assert {m["MessageAttributes"]["school_id"]["StringValue"] for m in messages} == {"school-b"}
    # A teacher's token names no student: the events may be any of the school's students'.
    assert not any("submitted_by_student" in m["MessageAttributes"] for m in messages)
    correlation = {m["MessageAttributes"]["correlation_id"]["StringValue"] for m in messages}
    assert correlation == {response.headers["x-correlation-id"]}
    assert not upstream.requests


def test_a_students_events_carry_the_student_from_the_token(
    client: httpx.Client, mint: Mint, queues: EventQueues, drained: Drained
) -> None:
    token = mint.token(school="school-a", groups=("students",), **{"custom:student_id": "st-7"})
    events = [event("evt-00000071", student_id="st-7"), event("evt-00000072", student_id="st-7")]

    response = client.post("/v1/events/batch", json={"events": events}, headers=bearer(token))

    assert response.status_code == 202, response.text
    messages = drained(queues.queue_url)
    assert len(messages) == 2
    for message in messages:
        attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
        assert attributes["school_id"] == "school-a"
        assert attributes["submitted_by_student"] == "st-7"


# -- refused ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("authorization", [None, "Bearer garbage", "Basic abc"])
def test_without_a_verified_token_nothing_is_queued(
    client: httpx.Client, queues: EventQueues, drained: Drained, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = client.post("/v1/events", json=event(), headers=headers)

    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert drained(queues.queue_url) == []


INVALID_SINGLE = {
    "names a school": event(school_id="school-b"),
    "no event id": {k: v for k, v in event().items() if k != "event_id"},
    "event id too short": event("evt-1"),
    "no submission": {k: v for k, v in event().items() if k != "exercise_submission"},
    "submission with answers and no items": event(
        exercise_submission={"exercise_id": "ex-1", "answers": {"items": []}}
    ),
    "schema version as text": event(schema_version="1"),
    # The contract pins the versions the processor knows: an unknown one is refused at the edge.
    "unknown schema version": event(schema_version=2),
    "occurred_at not a time": event(occurred_at="yesterday"),
    "not an object": [event()],
}


@pytest.mark.parametrize("case", list(INVALID_SINGLE))
def test_a_body_outside_the_contract_is_a_400_and_nothing_is_queued(
    client: httpx.Client, mint: Mint, queues: EventQueues, drained: Drained, case: str
) -> None:
    response = client.post("/v1/events", json=INVALID_SINGLE[case], headers=bearer(mint.token()))

    body = assert_problem(response, 400, "validation")
    assert body["errors"][0]["msg"]
    assert drained(queues.queue_url) == []


def test_a_body_naming_a_school_is_refused_because_the_contract_has_no_such_field(
    client: httpx.Client, mint: Mint
) -> None:
    response = client.post(
        "/v1/events/batch",
        json={"events": [event(), event("evt-00000002", school_id="school-b")]},
        headers=bearer(mint.token(school="school-a")),
    )

    body = assert_problem(response, 400, "validation")
    assert "school_id" in body["errors"][0]["msg"]


@pytest.mark.parametrize(
    "document",
    [
        {"events": []},
        {"events": [event(f"evt-{n:08d}") for n in range(11)]},
        {"events": [event()], "school_id": "school-b"},
        [event()],
    ],
    ids=["empty", "eleven events", "envelope names a school", "bare list"],
)
def test_a_batch_outside_the_contract_is_a_400(
    client: httpx.Client, mint: Mint, queues: EventQueues, drained: Drained, document: Any
) -> None:
    response = client.post("/v1/events/batch", json=document, headers=bearer(mint.token()))

    assert_problem(response, 400, "validation")
    assert drained(queues.queue_url) == []


@pytest.mark.parametrize("route", ["/v1/events", "/v1/events/batch"])
def test_a_student_cannot_submit_another_students_events(
    client: httpx.Client, mint: Mint, queues: EventQueues, drained: Drained, route: str
) -> None:
    token = mint.token(school="school-a", groups=("students",), **{"custom:student_id": "st-7"})
    own, other = event("evt-00000081", student_id="st-7"), event("evt-00000082", student_id="st-8")
    body = other if route == "/v1/events" else {"events": [own, other]}

    response = client.post(route, json=body, headers=bearer(token))

    problem = assert_problem(response, 403, "forbidden")
    assert problem["detail"] == NOT_THE_SUBMITTER  # the AWS edge's words too
    assert problem["event_ids"] == ["evt-00000082"]
    assert drained(queues.queue_url) == []  # the request is refused whole: not even the own event


def test_a_body_that_is_not_json_is_a_400(client: httpx.Client, mint: Mint) -> None:
    response = client.post(
        "/v1/events",
        content=b'{"event_id": ',
        headers=bearer(mint.token()) | {"Content-Type": "application/json"},
    )

    assert_problem(response, 400, "malformed-json")


def test_a_body_that_is_not_sent_as_json_is_a_415(client: httpx.Client, mint: Mint) -> None:
    response = client.post(
        "/v1/events",
        content=json.dumps(event()).encode(),
        headers=bearer(mint.token()) | {"Content-Type": "text/plain"},
    )

    assert_problem(response, 415, "unsupported-media-type")


def test_duplicate_event_ids_in_one_batch_are_a_400_naming_them(
    client: httpx.Client, mint: Mint, queues: EventQueues, drained: Drained
) -> None:
    events = [event("evt-00000001"), event("evt-00000002"), event("evt-00000001", student_id="st-9")]

    response = client.post("/v1/events/batch", json={"events": events}, headers=bearer(mint.token()))

    body = assert_problem(response, 400, "duplicate-event-ids")
    assert body["event_ids"] == ["evt-00000001"]
    assert drained(queues.queue_url) == []


def oversized_event(definition: PlatformDefinition, event_id: str = "evt-00000001") -> dict[str, Any]:
    """Within the contract (at most 200 answers), but over the edge's per-event byte limit."""
    answers = [{"question_id": f"question-{n:04d}-" + "x" * 50, "correct": True} for n in range(200)]
    oversized = event(event_id, exercise_submission={"exercise_id": "ex-1", "answers": {"items": answers}})
    assert len(json.dumps(oversized, separators=(",", ":"))) > definition.ingest.max_event_bytes
    return oversized


def test_an_event_over_the_byte_limit_is_a_413(
    client: httpx.Client,
    mint: Mint,
    definition: PlatformDefinition,
    queues: EventQueues,
    drained: Drained,
) -> None:
    single = client.post("/v1/events", json=oversized_event(definition), headers=bearer(mint.token()))
    in_batch = client.post(
        "/v1/events/batch",
        json={"events": [event("evt-00000002"), oversized_event(definition)]},
        headers=bearer(mint.token()),
    )

    for response in (single, in_batch):
        body = assert_problem(response, 413, "content-too-large")
        # One limit for every body on every route, the WAF's in AWS.
        assert str(definition.request_body_limit_bytes) in body["detail"]
    assert drained(queues.queue_url) == []


def test_a_batch_is_held_to_the_one_body_limit_however_small_its_events(
    client: httpx.Client,
    mint: Mint,
    definition: PlatformDefinition,
    queues: EventQueues,
    drained: Drained,
) -> None:
    def batch(answered: int) -> dict[str, Any]:
        answers = [{"question_id": f"q-{n:03d}-" + "x" * 50, "correct": True} for n in range(answered)]
        return {
            "events": [
                event(
                    f"evt-{n:08d}", exercise_submission={"exercise_id": "ex-1", "answers": {"items": answers}}
                )
                for n in range(definition.ingest.max_events_per_request)
            ]
        }

    fits, too_big = batch(12), batch(25)
    limit = definition.request_body_limit_bytes
    assert len(json.dumps(fits)) <= limit < len(json.dumps(too_big))
    assert all(len(json.dumps(e)) < definition.ingest.max_event_bytes for e in too_big["events"])

    refused = client.post("/v1/events/batch", json=too_big, headers=bearer(mint.token()))
    accepted = client.post("/v1/events/batch", json=fits, headers=bearer(mint.token()))

    assert_problem(refused, 413, "content-too-large")
    assert accepted.status_code == 202, accepted.text
    assert len(drained(queues.queue_url)) == definition.ingest.max_events_per_request


def test_a_huge_declared_body_is_refused_before_it_is_read(
    client: httpx.Client, mint: Mint, definition: PlatformDefinition
) -> None:
    huge = b"[" + b" " * (definition.ingest.max_events_per_request * definition.ingest.max_event_bytes * 2)

    response = client.post(
        "/v1/events/batch",
        content=huge,
        headers=bearer(mint.token()) | {"Content-Type": "application/json"},
    )

    assert_problem(response, 413, "content-too-large")


def test_only_post_is_routed_and_never_to_the_service(
    client: httpx.Client, mint: Mint, upstream: FakeUpstream
) -> None:
    response = client.get("/v1/events", headers=bearer(mint.token()))

    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "POST"
    assert not upstream.requests


# -- the edge's other duties --------------------------------------------------------------------------------
def test_the_schools_rate_limit_applies_to_events(
    serve: Callable[..., httpx.Client], mint: Mint, queues: EventQueues, drained: Drained
) -> None:
    client = serve(school_limits={"school-a": RateLimit(rate=0.1, burst=1)})
    headers = bearer(mint.token(school="school-a"))

    first = client.post("/v1/events", json=event("evt-00000001"), headers=headers)
    second = client.post("/v1/events", json=event("evt-00000002"), headers=headers)

    assert first.status_code == 202
    assert_problem(second, 429, "rate-limited")
    assert int(second.headers["retry-after"]) >= 1
    assert [json.loads(m["Body"])["event_id"] for m in drained(queues.queue_url)] == ["evt-00000001"]


def test_one_access_log_line_per_event_request(
    client: httpx.Client, mint: Mint, access_log_path: Path
) -> None:
    accepted = client.post("/v1/events", json=event(), headers=bearer(mint.token(school="school-a")))
    refused = client.post("/v1/events", json=event("bad"), headers=bearer(mint.token(school="school-a")))

    lines = [json.loads(line) for line in access_log_path.read_text(encoding="utf-8").splitlines()]
    assert [(line["path"], line["status"], line["school_id"]) for line in lines] == [
        ("/v1/events", 202, "school-a"),
        ("/v1/events", 400, "school-a"),
    ]
    assert [line["correlation_id"] for line in lines] == [
        accepted.headers["x-correlation-id"],
        refused.headers["x-correlation-id"],
    ]


def test_a_queue_that_cannot_take_the_events_is_a_503_to_retry(
    serve: Callable[..., httpx.Client], mint: Mint, emulator: Emulator
) -> None:
    client = serve(queue_url=f"{emulator.url}/123456789012/no-such-queue")

    response = client.post("/v1/events", json=event(), headers=bearer(mint.token()))

    assert_problem(response, 503, "queue-unavailable")
    assert response.headers["retry-after"] == "1"
