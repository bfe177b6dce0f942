"""The event versions the grade processor knows are the ones the contract allows, so the edge refuses
(400) every version the processor would otherwise only dead-letter."""

from __future__ import annotations

from luca.ingest.v1 import ingest_pb2
from luca_ingest.domain.events import SCHEMA_VERSIONS
from luca_platform.contract_rules import field_constraints


def test_the_contract_pins_the_schema_versions_the_processor_knows() -> None:
    rules = field_constraints(ingest_pb2.StudentEvent.DESCRIPTOR.fields_by_name["schema_version"])

    assert rules.allowed is not None
    assert set(rules.allowed) == SCHEMA_VERSIONS
