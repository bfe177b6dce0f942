"""The per-school token buckets, on a clock the test moves."""

from __future__ import annotations

import pytest

from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.gateway.rate_limiter import RateLimit, SchoolRateLimiter, retry_after_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_burst_is_allowed_then_the_rate_refills_it(clock: Clock) -> None:
    limiter = SchoolRateLimiter(RateLimit(rate=2.0, burst=3), clock=clock)

    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)  # one token at 2/s
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0


def test_refill_never_banks_more_than_the_burst(clock: Clock) -> None:
    limiter = SchoolRateLimiter(RateLimit(rate=10.0, burst=2), clock=clock)
    limiter.take("a")
    clock.now += 3600

    assert [limiter.take("a") == 0.0 for _ in range(3)] == [True, True, False]


def test_schools_have_separate_buckets(clock: Clock) -> None:
    limiter = SchoolRateLimiter(RateLimit(rate=1.0, burst=1), clock=clock)

    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0.0


def test_tiers_override_the_default_for_their_school_only(clock: Clock) -> None:
    limiter = SchoolRateLimiter(RateLimit(rate=1.0, burst=5), tiers={"small": RateLimit(0.1, 1)}, clock=clock)

    assert limiter.take("small") == 0.0
    assert limiter.take("small") == pytest.approx(10.0)
    assert all(limiter.take("other") == 0.0 for _ in range(5))


def test_the_stage_bucket_caps_all_schools_together(clock: Clock) -> None:
    limiter = SchoolRateLimiter(RateLimit(100.0, 100), stage=RateLimit(1.0, 2), clock=clock)

    assert limiter.take("a") == 0.0
    assert limiter.take("b") == 0.0
    assert limiter.take("c") > 0


def test_idle_full_buckets_are_forgotten_when_too_many_schools(clock: Clock) -> None:
    limiter = SchoolRateLimiter(RateLimit(1.0, 1), clock=clock, max_schools=2)
    limiter.take("a")
    limiter.take("b")
    clock.now += 10  # both full again: nothing to remember

    assert limiter.take("c") == 0.0
    assert limiter.take("c") > 0


def test_the_default_comes_from_the_definitions() -> None:
    throttling = PLATFORM_DEFINITION.throttling
    limiter = SchoolRateLimiter.from_definition(throttling)

    assert limiter.limit_for("any") == RateLimit(throttling.per_school_rate, throttling.per_school_burst)


@pytest.mark.parametrize(("wait", "header"), [(0.001, 1), (0.5, 1), (1.0, 1), (1.2, 2), (9.99, 10)])
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: int) -> None:
    assert retry_after_seconds(wait) == header


def test_a_limit_needs_a_positive_rate_and_burst() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimit(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        RateLimit(rate=1, burst=0)
