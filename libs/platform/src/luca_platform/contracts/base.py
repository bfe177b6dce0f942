"""An item contract: the type name, owner, version and attributes a published item promises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from luca_platform.table.keys import SCHEMA_VERSION_ATTRIBUTE, TYPE_ATTRIBUTE

# What a promised attribute holds, as read back from the table (numbers come back as Decimal).
KINDS: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (Decimal, int),
    "integer": (int, Decimal),
    "boolean": (bool,),
}


class ContractViolation(ValueError):
    """An item that does not keep its published contract (a writer's bug, caught by its tests)."""


@dataclass(frozen=True, slots=True)
class ItemContract:
    type_name: str
    owner: str  # the one service that writes this item type
    schema_version: int
    required: Mapping[str, str]  # attribute -> kind
    optional: Mapping[str, str] = field(default_factory=dict)
    readers: tuple[str, ...] = ()

    def check(self, item: Mapping[str, Any]) -> None:
        """Raise ``ContractViolation`` naming every broken promise of ``item``."""
        problems = []
        if item.get(TYPE_ATTRIBUTE) != self.type_name:
            problems.append(f"{TYPE_ATTRIBUTE} is {item.get(TYPE_ATTRIBUTE)!r}, not {self.type_name!r}")
        if item.get(SCHEMA_VERSION_ATTRIBUTE) != self.schema_version:
            problems.append(f"{SCHEMA_VERSION_ATTRIBUTE} is not {self.schema_version}")
        for name, kind in self.required.items():
            if item.get(name) is None:
                problems.append(f"missing {name}")
            elif not _is(item[name], kind):
                problems.append(f"{name} is not a {kind}")
        for name, kind in self.optional.items():
            if item.get(name) is not None and not _is(item[name], kind):
                problems.append(f"{name} is not a {kind}")
        if problems:
            raise ContractViolation(f"{self.type_name} v{self.schema_version}: " + "; ".join(problems))


def _is(value: Any, kind: str) -> bool:
    if kind != "boolean" and isinstance(value, bool):
        return False
    return isinstance(value, KINDS[kind])
