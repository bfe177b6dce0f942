"""What the sync reads of the grading service's items, through the published contracts only: a
school's grades of a period (``contracts.grades``, on the school-term index) and its terms
(``contracts.roster``). Every call goes through the school's own session
(``AwsClients.dynamodb_for``), so a read for one school cannot reach another's items.
"""

from __future__ import annotations

from typing import Any

from luca_govsync.domain.model import GradeRecord
from luca_kernel.roster import Term
from luca_platform.aws import AwsClients
from luca_platform.contracts import grades, roster
from luca_platform.table.codec import from_wire, to_wire
from luca_platform.table.keys import SCHOOL_TERM_INDEX, TABLE_PARTITION_KEY, TABLE_SORT_KEY

_GRADE_ATTRIBUTES = grades.SYNC_ATTRIBUTES


class DynamoGradeSource:
    """The period's official grades of one school, from the school-term index (GSI2), in their
    latest version (contract v2; a v1 item reads as version 1, not retracted)."""

    def __init__(self, clients: AwsClients, table_name: str) -> None:
        self._clients, self._table = clients, table_name

    def period_grades(self, school_id: str, period: str) -> list[GradeRecord]:
        client = self._clients.dynamodb_for(school_id)
        index = SCHOOL_TERM_INDEX
        names = {f"#{i}": name for i, name in enumerate(_GRADE_ATTRIBUTES)}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index.name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": index.partition_key, **names},
            "ExpressionAttributeValues": {":pk": {"S": grades.school_term_pk(school_id, period)}},
            "ProjectionExpression": ", ".join(names),
        }
        records = []
        while True:
            page = client.query(**request)
            for raw in page.get("Items", []):
                item = from_wire(raw)
                records.append(
                    GradeRecord(
                        record_id=str(item["evaluation_id"]),
                        student_id=str(item["student_id"]),
                        course_id=str(item["course_id"]),
                        subject_id=str(item["subject_id"]),
                        period=str(item["term_id"]),
                        score=str(item["score"]),
                        recorded_at=str(item["recorded_at"]),
                        version=grades.version_of(item),
                        retracted=grades.is_retracted(item),
                    )
                )
            if "LastEvaluatedKey" not in page:
                return records
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class DynamoTerms:
    """A school's term from its catalog (the roster contract)."""

    def __init__(self, clients: AwsClients, table_name: str) -> None:
        self._clients, self._table = clients, table_name

    def term(self, school_id: str, term_id: str) -> Term | None:
        answer = self._clients.dynamodb_for(school_id).get_item(
            TableName=self._table,
            Key=to_wire(
                {TABLE_PARTITION_KEY: roster.catalog_pk(school_id), TABLE_SORT_KEY: roster.term_sk(term_id)}
            ),
            # Closing is what a start checks: never act on a stale copy.
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return None if item is None else roster.term_from(from_wire(item))
