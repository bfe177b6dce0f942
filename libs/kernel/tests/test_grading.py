"""What services/grading/tests/unit/test_grading_rules.py does not cover of the kernel's rules:
their own validation, ``parse_decimal`` and the scale conversion's edges."""

from __future__ import annotations

from decimal import Decimal

import pytest

from luca_kernel.errors import InvalidInput, ScoreOutOfScale
from luca_kernel.grading import DEFAULT_SUBJECT, GradingRule, ScaleKind, default_rule, parse_decimal
from luca_kernel.ids import SubjectId

MATH = SubjectId("math")


def test_the_platform_default_is_chilean_one_decimal_passing_at_four() -> None:
    rule = default_rule()
    assert rule.subject_id == DEFAULT_SUBJECT
    assert (rule.scale, rule.bounds, rule.passing_grade, rule.decimals) == (
        ScaleKind.CHILEAN,
        (Decimal("1.0"), Decimal("7.0")),
        Decimal("4.0"),
        1,
    )


@pytest.mark.parametrize("decimals", [-1, 3])
def test_a_rule_keeps_zero_to_two_decimals(decimals: int) -> None:
    with pytest.raises(InvalidInput) as raised:
        GradingRule(subject_id=MATH, decimals=decimals)
    assert raised.value.field == "decimals"


@pytest.mark.parametrize("weight", ["0", "-1"])
def test_a_rules_default_weight_must_be_positive(weight: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        GradingRule(subject_id=MATH, default_weight=Decimal(weight))
    assert raised.value.field == "default_weight"


def test_no_weight_means_the_rules_default_weight() -> None:
    assert GradingRule(subject_id=MATH, default_weight=Decimal("2")).validate_weight(None) == Decimal("2")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("6.5", Decimal("6.5")), (6.5, Decimal("6.5")), (7, Decimal("7")), (0.1, Decimal("0.1"))],
)
def test_parse_decimal_keeps_what_the_user_wrote(raw: str | float, expected: Decimal) -> None:
    assert parse_decimal(raw, field_name="score") == expected


@pytest.mark.parametrize("raw", ["six", "", "NaN", "Infinity", "-inf"])
def test_parse_decimal_refuses_what_is_not_a_finite_number_naming_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_decimal(raw, field_name="score")
    assert raised.value.field == "score"


@pytest.mark.parametrize("demand", ["0", "1", "1.5"])
def test_the_demand_lies_strictly_between_zero_and_one(demand: str) -> None:
    with pytest.raises(InvalidInput):
        default_rule().score_for_fraction(Decimal("0.5"), demand=Decimal(demand))
    with pytest.raises(InvalidInput):
        default_rule().fraction_for_score(Decimal("5.0"), demand=Decimal(demand))


def test_when_passing_is_the_top_of_the_scale_the_top_is_full_marks() -> None:
    rule = GradingRule(subject_id=MATH, passing_grade=Decimal("7.0"))
    assert rule.fraction_for_score(Decimal("7.0")) == Decimal(1)
    assert rule.fraction_for_score(Decimal("1.0")) == Decimal(0)


def test_a_score_outside_the_scale_cannot_be_converted() -> None:
    with pytest.raises(ScoreOutOfScale):
        default_rule().fraction_for_score(Decimal("0.5"))
