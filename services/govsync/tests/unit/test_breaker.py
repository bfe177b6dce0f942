"""The school's circuit breaker as a state machine (``domain.breaker``): pure transitions."""

from __future__ import annotations

import pytest

from luca_govsync.domain.breaker import (
    Admission,
    Breaker,
    BreakerPolicy,
    BreakerState,
    admit,
    answered,
    failed,
    is_outage,
)
from luca_govsync.domain.errors import (
    MinistryGarbled,
    MinistryRefused,
    MinistryThrottled,
    MinistryTimeout,
    MinistryUnavailable,
)

POLICY = BreakerPolicy(
    threshold=3, open_seconds=10, backoff_rate=2.0, max_open_seconds=35, pause_budget_seconds=100
)
LEASE = 7.0


def opened(at: float = 100.0) -> Breaker:
    breaker = Breaker()
    for _ in range(POLICY.threshold):
        breaker = failed(breaker, POLICY, "b1", at)
    return breaker


def test_a_closed_breaker_admits_every_batch_without_a_change() -> None:
    assert admit(Breaker(), POLICY, "b1", 0.0, LEASE) == (Breaker(), Admission())
    assert Admission().call


def test_it_opens_after_threshold_consecutive_outage_failures_and_an_answer_resets_the_count() -> None:
    breaker = failed(failed(Breaker(), POLICY, "b1", 1.0), POLICY, "b2", 2.0)
    assert (breaker.state, breaker.failures) == (BreakerState.CLOSED, 2)
    assert answered(breaker) == Breaker()  # an answer in between: not consecutive

    breaker = opened(at=100.0)
    assert breaker.state is BreakerState.OPEN
    assert breaker.until == 100.0 + POLICY.open_seconds


def test_while_open_every_batch_waits_until_it_may_probe_and_calls_nobody() -> None:
    breaker = opened(at=100.0)
    for batch, now, wait in (("b1", 100.0, 10), ("b2", 104.2, 6), ("b3", 109.9, 1)):
        same, admission = admit(breaker, POLICY, batch, now, LEASE)
        assert same == breaker
        assert (admission.call, admission.wait_seconds) == (False, wait)


def test_one_batch_probes_after_the_interval_and_the_others_wait_for_its_answer() -> None:
    breaker = opened(at=100.0)
    probing, admission = admit(breaker, POLICY, "b2", 110.0, LEASE)
    assert admission == Admission(probe=True)
    assert (probing.state, probing.probe, probing.until) == (BreakerState.HALF_OPEN, "b2", 117.0)

    held, other = admit(probing, POLICY, "b3", 111.0, LEASE)
    assert held == probing
    assert (other.call, other.wait_seconds) == (False, 6)
    # The probe invoked again (a retried invocation) is still the probe.
    assert admit(probing, POLICY, "b2", 111.0, LEASE)[1] == Admission(probe=True)


def test_a_probe_that_answers_closes_it() -> None:
    probing, _ = admit(opened(at=100.0), POLICY, "b2", 110.0, LEASE)
    assert answered(probing) == Breaker()


def test_a_failed_probe_opens_it_again_for_longer_up_to_the_cap() -> None:
    breaker = opened(at=100.0)
    now = 110.0
    intervals = []
    for _ in range(4):
        probing, admission = admit(breaker, POLICY, "b2", now, LEASE)
        assert admission.probe
        breaker = failed(probing, POLICY, "b2", now + 1)
        assert breaker.state is BreakerState.OPEN
        intervals.append(breaker.until - (now + 1))
        now = breaker.until
    assert intervals == [20, 35, 35, 35]  # 10 x 2, x 4 capped at 35


def test_failures_of_calls_already_in_flight_when_it_opened_change_nothing() -> None:
    breaker = opened(at=100.0)
    assert failed(breaker, POLICY, "b4", 101.0) == breaker
    probing, _ = admit(breaker, POLICY, "b2", 110.0, LEASE)
    assert failed(probing, POLICY, "b4", 111.0) == probing  # not the probe's


def test_a_probe_that_never_reports_lets_another_batch_probe_after_its_lease() -> None:
    probing, _ = admit(opened(at=100.0), POLICY, "b2", 110.0, LEASE)
    again, admission = admit(probing, POLICY, "b3", 117.0, LEASE)
    assert admission.probe
    assert (again.probe, again.until) == ("b3", 124.0)


def test_outage_class_errors_are_the_ones_that_say_the_ministry_cannot_take_calls() -> None:
    assert all(is_outage(e("x")) for e in (MinistryUnavailable, MinistryTimeout, MinistryThrottled))
    assert not any(is_outage(e("x")) for e in (MinistryRefused, MinistryGarbled))


def test_the_policy_travels_as_json_and_refuses_nonsense() -> None:
    assert BreakerPolicy.from_json(POLICY.to_json()) == POLICY
    assert BreakerPolicy.from_json(None) is None
    with pytest.raises(ValueError, match="not a breaker policy"):
        BreakerPolicy.from_json({"threshold": 3})
    with pytest.raises(ValueError, match="invalid breaker policy"):
        BreakerPolicy(
            threshold=0, open_seconds=1, backoff_rate=2.0, max_open_seconds=1, pause_budget_seconds=0
        )
    assert [POLICY.interval(n) for n in range(4)] == [10, 20, 35, 35]
