"""Fixtures for the government sync's tests: grade records, the ministry contract as JSON Schema,
and the ministry simulator served on a free loopback port."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from luca_govsync.domain.model import GradeRecord
from luca_govsync.ministry import openapi_document
from luca_govsync.simulator import SimulatedMinistry, SimulatorServer

PERIOD = "2025-T1"
CONTRACT_URI = "urn:luca:ministry-openapi"

ContractCheck = Callable[[str, Any], None]


GradeRecordFactory = Callable[..., GradeRecord]


def _grade_record(
    record_id: str, student_id: str = "st-1", score: str = "6.5", period: str = PERIOD
) -> GradeRecord:
    return GradeRecord(
        record_id=record_id,
        student_id=student_id,
        course_id="1A",
        subject_id="math",
        period=period,
        score=score,
        recorded_at="2025-04-30T15:00:00Z",
    )


@pytest.fixture(scope="session")
def grade_record() -> GradeRecordFactory:
    """``grade_record("r-1", student_id=..., score=..., period=...)``: one official grade of 2025-T1."""
    return _grade_record


@pytest.fixture(scope="session")
def contract() -> ContractCheck:
    """``contract("GradeBatch", body)`` fails when ``body`` breaks that schema of the OpenAPI document."""
    document = openapi_document()
    registry = Registry().with_resource(
        CONTRACT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    validators: dict[str, Draft202012Validator] = {}

    def check(schema: str, instance: Any) -> None:
        if schema not in validators:
            assert schema in document["components"]["schemas"], f"no schema {schema} in the contract"
            validators[schema] = Draft202012Validator(
                {"$ref": f"{CONTRACT_URI}#/components/schemas/{schema}"},
                registry=registry,
                format_checker=Draft202012Validator.FORMAT_CHECKER,
            )
        errors = sorted(validators[schema].iter_errors(instance), key=lambda error: list(error.path))
        assert not errors, f"{schema}: " + "; ".join(
            f"{'/'.join(map(str, error.path))}: {error.message}" for error in errors
        )

    return check


class MinistryClock:
    """Wall-clock time plus an offset a test can move forward (token expiry, outage windows)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture(scope="session")
def ministry_clock() -> MinistryClock:
    return MinistryClock()


@pytest.fixture(scope="session")
def served_simulator(ministry_clock: MinistryClock) -> Iterator[SimulatorServer]:
    """One simulator for the session (each test gets it reset, see ``simulator``)."""
    server = SimulatorServer(SimulatedMinistry(clock=ministry_clock))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def simulator(served_simulator: SimulatorServer, ministry_clock: MinistryClock) -> SimulatorServer:
    """The session's simulator with no faults, no batches, no tokens and zeroed counts."""
    ministry_clock.offset = 0.0
    served_simulator.ministry.reset()
    return served_simulator
