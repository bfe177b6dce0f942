"""The public API's one OpenAPI document: every route as clients see it through the edge.

Built here and nowhere else, from the services' own documents (``openapi_document()`` of the
grading and analytics REST apps) and the burst path's contract (the generated JSON Schemas of
``luca.ingest.v1``), plus what the edge adds to every route: the bearer JWT scheme, 401, 429 with
``Retry-After``, and the gateway's 502/503/504 for the routes it forwards. The local gateway serves
it at ``/v1/openapi.json``; the CDK app writes it into the cloud assembly and builds API Gateway's
request models from its component schemas (``aws.public_api_models``), so the validator and the
document cannot drift.

Every problem response names its problem types structurally: its schema is the ``Problem``
component with ``type`` limited to the kinds that status can carry.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from luca_analytics.entrypoints.rest import openapi_document as analytics_document
from luca_grading.entrypoints.rest import openapi_document as grading_document
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_platform.problems import PROBLEM_BASE, PROBLEM_JSON

OPENAPI_PATH = "/v1/openapi.json"
EVENT_SCHEMAS_PACKAGE = "luca.ingest.v1.schemas"
# The contract messages the burst path takes, under their component names.
EVENT_MESSAGES = ("StudentEvent", "SubmitEventsRequest")
JSON = "application/json"
_REF = "#/components/schemas/"

# The problem types (PROBLEM_BASE + kind) each status may carry anywhere in the API.
PROBLEM_KINDS: dict[int, tuple[str, ...]] = {
    400: ("validation", "malformed-json", "invalid-cursor", "duplicate-event-ids"),
    401: ("unauthenticated",),
    403: ("forbidden",),
    404: ("not-found", "unknown-student", "unknown-course", "unknown-subject", "unknown-term"),
    409: ("term-closed", "retracted"),
    412: ("version-mismatch",),
    413: ("content-too-large",),
    415: ("unsupported-media-type",),
    422: ("score-out-of-scale", "idempotency-key-reused"),
    428: ("precondition-required",),
    429: ("rate-limited",),
    500: ("internal",),
    502: ("bad-gateway",),
    503: ("upstream-unavailable", "dependency-unavailable", "lake-unavailable", "queue-unavailable"),
    504: ("upstream-timeout",),
}
_RETRY_AFTER = {
    "description": "seconds to wait before retrying",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
_EDGE = {
    401: "unauthenticated: no valid bearer ID token of the platform's user pool (WWW-Authenticate)",
    429: "rate-limited: the school's plan (or the stage) allows no more requests now; retry after Retry-After",
}
_FORWARDED = {
    502: "bad-gateway: the service gave no valid answer",
    503: "upstream-unavailable (the service is down or restarting) or the service's own 503; Retry-After",
    504: "upstream-timeout: the service did not answer within the integration timeout",
}


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "An RFC 9457 problem; extension members (event_ids, term_id, ...) may follow.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "pattern": "^" + PROBLEM_BASE.replace(".", "[.]") + "[a-z-]+$"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "correlation_id": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    }


def problem_content(status: int) -> dict[str, Any]:
    """The problem+json content of ``status``: the Problem, its type one of the status's kinds."""
    kinds = [PROBLEM_BASE + kind for kind in PROBLEM_KINDS.get(status, ("http-error",))]
    schema = {
        "allOf": [
            {"$ref": _REF + "Problem"},
            {"properties": {"type": {"enum": kinds}, "status": {"const": status}}},
        ]
    }
    return {PROBLEM_JSON: {"schema": schema}}


