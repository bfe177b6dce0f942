"""Fixtures for the grade processor's tests against the embedded emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ingest_support import EmulatedIngest, span_recorder
from luca_ingest.bootstrap import build
from luca_ingest.config import IngestSettings
from luca_platform.aws import AwsClients
from luca_testing.emulator import REGION, batch_role, create_table, running_emulator
from luca_testing.seed import SchoolSeed


@pytest.fixture(scope="session")
def ingest_emulator() -> Iterator[str]:
    """moto's server on loopback for this session (state is process-wide: tables get unique names)."""
    with running_emulator() as endpoint:
        yield endpoint


ROSTERS = {
    "school-a": {"course": "1A", "students": ("st-1", "st-2"), "subjects": ("math", "art")},
    "school-b": {"course": "3C", "students": ("st-9",), "subjects": ("math",)},
}


@pytest.fixture
def ingest(ingest_emulator: str) -> EmulatedIngest:
    """A fresh table with two schools' rosters and the processor built by its composition root,
    reading and writing through one batch-role session per batch."""
    table = f"ingest-test-{uuid.uuid4().hex[:8]}"
    create_table(ingest_emulator, table)
    settings = IngestSettings(
        table_name=table,
        aws_region=REGION,
        aws_endpoint_url=ingest_emulator,
        batch_role_arn=batch_role(ingest_emulator),
    )
    clients = AwsClients(region=REGION, endpoint_url=ingest_emulator)
    for school, roster in ROSTERS.items():
        seed = SchoolSeed(clients, table, school).course(str(roster["course"]))
        for subject in roster["subjects"]:
            seed.subject(subject)
        for student in roster["students"]:
            seed.student(student, str(roster["course"]))
    return EmulatedIngest(build(settings), ingest_emulator, table)


@pytest.fixture(scope="session")
def _span_recorder() -> InMemorySpanExporter:
    return span_recorder()


@pytest.fixture
def spans(_span_recorder: InMemorySpanExporter) -> InMemorySpanExporter:
    """The spans finished during the test (the recorder is shared by the session, emptied per test)."""
    _span_recorder.clear()
    return _span_recorder
