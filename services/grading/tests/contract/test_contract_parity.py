"""One contract, three front doors: the same RecordEvaluation inputs go to the gRPC server (a real
server on loopback), the REST API and the JSON Schema generated from the contract (validated as the
edge does), and all three refuse each invalid one and let the valid one through their validation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from importlib import resources
from typing import Any

import grpc
import jsonschema
import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format

from grading_emulated import EmulatedGrading
from luca.grading.v1 import grading_pb2, grading_pb2_grpc
from luca_grading.entrypoints.grpc_server import create_server
from luca_grading.entrypoints.rest import create_app
from luca_testing import grpc_status

pytestmark = pytest.mark.emulator

DOMAIN = "grading.luca.school"
KEY = str(uuid.uuid4())
VALID: dict[str, Any] = {
    "request_id": KEY,
    "student_id": "st-nobody",
    "course_id": "course-1",
    "subject_id": "math",
    "term_id": "2026-T1",
    "score": {"value": "6.5"},
    "description": "oral test",
}
# name: (what changes in the request (None: the field is left out), the field the refusal names)
INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "bad id": ({"student_id": "st 1!"}, "student_id"),
    "too long id": ({"course_id": "c" * 65}, "course_id"),
    "bad pattern": ({"subject_id": "-math"}, "subject_id"),
    "missing required id": ({"term_id": None}, "term_id"),
    "missing required score": ({"score": None}, "score"),
    "too long description": ({"description": "x" * 2001}, "description"),
}


def request_json(change: dict[str, Any]) -> dict[str, Any]:
    merged = {**VALID, **change}
    return {k: v for k, v in merged.items() if v is not None}


def rest_body(document: dict[str, Any]) -> dict[str, Any]:
    """The REST body of the same request: the score as a bare value, the key in a header."""
    body = {k: v for k, v in document.items() if k != "request_id"}
    if "score" in body:
        body["score"] = body["score"]["value"]
    return body


@pytest.fixture(scope="module")
def stub(grading: EmulatedGrading) -> Iterator[grading_pb2_grpc.GradingServiceStub]:
    server, port = create_server(grading.container, address="127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield grading_pb2_grpc.GradingServiceStub(channel)
    finally:
        server.stop(None)


@pytest.fixture(scope="module")
def api(grading: EmulatedGrading) -> TestClient:
    return TestClient(create_app(grading.container), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    source = resources.files("luca.grading.v1.schemas").joinpath("RecordEvaluationRequest.schema.json")
    loaded: dict[str, Any] = json.loads(source.read_text())
    return loaded


def grpc_refusal(stub: Any, grading: EmulatedGrading, document: dict[str, Any]) -> list[str] | None:
    """The fields an INVALID_ARGUMENT names, or None when the call got past validation."""
    message = json_format.ParseDict(document, grading_pb2.RecordEvaluationRequest())
    metadata = [("authorization", grading.bearer("school-a", "teacher")["Authorization"])]
    try:
        stub.RecordEvaluation(message, metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        code, info, fields = grpc_status.refused(error, domain=DOMAIN)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            assert info.reason == "VALIDATION"
            return fields
    return None


def rest_status(api: TestClient, grading: EmulatedGrading, document: dict[str, Any]) -> int:
    headers = {**grading.bearer("school-a", "teacher"), "Idempotency-Key": document["request_id"]}
    return api.post("/v1/evaluations", json=rest_body(document), headers=headers).status_code


@pytest.mark.parametrize("case", list(INVALID))
def test_every_front_door_refuses_the_same_invalid_input(
    stub: Any, api: TestClient, schema: dict[str, Any], grading: EmulatedGrading, case: str
) -> None:
    change, field = INVALID[case]
    document = request_json(change)

    assert grpc_refusal(stub, grading, document) == [field]
    assert rest_status(api, grading, document) == 400
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)


def test_a_valid_input_passes_every_front_doors_validation(
    stub: Any, api: TestClient, schema: dict[str, Any], grading: EmulatedGrading
) -> None:
    # Past validation the unseeded school answers "unknown" or "forbidden": never a bad argument.
    assert grpc_refusal(stub, grading, VALID) is None
    assert rest_status(api, grading, VALID) not in (400, 422)
    jsonschema.validate(VALID, schema)
