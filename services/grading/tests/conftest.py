"""Shared fixtures for the grading service's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grading_emulated import EmulatedGrading, build, seed_roster
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


@pytest.fixture(scope="session")
def emulator_endpoint() -> Iterator[str]:
    """moto's server on loopback for this test session (its state is process-wide: use unique names)."""
    import logging
    import os

    from moto.server import ThreadedMotoServer

    for variable, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(variable, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def grading(emulator_endpoint: str) -> EmulatedGrading:
    """The grading service wired to the emulator (scoped credentials on), two schools seeded."""
    built = build(emulator_endpoint)
    seed_roster(built, "school-a", {"st-1": "Ana Rojas", "st-2": "Benja Soto"})
    seed_roster(built, "school-b", {"st-9": "Zoe Bravo"})
    return built
