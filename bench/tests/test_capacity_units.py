"""DynamoDB's documented size and unit rules on handmade items, for every call mode the meter sees."""

from __future__ import annotations

import pytest

from bench.capacity import units
from bench.capacity.meter import Call, _Write, dynamodb_units


def sized(total: int, name: str = "PK") -> dict[str, dict[str, str]]:
    """An item of exactly ``total`` bytes: one string attribute (name + value)."""
    return {name: {"S": "x" * (total - len(name))}}


def test_sizes_follow_the_documented_rules() -> None:
    assert units.item_size({"PK": {"S": "SCHOOL#a#"}}) == 2 + 9
    assert units.item_size({"n": {"S": "ñ"}}) == 1 + 2  # UTF-8 bytes, not characters
    assert units.item_size({"b": {"B": b"\x00\x01\x02"}}) == 1 + 3
    assert units.item_size({"ok": {"BOOL": True}, "no": {"NULL": True}}) == 2 + 1 + 2 + 1
    assert units.item_size(None) == 0


@pytest.mark.parametrize(("number", "size"), [("12345", 4), ("100", 2), ("0.001", 2), ("-7.25", 3), ("0", 2)])
def test_a_number_is_one_byte_per_two_significant_digits_plus_one(number: str, size: int) -> None:
    assert units.number_size(number) == size


def test_lists_and_maps_cost_three_bytes_and_one_per_element() -> None:
    assert units.value_size({"L": []}) == 3
    assert units.value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (2 + 1) + (2 + 1)
    assert units.value_size({"M": {"k": {"S": "ab"}}}) == 3 + (1 + 2 + 1)
    assert units.value_size({"SS": ["ab", "c"]}) == 3


def test_write_units_per_started_kilobyte_doubled_in_a_transaction() -> None:
    assert units.write_units(0) == 1
    assert units.write_units(1024) == 1
    assert units.write_units(1025) == 2
    assert units.write_units(1025, units.WriteMode.TRANSACTIONAL) == 4


def test_read_units_per_started_4_kb_by_consistency() -> None:
    assert units.read_units(4096, units.ReadMode.STRONG) == 1
    assert units.read_units(4097, units.ReadMode.STRONG) == 2
    assert units.read_units(4097, units.ReadMode.EVENTUAL) == 1
    assert units.read_units(10, units.ReadMode.EVENTUAL) == 0.5
    assert units.read_units(4097, units.ReadMode.TRANSACTIONAL) == 4


def test_a_query_rounds_once_a_batch_get_rounds_each_item() -> None:
    sizes = [1000] * 5
    assert units.query_read_units(sizes, units.ReadMode.STRONG) == 2
    assert units.batch_read_units(sizes, units.ReadMode.STRONG) == 5


def test_metered_calls_in_each_mode() -> None:
    get = Call("t", "dynamodb", "GetItem")
    dynamodb_units(get, {"ConsistentRead": False}, {"Item": sized(5000)}, [])
    assert (get.rru, get.bytes_read, get.mode) == (1.0, 5000, "eventual")

    batch = Call("t", "dynamodb", "BatchGetItem")
    request = {"RequestItems": {"T": {"Keys": [{}, {}], "ConsistentRead": True}}}
    dynamodb_units(batch, request, {"Responses": {"T": [sized(5000)]}}, [])
    assert batch.rru == 2 + 1  # the key not found costs the minimum

    query = Call("t", "dynamodb", "Query")
    dynamodb_units(
        query, {"IndexName": "GSI1"}, {"Items": [sized(4500), sized(4500)], "Count": 2, "ScannedCount": 2}, []
    )
    assert query.rru == 1.5  # 9,000 B on an index: eventually consistent, rounded once

    transaction = Call("t", "dynamodb", "TransactWriteItems")
    put = _Write("put", "T", {}, new_item=sized(1500), after=sized(1500))
    check = _Write("check", "T", {}, before=sized(200))
    dynamodb_units(transaction, {}, {}, [put, check])
    assert transaction.wru == 2 * 2 + 2 * 1
    assert transaction.items_written == 1

    update = Call("t", "dynamodb", "UpdateItem")
    grown = _Write("update", "T", {}, before=sized(900), after=sized(2100))
    dynamodb_units(update, {}, {}, [grown])
    assert update.wru == 3  # the larger image


def test_index_writes_follow_the_index_keys() -> None:
    from bench.capacity.meter import index_units

    keyed = {"GSI2PK": {"S": "SCHOOL#a#TERM#1"}, "GSI2SK": {"S": "x"}}
    new = _Write("put", "T", {}, after={**sized(1500), **keyed})
    assert index_units(new) == 2  # one index, a new 1.5 KB entry
    moved = _Write(
        "update", "T", {}, before={**sized(100), **keyed}, after={**sized(100), **keyed, "GSI2SK": {"S": "y"}}
    )
    assert index_units(moved) == 2  # keys changed: a delete and a put
    assert index_units(_Write("put", "T", {}, after=sized(100))) == 0
