"""Grading rules: scales, rounding and weighted averages in the school's terms."""

from decimal import Decimal

import pytest

from luca_kernel.errors import InvalidInput, ScoreOutOfScale
from luca_kernel.grading import GradingRule, Rounding, ScaleKind, default_rule
from luca_kernel.ids import SubjectId


def test_chilean_default_accepts_one_decimal_scores_inside_the_scale() -> None:
    rule = default_rule(SubjectId("math"))
    assert rule.validate_score(Decimal("1.0")) == Decimal("1.0")
    assert rule.validate_score(Decimal("7")) == Decimal("7.0")
    assert rule.validate_score(Decimal("4.5")) == Decimal("4.5")


@pytest.mark.parametrize("score", ["0.9", "7.1", "-1", "70"])
def test_scores_outside_the_chilean_scale_are_refused(score: str) -> None:
    with pytest.raises(ScoreOutOfScale):
        default_rule().validate_score(Decimal(score))


def test_more_decimals_than_the_rule_keeps_is_refused_not_silently_rounded() -> None:
    with pytest.raises(InvalidInput, match="decimal"):
        default_rule().validate_score(Decimal("5.55"))


def test_percentage_scale_with_passing_at_60() -> None:
    rule = GradingRule(
        subject_id=SubjectId("art"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal("60"), decimals=0
    )
    assert rule.validate_score(Decimal("87")) == Decimal("87")
    assert rule.is_passing(Decimal("60"))
    assert not rule.is_passing(Decimal("59"))
    with pytest.raises(ScoreOutOfScale):
        rule.validate_score(Decimal("101"))


def test_passing_grade_must_lie_on_the_scale() -> None:
    with pytest.raises(InvalidInput, match="passing grade"):
        GradingRule(subject_id=SubjectId("math"), passing_grade=Decimal("60"))


def test_weighted_average_rounds_half_up_by_default() -> None:
    rule = default_rule()
    # (6.0*1 + 4.5*1) / 2 = 5.25 -> 5.3 half-up
    assert rule.weighted_average([(Decimal("6.0"), Decimal(1)), (Decimal("4.5"), Decimal(1))]) == Decimal(
        "5.3"
    )


def test_weighted_average_respects_weights_and_rounding_mode() -> None:
    rule = GradingRule(subject_id=SubjectId("math"), rounding=Rounding.DOWN)
    # (7.0*0.7 + 4.0*0.3) / 1.0 = 6.1
    assert rule.weighted_average(
        [(Decimal("7.0"), Decimal("0.7")), (Decimal("4.0"), Decimal("0.3"))]
    ) == Decimal("6.1")
    half_even = GradingRule(subject_id=SubjectId("math"), rounding=Rounding.HALF_EVEN)
    assert half_even.weighted_average(
        [(Decimal("6.0"), Decimal(1)), (Decimal("4.5"), Decimal(1))]
    ) == Decimal("5.2")


def test_average_of_nothing_is_none() -> None:
    assert default_rule().weighted_average([]) is None


@pytest.mark.parametrize("weight", ["0", "-1", "101"])
def test_weights_must_be_positive_and_bounded(weight: str) -> None:
    with pytest.raises(InvalidInput):
        default_rule().validate_weight(Decimal(weight))


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [("0", "1.0"), ("0.3", "2.5"), ("0.6", "4.0"), ("0.8", "5.5"), ("1", "7.0"), ("0.45", "3.3")],
)
def test_a_fraction_correct_maps_onto_the_chilean_scale_with_passing_at_60_percent(
    fraction: str, expected: str
) -> None:
    assert default_rule().score_for_fraction(Decimal(fraction)) == Decimal(expected)


def test_a_fraction_correct_on_a_percentage_scale_is_the_percentage() -> None:
    rule = GradingRule(SubjectId("art"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal("60"), decimals=0)
    assert [rule.score_for_fraction(Decimal(f)) for f in ("0", "0.25", "0.6", "0.9", "1")] == [
        Decimal(v) for v in ("0", "25", "60", "90", "100")
    ]


@pytest.mark.parametrize("fraction", ["-0.1", "1.01"])
def test_a_fraction_outside_zero_to_one_is_refused(fraction: str) -> None:
    with pytest.raises(InvalidInput):
        default_rule().score_for_fraction(Decimal(fraction))


@pytest.mark.parametrize("score", ["1.0", "2.5", "3.9", "4.0", "5.5", "7.0"])
def test_fraction_for_score_inverts_score_for_fraction(score: str) -> None:
    rule = default_rule()
    assert rule.score_for_fraction(rule.fraction_for_score(Decimal(score))) == Decimal(score)


def test_a_passing_grade_on_one_scale_is_the_passing_grade_on_another() -> None:
    percentage = GradingRule(
        SubjectId("art"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal("70"), decimals=0
    )
    chilean = default_rule()
    assert chilean.score_for_fraction(percentage.fraction_for_score(Decimal("70"))) == Decimal("4.0")
    assert chilean.score_for_fraction(percentage.fraction_for_score(Decimal("100"))) == Decimal("7.0")
    assert chilean.score_for_fraction(percentage.fraction_for_score(Decimal("0"))) == Decimal("1.0")


def test_fraction_for_a_score_outside_the_scale_is_refused() -> None:
    with pytest.raises(ScoreOutOfScale):
        default_rule().fraction_for_score(Decimal("8.0"))
