"""DynamoDB's billing rules: an item's size and the request units a call of each mode consumes.

Pure functions over items in the wire format (``{"S": ...}``, ``{"N": ...}``, ...), as a low-level
boto3 client sends and receives them. The rules are DynamoDB's documented ones:

- size = the UTF-8 length of every attribute name + its value's size; strings by UTF-8 length,
  binaries by byte length, numbers 1 byte per two significant digits + 1, booleans and nulls 1 byte,
  lists and maps 3 bytes + 1 byte per element (+ the element's size; a map element's name counts);
- write: 1 WRU per started KB of the item (the larger of its before and after images), x2 in a
  transaction;
- read: 1 RRU per started 4 KB strongly consistent, half of that eventually consistent, x2 in a
  transaction; a Query or Scan rounds the total of the items it read once, a BatchGetItem each item;
- a read or write of nothing still costs the minimum unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
CONTAINER_OVERHEAD = 3
ELEMENT_OVERHEAD = 1


class ReadMode(StrEnum):
    EVENTUAL = "eventual"
    STRONG = "strong"
    TRANSACTIONAL = "transactional"


class WriteMode(StrEnum):
    STANDARD = "standard"
    TRANSACTIONAL = "transactional"


def number_size(text: str) -> int:
    """1 byte per two significant digits, plus 1 (leading and trailing zeros are trimmed)."""
    digits = Decimal(text).normalize().as_tuple().digits
    significant = "".join(map(str, digits)).strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """One attribute value's size (its name not included)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return number_size(str(inner))
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in inner)
    if kind == "NS":
        return sum(number_size(str(n)) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":
        return CONTAINER_OVERHEAD + sum(value_size(v) + ELEMENT_OVERHEAD for v in inner)
    if kind == "M":
        return CONTAINER_OVERHEAD + sum(
            len(name.encode()) + value_size(v) + ELEMENT_OVERHEAD for name, v in inner.items()
        )
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """The item's size in bytes: names + values. A missing item is 0 bytes."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int, mode: WriteMode = WriteMode.STANDARD) -> float:
    """WRUs of writing (or deleting, or condition-checking) an item of ``size`` bytes; 1 KB minimum."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return float(units * (2 if mode is WriteMode.TRANSACTIONAL else 1))


def read_units(size: int, mode: ReadMode = ReadMode.STRONG) -> float:
    """RRUs of reading ``size`` bytes in one unit of rounding (an item, or a whole Query page)."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if mode is ReadMode.EVENTUAL:
        return units / 2
    if mode is ReadMode.TRANSACTIONAL:
        return float(units * 2)
    return float(units)


def query_read_units(sizes: Iterable[int], mode: ReadMode) -> float:
    """A Query or Scan page: the items' sizes are summed, then rounded up once."""
    return read_units(sum(sizes), mode)


def batch_read_units(sizes: Iterable[int], mode: ReadMode) -> float:
    """A BatchGetItem: each item rounded up on its own (a key not found costs the minimum)."""
    return sum(read_units(size, mode) for size in sizes)


def index_write_units(before: int | None, after: int | None) -> float:
    """Index writes for one table write, for an index projecting the whole item.

    ``before``/``after``: the item's size when it is in the index before/after the write (None: not in
    the index). A new entry or a removed one is one write; a changed entry with the same keys is one
    write of the larger image; an entry whose index keys changed is a delete plus a put (DynamoDB's
    rule); so the caller passes ``before`` and ``after`` as a pair only when the keys are the same.
    """
    if before is None and after is None:
        return 0.0
    if before is None or after is None:
        return write_units(before or after or 0)
    return write_units(max(before, after))
