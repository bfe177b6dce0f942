"""gRPC contract of ``luca.govsync.v1.GovSyncService``: the generated client stubs against an
in-process server on a free port. The control runs for real over in-memory executions and sync state;
the authenticator is a fake that knows a few bearer tokens.

Each RPC: its happy path for a school admin, then every status the servicer can answer with (code,
``google.rpc.ErrorInfo`` reason and domain, ``google.rpc.BadRequest`` field), and that a refused
request neither starts anything nor reads another school's state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import grpc
import pytest
from botocore.exceptions import ClientError
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from luca.govsync.v1 import govsync_pb2, govsync_pb2_grpc
from luca_govsync.domain.model import (
    Attempt,
    AuditEntry,
    BatchRef,
    BatchState,
    BatchStatus,
    GradeRecord,
    RecordOutcome,
    RecordStatus,
    SyncProgress,
    SyncStatus,
    client_batch_id,
)
from luca_govsync.entrypoints.grpc_server import create_server
from luca_govsync.service_layer.control import SyncControl
from luca_kernel.access import Principal, Role
from luca_kernel.errors import TenantBoundaryViolation, Unauthenticated
from luca_kernel.ids import SchoolId, StudentId, TermId
from luca_kernel.roster import Term
from luca_platform.tokens import Authenticator
from luca_testing import grpc_status

SERVICE = "luca.govsync.v1.GovSyncService"
DOMAIN = "govsync.luca.school"
PERIOD = "2025-T1"
SCHOOL_A, SCHOOL_B = "school-a", "school-b"
FIRST_RUN = f"govsync-{SCHOOL_A}-{PERIOD}"
REDRIVE_RUN = f"govsync-{SCHOOL_A}-{PERIOD}-redrive-0a1b2c3d4e"
B_RUN = f"govsync-{SCHOOL_B}-{PERIOD}"
# Values that exist only in school B's state: none may ever reach a school A caller.
B_SECRETS = ("st-secret-b", "MinistryRefused: school-b", B_RUN)


# -- the fakes ----------------------------------------------------------------------------------------
def principal(school: str, role: Role | None, name: str, student: str | None = None) -> Principal:
    return Principal(
        school_id=SchoolId(school),
        subject=f"sub-{name}",
        roles=frozenset({role} if role else ()),
        student_id=StudentId(student) if student else None,
        username=name,
    )


TOKENS: dict[str, Principal] = {
    "admin-a": principal(SCHOOL_A, Role.ADMIN, "admin-a"),
    "service-a": principal(SCHOOL_A, Role.SERVICE, "service:ops-tool"),
    "teacher-a": principal(SCHOOL_A, Role.TEACHER, "teacher-a"),
    "student-a": principal(SCHOOL_A, Role.STUDENT, "student-a", student="st-1"),
    "nobody-a": principal(SCHOOL_A, None, "nobody-a"),
    "admin-b": principal(SCHOOL_B, Role.ADMIN, "admin-b"),
    # Verified tokens whose school claim is not a valid school id (the second one's says "period").
    "admin-malformed": principal("school#a", Role.ADMIN, "admin-malformed"),
    "admin-malformed-period": principal("x#period", Role.ADMIN, "admin-malformed-period"),
}


class FakeAuthenticator:
    """A bearer token is a name in ``TOKENS``; anything else is unauthenticated."""

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token not in TOKENS:
            raise Unauthenticated("invalid token")
        return TOKENS[token]


@dataclass
class FakeExecutions:
    """Step Functions by execution name: a second start of a name finds the first."""

    started: dict[str, dict[str, object]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def start(self, name: str, payload: dict[str, object]) -> tuple[str, bool]:
        self.calls.append(name)
        fresh = name not in self.started
        self.started.setdefault(name, payload)
        return f"arn:aws:states:us-east-1:1:execution:govsync:{name}", fresh

    def status(self, name: str) -> str | None:
        return "RUNNING" if name in self.started else None


@dataclass
class FakeSyncStore:
    """The sync state the API reads, by (school, period), most recent run first. The API never writes."""

    runs: dict[tuple[str, str], list[SyncProgress]] = field(default_factory=dict)
    asked: list[tuple[str, str]] = field(default_factory=list)

    def progress(self, school_id: str, period: str, sync_id: str | None = None) -> SyncProgress | None:
        self.asked.append((school_id, period))
        found = self.runs.get((school_id, period), [])
        return next((run for run in found if sync_id in (None, run.sync_id)), None)

    def sync_ids(self, school_id: str, period: str) -> list[str]:
        self.asked.append((school_id, period))
        return [run.sync_id for run in self.runs.get((school_id, period), [])]

    def batch_states(self, school_id: str, period: str, sync_id: str) -> list[BatchState]:
        run = self.progress(school_id, period, sync_id)
        return list(run.batches) if run else []

    def _no_writes(self, *args: object, **kwargs: object) -> Any:
        raise AssertionError("the gRPC API never writes the sync state (nor reads what tasks read)")

    def held(self, school_id: str, period: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._no_writes())

    def start_run(self, school_id: str, period: str, sync_id: str, started_by: str, records: int) -> None:
        self._no_writes()

    def put_batches(self, refs: Sequence[BatchRef]) -> None:
        self._no_writes()

    def begin_attempt(self, ref: BatchRef) -> Attempt:
        return cast(Attempt, self._no_writes())

    def attempt_failed(self, ref: BatchRef, error: str, *, answer_lost: bool = False) -> None:
        self._no_writes()

    def batch_done(self, ref: BatchRef, outcomes: Sequence[RecordOutcome]) -> None:
        self._no_writes()

    def batch_failed(self, ref: BatchRef, error: str) -> None:
        self._no_writes()

    def audit(self, entry: AuditEntry) -> None:
        self._no_writes()

    def finish_run(self, progress: SyncProgress) -> None:
        self._no_writes()


def batch(
    school: str, sync_id: str, number: int, status: BatchStatus, *, records: int = 3, **kwargs: Any
) -> BatchState:
    ids = [f"{school}-{sync_id}-{number}-{n}" for n in range(records)]
    ref = BatchRef(
        school_id=school,
        period=PERIOD,
        sync_id=sync_id,
        number=number,
        client_batch_id=client_batch_id(school, PERIOD, ids),
        manifest_key=f"{school}/{PERIOD}/{sync_id}/{number}.json",
        records=records,
    )
    return BatchState(ref, status, updated_at="2025-04-02T10:00:00.000000Z", **kwargs)


REJECTED = RecordOutcome("ev-7", "st-7", RecordStatus.REJECTED, "UNKNOWN_STUDENT", "student not enrolled")
FIRST = SyncProgress(
    school_id=SCHOOL_A,
    period=PERIOD,
    sync_id=FIRST_RUN,
    status=SyncStatus.COMPLETED_WITH_FAILURES,
    batches=(
        batch(SCHOOL_A, FIRST_RUN, 1, BatchStatus.DONE, attempts=1, accepted=2, rejected=1),
        batch(SCHOOL_A, FIRST_RUN, 2, BatchStatus.FAILED, attempts=5, last_error="MinistryRefused: 422"),
    ),
    records_total=6,
    accepted=2,
    rejected=(REJECTED,),
    started_by="schedule",
    started_at="2025-04-01T09:00:00.000000Z",
    finished_at="2025-04-01T09:20:00.000000Z",
)
REDRIVE = SyncProgress(
    school_id=SCHOOL_A,
    period=PERIOD,
    sync_id=REDRIVE_RUN,
    status=SyncStatus.RUNNING,
    batches=(
        batch(
            SCHOOL_A, REDRIVE_RUN, 2, BatchStatus.RETRYING, attempts=2, last_error="MinistryUnavailable: 503"
        ),
    ),
    records_total=3,
    accepted=0,
    rejected=(),
    started_by="admin-a",
    started_at="2025-04-03T08:00:00.000000Z",
)
SCHOOL_B_RUN = SyncProgress(
    school_id=SCHOOL_B,
    period=PERIOD,
    sync_id=B_RUN,
    status=SyncStatus.COMPLETED_WITH_FAILURES,
    batches=(batch(SCHOOL_B, B_RUN, 1, BatchStatus.FAILED, attempts=5, last_error=B_SECRETS[1]),),
    records_total=3,
    accepted=0,
    rejected=(RecordOutcome("ev-b", B_SECRETS[0], RecordStatus.REJECTED, "X", "x"),),
    started_by="schedule",
)


@dataclass
class FakeTerms:
    """Every school's terms are closed, but those a test opens."""

    open: set[tuple[str, str]] = field(default_factory=set)

    def term(self, school_id: str, term_id: str) -> Term | None:
        closed = None if (school_id, term_id) in self.open else datetime(2025, 4, 30, tzinfo=UTC)
        return Term(SchoolId(school_id), TermId(term_id), term_id, closed_at=closed)


