"""The submit task paced by the school's breaker, against in-memory ports: held batches call nobody
and are never counted submitted; a batch held for its whole budget goes through its own retries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from luca_govsync.domain.breaker import Breaker, BreakerContention, BreakerPolicy, BreakerState
from luca_govsync.domain.errors import MinistryRefused, MinistryUnavailable
from luca_govsync.domain.model import BatchStatus, SyncKey
from luca_govsync.service_layer.pacing import Pacing, Paused
from luca_govsync.service_layer.tasks import Submitted, SyncTasks

T = TypeVar("T")
KEY = SyncKey("school-a", "2025-T1")
POLICY = BreakerPolicy(
    threshold=2, open_seconds=4, backoff_rate=2.0, max_open_seconds=8, pause_budget_seconds=10
)


class Breakers:
    """Breakers by (school, period), with the store's contract (and a contention switch)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Breaker] = {}
        self.writes = 0
        self.contended = False

    def transition(self, school_id: str, period: str, step: Callable[[Breaker], tuple[Breaker, T]]) -> T:
        if self.contended:
            raise BreakerContention("always changing")
        current = self.items.get((school_id, period), Breaker())
        changed, result = step(current)
        if changed != current:
            self.items[(school_id, period)] = changed
            self.writes += 1
        return result


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def paced(world: Any) -> tuple[SyncTasks, Any, Any, Breakers, Clock]:
    tasks, grades, manifests, store, ministry = world
    breakers, clock = Breakers(), Clock()
    paced = SyncTasks(
        grades=grades,
        rules=tasks._rules,
        manifests=manifests,
        store=store,
        ministry=ministry,
        batch_size=10,
        clock=lambda: "2026-04-01T06:00:00Z",
        pacing=Pacing(breakers, lease_seconds=5, clock=clock),
    )
    return paced, store, ministry, breakers, clock


def test_after_threshold_outage_failures_the_schools_other_batches_call_nobody(paced: Any) -> None:
    tasks, store, ministry, breakers, _ = paced
    first, second, third = tasks.prepare(KEY, "sync-1", "ops").batches
    ministry.failures = [MinistryUnavailable("503", status=503)] * 2
    for ref in (first, second):
        with pytest.raises(MinistryUnavailable):
            tasks.submit(ref, POLICY)
    calls = len(ministry.calls)

    held = tasks.submit(third, POLICY)

    assert isinstance(held, Paused)
    assert (held.wait_seconds, held.paused_seconds) == (4, 4)
    assert held.to_json()["wait_seconds"] == 4
    assert len(ministry.calls) == calls  # no call
    assert breakers.items[("school-a", "2025-T1")].state is BreakerState.OPEN
    states = {s.ref.number: s for s in store.batch_states("school-a", "2025-T1", "sync-1")}
    assert states[3].status is BatchStatus.PENDING  # never counted submitted
    assert store.trail[-1].step == "pause"


def test_one_probe_goes_when_the_interval_ends_and_its_answer_closes_the_breaker(paced: Any) -> None:
    tasks, _, ministry, breakers, clock = paced
    first, second, third = tasks.prepare(KEY, "sync-1", "ops").batches
    ministry.failures = [MinistryUnavailable("503", status=503)] * 2
    for ref in (first, second):
        with pytest.raises(MinistryUnavailable):
            tasks.submit(ref, POLICY)
    clock.now += 4

    probe = tasks.submit(third, POLICY)  # the first to ask after the interval probes
    assert isinstance(probe, Submitted)
    assert breakers.items[("school-a", "2025-T1")].state is BreakerState.CLOSED
    for ref in (first, second):
        assert isinstance(tasks.submit(ref, POLICY, paused_seconds=4), Submitted)
    assert sum(ministry.accepted.values()) == 25 - 4  # st-3's four records are rejected; none twice


def test_a_batch_held_for_its_whole_budget_calls_and_so_can_reach_the_dlq(paced: Any) -> None:
    tasks, _, ministry, _, _ = paced
    first, second, third = tasks.prepare(KEY, "sync-1", "ops").batches
    ministry.failures = [MinistryUnavailable("503", status=503)] * 3
    for ref in (first, second):
        with pytest.raises(MinistryUnavailable):
            tasks.submit(ref, POLICY)

    held = tasks.submit(third, POLICY, paused_seconds=8)
    assert isinstance(held, Paused)
    assert (held.wait_seconds, held.paused_seconds) == (2, 10)  # cut to what is left of the budget
    with pytest.raises(MinistryUnavailable):  # no longer held: its own retries (then the DLQ) decide
        tasks.submit(third, POLICY, paused_seconds=10)


def test_refusals_are_answers_not_outages(paced: Any) -> None:
    tasks, _, ministry, breakers, _ = paced
    first, second, _ = tasks.prepare(KEY, "sync-1", "ops").batches
    ministry.failures = [MinistryRefused("409", status=409)] * 2
    for ref in (first, second):
        with pytest.raises(MinistryRefused):
            tasks.submit(ref, POLICY)
    assert breakers.items.get(("school-a", "2025-T1"), Breaker()).state is BreakerState.CLOSED


def test_without_a_policy_or_when_the_table_cannot_settle_it_every_batch_calls(paced: Any) -> None:
    tasks, _, ministry, breakers, _ = paced
    first, second, third = tasks.prepare(KEY, "sync-1", "ops").batches
    ministry.failures = [MinistryUnavailable("503", status=503)] * 2
    for ref in (first, second):
        with pytest.raises(MinistryUnavailable):
            tasks.submit(ref)  # no breaker: today's behaviour
    assert breakers.writes == 0
    breakers.contended = True
    assert isinstance(tasks.submit(third, POLICY), Submitted)  # fails open


def test_each_school_has_its_own_breaker(paced: Any, world: Any) -> None:
    tasks, _, ministry, breakers, _ = paced
    first, second, _ = tasks.prepare(KEY, "sync-1", "ops").batches
    ministry.failures = [MinistryUnavailable("503", status=503)] * 2
    for ref in (first, second):
        with pytest.raises(MinistryUnavailable):
            tasks.submit(ref, POLICY)
    (other,) = tasks.prepare(SyncKey("school-b", "2025-T1"), "sync-b", "ops").batches
    assert isinstance(tasks.submit(other, POLICY), Submitted)
    assert set(breakers.items) == {("school-a", "2025-T1")}
