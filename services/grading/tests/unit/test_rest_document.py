"""The grading document's decimals: both forms hold the digit limits and bounds the models enforce,
so a value the document allows is one the REST model takes."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from pydantic import ValidationError

from luca_grading.entrypoints.rest import openapi_document
from luca_grading.entrypoints.rest_models import CorrectionBody, GradingRuleBody, RecordEvaluationBody
from luca_grading.entrypoints.rest_openapi import digit_grids

BODY = {"student_id": "st-1", "course_id": "1A", "subject_id": "math", "term_id": "2026-T1"}


def _forms(field: dict[str, Any]) -> list[dict[str, Any]]:
    forms = field["anyOf"]
    return [leaf for form in forms for leaf in (form.get("anyOf") or [form])]


def _allowed_by(grid: dict[str, Any], value: str) -> bool:
    number = Fraction(value)
    low, high = grid.get("minimum", grid.get("exclusiveMinimum")), grid.get("maximum")
    return (
        number % Fraction(str(grid["multipleOf"])) == 0
        and (low is None or number >= Fraction(str(low)))
        and ("exclusiveMinimum" not in grid or number > Fraction(str(grid["exclusiveMinimum"])))
        and (high is None or number <= Fraction(str(high)))
    )


def test_the_number_grids_are_the_numbers_with_at_most_six_digits() -> None:
    grids = digit_grids({"type": "number"}, 6, None)

    for value in ("999999", "99999.9", "1.23456", "0.123456", "-4.5"):
        assert any(_allowed_by(g, value) for g in grids), value
        RecordEvaluationBody.model_validate_json(json.dumps({**BODY, "score": float(value)}))
    for value in ("1234567", "1.234567", "0.0000001"):
        assert not any(_allowed_by(g, value) for g in grids), value
        with pytest.raises(ValidationError):
            RecordEvaluationBody.model_validate_json(json.dumps({**BODY, "score": float(value)}))


def test_a_bounded_decimal_needs_one_grid() -> None:
    grids = digit_grids({"type": "number", "exclusiveMinimum": 0, "maximum": 100}, 6, 3)

    assert grids == [{"type": "number", "exclusiveMinimum": 0, "maximum": 100, "multipleOf": 0.001}]


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        *[(value, True) for value in ("1", "100", "100.000", "0.001", "0.050", "99.999")],
        *[(value, False) for value in ("0", "0.000", "-00", "100.001", "0.0001")],
    ],
)
def test_a_weight_string_is_documented_within_its_bounds(value: str, allowed: bool) -> None:
    field = openapi_document()["components"]["schemas"]["GradingRuleBody"]["properties"]["default_weight"]
    pattern = next(form["pattern"] for form in _forms(field) if form.get("type") == "string")

    assert bool(re.search(pattern, value)) is allowed
    if allowed:
        assert GradingRuleBody(passing_grade=Decimal(4), default_weight=value).default_weight == Decimal(
            value
        )
    else:
        with pytest.raises(ValidationError):
            GradingRuleBody(passing_grade=Decimal(4), default_weight=value)


def test_a_correction_that_changes_nothing_is_not_a_documented_body() -> None:
    schema = openapi_document()["components"]["schemas"]["CorrectionBody"]

    assert {tuple(branch["required"]) for branch in schema["anyOf"]} == {
        ("score",),
        ("weight",),
        ("description",),
    }
    assert CorrectionBody(reason="typo", score=None).score is None  # the use case refuses it: 400


def test_changes_require_if_match() -> None:
    operation = openapi_document()["paths"]["/v1/students/{student_id}/evaluations/{evaluation_id}"]["patch"]

    if_match = next(p for p in operation["parameters"] if p["name"] == "If-Match")
    assert if_match["required"] is True
