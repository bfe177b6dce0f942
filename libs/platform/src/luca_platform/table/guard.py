"""The school-prefix guard every table access passes before it reaches DynamoDB.

A bug that builds another school's key fails here, before IAM has to refuse it
(docs/decisions/0004-tenant-isolation-layers.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from luca_kernel.errors import TenantBoundaryViolation
from luca_platform.table.keys import PARTITION_KEY_ATTRIBUTES, TABLE_PARTITION_KEY, school_prefix


def check_key(school_id: str, partition_key: str) -> None:
    """Refuse ``partition_key`` unless it belongs to ``school_id``."""
    if not str(partition_key).startswith(school_prefix(school_id)):
        # The value is withheld from the message: it may hold another tenant's id.
        raise TenantBoundaryViolation(f"refused a key outside school {school_id!r}")


def check_item(school_id: str, item_or_key: Mapping[str, Any]) -> None:
    """Refuse an item, key or key condition whose partition keys (table or index) leave the school."""
    prefix = school_prefix(school_id)
    for attribute in PARTITION_KEY_ATTRIBUTES:
        value = item_or_key.get(attribute)
        if value is not None and not str(value).startswith(prefix):
            raise TenantBoundaryViolation(f"refused {attribute} outside school {school_id!r}")
    if TABLE_PARTITION_KEY in item_or_key and item_or_key.get(TABLE_PARTITION_KEY) is None:
        raise TenantBoundaryViolation("item without a partition key")
