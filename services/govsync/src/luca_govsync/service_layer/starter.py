"""Starting syncs: on the schedule, on demand (gRPC, CLI), and redriving dead-lettered batches.

One execution per (school, period), named from the pair: starting a sync that already exists finds
that execution instead of starting a second. A redrive is a new execution of the same definition
in ``redrive`` mode, named from the batches it resubmits; the ministry deduplicates each batch by
its client batch id, so even a batch that did land before it failed is never counted twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from luca_govsync.domain.model import BatchRef, InvalidSyncRequest, SyncKey, parse_period
from luca_govsync.service_layer.ports import Executions


@dataclass(frozen=True, slots=True)
class Started:
    key: SyncKey
    execution_name: str
    execution_arn: str
    started: bool  # False: the sync already existed and was not started again
    status: str


class SyncStarter:
    def __init__(self, executions: Executions) -> None:
        self._executions = executions

    def start(self, period: str, schools: Sequence[str], started_by: str) -> list[Started]:
        parse_period(period)
        if not schools:
            raise InvalidSyncRequest("no school to sync")
        results = []
        for school in sorted(set(schools)):
            key = SyncKey(school, period)
            name = key.execution_name()
            payload: dict[str, object] = {
                "mode": "sync",
                "school_id": school,
                "period": period,
                "started_by": started_by,
            }
            arn, started = self._executions.start(name, payload)
            results.append(Started(key, name, arn, started, self._executions.status(name) or "RUNNING"))
        return results

    def redrive(self, dead_letters: Sequence[tuple[BatchRef, str]], started_by: str) -> list[Started]:
        """Resubmits dead-lettered batches (each with its DLQ message id), one execution per (school,
        period, sync). The name comes from the DLQ messages: redriving the same messages twice finds
        the first redrive; a batch that failed again has a new message, so it can be redriven again."""
        groups: dict[tuple[str, str, str], list[tuple[BatchRef, str]]] = {}
        for ref, message_id in dead_letters:
            groups.setdefault((ref.school_id, ref.period, ref.sync_id), []).append((ref, message_id))
        results = []
        for (school, period, sync_id), letters in sorted(groups.items()):
            key = SyncKey(school, period)
            ids = "\n".join(sorted(message_id for _, message_id in letters))
            name = key.execution_name(f"redrive-{hashlib.sha256(ids.encode()).hexdigest()[:10]}")
            refs = {ref.number: ref for ref, _ in letters}  # a batch dead-lettered twice is sent once
            payload: dict[str, object] = {
                "mode": "redrive",
                "school_id": school,
                "period": period,
                "sync_id": sync_id,
                "started_by": started_by,
                "batches": [refs[number].to_json() for number in sorted(refs)],
            }
            arn, started = self._executions.start(name, payload)
            results.append(Started(key, name, arn, started, self._executions.status(name) or "RUNNING"))
        return results
