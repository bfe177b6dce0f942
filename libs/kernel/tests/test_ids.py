from __future__ import annotations

import pytest

from luca_kernel.ids import SCHOOL_ID_MAX_LENGTH, is_school_id, school_id


@pytest.mark.parametrize("value", ["demo-school-a", "a", "liceo-7", "x" * SCHOOL_ID_MAX_LENGTH])
def test_school_ids_that_follow_the_rules(value: str) -> None:
    assert school_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "A", "school#a", "school*", "sch?ol", "a/b", "-a", "a-", "a--b", "a_b", "x" * 41, "colegio ñ"],
)
def test_school_ids_that_break_them(value: str) -> None:
    assert not is_school_id(value)
    with pytest.raises(ValueError, match="not a school id"):
        school_id(value)
