"""The reports' REST parameters, their documented schemas and the gRPC contract accept the same values."""

from __future__ import annotations

import re
from typing import Any

import protovalidate
import pytest

from luca.analytics.v1 import analytics_pb2
from luca_analytics.entrypoints.rest_documents import contract_parameter
from luca_analytics.service_layer import reports
from luca_analytics.service_layer.reports import ID_PATTERN, MONTH_PATTERN, TERM_PATTERN
from luca_kernel.errors import InvalidInput

FIELDS: list[tuple[Any, str, re.Pattern[str]]] = [
    (analytics_pb2.SubjectAveragesRequest, "term_id", TERM_PATTERN),
    (analytics_pb2.StudentsBelowPassingRequest, "term_id", TERM_PATTERN),
    (analytics_pb2.StudentsBelowPassingRequest, "subject_id", ID_PATTERN),
    (analytics_pb2.BehaviorTrendRequest, "from_month", MONTH_PATTERN),
    (analytics_pb2.BehaviorTrendRequest, "to_month", MONTH_PATTERN),
    (analytics_pb2.GradeDistributionRequest, "term_id", TERM_PATTERN),
    (analytics_pb2.GradeDistributionRequest, "subject_id", ID_PATTERN),
]
VALUES = [
    "2025-T1", "2025-T4", "2025-T5", "25-T1", "2025-t1", "2025-03", "2025-13", "2025-00", "math",
    "a" * 64, "a" * 65, "math!", "ma th", "2025-T1\n", "../x",
]  # fmt: skip


def use_case_accepts(pattern: re.Pattern[str], field: str, value: str) -> bool:
    """The check the REST route's use case makes on the value (the same functions the gRPC path uses)."""
    try:
        if pattern is TERM_PATTERN:
            reports.term(value, required=True)
        elif pattern is ID_PATTERN:
            reports.identifier(value, field=field)
        else:
            reports.month(value, field=field, default=0)
    except InvalidInput:
        return False
    return True


@pytest.mark.parametrize(("message", "field", "pattern"), FIELDS, ids=lambda f: getattr(f, "__name__", f))
def test_rest_grpc_and_the_document_refuse_the_same_values(
    message: Any, field: str, pattern: re.Pattern[str]
) -> None:
    validator = protovalidate.Validator()
    schema = contract_parameter(message, field)
    for value in VALUES:
        request = message(**{field: value})
        if field != "term_id" and "term_id" in message.DESCRIPTOR.fields_by_name:
            request.term_id = "2025-T1"  # the other required field, valid, so only this one is judged
        grpc_accepts = not validator.collect_violations(request)
        rest_accepts = use_case_accepts(pattern, field, value)
        documented = re.fullmatch(schema["pattern"], value) is not None and len(value) <= schema.get(
            "maxLength", len(value)
        )
        assert grpc_accepts == rest_accepts == documented, (message.__name__, field, value)
