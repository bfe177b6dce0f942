"""A school's own record in the table: its name, enrolment, tier and first admin, and how far its
creation got.

It lives in the school's own partition (``SCHOOL#<id>#PROFILE``), so it is read, exported and erased
as the school through the tenant role like every other item of the school. The operations tools own
it; no service reads it (the edge finds a school's tier in its usage plan, not here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from luca_platform.table import keys

RECORD_TYPE = "School"
SCHEMA_VERSION = 1
RECORD_SK = "PROFILE"
# A creation writes the record first as CREATING and last as ACTIVE: a record still CREATING is one a
# rerun finishes.
CREATING = "creating"
ACTIVE = "active"


def record_pk(school_id: str) -> str:
    return keys.school_key(school_id, "PROFILE")


def record_key(school_id: str) -> dict[str, str]:
    return {keys.TABLE_PARTITION_KEY: record_pk(school_id), keys.TABLE_SORT_KEY: RECORD_SK}


@dataclass(frozen=True, slots=True)
class SchoolRecord:
    school_id: str
    name: str
    enrolment: int
    tier: str
    admin_email: str
    created_at: str
    status: str = CREATING

    def same_school(self, other: SchoolRecord) -> bool:
        """Whether ``other`` asks for this school (its status and creation time aside): a rerun."""
        return (self.school_id, self.name, self.enrolment, self.tier, self.admin_email) == (
            other.school_id,
            other.name,
            other.enrolment,
            other.tier,
            other.admin_email,
        )

    def to_item(self) -> dict[str, Any]:
        return {
            **record_key(self.school_id),
            keys.TYPE_ATTRIBUTE: RECORD_TYPE,
            keys.SCHEMA_VERSION_ATTRIBUTE: SCHEMA_VERSION,
            "school_id": self.school_id,
            "name": self.name,
            "enrolment": self.enrolment,
            "tier": self.tier,
            "admin_email": self.admin_email,
            "created_at": self.created_at,
            "status": self.status,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> SchoolRecord:
        return cls(
            school_id=str(item["school_id"]),
            name=str(item["name"]),
            enrolment=int(item["enrolment"]),
            tier=str(item["tier"]),
            admin_email=str(item["admin_email"]),
            created_at=str(item["created_at"]),
            status=str(item.get("status", CREATING)),
        )
