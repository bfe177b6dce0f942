"""The school's breaker (``domain.breaker``) in the platform's table, through the school's session.

One item, ``SCHOOL#s#GOVSYNC#period`` / ``BREAKER``, read consistently and written only when a
transition changes it, conditionally on the version read: concurrent batches (a Map runs several)
each re-read and re-apply their transition until one write wins, so none is lost.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from luca_govsync.adapters import table_design as td
from luca_govsync.adapters.dynamodb_store import now_iso
from luca_govsync.domain.breaker import Breaker, BreakerContention, BreakerState
from luca_platform.aws import AwsClients
from luca_platform.table.codec import from_wire, to_wire
from luca_platform.table.keys import TABLE_PARTITION_KEY, TABLE_SORT_KEY

T = TypeVar("T")
MAX_TRIES = 8


def breaker_key(school_id: str, period: str) -> dict[str, Any]:
    return {TABLE_PARTITION_KEY: td.govsync_pk(school_id, period), TABLE_SORT_KEY: td.GOVSYNC_BREAKER_SK}


def breaker_from(item: dict[str, Any]) -> Breaker:
    if not item:
        return Breaker()
    return Breaker(
        state=BreakerState(str(item.get("state", BreakerState.CLOSED.value))),
        failures=int(item.get("failures", 0)),
        failed_probes=int(item.get("failed_probes", 0)),
        until=float(item.get("until", 0)),
        probe=str(item.get("probe", "") or ""),
        version=int(item.get("version", 0)),
    )


class DynamoBreakerStore:
    def __init__(
        self, clients: AwsClients, table_name: str, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._clients, self._table, self._sleep = clients, table_name, sleep

    def read(self, school_id: str, period: str) -> Breaker:
        answer = self._clients.dynamodb_for(school_id).get_item(
            TableName=self._table, Key=to_wire(breaker_key(school_id, period)), ConsistentRead=True
        )
        return breaker_from(from_wire(answer.get("Item", {})))

    def transition(self, school_id: str, period: str, step: Callable[[Breaker], tuple[Breaker, T]]) -> T:
        client = self._clients.dynamodb_for(school_id)
        for attempt in range(MAX_TRIES):
            current = self.read(school_id, period)
            changed, result = step(current)
            if changed == current:
                return result
            item = {
                **breaker_key(school_id, period),
                "type": "GovSyncBreaker",
                "school_id": school_id,
                "period": period,
                "state": changed.state.value,
                "failures": changed.failures,
                "failed_probes": changed.failed_probes,
                "until": Decimal(str(round(changed.until, 3))),  # the codec takes no floats
                "probe": changed.probe or None,
                "version": current.version + 1,
                "updated_at": now_iso(),
            }
            condition: dict[str, Any] = (
                {
                    "ConditionExpression": "#version = :read",
                    "ExpressionAttributeValues": to_wire({":read": current.version}),
                }
                if current.version
                else {"ConditionExpression": "attribute_not_exists(#version)"}
            )
            try:
                client.put_item(
                    TableName=self._table,
                    Item=to_wire({k: v for k, v in item.items() if v is not None}),
                    ExpressionAttributeNames={"#version": "version"},
                    **condition,
                )
                return result
            except client.exceptions.ConditionalCheckFailedException:
                # Another batch moved it: read it again. A little jitter keeps the losers apart.
                self._sleep(random.uniform(0, 0.02 * (attempt + 1)))
        raise BreakerContention(f"the breaker of {school_id} {period} kept changing under {MAX_TRIES} writes")