class NoGrades:
    def period_grades(self, school_id: str, period: str) -> list[GradeRecord]:
        raise AssertionError("a start that finds its run reads no grades")


TERMS = FakeTerms()


@dataclass
class World:
    executions: FakeExecutions
    store: FakeSyncStore
    stub: govsync_pb2_grpc.GovSyncServiceStub
    terms: FakeTerms = field(default_factory=lambda: TERMS)  # the module server's


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[grpc.Channel, FakeExecutions, FakeSyncStore]]:
    executions, store = FakeExecutions(), FakeSyncStore()
    control = SyncControl(executions=executions, store=store, terms=TERMS, grades=NoGrades())
    server, port = create_server(
        control, cast(Authenticator, FakeAuthenticator()), address="127.0.0.1:0", workers=2
    )
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel, executions, store
    finally:
        server.stop(None)


@pytest.fixture
def world(served: tuple[grpc.Channel, FakeExecutions, FakeSyncStore]) -> World:
    """The module's server with its fakes reset: school A's 2025-T1 has run twice (the first run's
    execution exists), school B's once; no other sync exists."""
    channel, executions, store = served
    executions.started.clear()
    executions.calls.clear()
    executions.started[FIRST_RUN] = {"mode": "sync"}
    executions.started[B_RUN] = {"mode": "sync"}
    store.asked.clear()
    store.runs.clear()
    store.runs[(SCHOOL_A, PERIOD)] = [REDRIVE, FIRST]
    store.runs[(SCHOOL_B, PERIOD)] = [SCHOOL_B_RUN]
    TERMS.open.clear()
    return World(executions, store, govsync_pb2_grpc.GovSyncServiceStub(channel))


def auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def refused(error: grpc.RpcError) -> tuple[grpc.StatusCode, error_details_pb2.ErrorInfo, list[str]]:
    return grpc_status.refused(error, domain=DOMAIN)


# One request per RPC, by name: (period, school_id) -> the stub's request.
REQUESTS = {
    "StartSync": lambda period, school="": govsync_pb2.StartSyncRequest(
        request=govsync_pb2.SyncRequest(period=period, school_id=school)
    ),
    "GetSyncProgress": lambda period, school="": govsync_pb2.GetSyncProgressRequest(
        period=period, school_id=school
    ),
    "ListSyncs": lambda period, school="": govsync_pb2.ListSyncsRequest(period=period, school_id=school),
    "ListFailedBatches": lambda period, school="": govsync_pb2.ListFailedBatchesRequest(
        period=period, school_id=school
    ),
}
RPCS = sorted(REQUESTS)


def call(world: World, rpc: str, period: str, school: str = "", caller: str | None = "admin-a") -> Any:
    metadata = auth(caller) if caller is not None else ()
    return getattr(world.stub, rpc)(REQUESTS[rpc](period, school), metadata=metadata, timeout=10)


# The DLQ's RPCs take no period: their contract is test_grpc_dead_letters.py.
DEAD_LETTER_RPCS = {"ListDeadLetters", "RedriveDeadLetters"}


def test_every_rpc_of_the_proto_has_a_contract_here() -> None:
    rpcs = set(govsync_pb2.DESCRIPTOR.services_by_name["GovSyncService"].methods_by_name)
    assert rpcs == set(RPCS) | DEAD_LETTER_RPCS


# -- health and reflection ----------------------------------------------------------------------------
def test_health_is_serving_for_the_server_and_the_service(
    served: tuple[grpc.Channel, FakeExecutions, FakeSyncStore],
) -> None:
    health = health_pb2_grpc.HealthStub(served[0])
    for service in ("", SERVICE):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as unknown:
        health.Check(health_pb2.HealthCheckRequest(service="luca.nothing.v1.Nothing"), timeout=5)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_service_and_describes_its_rpcs(
    served: tuple[grpc.Channel, FakeExecutions, FakeSyncStore],
) -> None:
    reflect = reflection_pb2_grpc.ServerReflectionStub(served[0])
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
    ]
    listed, described = reflect.ServerReflectionInfo(iter(requests), timeout=5)
    assert SERVICE in {s.name for s in listed.list_services_response.service}
    assert described.file_descriptor_response.file_descriptor_proto  # the proto is served


