"""Published data contracts: the items one service writes and others read.

Each item type in the table has exactly one owner, the service that writes it. The items other
services read are published here, versioned by their ``schema_version``: their keys, the attributes
readers may rely on, and (for the small catalog items) the item codec itself. The writer's tests
check that what it writes satisfies the contract; each reader's tests read the contract's example.
A change to a published attribute is a new schema version, announced in the library's CHANGELOG.
"""

from luca_platform.contracts.base import ContractViolation, ItemContract

__all__ = ["ContractViolation", "ItemContract"]
