"""Shared fixtures for the grading service's tests."""

from __future__ import annotations

import pytest

from grading_emulated import EmulatedGrading, build, seed_roster
from grading_fakes import FakeClock, FakeRepositories, SequentialIds
from luca_grading.service_layer.administration import SchoolAdministration
from luca_grading.service_layer.assignment_cache import AssignmentCache
from luca_grading.service_layer.changes import GradeChanges
from luca_grading.service_layer.roster_cache import RosterCache
from luca_grading.service_layer.services import GradingService
from luca_kernel.rule_cache import RuleCache


class Clocked:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def repositories() -> FakeRepositories:
    repos = FakeRepositories()
    repos.seed("school-a")
    repos.seed("school-b", students=("st-9",))
    return repos


@pytest.fixture
def cache_timer() -> Clocked:
    return Clocked()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rules(cache_timer: Clocked) -> RuleCache:
    return RuleCache(ttl_seconds=60, timer=cache_timer)


@pytest.fixture
def assignments(cache_timer: Clocked) -> AssignmentCache:
    return AssignmentCache(ttl_seconds=15, timer=cache_timer)


@pytest.fixture
def roster(cache_timer: Clocked) -> RosterCache:
    return RosterCache(ttl_seconds=60, timer=cache_timer)


@pytest.fixture
def service(
    repositories: FakeRepositories,
    rules: RuleCache,
    clock: FakeClock,
    assignments: AssignmentCache,
    roster: RosterCache,
) -> GradingService:
    return GradingService(
        repositories=repositories,
        rules=rules,
        clock=clock,
        ids=SequentialIds(),
        assignments=assignments,
        roster=roster,
    )


@pytest.fixture
def changes(
    repositories: FakeRepositories,
    rules: RuleCache,
    clock: FakeClock,
    assignments: AssignmentCache,
    roster: RosterCache,
) -> GradeChanges:
    return GradeChanges(
        repositories=repositories, rules=rules, clock=clock, assignments=assignments, roster=roster
    )


@pytest.fixture
def administration(
    repositories: FakeRepositories, clock: FakeClock, assignments: AssignmentCache, roster: RosterCache
) -> SchoolAdministration:
    return SchoolAdministration(
        repositories=repositories, clock=clock, assignments=assignments, roster=roster
    )


@pytest.fixture(scope="module")
def grading(emulator_endpoint: str) -> EmulatedGrading:
    """The grading service wired to the emulator (scoped credentials on), two schools seeded."""
    built = build(emulator_endpoint)
    seed_roster(built, "school-a", {"st-1": "Ana Rojas", "st-2": "Benja Soto"})
    seed_roster(built, "school-b", {"st-9": "Zoe Bravo"})
    return built
