import pytest

from luca_grading.service_layer.common import check_id, check_idempotency_key
from luca_kernel.errors import InvalidInput


@pytest.mark.parametrize("value", ["st-1\n", "st-1\r\n", "\nst-1", ""])
def test_an_id_with_a_line_break_or_nothing_is_refused(value: str) -> None:
    # Python's '$' matches before a final newline; the contract (protovalidate) does not.
    with pytest.raises(InvalidInput):
        check_id(value, "student_id")


def test_an_idempotency_key_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(InvalidInput):
        check_idempotency_key("key-12345678\n", "Idempotency-Key")
    assert check_idempotency_key("key-12345678", "Idempotency-Key") == "key-12345678"
