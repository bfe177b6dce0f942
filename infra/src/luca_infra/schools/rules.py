"""A school's default grading rule (subject ``*``): the platform's default (Chilean, from the kernel),
with the school's own settings over it, in the REST API's shape.

One place for both ways a school gets its rule: the demo schools' seeding sends ``rest_body`` to
``PUT /v1/grading-rules/*`` as the school's admin, and ``luca schools create`` writes the same rule
through the published rules contract as the school (before the school has an admin who could).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from luca_kernel.grading import DEFAULT_SUBJECT, GradingRule, Rounding, ScaleKind, default_rule, parse_decimal


def school_default_rule(settings: Mapping[str, Any] | None = None) -> GradingRule:
    """The default rule with ``settings`` (REST names: scale, passing_grade, rounding, decimals,
    default_weight) over the platform's; a percentage scale without a passing grade passes at 60."""
    base = default_rule(DEFAULT_SUBJECT)
    if not settings:
        return base
    scale = ScaleKind(settings.get("scale", base.scale.value))
    passing = settings.get("passing_grade", base.passing_grade if scale is base.scale else Decimal("60"))
    return GradingRule(
        subject_id=DEFAULT_SUBJECT,
        scale=scale,
        passing_grade=parse_decimal(passing, field_name="passing_grade"),
        rounding=Rounding(settings.get("rounding", base.rounding.value)),
        decimals=int(settings.get("decimals", base.decimals)),
        default_weight=parse_decimal(
            settings.get("default_weight", base.default_weight), field_name="default_weight"
        ),
    )


def rest_body(rule: GradingRule) -> dict[str, Any]:
    """``rule`` as the body of ``PUT /v1/grading-rules/{subject}``."""
    return {
        "scale": rule.scale.value,
        "passing_grade": str(rule.passing_grade),
        "rounding": rule.rounding.value,
        "decimals": rule.decimals,
        "default_weight": str(rule.default_weight),
    }
