"""The ``Rules`` and ``Roster`` ports over the platform's table, through per-school sessions.

Rules are read as the grading service reads them (its rule cache: the subject's own rule, else the
school default, else the platform's). The roster is the school's catalog of courses, then each
course's students on the course index (GSI1): every key is built by ``table_design`` from the
principal's school, and every call goes through ``AwsClients.dynamodb_for(school)``, whose IAM
policy allows only that school's leading keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from luca_grading.adapters import table_design as td
from luca_grading.adapters.aws_clients import AwsClients
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory, from_wire
from luca_grading.domain.errors import TenantBoundaryViolation
from luca_grading.domain.model import GradingRule, SchoolId, SubjectId
from luca_grading.service_layer.rule_cache import RuleCache


class SchoolRules:
    def __init__(self, repositories: DynamoRepositoryFactory, cache: RuleCache) -> None:
        self._repositories, self._cache = repositories, cache

    def rule_for(self, school_id: str, subject_id: str) -> GradingRule:
        repository = self._repositories.for_school(SchoolId(school_id))
        return self._cache.rule_for(SchoolId(school_id), SubjectId(subject_id), repository.get_rule)


class DynamoRoster:
    def __init__(self, clients: AwsClients, table_name: str) -> None:
        self._clients, self._table = clients, table_name

    def student_ids(self, school_id: str) -> Iterator[str]:
        seen: set[str] = set()
        for course in self._query(
            school_id, td.TABLE_PARTITION_KEY, td.catalog_pk(school_id), None, "COURSE#"
        ):
            index = td.COURSE_TERM_INDEX
            roster = td.course_roster_pk(school_id, str(course["course_id"]))
            for student in self._query(school_id, index.partition_key, roster, index, "STUDENT#"):
                student_id = str(student["student_id"])
                if student_id not in seen:
                    seen.add(student_id)
                    yield student_id

    def _query(
        self, school_id: str, key: str, value: str, index: td.IndexDesign | None, sort_prefix: str
    ) -> Iterator[dict[str, Any]]:
        if not value.startswith(td.school_prefix(school_id)):
            raise TenantBoundaryViolation("refused a key outside the school")
        sort_key = index.sort_key if index else td.TABLE_SORT_KEY
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": key, "#sk": sort_key},
            "ExpressionAttributeValues": {":pk": {"S": value}, ":prefix": {"S": sort_prefix}},
        }
        if index:
            request["IndexName"] = index.name
        client = self._clients.dynamodb_for(school_id)
        while True:
            page = client.query(**request)
            for item in page.get("Items", []):
                yield from_wire(item)
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