# -- StartSync ------------------------------------------------------------------------------------------
def test_start_sync_starts_one_execution_and_a_second_start_finds_it(world: World) -> None:
    first, answered = world.stub.StartSync.with_call(
        REQUESTS["StartSync"]("2025-T2"),
        metadata=(*auth("admin-a"), ("x-correlation-id", "corr-start-1")),
        timeout=10,
    )
    again = call(world, "StartSync", "2025-T2", SCHOOL_A)

    name = f"govsync-{SCHOOL_A}-2025-T2"
    (report,) = first.syncs
    assert (report.sync_id, report.school_id, report.period) == (name, SCHOOL_A, "2025-T2")
    assert report.status == govsync_pb2.SYNC_STATUS_RUNNING
    assert list(again.syncs) == list(first.syncs)
    assert list(world.executions.started) == [FIRST_RUN, B_RUN, name]  # started once, never twice
    assert world.executions.started[name] == {
        "mode": "sync",
        "school_id": SCHOOL_A,
        "period": "2025-T2",
        "started_by": "admin-a",
        # The caller's id, echoed back, travels with the execution (and a second start changes nothing).
        "correlation_id": "corr-start-1",
    }
    assert ("x-correlation-id", "corr-start-1") in answered.initial_metadata()


def test_start_sync_of_a_sync_that_exists_returns_that_run(world: World) -> None:
    (report,) = call(world, "StartSync", PERIOD).syncs

    assert world.executions.started.keys() == {FIRST_RUN, B_RUN}  # nothing new started
    assert report.sync_id == REDRIVE_RUN  # the latest run's progress
    assert report.status == govsync_pb2.SYNC_STATUS_RUNNING
    assert (report.batches_total, report.batches_retrying, report.started_by) == (1, 1, "admin-a")


def test_start_sync_of_a_term_that_is_not_closed_is_a_failed_precondition_and_starts_nothing(
    world: World,
) -> None:
    world.terms.open.add((SCHOOL_A, "2025-T2"))

    with pytest.raises(grpc.RpcError) as error:
        call(world, "StartSync", "2025-T2")

    code, info, fields = refused(error.value)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert info.reason == "TERM_NOT_CLOSED"
    assert fields == []
    assert "2025-T2 is not closed" in (error.value.details() or "")
    assert world.executions.calls == []


def test_a_service_acting_for_the_school_may_start_its_sync(world: World) -> None:
    (report,) = call(world, "StartSync", "2025-T3", caller="service-a").syncs

    assert report.sync_id == f"govsync-{SCHOOL_A}-2025-T3"
    assert world.executions.started[report.sync_id]["started_by"] == "service:ops-tool"


# -- GetSyncProgress ------------------------------------------------------------------------------------
def test_get_sync_progress_reports_the_latest_run_and_the_named_school_may_be_ones_own(world: World) -> None:
    progress = call(world, "GetSyncProgress", PERIOD).progress
    assert call(world, "GetSyncProgress", PERIOD, SCHOOL_A).progress == progress
    assert progress.sync_id == REDRIVE_RUN

    world.store.runs[(SCHOOL_A, PERIOD)] = [FIRST]
    first = call(world, "GetSyncProgress", PERIOD).progress

    assert (first.sync_id, first.school_id, first.period) == (FIRST_RUN, SCHOOL_A, PERIOD)
    assert first.status == govsync_pb2.SYNC_STATUS_COMPLETED_WITH_FAILURES
    assert (first.batches_total, first.batches_done, first.batches_retrying, first.batches_failed) == (
        2,
        1,
        0,
        1,
    )
    assert (first.records_total, first.records_accepted, first.records_rejected) == (6, 2, 1)
    (rejected,) = first.rejected
    assert (rejected.record_id, rejected.student_id, rejected.status) == (
        "ev-7",
        "st-7",
        govsync_pb2.RECORD_STATUS_REJECTED,
    )
    assert (rejected.reason_code, rejected.reason) == ("UNKNOWN_STUDENT", "student not enrolled")
    assert first.started_by == "schedule"
    assert first.started_at.ToJsonString() == "2025-04-01T09:00:00Z"
    assert first.finished_at.ToJsonString() == "2025-04-01T09:20:00Z"


