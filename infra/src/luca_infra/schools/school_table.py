"""A school's items in the table, found, read and deleted as the school: through the tenant role with
the school's session tag, so IAM (``dynamodb:LeadingKeys`` = ``SCHOOL#<school>#*``) holds every call
to that school whatever this code asks.

The tenant role may not ``Scan`` (a scan has no leading key, so the condition could not hold it to
one school), so a school's partitions are found from its roots instead: its record, catalog and rules
partitions; the table partitions of every item on its course index (rosters and teachers'
assignments, per course of the catalog) and its school-term index (grades, per term); each term's
government-sync partition; the students its users name; and the partitions its items index under the
school's unrooted partition (``keys.unrooted_pk``: the grading service's idempotency records, keyed by
a client's request key, which nothing else points at).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from luca_govsync.entrypoints.operations import sync_partition_key
from luca_infra.schools.record import SchoolRecord, record_key, record_pk
from luca_platform.contracts.grades import school_term_pk
from luca_platform.contracts.roster import (
    COURSE_SK_PREFIX,
    TERM_SK_PREFIX,
    catalog_pk,
    course_roster_pk,
    student_pk,
)
from luca_platform.contracts.rules import rules_pk
from luca_platform.table import guard, keys
from luca_platform.table.codec import from_wire, to_wire

# BatchWriteItem takes at most 25 requests.
_BATCH = 25


class SchoolTable:
    """One school's items; ``dynamodb`` is a client on the tenant role tagged with that school."""

    def __init__(self, dynamodb: Any, table_name: str, school_id: str) -> None:
        self._dynamodb, self._table, self.school_id = dynamodb, table_name, school_id
        self._prefix = keys.school_prefix(school_id)

    # -- the record ---------------------------------------------------------------------------------
    def record(self) -> SchoolRecord | None:
        item = self._dynamodb.get_item(
            TableName=self._table, Key=to_wire(record_key(self.school_id)), ConsistentRead=True
        ).get("Item")
        return SchoolRecord.from_item(from_wire(item)) if item else None

    def put_record(self, record: SchoolRecord) -> None:
        item = record.to_item()
        guard.check_item(self.school_id, item)
        self._dynamodb.put_item(TableName=self._table, Item=to_wire(item))

    def put_new(self, item: dict[str, Any]) -> bool:
        """Write ``item`` unless its key holds one already; whether it wrote."""
        guard.check_item(self.school_id, item)
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=to_wire(item),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": keys.TABLE_PARTITION_KEY},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- finding the school's partitions ------------------------------------------------------------
    def partitions(self, student_ids: Iterable[str] = ()) -> list[str]:
        """Every partition of the school reachable from its roots (see the module's docstring)."""
        school = self.school_id
        found = {record_pk(school), catalog_pk(school), rules_pk(school)}
        found.update(student_pk(school, student) for student in student_ids)
        catalog = self._query(catalog_pk(school), projection=True)
        courses = [sk[len(COURSE_SK_PREFIX) :] for sk in _sort_keys(catalog, COURSE_SK_PREFIX)]
        terms = [sk[len(TERM_SK_PREFIX) :] for sk in _sort_keys(catalog, TERM_SK_PREFIX)]
        for course in courses:
            found.update(self._table_keys_on(keys.COURSE_TERM_INDEX, course_roster_pk(school, course)))
        for term in terms:
            found.update(self._table_keys_on(keys.SCHOOL_TERM_INDEX, school_term_pk(school, term)))
            found.add(sync_partition_key(school, term))
        found.update(self._table_keys_on(keys.SCHOOL_TERM_INDEX, keys.unrooted_pk(school)))
        return sorted(pk for pk in found if pk.startswith(self._prefix))

    def _table_keys_on(self, index: keys.IndexDesign, partition: str) -> set[str]:
        items = self._query(partition, index=index, projection=True)
        return {str(item[keys.TABLE_PARTITION_KEY]["S"]) for item in items}

    # -- reading ------------------------------------------------------------------------------------
    def items(self, partitions: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Every item of ``partitions`` in DynamoDB's typed JSON (lossless), partition by partition."""
        for partition in partitions:
            yield from self._query(partition)

    def keys_of(self, partitions: Iterable[str]) -> list[dict[str, Any]]:
        """The table keys of every item of ``partitions`` (typed JSON)."""
        return [
            {name: item[name] for name in (keys.TABLE_PARTITION_KEY, keys.TABLE_SORT_KEY)}
            for partition in partitions
            for item in self._query(partition, projection=True)
        ]

    def _query(
        self, partition: str, *, index: keys.IndexDesign | None = None, projection: bool = False
    ) -> list[dict[str, Any]]:
        attribute = index.partition_key if index else keys.TABLE_PARTITION_KEY
        guard.check_item(self.school_id, {attribute: partition})
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": attribute},
            "ExpressionAttributeValues": {":pk": {"S": partition}},
        }
        if index is not None:
            request["IndexName"] = index.name
        else:
            request["ConsistentRead"] = True
        if projection:
            names = {"#pk": attribute, "#tpk": keys.TABLE_PARTITION_KEY, "#tsk": keys.TABLE_SORT_KEY}
            request["ExpressionAttributeNames"] = names
            request["ProjectionExpression"] = "#tpk, #tsk"
        found: list[dict[str, Any]] = []
        while True:
            page = self._dynamodb.query(**request)
            found.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- erasing ------------------------------------------------------------------------------------
    def delete(
        self, item_keys: list[dict[str, Any]], progress: Callable[[int], None] = lambda _: None
    ) -> int:
        """Delete the items by key, 25 to a call, retrying what DynamoDB leaves unprocessed."""
        deleted = 0
        for start in range(0, len(item_keys), _BATCH):
            chunk = item_keys[start : start + _BATCH]
            for key in chunk:
                guard.check_item(self.school_id, from_wire(key))
            requests: list[dict[str, Any]] = [{"DeleteRequest": {"Key": key}} for key in chunk]
            pause = 0.05
            while requests:
                answer = self._dynamodb.batch_write_item(RequestItems={self._table: requests})
                requests = answer.get("UnprocessedItems", {}).get(self._table, [])
                if requests:  # throttled: back off, then resend only what was left
                    time.sleep(pause)
                    pause = min(pause * 2, 2.0)
            deleted += len(chunk)
            progress(len(chunk))
        return deleted


def _sort_keys(items: list[dict[str, Any]], prefix: str) -> list[str]:
    return [
        str(item[keys.TABLE_SORT_KEY]["S"])
        for item in items
        if str(item[keys.TABLE_SORT_KEY]["S"]).startswith(prefix)
    ]
