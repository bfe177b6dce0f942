"""gRPC contract of ``GovSyncService.ListDeadLetters`` and ``RedriveDeadLetters``: the generated stubs
against an in-process server whose control reads an in-memory DLQ shared by two schools.

Who may: a school's admins and services acting for the school, for that school only. Everyone else
is PERMISSION_DENIED with its details, and a refused request starts nothing and removes nothing.
A redrive carries the caller's correlation id into the executions it starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import grpc
import pytest
from google.rpc import error_details_pb2

from luca.govsync.v1 import govsync_pb2, govsync_pb2_grpc
from luca_govsync.domain.model import BatchRef
from luca_govsync.entrypoints.grpc_server import create_server
from luca_govsync.service_layer.control import SyncControl
from luca_kernel.access import Principal, Role
from luca_kernel.errors import Unauthenticated
from luca_kernel.ids import SchoolId
from luca_platform.tokens import Authenticator
from luca_testing import grpc_status

DOMAIN = "govsync.luca.school"
PERIOD = "2025-T1"
SCHOOL_A, SCHOOL_B = "school-a", "school-b"
TOKENS = {
    "admin-a": Principal(SchoolId(SCHOOL_A), "sub-admin-a", frozenset({Role.ADMIN}), username="admin-a"),
    "service-a": Principal(SchoolId(SCHOOL_A), "sub-svc", frozenset({Role.SERVICE}), username="service:ops"),
    "teacher-a": Principal(SchoolId(SCHOOL_A), "sub-teacher", frozenset({Role.TEACHER}), username="t-a"),
    "student-a": Principal(SchoolId(SCHOOL_A), "sub-student", frozenset({Role.STUDENT}), username="s-a"),
    "admin-b": Principal(SchoolId(SCHOOL_B), "sub-admin-b", frozenset({Role.ADMIN}), username="admin-b"),
}


class FakeAuthenticator:
    def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or token not in TOKENS:
            raise Unauthenticated("invalid token")
        return TOKENS[token]


@dataclass
class FakeExecutions:
    started: dict[str, dict[str, object]] = field(default_factory=dict)

    def start(self, name: str, payload: dict[str, object]) -> tuple[str, bool]:
        fresh = name not in self.started
        self.started.setdefault(name, payload)
        return f"arn:aws:states:us-east-1:1:execution:govsync:{name}", fresh

    def status(self, name: str) -> str | None:
        return "RUNNING" if name in self.started else None


class NoReads:
    """A redrive reads no grades, terms or sync state: the DLQ's messages say what to resend."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a dead-letter call read {name}")


@dataclass
class FakeQueue:
    messages_held: dict[str, str] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)

    def messages(self) -> list[tuple[str, str]]:
        return list(self.messages_held.items())

    def remove(self, message_ids: set[str]) -> int:
        gone = message_ids & set(self.messages_held)
        for message_id in gone:
            del self.messages_held[message_id]
        self.removed |= gone
        return len(gone)


def letter(school: str, number: int, correlation_id: str = "corr-first-run") -> str:
    sync_id = f"govsync-{school}-{PERIOD}"
    ref = BatchRef(
        school_id=school,
        period=PERIOD,
        sync_id=sync_id,
        number=number,
        client_batch_id=f"luca-{school}-{number}",
        manifest_key=f"{school}/{PERIOD}/{sync_id}/batch-{number:05d}.json",
        records=10,
        correlation_id=correlation_id,
    )
    return json.dumps({**ref.to_json(), "error": {"Error": "MinistryUnavailable", "Cause": "{}"}})


DLQ = {
    "m-a1": letter(SCHOOL_A, 1),
    "m-a2": letter(SCHOOL_A, 2),
    "m-b1": letter(SCHOOL_B, 1),
    "m-junk": "not a batch",  # unreadable: listed for nobody, left in place
}


@dataclass
class World:
    stub: govsync_pb2_grpc.GovSyncServiceStub
    executions: FakeExecutions
    queue: FakeQueue


def serve(queue: FakeQueue | None) -> tuple[grpc.Server, int, FakeExecutions]:
    executions = FakeExecutions()
    control = SyncControl(
        executions=executions,
        store=cast(Any, NoReads()),
        terms=cast(Any, NoReads()),
        grades=cast(Any, NoReads()),
        dead_letter_queue=queue,
    )
    server, port = create_server(
        control, cast(Authenticator, FakeAuthenticator()), address="127.0.0.1:0", workers=2
    )
    server.start()
    return server, port, executions


@pytest.fixture
def world() -> Iterator[World]:
    queue = FakeQueue(dict(DLQ))
    server, port, executions = serve(queue)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield World(govsync_pb2_grpc.GovSyncServiceStub(channel), executions, queue)
    finally:
        server.stop(None)


def metadata(token: str, correlation_id: str | None = None) -> tuple[tuple[str, str], ...]:
    extra = (("x-correlation-id", correlation_id),) if correlation_id else ()
    return (("authorization", f"Bearer {token}"), *extra)


def refused(error: grpc.RpcError) -> tuple[grpc.StatusCode, error_details_pb2.ErrorInfo, list[str]]:
    return grpc_status.refused(error, domain=DOMAIN)