def test_get_sync_progress_of_no_sync_is_not_found(world: World) -> None:
    with pytest.raises(grpc.RpcError) as error:
        call(world, "GetSyncProgress", "2025-T4")

    code, info, fields = refused(error.value)
    assert code == grpc.StatusCode.NOT_FOUND
    assert info.reason == "NO_SUCH_SYNC"
    assert fields == []


# -- ListSyncs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["admin-a", "service-a"])
def test_list_syncs_lists_the_periods_runs_most_recent_first(world: World, token: str) -> None:
    syncs = call(world, "ListSyncs", PERIOD, caller=token).syncs

    assert [s.sync_id for s in syncs] == [REDRIVE_RUN, FIRST_RUN]
    assert [s.status for s in syncs] == [
        govsync_pb2.SYNC_STATUS_RUNNING,
        govsync_pb2.SYNC_STATUS_COMPLETED_WITH_FAILURES,
    ]
    assert {s.school_id for s in syncs} == {SCHOOL_A}
    assert [s.records_total for s in syncs] == [3, 6]


@pytest.mark.parametrize("rpc", ["ListSyncs", "ListFailedBatches"])
def test_a_period_without_syncs_is_an_empty_list_not_an_error(world: World, rpc: str) -> None:
    answer = call(world, rpc, "2025-T4")

    assert not answer.ListFields()


# -- ListFailedBatches ----------------------------------------------------------------------------------
def test_list_failed_batches_lists_the_batches_that_failed_for_good(world: World) -> None:
    (failed,) = call(world, "ListFailedBatches", PERIOD).batches

    expected = FIRST.batches[1].ref
    assert (failed.sync_id, failed.school_id, failed.period, failed.number) == (
        FIRST_RUN,
        SCHOOL_A,
        PERIOD,
        2,
    )
    assert (failed.client_batch_id, failed.records) == (expected.client_batch_id, 3)
    assert failed.status == govsync_pb2.BATCH_STATUS_FAILED
    assert (failed.attempts, failed.last_error) == (5, "MinistryRefused: 422")
    assert failed.updated_at.ToJsonString() == "2025-04-02T10:00:00Z"


# -- errors of every RPC --------------------------------------------------------------------------------
@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize(
    "metadata",
    [(), (("authorization", "Bearer forged"),), (("authorization", "Basic admin-a"),)],
    ids=["no-token", "unknown-token", "not-bearer"],
)
def test_a_call_without_a_valid_token_is_unauthenticated(
    world: World, rpc: str, metadata: tuple[tuple[str, str], ...]
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        getattr(world.stub, rpc)(REQUESTS[rpc](PERIOD), metadata=metadata, timeout=10)

    code, info, _ = refused(error.value)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert info.reason == "UNAUTHENTICATED"
    assert world.store.asked == []
    assert world.executions.calls == []


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize("token", ["teacher-a", "student-a", "nobody-a"])
def test_only_admins_and_services_manage_the_sync(world: World, rpc: str, token: str) -> None:
    with pytest.raises(grpc.RpcError) as error:
        call(world, rpc, PERIOD, caller=token)

    code, info, fields = refused(error.value)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # The servicer maps every Forbidden to NOT_YOUR_SCHOOL, a role refusal in one's own school too.
    assert info.reason == "NOT_YOUR_SCHOOL"
    assert fields == []
    assert world.store.asked == []
    assert world.executions.calls == []


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize(
    ("token", "school"),
    [
        ("admin-a", SCHOOL_B),
        ("service-a", SCHOOL_B),  # a service token acts for its one school only
        ("admin-b", SCHOOL_A),
        ("admin-a", "school-c"),  # a school that has no sync at all: the same answer
        ("admin-a", "school-a#2025-T1"),  # a malformed id: refused before it is read
    ],
)
def test_a_request_naming_another_school_is_denied_and_reads_nothing(
    world: World, rpc: str, token: str, school: str
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        call(world, rpc, PERIOD, school, caller=token)

    code, info, fields = refused(error.value)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert info.reason == "NOT_YOUR_SCHOOL"
    assert fields == []
    assert world.store.asked == []
    assert world.executions.calls == []
    text = f"{error.value.details()} {rpc_status.from_call(error.value)}"  # type: ignore[arg-type]
    assert not [secret for secret in (*B_SECRETS, FIRST_RUN, REDRIVE_RUN) if secret in text]


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize("period", ["", "2025", "2025-T5", "2025-t1", "T1-2025", "2025-T1#school-b"])
def test_a_bad_period_is_invalid_argument_naming_the_period(world: World, rpc: str, period: str) -> None:
    with pytest.raises(grpc.RpcError) as error:
        call(world, rpc, period)

    code, info, fields = refused(error.value)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert info.reason == "INVALID_REQUEST"
    # The field's path in the request: StartSync's period sits in its SyncRequest.
    assert fields == ["request.period" if rpc == "StartSync" else "period"]
    assert world.executions.calls == []


@pytest.mark.parametrize("rpc", ["StartSync", "ListSyncs", "ListFailedBatches"])
@pytest.mark.parametrize("token", ["admin-malformed", "admin-malformed-period"])
def test_a_school_id_that_is_not_one_is_invalid_argument_naming_the_school(
    world: World, rpc: str, token: str
) -> None:
    # The only school a request may act on is the token's: an invalid one is refused as an argument.
    with pytest.raises(grpc.RpcError) as error:
        call(world, rpc, PERIOD, caller=token)

    code, info, fields = refused(error.value)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert info.reason == "INVALID_REQUEST"
    assert fields == ["school_id"]
    assert world.executions.calls == []


# -- a dependency down, a refused tenant boundary, GetSyncProgress's school id ---------------------------
class DownExecutions(FakeExecutions):
    def start(self, name: str, payload: dict[str, object]) -> tuple[str, bool]:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "arn:secret"}}, "StartExecution"
        )


