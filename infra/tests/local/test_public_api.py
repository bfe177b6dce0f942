"""The public API's one document: valid OpenAPI 3.1, every public route, and the edge's answers."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.public_api import OPENAPI_PATH, PROBLEM_KINDS, public_document
from luca_platform.problems import PROBLEM_BASE, PROBLEM_JSON

METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return public_document()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_the_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_public_route_is_in_it(document: dict[str, Any]) -> None:
    from luca_analytics.entrypoints.rest import openapi_document as analytics
    from luca_grading.entrypoints.rest import openapi_document as grading

    ingest = PLATFORM_DEFINITION.ingest
    expected = {
        (path, method)
        for service in (grading(), analytics())
        for path, item in service["paths"].items()
        for method in item
    } | {(f"/v1/{ingest.event_route}", "post"), (f"/v1/{ingest.batch_route}", "post"), (OPENAPI_PATH, "get")}
    assert {(path, method) for path, method, _ in operations(document)} == expected
    assert all(path.startswith("/v1/") for path in document["paths"])


def test_every_operation_declares_429_with_retry_after_and_401(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        if path == OPENAPI_PATH:
            continue
        throttled = operation["responses"]["429"]
        assert throttled["headers"]["Retry-After"]["required"] is True, (path, method)
        assert PROBLEM_JSON in throttled["content"]
        assert "401" in operation["responses"], (path, method)


def test_every_problem_names_its_types(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            content = response.get("content", {})
            if status.startswith(("4", "5")):
                assert list(content) == [PROBLEM_JSON], (path, method, status)
                kinds = content[PROBLEM_JSON]["schema"]["allOf"][1]["properties"]["type"]["enum"]
                assert kinds == [PROBLEM_BASE + kind for kind in PROBLEM_KINDS[int(status)]]


def test_bearer_jwt_is_the_scheme_and_only_the_document_is_open(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert document["security"] == [{"bearer": []}]
    open_routes = [(p, m) for p, m, op in operations(document) if op.get("security") == []]
    assert open_routes == [(OPENAPI_PATH, "get")]


def test_constraints_the_services_enforce_are_stated(document: dict[str, Any]) -> None:
    evaluations = document["paths"]["/v1/students/{student_id}/evaluations"]["get"]["parameters"]
    by_name = {p["name"]: p for p in evaluations}
    assert by_name["student_id"]["schema"]["maxLength"] == 64
    assert "pattern" in by_name["student_id"]["schema"]
    assert "needs term_id" in by_name["subject_id"]["description"]
    weight = document["components"]["schemas"]["RecordEvaluationBody"]["properties"]["weight"]
    assert "max digits 6, decimal places 3" in str(weight)