def list_letters(world: World, token: str, school: str = "") -> Any:
    request = govsync_pb2.ListDeadLettersRequest(school_id=school)
    return world.stub.ListDeadLetters(request, metadata=metadata(token), timeout=10)


def redrive(
    world: World, token: str, *message_ids: str, school: str = "", correlation: str | None = None
) -> Any:
    request = govsync_pb2.RedriveDeadLettersRequest(school_id=school, message_ids=list(message_ids))
    return world.stub.RedriveDeadLetters.with_call(request, metadata=metadata(token, correlation), timeout=10)


@pytest.mark.parametrize("token", ["admin-a", "service-a"])
def test_a_schools_operators_list_its_dead_letters_and_no_other_schools(world: World, token: str) -> None:
    answer = list_letters(world, token)

    assert sorted(d.message_id for d in answer.dead_letters) == ["m-a1", "m-a2"]
    first = next(d for d in answer.dead_letters if d.message_id == "m-a1")
    assert (first.school_id, first.period, first.number, first.records) == (SCHOOL_A, PERIOD, 1, 10)
    assert (first.error, first.correlation_id) == ("MinistryUnavailable", "corr-first-run")
    assert world.queue.removed == set()  # listing removes nothing


def test_a_redrive_resends_the_schools_batches_for_the_callers_request_and_removes_them(world: World) -> None:
    answer, call = redrive(world, "admin-a", correlation="corr-ops-42")

    assert answer.batches == 2
    assert answer.messages_removed == 2
    assert answer.correlation_id == "corr-ops-42"
    assert ("x-correlation-id", "corr-ops-42") in call.initial_metadata()
    assert world.queue.removed == {"m-a1", "m-a2"}
    (name,) = answer.execution_names
    payload = world.executions.started[name]
    assert payload["mode"] == "redrive"
    assert payload["started_by"] == "admin-a"
    assert payload["correlation_id"] == "corr-ops-42"
    batches = cast(list[dict[str, object]], payload["batches"])
    assert [b["number"] for b in batches] == [1, 2]
    assert {b["correlation_id"] for b in batches} == {"corr-ops-42"}  # resent for the redrive's request


def test_a_redrive_may_name_its_messages(world: World) -> None:
    answer, _ = redrive(world, "service-a", "m-a2")

    assert (answer.batches, answer.messages_removed) == (1, 1)
    assert world.queue.removed == {"m-a2"}
    assert answer.correlation_id  # none was given: the call minted one


@pytest.mark.parametrize("rpc", ["ListDeadLetters", "RedriveDeadLetters"])
@pytest.mark.parametrize("token", ["teacher-a", "student-a"])
def test_callers_without_the_permission_are_denied_with_details(world: World, rpc: str, token: str) -> None:
    attempt = list_letters if rpc == "ListDeadLetters" else redrive
    with pytest.raises(grpc.RpcError) as error:
        attempt(world, token)

    code, info, _ = refused(error.value)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert info.reason == "NOT_YOUR_SCHOOL"
    assert world.executions.started == {}
    assert world.queue.removed == set()


@pytest.mark.parametrize(
    ("token", "school"), [("admin-a", SCHOOL_B), ("service-a", SCHOOL_B), ("admin-b", SCHOOL_A)]
)
def test_naming_another_school_is_denied(world: World, token: str, school: str) -> None:
    for attempt in (lambda: list_letters(world, token, school), lambda: redrive(world, token, school=school)):
        with pytest.raises(grpc.RpcError) as error:
            attempt()
        code, info, _ = refused(error.value)
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert info.reason == "NOT_YOUR_SCHOOL"
    assert world.executions.started == {}
    assert world.queue.removed == set()


def test_another_schools_batch_refuses_the_whole_redrive(world: World) -> None:
    with pytest.raises(grpc.RpcError) as error:
        redrive(world, "admin-a", "m-a1", "m-b1")

    code, info, _ = refused(error.value)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert info.reason == "NOT_YOUR_SCHOOL"
    assert "school-b" not in (error.value.details() or "")
    assert world.executions.started == {}
    assert world.queue.removed == set()  # school A's own message was not redriven either


def test_a_message_not_in_the_dlq_is_not_found(world: World) -> None:
    with pytest.raises(grpc.RpcError) as error:
        redrive(world, "admin-a", "m-gone")

    code, _, _ = refused(error.value)
    assert code == grpc.StatusCode.NOT_FOUND
    assert world.executions.started == {}


def test_a_call_without_a_valid_token_is_unauthenticated(world: World) -> None:
    with pytest.raises(grpc.RpcError) as error:
        redrive(world, "forged")

    assert refused(error.value)[0] == grpc.StatusCode.UNAUTHENTICATED
    assert world.queue.removed == set()


def test_an_api_without_a_dlq_is_unavailable() -> None:
    server, port, _ = serve(None)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = govsync_pb2_grpc.GovSyncServiceStub(channel)
            with pytest.raises(grpc.RpcError) as error:
                stub.ListDeadLetters(
                    govsync_pb2.ListDeadLettersRequest(), metadata=metadata("admin-a"), timeout=10
                )
    finally:
        server.stop(None)

    code, info, _ = refused(error.value)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert info.reason == "DEPENDENCY_UNAVAILABLE"