class DownStore(FakeSyncStore):
    """A table that cannot answer (throttled, an outage)."""

    def progress(self, school_id: str, period: str, sync_id: str | None = None) -> SyncProgress | None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "arn:secret"}}, "Query")

    def sync_ids(self, school_id: str, period: str) -> list[str]:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "arn:secret"}}, "Query")


class BoundaryStore(FakeSyncStore):
    """A store whose tenant guard refused a key (a bug that built another school's key)."""

    def progress(self, school_id: str, period: str, sync_id: str | None = None) -> SyncProgress | None:
        raise TenantBoundaryViolation(f"refused a key outside school {school_id!r}")

    def sync_ids(self, school_id: str, period: str) -> list[str]:
        raise TenantBoundaryViolation(f"refused a key outside school {school_id!r}")


@contextmanager
def stub_over(
    executions: FakeExecutions, store: FakeSyncStore
) -> Iterator[govsync_pb2_grpc.GovSyncServiceStub]:
    control = SyncControl(executions=executions, store=store, terms=FakeTerms(), grades=NoGrades())
    server, port = create_server(
        control, cast(Authenticator, FakeAuthenticator()), address="127.0.0.1:0", workers=1
    )
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield govsync_pb2_grpc.GovSyncServiceStub(channel)
    finally:
        server.stop(None)


@pytest.mark.parametrize("rpc", RPCS)
def test_an_unreachable_dependency_is_unavailable_with_details(rpc: str) -> None:
    with stub_over(DownExecutions(), DownStore()) as stub, pytest.raises(grpc.RpcError) as error:
        getattr(stub, rpc)(REQUESTS[rpc](PERIOD), metadata=auth("admin-a"), timeout=10)

    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused(error.value)[1].reason == "DEPENDENCY_UNAVAILABLE"
    assert "secret" not in (error.value.details() or "")
    assert "secret" not in str(rpc_status.from_call(error.value))  # type: ignore[arg-type]


@pytest.mark.parametrize("rpc", ["GetSyncProgress", "ListSyncs", "ListFailedBatches"])
def test_a_refused_tenant_boundary_is_permission_denied(rpc: str) -> None:
    with stub_over(FakeExecutions(), BoundaryStore()) as stub, pytest.raises(grpc.RpcError) as error:
        getattr(stub, rpc)(REQUESTS[rpc](PERIOD), metadata=auth("admin-a"), timeout=10)

    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused(error.value)[1].reason == "NOT_YOUR_SCHOOL"


@pytest.mark.parametrize("token", ["admin-malformed", "admin-malformed-period"])
def test_get_sync_progress_refuses_a_school_id_that_is_not_one(world: World, token: str) -> None:
    with pytest.raises(grpc.RpcError) as error:
        call(world, "GetSyncProgress", PERIOD, caller=token)

    code, info, fields = refused(error.value)
    assert (code, info.reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", ["school_id"])
    assert world.store.asked == []  # refused before the store is read
