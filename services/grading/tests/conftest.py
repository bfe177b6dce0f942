"""Shared fixtures for the grading service's tests."""

from __future__ import annotations

import pytest

from grading_fakes import FakeClock, FakeRepositories, SequentialIds
from luca_grading.service_layer.rule_cache import RuleCache
from luca_grading.service_layer.services import GradingService


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
def service(repositories: FakeRepositories, cache_timer: Clocked) -> GradingService:
    return GradingService(
        repositories=repositories,
        rules=RuleCache(ttl_seconds=60, timer=cache_timer),
        clock=FakeClock(),
        ids=SequentialIds(),
    )
