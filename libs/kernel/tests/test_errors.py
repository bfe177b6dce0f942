"""The kernel's error taxonomy is the wire's: ``Reason`` agrees with ``luca.common.v1.ErrorReason``."""

from __future__ import annotations

import pytest

from luca.common.v1 import common_pb2
from luca_kernel import errors
from luca_kernel.errors import LucaError, Reason

WIRE_PREFIX = "ERROR_REASON_"
WIRE_NAMES = frozenset(
    value.name.removeprefix(WIRE_PREFIX)
    for value in common_pb2.ErrorReason.DESCRIPTOR.values
    if value.number != 0  # ERROR_REASON_UNSPECIFIED
)


def test_every_wire_reason_has_a_kernel_reason() -> None:
    assert WIRE_NAMES - {reason.name for reason in Reason} == set()


def test_every_kernel_reason_is_on_the_wire() -> None:
    assert {reason.name for reason in Reason} - WIRE_NAMES == set()


def test_unspecified_is_never_a_kernel_reason() -> None:
    assert "UNSPECIFIED" not in Reason.__members__


@pytest.mark.parametrize("reason", list(Reason))
def test_the_rest_problem_suffix_is_the_lowercase_dashed_wire_name(reason: Reason) -> None:
    assert reason.value == reason.name.lower().replace("_", "-")
    assert common_pb2.ErrorReason.Value(WIRE_PREFIX + reason.name) > 0


def _error_classes() -> list[type[LucaError]]:
    return [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, LucaError) and value is not LucaError
    ]


@pytest.mark.parametrize("error", _error_classes(), ids=lambda error: error.__name__)
def test_every_error_reports_a_reason_the_wire_knows(error: type[LucaError]) -> None:
    raised = error("detail", field="score")
    assert isinstance(raised.reason, Reason)
    assert raised.reason.name in WIRE_NAMES
    assert (raised.detail, raised.field, str(raised)) == ("detail", "score", "detail")


def test_a_tenant_boundary_violation_is_a_bug_not_a_caller_error() -> None:
    # Entrypoints answer it with a generic 403; it must never be mapped like a LucaError.
    assert not issubclass(errors.TenantBoundaryViolation, LucaError)
