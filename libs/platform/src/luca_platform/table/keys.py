"""The single table's shape and the conventions every key follows.

This module is the one definition of the table's shape. The CDK app, the local platform's provisioner
and every service's table design read it. Item types and their keys are not here: each belongs to the
service that writes it (its ``adapters/table_design.py``), and the ones other services read are
published contracts (``luca_platform.contracts``).

Every partition key — on the table and on every index — starts with ``SCHOOL#<school_id>#``. That is
what lets IAM's ``dynamodb:LeadingKeys`` condition confine a per-school session to its own school
(docs/decisions/0004-tenant-isolation-layers.md), and what ``guard`` checks before every call.

Only re-derivable, high-volume items carry the TTL attribute (docs/decisions/0003-ttl-scope.md).
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE_PARTITION_KEY = "PK"
TABLE_SORT_KEY = "SK"
TTL_ATTRIBUTE = "expires_at"
STREAM_VIEW = "NEW_AND_OLD_IMAGES"
# The attribute that names an item's type, and the one that versions its shape.
TYPE_ATTRIBUTE = "type"
SCHEMA_VERSION_ATTRIBUTE = "schema_version"

SEP = "#"


@dataclass(frozen=True, slots=True)
class IndexDesign:
    """A global secondary index: its name, key attributes and projection (all attributes)."""

    name: str
    partition_key: str
    sort_key: str
    purpose: str


COURSE_TERM_INDEX = IndexDesign(
    name="GSI1",
    partition_key="GSI1PK",
    sort_key="GSI1SK",
    purpose="a course's grades in a term (teacher view); a course's roster",
)
SCHOOL_TERM_INDEX = IndexDesign(
    name="GSI2",
    partition_key="GSI2PK",
    sort_key="GSI2SK",
    purpose="every grade of a school in a term (government sync); a school's unrooted items (erasure)",
)
INDEXES: tuple[IndexDesign, ...] = (COURSE_TERM_INDEX, SCHOOL_TERM_INDEX)

# Attribute names whose values are keys: all strings.
KEY_ATTRIBUTES: tuple[str, ...] = (
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    *(name for index in INDEXES for name in (index.partition_key, index.sort_key)),
)
# Every attribute that holds a partition key: what the school guard checks.
PARTITION_KEY_ATTRIBUTES: tuple[str, ...] = (TABLE_PARTITION_KEY, *(i.partition_key for i in INDEXES))


def part(value: str) -> str:
    """A key part as given, refused if it is empty or could forge another key's structure."""
    if not value or SEP in value:
        raise ValueError(f"key part {value!r} is empty or contains {SEP!r}")
    return value


def school_prefix(school_id: str) -> str:
    """The prefix every partition key of the school starts with (including the trailing '#')."""
    return f"SCHOOL{SEP}{part(school_id)}{SEP}"


def school_key(school_id: str, *parts: str) -> str:
    """A partition key of the school: its prefix, then ``parts`` joined by ``#`` (each checked)."""
    return school_prefix(school_id) + SEP.join(part(p) for p in parts)


def unrooted_pk(school_id: str) -> str:
    """Where an item no root of its school reaches is indexed (``SCHOOL_TERM_INDEX``), with its own
    partition key as the sort key: idempotency records, keyed by a client's request key.

    A school's export and erasure run as the school, through the tenant role, which may not Scan; they
    find every partition by walking from the school's roots, and find the unrooted ones here.
    """
    return school_key(school_id, "UNROOTED")


def create_table_request(table_name: str) -> dict[str, object]:
    """The DynamoDB CreateTable request for this design (on-demand, stream on, all-attribute GSIs).

    The local platform and emulator-backed tests create the table with it; the CDK app builds the
    same shape from the constants above (an infra test compares the two).
    """
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in KEY_ATTRIBUTES],
        "KeySchema": [
            {"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": TABLE_SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in INDEXES
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW},
    }


def time_to_live_request(table_name: str) -> dict[str, object]:
    return {
        "TableName": table_name,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    }
