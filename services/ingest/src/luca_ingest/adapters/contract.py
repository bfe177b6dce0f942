"""The wire form of a student event: JSON checked against the contract's generated JSON Schema.

The schema is the one the edge's request model uses (``luca/ingest/v1/schemas``, generated from
``luca.ingest.v1`` by ``make proto``), so a message the edge would refuse is refused here too, in
case anything other than the edge put it on the queue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from luca_ingest.domain.events import SCHEMA_VERSIONS, Reason, Unprocessable


@cache
def event_schema() -> dict[str, Any]:
    source = resources.files("luca.ingest.v1.schemas").joinpath("StudentEvent.schema.json")
    schema: dict[str, Any] = json.loads(source.read_text())
    return schema


@cache
def _validator() -> Any:
    # Compiled once per process: compiling costs about 10 ms, validating a few microseconds (the
    # same fastjsonschema Powertools' ``validate`` uses, which compiles on every call).
    return fastjsonschema.compile(event_schema())


def decode_event(body: str) -> Mapping[str, Any]:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Unprocessable(Reason.MALFORMED, f"the body is not JSON: {exc}") from exc
    version = document.get("schema_version") if isinstance(document, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version not in SCHEMA_VERSIONS:
        # The contract lists the known versions too; this keeps the dead letter's reason specific.
        raise Unprocessable(Reason.SCHEMA_VERSION, f"schema_version {version} is not supported")
    try:
        _validator()(document)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise Unprocessable(
            Reason.MALFORMED, f"the body does not match the contract: {exc.message} (at {exc.name})"
        ) from exc
    result: Mapping[str, Any] = document
    return result
