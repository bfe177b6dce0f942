"""One owner per item type (docs/architecture.md, "Who owns which item"): every item type is owned by
exactly one service's ``adapters/table_design.py``, every published contract names that owner, and the
lake knows every owned type, either as a fact it keeps or as one it deliberately skips."""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from collections.abc import Mapping

import luca_platform.contracts
from luca_analytics.domain import lake
from luca_infra.schools import record
from luca_platform.contracts import ItemContract

# The services that write to the table; the analytics service only reads it (it owns the lake in S3).
OWNERS = ("grading", "ingest", "govsync")
# The platform's own items, written by operators' tools (the tenant lifecycle's school record).
PLATFORM_OWNER = "platform"


def owned_item_types() -> Mapping[str, frozenset[str]]:
    owned = {
        owner: importlib.import_module(f"luca_{owner}.adapters.table_design").OWNED_ITEM_TYPES
        for owner in OWNERS
    }
    return {**owned, PLATFORM_OWNER: frozenset({record.RECORD_TYPE})}


def published_contracts() -> list[ItemContract]:
    """Every ``ItemContract`` defined at the top level of a ``luca_platform.contracts`` module."""
    found: dict[str, ItemContract] = {}
    for module_info in pkgutil.iter_modules(luca_platform.contracts.__path__):
        module = importlib.import_module(f"luca_platform.contracts.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, ItemContract):
                found[f"{value.type_name} v{value.schema_version}"] = value
    return list(found.values())


def test_every_item_type_has_exactly_one_owner() -> None:
    counts = Counter(item_type for types in owned_item_types().values() for item_type in types)
    assert {item_type: n for item_type, n in counts.items() if n != 1} == {}
    assert all(owned_item_types().values()), "a service that writes to the table owns at least one type"


def test_the_published_contracts_are_found() -> None:
    assert {contract.type_name for contract in published_contracts()} >= {
        "Student",
        "Subject",
        "Course",
        "GradingRule",
        "Evaluation",
        "BehaviorNote",
        "ExerciseResult",
    }


def test_every_published_contract_names_the_service_that_owns_its_type() -> None:
    owner_of = {item_type: owner for owner, types in owned_item_types().items() for item_type in types}
    wrong = {
        contract.type_name: (contract.owner, owner_of.get(contract.type_name))
        for contract in published_contracts()
        if owner_of.get(contract.type_name) != contract.owner
    }
    assert wrong == {}, "type: (contract's owner, table_design owner)"


def test_a_contracts_readers_are_other_services() -> None:
    services = {*OWNERS, "analytics"}
    for contract in published_contracts():
        assert set(contract.readers) <= services - {contract.owner}, contract.type_name


def test_the_lake_knows_exactly_the_owned_item_types() -> None:
    owned = frozenset().union(*owned_item_types().values())
    lake_facts, not_facts = frozenset(lake.LAKE_TYPES), frozenset(lake.NOT_LAKE_TYPES)
    assert lake_facts & not_facts == set()
    assert owned - (lake_facts | not_facts) == set(), "owned types the lake would skip as unknown"
    assert (lake_facts | not_facts) - owned == set(), "types the lake expects that nobody owns"


def test_what_reaches_the_lake_is_published() -> None:
    published = {contract.type_name: contract for contract in published_contracts()}
    for item_type in lake.LAKE_TYPES:
        assert item_type in published, f"the lake reads {item_type}, which has no published contract"
        assert "analytics" in published[item_type].readers
