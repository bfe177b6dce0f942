"""The ministry's records API as we speak it: the OpenAPI document and the limits it sets.

``openapi.yaml`` (package data next to this module) is the contract the client and the simulator
are both tested against. The few numbers code needs at run time are repeated here as constants so
the Lambda's client needs no YAML parser; a test keeps them equal to the document.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

OPENAPI_RESOURCE = "openapi.yaml"
MAX_RECORDS_PER_BATCH = 500
# The national scale: a grade outside it rejects the record, not the batch.
GRADE_MIN = "1.0"
GRADE_MAX = "7.0"

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a URL path, not a credential
BATCHES_PATH = "/v1/grade-batches"
RECORDS_PATH = "/v1/grade-records"
# The path segments the document constrains: client ids, record ids, school codes.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
SCHOOL_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
CHANGE_PATHS = {"amendment": "amendments", "retraction": "retractions"}


def change_path(kind: str, school_code: str, period: str, record_id: str, client_change_id: str) -> str:
    """Where a change of one record goes: ``kind`` is ``amendment`` or ``retraction``."""
    return f"{RECORDS_PATH}/{school_code}/{period}/{record_id}/{CHANGE_PATHS[kind]}/{client_change_id}"


def openapi_text() -> str:
    """The OpenAPI document as shipped in the package."""
    return files(__name__).joinpath(OPENAPI_RESOURCE).read_text(encoding="utf-8")


@cache
def _parsed() -> dict[str, Any]:
    import yaml  # imported here: only tests and the simulator read the document

    document = yaml.safe_load(openapi_text())
    if not isinstance(document, dict):
        raise ValueError("the ministry's OpenAPI document is not a mapping")
    return document


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, parsed (a fresh copy: callers may not change the cached one)."""
    import copy

    return copy.deepcopy(_parsed())
