"""Grading scales and rules: how a school turns answers into scores, rounds them and decides passing.

The shared concept every service grades with: the grading service stores a school's rules, the grade
processor grades students' exercises with them, the government sync and the reports read them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from luca_kernel.errors import InvalidInput, ScoreOutOfScale
from luca_kernel.ids import SubjectId


class ScaleKind(StrEnum):
    CHILEAN = "chilean"
    PERCENTAGE = "percentage"


class Rounding(StrEnum):
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    DOWN = "down"


_ROUNDING_MODES = {
    Rounding.HALF_UP: ROUND_HALF_UP,
    Rounding.HALF_EVEN: ROUND_HALF_EVEN,
    Rounding.DOWN: ROUND_DOWN,
}

SCALE_BOUNDS: dict[ScaleKind, tuple[Decimal, Decimal]] = {
    ScaleKind.CHILEAN: (Decimal("1.0"), Decimal("7.0")),
    ScaleKind.PERCENTAGE: (Decimal("0"), Decimal("100")),
}

DEFAULT_SUBJECT = SubjectId("*")


def parse_decimal(raw: str | int | float | Decimal, *, field_name: str) -> Decimal:
    """A finite decimal from user input; floats go through str() so 6.5 stays 6.5."""
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(f"{field_name} must be a decimal number, got {raw!r}", field=field_name) from exc
    if not value.is_finite():
        raise InvalidInput(f"{field_name} must be a finite number", field=field_name)
    return value


@dataclass(frozen=True, slots=True)
class GradingRule:
    """How a school grades one subject (or, with subject ``*``, every subject without its own rule)."""

    subject_id: SubjectId
    scale: ScaleKind = ScaleKind.CHILEAN
    passing_grade: Decimal = Decimal("4.0")
    rounding: Rounding = Rounding.HALF_UP
    decimals: int = 1
    default_weight: Decimal = Decimal("1")
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        low, high = self.bounds
        if not 0 <= self.decimals <= 2:
            raise InvalidInput("decimals must be between 0 and 2", field="decimals")
        if not low <= self.passing_grade <= high:
            raise InvalidInput(
                f"passing grade {self.passing_grade} is outside the {self.scale} scale {low}-{high}",
                field="passing_grade",
            )
        if self.default_weight <= 0:
            raise InvalidInput("default weight must be positive", field="default_weight")

    @property
    def bounds(self) -> tuple[Decimal, Decimal]:
        return SCALE_BOUNDS[self.scale]

    def round(self, value: Decimal) -> Decimal:
        quantum = Decimal(1).scaleb(-self.decimals)
        return value.quantize(quantum, rounding=_ROUNDING_MODES[self.rounding])

    def validate_score(self, score: Decimal) -> Decimal:
        """The score as stored: inside the scale and with no more decimals than the rule keeps."""
        low, high = self.bounds
        if not low <= score <= high:
            raise ScoreOutOfScale(
                f"score {score} is outside the {self.scale} scale {low}-{high}", field="score"
            )
        exponent = score.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > self.decimals:
            raise InvalidInput(f"score {score} has more than {self.decimals} decimal place(s)", field="score")
        return self.round(score)

    def validate_weight(self, weight: Decimal | None) -> Decimal:
        if weight is None:
            return self.default_weight
        if not Decimal(0) < weight <= Decimal(100):
            raise InvalidInput("weight must be greater than 0 and at most 100", field="weight")
        # A weight is a share such as 0.25 or 2: more precision than that is a typo, and one the
        # table could not store exactly.
        if weight != weight.quantize(Decimal("0.001")):
            raise InvalidInput("weight has at most 3 decimal places", field="weight")
        return weight

    def score_for_fraction(self, fraction: Decimal, demand: Decimal = Decimal("0.6")) -> Decimal:
        """The score for answering ``fraction`` (0-1) of an exercise correctly.

        The scale's passing grade sits at ``demand`` (the Chilean "exigencia", 60% by default):
        below it the score rises linearly from the scale's minimum, above it up to the maximum.
        A percentage scale with its passing grade at the demand is then just the percentage.
        """
        if not Decimal(0) <= fraction <= Decimal(1):
            raise InvalidInput(f"fraction {fraction} is outside 0-1", field="answers")
        if not Decimal(0) < demand < Decimal(1):
            raise InvalidInput(f"demand {demand} is outside (0, 1)", field="demand")
        low, high = self.bounds
        if fraction < demand:
            value = low + (self.passing_grade - low) * fraction / demand
        else:
            value = self.passing_grade + (high - self.passing_grade) * (fraction - demand) / (1 - demand)
        return self.round(value)

    def fraction_for_score(self, score: Decimal, demand: Decimal = Decimal("0.6")) -> Decimal:
        """The inverse of ``score_for_fraction``: where ``score`` sits between the scale's ends, with
        the passing grade at ``demand``. How a grade moves to another scale with its meaning kept:
        a passing grade stays passing, the best stays the best."""
        low, high = self.bounds
        if not low <= score <= high:
            raise ScoreOutOfScale(
                f"score {score} is outside the {self.scale} scale {low}-{high}", field="score"
            )
        if not Decimal(0) < demand < Decimal(1):
            raise InvalidInput(f"demand {demand} is outside (0, 1)", field="demand")
        if score < self.passing_grade:
            return demand * (score - low) / (self.passing_grade - low)
        if high == self.passing_grade:
            return Decimal(1)
        return demand + (1 - demand) * (score - self.passing_grade) / (high - self.passing_grade)

    def is_passing(self, value: Decimal) -> bool:
        return value >= self.passing_grade

    def weighted_average(self, scored: Iterable[tuple[Decimal, Decimal]]) -> Decimal | None:
        """Σ score·weight / Σ weight, rounded by the rule; None without evaluations."""
        total = Decimal(0)
        weights = Decimal(0)
        for score, weight in scored:
            total += score * weight
            weights += weight
        if weights == 0:
            return None
        return self.round(total / weights)


def default_rule(subject_id: SubjectId = DEFAULT_SUBJECT) -> GradingRule:
    """The Chilean default: 1.0-7.0, one decimal, passing at 4.0, half-up."""
    return GradingRule(subject_id=subject_id)
