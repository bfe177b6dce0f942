"""The rule cache: the rule in force (own, school default, platform default), bounded in age and size."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pytest

from luca_kernel.grading import DEFAULT_SUBJECT, GradingRule, ScaleKind, default_rule
from luca_kernel.ids import SchoolId, SubjectId
from luca_kernel.rule_cache import RuleCache

SCHOOL_A, SCHOOL_B = SchoolId("school-a"), SchoolId("school-b")
MATH, ART, HISTORY = SubjectId("math"), SubjectId("art"), SubjectId("history")


class FakeTimer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """One school's stored rules (no fallback), counting what it is asked."""

    def __init__(self, rules: Mapping[SubjectId, GradingRule] | None = None) -> None:
        self.rules = dict(rules or {})
        self.asked: list[SubjectId] = []

    def __call__(self, subject_id: SubjectId) -> GradingRule | None:
        self.asked.append(subject_id)
        return self.rules.get(subject_id)


def rule(subject: SubjectId, passing: str = "4.0") -> GradingRule:
    return GradingRule(subject_id=subject, passing_grade=Decimal(passing))


@pytest.fixture
def timer() -> FakeTimer:
    return FakeTimer()


@pytest.fixture
def cache(timer: FakeTimer) -> RuleCache:
    return RuleCache(ttl_seconds=60, timer=timer)


def test_the_subjects_own_rule_is_in_force(cache: RuleCache) -> None:
    load = Loader({MATH: rule(MATH, "5.0"), DEFAULT_SUBJECT: rule(DEFAULT_SUBJECT, "4.5")})
    assert cache.rule_for(SCHOOL_A, MATH, load) == rule(MATH, "5.0")
    assert load.asked == [MATH]


def test_without_its_own_rule_a_subject_gets_the_school_default_under_its_own_name(cache: RuleCache) -> None:
    school_default = GradingRule(
        subject_id=DEFAULT_SUBJECT, scale=ScaleKind.PERCENTAGE, passing_grade=Decimal("60"), decimals=0
    )
    load = Loader({DEFAULT_SUBJECT: school_default})
    found = cache.rule_for(SCHOOL_A, ART, load)
    assert found.subject_id == ART
    assert (found.scale, found.passing_grade, found.decimals) == (ScaleKind.PERCENTAGE, Decimal("60"), 0)
    assert load.asked == [ART, DEFAULT_SUBJECT]


def test_without_any_school_rule_the_platform_default_is_in_force(cache: RuleCache) -> None:
    load = Loader()
    assert cache.rule_for(SCHOOL_A, HISTORY, load) == default_rule(HISTORY)
    assert load.asked == [HISTORY, DEFAULT_SUBJECT]


def test_the_school_default_itself_falls_back_to_the_platform_default_with_one_read(cache: RuleCache) -> None:
    load = Loader()
    assert cache.rule_for(SCHOOL_A, DEFAULT_SUBJECT, load) == default_rule(DEFAULT_SUBJECT)
    assert load.asked == [DEFAULT_SUBJECT]


def test_a_warm_rule_costs_no_load(cache: RuleCache) -> None:
    load = Loader({MATH: rule(MATH, "5.0")})
    cache.rule_for(SCHOOL_A, MATH, load)
    cache.rule_for(SCHOOL_A, MATH, load)
    assert load.asked == [MATH]
    assert cache.cached(SCHOOL_A, MATH) == rule(MATH, "5.0")


def test_a_fallback_is_cached_too(cache: RuleCache) -> None:
    load = Loader()
    cache.rule_for(SCHOOL_A, HISTORY, load)
    cache.rule_for(SCHOOL_A, HISTORY, load)
    assert load.asked == [HISTORY, DEFAULT_SUBJECT]


def test_cached_never_loads(cache: RuleCache) -> None:
    assert cache.cached(SCHOOL_A, MATH) is None
    assert len(cache) == 0


def test_entries_expire_after_the_ttl(cache: RuleCache, timer: FakeTimer) -> None:
    load = Loader({MATH: rule(MATH, "5.0")})
    cache.rule_for(SCHOOL_A, MATH, load)
    timer.now += 59.9
    assert cache.cached(SCHOOL_A, MATH) is not None
    assert len(cache) == 1
    timer.now += 0.1
    assert len(cache) == 0
    assert cache.cached(SCHOOL_A, MATH) is None
    load.rules[MATH] = rule(MATH, "5.5")  # changed by another instance meanwhile
    assert cache.rule_for(SCHOOL_A, MATH, load).passing_grade == Decimal("5.5")
    assert load.asked == [MATH, MATH]


def test_a_hit_does_not_extend_an_entrys_life(cache: RuleCache, timer: FakeTimer) -> None:
    load = Loader({MATH: rule(MATH)})
    cache.rule_for(SCHOOL_A, MATH, load)
    timer.now += 50
    cache.rule_for(SCHOOL_A, MATH, load)
    timer.now += 10
    assert cache.cached(SCHOOL_A, MATH) is None


def test_the_least_recently_used_entry_goes_first_when_full(timer: FakeTimer) -> None:
    cache = RuleCache(ttl_seconds=60, max_entries=2, timer=timer)
    load = Loader()
    cache.rule_for(SCHOOL_A, MATH, load)
    cache.rule_for(SCHOOL_A, ART, load)
    assert cache.cached(SCHOOL_A, MATH) is not None  # math is now the most recently used
    cache.rule_for(SCHOOL_A, HISTORY, load)
    assert len(cache) == 2
    assert cache.cached(SCHOOL_A, ART) is None
    assert cache.cached(SCHOOL_A, MATH) is not None
    assert cache.cached(SCHOOL_A, HISTORY) is not None


def test_schools_are_cached_apart(cache: RuleCache) -> None:
    cache.rule_for(SCHOOL_A, MATH, Loader({MATH: rule(MATH, "5.0")}))
    cache.rule_for(SCHOOL_B, MATH, Loader({MATH: rule(MATH, "6.0")}))
    assert cache.cached(SCHOOL_A, MATH) == rule(MATH, "5.0")
    assert cache.cached(SCHOOL_B, MATH) == rule(MATH, "6.0")


def test_invalidating_a_school_drops_all_its_entries_and_only_its(cache: RuleCache) -> None:
    for school in (SCHOOL_A, SCHOOL_B):
        for subject in (MATH, ART):
            cache.rule_for(school, subject, Loader())
    cache.invalidate_school(SCHOOL_A)
    assert cache.cached(SCHOOL_A, MATH) is None
    assert cache.cached(SCHOOL_A, ART) is None
    assert cache.cached(SCHOOL_B, MATH) is not None
    assert cache.cached(SCHOOL_B, ART) is not None
    assert len(cache) == 2


def test_a_school_default_change_reaches_subjects_that_fell_back_to_it(cache: RuleCache) -> None:
    load = Loader({DEFAULT_SUBJECT: rule(DEFAULT_SUBJECT, "4.0")})
    assert cache.rule_for(SCHOOL_A, ART, load).passing_grade == Decimal("4.0")
    load.rules[DEFAULT_SUBJECT] = rule(DEFAULT_SUBJECT, "4.5")
    cache.invalidate_school(SCHOOL_A)
    assert cache.rule_for(SCHOOL_A, ART, load).passing_grade == Decimal("4.5")


@pytest.mark.parametrize(("ttl", "size"), [(0, 10), (-1, 10), (60, 0)])
def test_ttl_and_size_must_be_positive(ttl: float, size: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        RuleCache(ttl_seconds=ttl, max_entries=size)
