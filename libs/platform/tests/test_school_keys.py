import pytest

from luca_platform.school_keys import api_key_name, api_key_value, usage_plan_name


def test_a_school_key_is_stable_long_enough_and_not_the_school_id() -> None:
    value = api_key_value("demo-school-a")
    assert value == api_key_value("demo-school-a")
    assert len(value) >= 20
    assert "demo-school-a" not in value


def test_schools_get_different_keys() -> None:
    values = {api_key_value(f"school-{n:04d}") for n in range(2000)}
    assert len(values) == 2000


def test_names_carry_the_school_and_the_tier() -> None:
    assert api_key_name("demo-school-a") == "luca-school-demo-school-a"
    assert usage_plan_name("large") == "luca-tier-large"


@pytest.mark.parametrize("function", [api_key_value, api_key_name, usage_plan_name])
def test_an_empty_name_is_refused(function: object) -> None:
    with pytest.raises(ValueError, match="required"):
        function("")  # type: ignore[operator]
