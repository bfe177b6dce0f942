"""Fixtures for the grade processor's tests against the embedded emulator."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest

from grading_emulated import REGION, create_table, tenant_role
from ingest_support import EmulatedIngest
from luca_grading.adapters.aws_clients import AwsClients
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory
from luca_grading.domain.model import Course, CourseId, SchoolId, Student, StudentId, Subject, SubjectId
from luca_ingest.bootstrap import build
from luca_ingest.config import IngestSettings


@pytest.fixture(scope="session")
def ingest_emulator() -> Iterator[str]:
    """moto's server on loopback for this session (state is process-wide: tables get unique names)."""
    from moto.server import ThreadedMotoServer

    for variable, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(variable, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


ROSTERS = {
    "school-a": {"course": "1A", "students": ("st-1", "st-2"), "subjects": ("math", "art")},
    "school-b": {"course": "3C", "students": ("st-9",), "subjects": ("math",)},
}


@pytest.fixture
def ingest(ingest_emulator: str) -> EmulatedIngest:
    """A fresh table with two schools' rosters and the processor built by its composition root,
    reading and writing through per-school (tenant-role) sessions."""
    table = f"ingest-test-{uuid.uuid4().hex[:8]}"
    create_table(ingest_emulator, table)
    settings = IngestSettings(
        table_name=table,
        aws_region=REGION,
        aws_endpoint_url=ingest_emulator,
        tenant_role_arn=tenant_role(ingest_emulator),
    )
    seeding = DynamoRepositoryFactory(
        clients=AwsClients(region=REGION, endpoint_url=ingest_emulator), table_name=table
    )
    for school, roster in ROSTERS.items():
        repository = seeding.for_school(SchoolId(school))
        course = CourseId(str(roster["course"]))
        repository.put_course(Course(SchoolId(school), course, f"Course {course}"))
        for subject in roster["subjects"]:
            repository.put_subject(Subject(SchoolId(school), SubjectId(subject), subject.title()))
        for student in roster["students"]:
            repository.put_student(
                Student(SchoolId(school), StudentId(student), course, f"Student {student}")
            )
    return EmulatedIngest(build(settings), ingest_emulator, table)
