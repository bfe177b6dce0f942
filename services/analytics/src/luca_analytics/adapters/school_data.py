"""The ``Roster`` port over the platform's table (the published roster contract), per-school sessions.

The roster is the school's catalog of courses, then each course's students on the course index
(GSI1): every key is built by the roster contract from the principal's school, checked by the
school guard, and every call goes through ``AwsClients.dynamodb_for(school)``, whose IAM policy
allows only that school's leading keys. (Rules come from ``luca_platform.contracts.rules``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from luca_platform.aws import AwsClients
from luca_platform.contracts import roster
from luca_platform.table import guard
from luca_platform.table.codec import from_wire
from luca_platform.table.keys import COURSE_TERM_INDEX, TABLE_PARTITION_KEY, TABLE_SORT_KEY, IndexDesign


class DynamoRoster:
    def __init__(self, clients: AwsClients, table_name: str) -> None:
        self._clients, self._table = clients, table_name

    def student_ids(self, school_id: str) -> Iterator[str]:
        seen: set[str] = set()
        catalog = roster.catalog_pk(school_id)
        for course in self._query(school_id, TABLE_PARTITION_KEY, catalog, None, roster.COURSE_SK_PREFIX):
            index = COURSE_TERM_INDEX
            students = roster.course_roster_pk(school_id, str(course["course_id"]))
            for student in self._query(
                school_id, index.partition_key, students, index, roster.ROSTER_SK_PREFIX
            ):
                student_id = str(student["student_id"])
                if student_id not in seen:
                    seen.add(student_id)
                    yield student_id

    def _query(
        self, school_id: str, key: str, value: str, index: IndexDesign | None, sort_prefix: str
    ) -> Iterator[dict[str, Any]]:
        guard.check_key(school_id, value)
        sort_key = index.sort_key if index else TABLE_SORT_KEY
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
