"""The per-school token buckets, on a clock the test moves."""

from __future__ import annotations

import pytest

from luca_infra.definitions import PLATFORM_DEFINITION, ThrottlingDefinition, TierDefinition
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
    assert limiter.limit_for("any") == RateLimit.of_tier(throttling.tier(throttling.default_tier))


@pytest.mark.parametrize(
    ("students", "tier"),
    [
        (0, "small"),
        (300, "small"),
        (301, "medium"),
        (1000, "medium"),
        (1001, "large"),
        (3001, "xlarge"),
        (90_000, "xlarge"),
    ],
)
def test_a_schools_tier_follows_its_enrolment(students: int, tier: str) -> None:
    assert PLATFORM_DEFINITION.throttling.tier_for_enrolment(students).name == tier


def test_tiers_must_be_ordered_with_an_open_last_one_and_name_the_default() -> None:
    small, medium = TierDefinition("s", 100, 10.0, 20), TierDefinition("m", 500, 20.0, 40)
    open_ended = TierDefinition("l", None, 50.0, 100)
    ThrottlingDefinition(tiers=(small, medium, open_ended), default_tier="m")
    for tiers in ((medium, small, open_ended), (small, medium), (open_ended, small, medium)):
        with pytest.raises(ValueError, match="ordered"):
            ThrottlingDefinition(tiers=tiers, default_tier="m")
    with pytest.raises(ValueError, match="no tier"):
        ThrottlingDefinition(tiers=(small, open_ended), default_tier="m")
    with pytest.raises(ValueError, match="enrolment"):
        PLATFORM_DEFINITION.throttling.tier_for_enrolment(-1)


def test_every_larger_tier_allows_more_and_the_source_floor_is_the_largest() -> None:
    throttling = PLATFORM_DEFINITION.throttling
    rates = [t.rate for t in throttling.tiers]
    bursts = [t.burst for t in throttling.tiers]
    assert rates == sorted(rates)
    assert bursts == sorted(bursts)
    assert throttling.max_school_rate == rates[-1]
    # No one school may take the whole stage: the others must still get through.
    assert throttling.max_school_rate < throttling.stage_rate_limit


@pytest.mark.parametrize(("wait", "header"), [(0.001, 1), (0.5, 1), (1.0, 1), (1.2, 2), (9.99, 10)])
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: int) -> None:
    assert retry_after_seconds(wait) == header


def test_a_limit_needs_a_positive_rate_and_burst() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimit(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        RateLimit(rate=1, burst=0)


def test_a_school_the_configuration_does_not_name_gets_the_tier_its_usage_plan_says() -> None:
    now = [0.0]
    asked: list[str] = []
    small = RateLimit(1, 1)

    def resolve(school: str) -> RateLimit | None:
        asked.append(school)
        return small if school == "created" else None

    limiter = SchoolRateLimiter(
        RateLimit(100, 100), resolve=resolve, clock=lambda: now[0], resolve_ttl_seconds=60
    )
    assert limiter.needs_lookup("created")
    limiter.look_up("created")
    assert limiter.take("created") == 0.0
    assert limiter.take("created") > 0  # the small tier's one token is spent
    assert limiter.limit_for("unknown") == RateLimit(100, 100)  # no plan: the default
    now[0] = 30.0
    assert not limiter.needs_lookup("created")  # cached for a minute
    now[0] = 61.0
    assert limiter.needs_lookup("created")
    assert asked == ["created", "unknown"]
