"""REST contract: every operation in the served OpenAPI, fuzzed by schemathesis, never answers 5xx
and always answers what the document says (status codes, content types, response schemas)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from grading_emulated import EmulatedGrading
from luca_grading.entrypoints.rest import create_app

pytestmark = pytest.mark.emulator
EXAMPLES_PER_OPERATION = 20


def test_every_operation_answers_within_its_contract(grading: EmulatedGrading) -> None:
    api = schemathesis.openapi.from_asgi("/v1/openapi.json", create_app(grading.container))
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 10, "the served document lists every route"
    for operation in operations:
        check_operation(operation, grading)


def check_operation(operation: Any, grading: EmulatedGrading) -> None:
    role = "admin" if operation.method.upper() == "PUT" else "teacher"
    auth = grading.bearer("school-a", role)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case: schemathesis.Case) -> None:
        response = case.call(headers={**(case.headers or {}), **auth})
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
        case.validate_response(response, checks=[status_code_conformance, response_schema_conformance])

    conforms()
