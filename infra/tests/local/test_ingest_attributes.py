"""The message attributes the edge sets are the ones the grade processor reads.

The handler cannot import the platform's definitions (its bundle carries only what it needs), so it
spells the attribute names itself; this test keeps the two spellings one.
"""

from __future__ import annotations

from luca_infra.definitions import PLATFORM_DEFINITION
from luca_ingest.entrypoints import handler


def test_the_handler_reads_the_attributes_the_definition_names() -> None:
    ingest = PLATFORM_DEFINITION.ingest
    assert ingest.school_attribute == handler.SCHOOL_ATTRIBUTE
    assert ingest.correlation_attribute == handler.CORRELATION_ATTRIBUTE
    assert ingest.student_attribute == handler.STUDENT_ATTRIBUTE
