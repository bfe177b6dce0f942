"""Published contract: a school's grading rules, and the reader every service grades with.

Owner: grading (admins set the rules through it). Readers: the grade processor, the government
sync and the reports, each through ``TableRules``: the rule in force (the subject's own, else the
school default, else the platform's), kept warm by a ``RuleCache``, read with the school's own
client. The items are small and fixed, so the codec itself is published.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from luca_kernel.grading import GradingRule, Rounding, ScaleKind
from luca_kernel.ids import SchoolId, SubjectId
from luca_kernel.rule_cache import RuleCache
from luca_platform.contracts.base import ItemContract
from luca_platform.table import guard, keys
from luca_platform.table.codec import from_wire, parse_timestamp, timestamp, to_wire

if TYPE_CHECKING:
    from luca_platform.aws import AwsClients

OWNER = "grading"
SCHEMA_VERSION = 1
RULE = ItemContract(
    "GradingRule",
    OWNER,
    SCHEMA_VERSION,
    {
        "school_id": "string",
        "subject_id": "string",
        "scale": "string",
        "passing_grade": "number",
        "rounding": "string",
        "decimals": "integer",
        "default_weight": "number",
    },
    optional={"updated_at": "string"},
    readers=("ingest", "govsync", "analytics"),
)


def rules_pk(school_id: str) -> str:
    return keys.school_key(school_id, "RULES")


def rule_sk(subject_id: str) -> str:
    return f"SUBJECT{keys.SEP}{keys.part(subject_id)}"


def rule_item(school_id: SchoolId, rule: GradingRule) -> dict[str, Any]:
    return {
        keys.TABLE_PARTITION_KEY: rules_pk(school_id),
        keys.TABLE_SORT_KEY: rule_sk(rule.subject_id),
        keys.TYPE_ATTRIBUTE: RULE.type_name,
        keys.SCHEMA_VERSION_ATTRIBUTE: SCHEMA_VERSION,
        "school_id": school_id,
        "subject_id": rule.subject_id,
        "scale": rule.scale.value,
        "passing_grade": rule.passing_grade,
        "rounding": rule.rounding.value,
        "decimals": rule.decimals,
        "default_weight": rule.default_weight,
        "updated_at": timestamp(rule.updated_at) if rule.updated_at else None,
    }


def rule_from(item: Mapping[str, Any]) -> GradingRule:
    return GradingRule(
        subject_id=SubjectId(item["subject_id"]),
        scale=ScaleKind(item["scale"]),
        passing_grade=Decimal(item["passing_grade"]),
        rounding=Rounding(item["rounding"]),
        decimals=int(item["decimals"]),
        default_weight=Decimal(item["default_weight"]),
        updated_at=parse_timestamp(item["updated_at"]) if item.get("updated_at") else None,
    )


class TableRules:
    """The rules in force, read from the table with each school's own client and cached."""

    def __init__(self, clients: AwsClients, table_name: str, cache: RuleCache) -> None:
        self._clients, self._table, self._cache = clients, table_name, cache
        self.reads = 0

    def rule_for(self, school_id: str, subject_id: str) -> GradingRule:
        school = SchoolId(school_id)
        return self._cache.rule_for(school, SubjectId(subject_id), lambda s: self.stored_rule(school, s))

    def stored_rule(self, school_id: SchoolId, subject_id: SubjectId) -> GradingRule | None:
        """The school's own rule for ``subject_id`` as stored (no fallback, no cache)."""
        key = {keys.TABLE_PARTITION_KEY: rules_pk(school_id), keys.TABLE_SORT_KEY: rule_sk(subject_id)}
        guard.check_item(school_id, key)
        self.reads += 1
        response = self._clients.dynamodb_for(school_id).get_item(TableName=self._table, Key=to_wire(key))
        item = response.get("Item")
        return rule_from(from_wire(item)) if item else None