def _problem(status: int, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": problem_content(status)}
    if headers:
        response["headers"] = headers
    return response


def contract_schema(message: str) -> dict[str, Any]:
    """The generated JSON Schema of a ``luca.ingest.v1`` message, as a component (no ``$schema``)."""
    source = resources.files(EVENT_SCHEMAS_PACKAGE).joinpath(f"{message}.schema.json")
    schema: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    schema.pop("$schema", None)
    return schema


def _event_operation(message: str, summary: str) -> dict[str, Any]:
    ingest = PLATFORM_DEFINITION.ingest
    return {
        "summary": summary,
        "operationId": "submit_event" if message == "StudentEvent" else "submit_events",
        "tags": ["events"],
        "description": (
            "Queued for grading, never processed in the request; the school comes from the token. "
            f"A student's token may send only that student's events (else 403). Each event at most "
            f"{ingest.max_event_bytes} bytes (local edge: 413), event ids unique within a request "
            "(local edge: 400 duplicate-event-ids; the AWS edge queues a repeat once)."
        ),
        "requestBody": {"required": True, "content": {JSON: {"schema": {"$ref": _REF + message}}}},
        "responses": {
            "202": {
                "description": "queued: the ids of the events the queue confirmed",
                "content": {JSON: {"schema": {"$ref": _REF + "EventsQueued"}}},
            },
            "400": _problem(
                400, "validation (the body does not match the contract), malformed-json, duplicate-event-ids"
            ),
            "403": _problem(403, "forbidden: a student's token names another student"),
            "413": _problem(413, "content-too-large: the body, or one event, exceeds its limit"),
            "415": _problem(415, "unsupported-media-type: send application/json"),
            "500": _problem(500, "AWS edge only: the queue refused the batch for another reason"),
            "503": _problem(
                503,
                "queue-unavailable: not queued; send again (event ids make it harmless)",
                {"Retry-After": _RETRY_AFTER},
            ),
        },
    }


def _openapi_operation() -> dict[str, Any]:
    return {
        "summary": "This document",
        "operationId": "public_openapi",
        "tags": ["meta"],
        "security": [],
        "responses": {
            "200": {
                "description": "the public API's OpenAPI document",
                "content": {JSON: {"schema": {"type": "object"}}},
            }
        },
    }


def _service_paths(document: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        if name in schemas and schemas[name] != schema:
            raise ValueError(f"two services define the component {name!r} differently")
        schemas[name] = schema
    paths: dict[str, Any] = copy.deepcopy(document["paths"])
    for operations in paths.values():
        for operation in operations.values():
            # The bearer scheme says it; FastAPI lists the header as a parameter.
            operation["parameters"] = [
                p for p in operation.get("parameters", []) if p["name"].lower() != "authorization"
            ]
            for status, response in operation["responses"].items():
                if PROBLEM_JSON in response.get("content", {}):
                    response["content"] = problem_content(int(status))
            for status, description in _FORWARDED.items():
                headers = {"Retry-After": _RETRY_AFTER} if status == 503 else None
                operation["responses"].setdefault(str(status), _problem(status, description, headers))
    return paths


def _with_edge(operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    responses["401"] = _problem(
        401, _EDGE[401], {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}}
    )
    responses["429"] = _problem(429, _EDGE[429], {"Retry-After": _RETRY_AFTER})


@cache
def _built() -> str:
    schemas: dict[str, Any] = {"Problem": _problem_schema()}
    paths: dict[str, Any] = {}
    for document in (grading_document(), analytics_document()):
        for path, operations in _service_paths(document, schemas).items():
            paths.setdefault(path, {}).update(operations)
    for message in EVENT_MESSAGES:
        schemas[message] = contract_schema(message)
    schemas["EventsQueued"] = {
        "type": "object",
        "required": ["event_ids"],
        "properties": {"event_ids": {"type": "array", "items": {"type": "string"}}},
    }
    ingest = PLATFORM_DEFINITION.ingest
    paths[f"/v1/{ingest.event_route}"] = {"post": _event_operation("StudentEvent", "Send one student event")}
    paths[f"/v1/{ingest.batch_route}"] = {
        "post": _event_operation("SubmitEventsRequest", f"Send 1-{ingest.max_events_per_request} events")
    }
    for operations in paths.values():
        for operation in operations.values():
            _with_edge(operation)
    paths[OPENAPI_PATH] = {"get": _openapi_operation()}
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Luca public API",
            "version": "1.0.0",
            "description": (
                "Every route clients reach through the edge: grading, the burst path's events and the "
                "reports. The school always comes from the bearer ID token. Every error is an RFC 9457 "
                f"problem ({PROBLEM_JSON}) whose type starts with {PROBLEM_BASE}. A method a path "
                "does not list is a 405 with Allow."
            ),
        },
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "a Cognito ID token of the platform's user pool (custom:school_id)",
                }
            },
        },
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=False)


def public_document() -> dict[str, Any]:
    """The public API's OpenAPI 3.1 document (built once per process; a fresh copy each call)."""
    document: dict[str, Any] = json.loads(_built())
    return document


def public_document_bytes() -> bytes:
    """The document as served: compact JSON."""
    return _built().encode("utf-8")
