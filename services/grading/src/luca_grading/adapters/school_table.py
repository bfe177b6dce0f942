"""One school's slice of the table: every key checked against the school before a call (the tenant
guard), and the reads, writes and transactions the grading adapters build on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from luca_kernel.ids import SchoolId
from luca_platform.table import guard
from luca_platform.table.codec import from_wire, to_wire
from luca_platform.table.keys import TABLE_PARTITION_KEY, TABLE_SORT_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

FAILED = "ConditionalCheckFailed"


class SchoolTable:
    """The table as one school's client sees it."""

    def __init__(self, *, client: DynamoDBClient, table_name: str, school_id: SchoolId) -> None:
        self._client = client
        self._table = table_name
        self._school = school_id

    @property
    def school_id(self) -> SchoolId:
        return self._school

    # -- the tenant guard ---------------------------------------------------------------------
    def _guard(self, item_or_key: Mapping[str, Any]) -> None:
        guard.check_item(self._school, item_or_key)

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        key = {TABLE_PARTITION_KEY: pk, TABLE_SORT_KEY: sk}
        self._guard(key)
        return to_wire(key)

    def _get(self, pk: str, sk: str, *, consistent: bool = False) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table, Key=self._key(pk, sk), ConsistentRead=consistent
        )
        item = response.get("Item")
        return from_wire(item) if item else None

    def _put(self, item: dict[str, Any]) -> None:
        self._guard(item)
        self._client.put_item(TableName=self._table, Item=to_wire(item))

    def _query(
        self,
        *,
        partition: tuple[str, str],
        sort_prefix: tuple[str, str] | None,
        index: str | None = None,
        attributes: Sequence[str] = (),
        consistent: bool = False,
        where: tuple[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        attribute, value = partition
        self._guard({attribute: value})
        condition = "#pk = :pk"
        names = {"#pk": attribute}
        values: dict[str, Any] = {":pk": value}
        if sort_prefix:
            condition += " AND begins_with(#sk, :sk)"
            names["#sk"] = sort_prefix[0]
            values[":sk"] = sort_prefix[1]
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_wire(values),
        }
        if index:
            kwargs["IndexName"] = index
        elif consistent:
            kwargs["ConsistentRead"] = True
        if where:
            names["#w"] = where[0]
            values[":w"] = where[1]
            kwargs["FilterExpression"] = "#w = :w"
            kwargs["ExpressionAttributeValues"] = to_wire(values)
        if attributes:
            projected = {f"#a{n}": name for n, name in enumerate(attributes)}
            names.update(projected)
            kwargs["ProjectionExpression"] = ", ".join(projected)
        while True:
            page = self._client.query(**kwargs)
            for item in page.get("Items", []):
                yield from_wire(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _check(
        self,
        pk: str,
        sk: str,
        condition: str = "attribute_exists(#pk)",
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A ConditionCheck on one item of this school; a failure returns the item as it stands."""
        check: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(pk, sk),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#pk": TABLE_PARTITION_KEY, **(names or {})},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:
            check["ExpressionAttributeValues"] = to_wire(dict(values))
        return {"ConditionCheck": check}

    def _wire(self, item: dict[str, Any]) -> dict[str, Any]:
        self._guard(item)
        return to_wire(item)

    def _transact(
        self, transaction: list[dict[str, Any]], *, conflicts_are_answers: bool = False
    ) -> list[dict[str, Any]] | None:
        """None when the transaction committed; its cancellation reasons when a condition failed (or,
        if the caller can answer them, when it conflicted with another transaction)."""
        for entry in transaction:
            for operation in entry.values():
                guard.check_item(self._school, from_wire(operation.get("Key") or operation["Item"]))
        try:
            self._client.transact_write_items(TransactItems=transaction)  # type: ignore[arg-type]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons: list[dict[str, Any]] = list(error.response.get("CancellationReasons", []))  # type: ignore[arg-type]
            answers = {FAILED, "TransactionConflict"} if conflicts_are_answers else {FAILED}
            if len(reasons) != len(transaction) or not any(
                reason.get("Code") in answers for reason in reasons
            ):
                raise  # throttled, conflicting with another transaction...: the caller's retry policy
            return reasons
        return None
