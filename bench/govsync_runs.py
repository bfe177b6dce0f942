"""Watching the government-sync benchmark's runs and taking their account: the once-a-second
timeline, the DLQ and its redrive, and a submission run's figures."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.govsync_seed import PERIOD, STARTED_BY, Seeded
from luca_govsync.adapters.dynamodb_store import DynamoSyncStore
from luca_govsync.adapters.s3_manifests import S3Manifests
from luca_govsync.bootstrap import GovSyncApp
from luca_govsync.domain.model import BatchKind, BatchRef, BatchState, BatchStatus
from luca_govsync.service_layer.starter import Started
from luca_govsync.simulator.server import SimulatorServer
from luca_infra.local.govsync import GovSyncResources, LocalGovSync


@dataclass(frozen=True)
class DeadLetter:
    ref: BatchRef
    message_id: str
    receipt_handle: str
    error: str


def started_parts(local: LocalGovSync) -> tuple[GovSyncApp, SimulatorServer, GovSyncResources]:
    if local.app is None or local.simulator is None or local.resources is None:
        raise RuntimeError("the government sync is not started")
    return local.app, local.simulator, local.resources


def school_sample(batches: Sequence[BatchState], base: dict[str, int] | None = None) -> dict[str, int]:
    """A school's run: its batches by state, the records accepted and rejected (its submissions, on
    top of ``base``: what earlier runs had), and the changes the ministry accepted."""
    statuses = Counter(batch.status for batch in batches)
    submitted = [b for b in batches if b.ref.kind is BatchKind.SUBMISSION]
    return {
        "batches": len(batches),
        "done": statuses[BatchStatus.DONE],
        "retrying": statuses[BatchStatus.RETRYING],
        "failed": statuses[BatchStatus.FAILED],
        "in_flight": statuses[BatchStatus.SUBMITTING],
        "accepted": (base or {}).get("accepted", 0) + sum(b.accepted for b in submitted),
        "rejected": sum(b.rejected for b in submitted),
        "amended": sum(b.changes.amendments_accepted for b in batches),
        "retracted": sum(b.changes.retractions_accepted for b in batches),
    }


class Sampler:
    """Where each school's run stands, read from the table once per poll.

    ``batches`` (the default) reads the run's batch states only: each batch carries its counts.
    ``progress`` reads ``store.progress``: the run's whole account, every record's verdict included,
    so one read costs O(records) and takes seconds per school on the emulator once thousands are
    decided (it slows the run it watches, and the polls drift far from once a second). The runs are
    named (``sync_ids``, the executions' names), so a poll never mistakes an earlier run for this one."""

    def __init__(
        self, store: DynamoSyncStore, mode: str, sync_ids: dict[str, str], base: dict[str, dict[str, int]]
    ) -> None:
        self._store, self._mode, self._sync_ids, self._base = store, mode, sync_ids, base

    def sample(self, school: str) -> dict[str, int]:
        sync_id = self._sync_ids.get(school)
        if sync_id is None:  # no run of this school in this phase: where earlier runs left it
            return {
                **school_sample(()),
                **{k: self._base.get(school, {}).get(k, 0) for k in ("accepted", "amended", "retracted")},
            }
        if self._mode == "progress":
            progress = self._store.progress(school, PERIOD, sync_id)
            batches: Sequence[BatchState] = progress.batches if progress else ()
        else:
            batches = self._store.batch_states(school, PERIOD, sync_id)
        return school_sample(batches, self._base.get(school))


def watch(
    local: LocalGovSync,
    schools: Sequence[str],
    runs: dict[str, str],
    arns: Sequence[str],
    zero: float,
    timeline: list[dict[str, Any]],
    label: str,
    timeout: float,
    mode: str,
    base: dict[str, dict[str, int]] | None = None,
) -> None:
    """Once a second until every execution in ``arns`` has ended: each school's run (``runs``:
    school -> sync id) from the table into ``timeline`` (seconds since ``zero``), and a live line.
    Records accepted are counted on top of ``base`` (what earlier runs of the period accepted)."""
    app, simulator, _ = started_parts(local)
    sampler = Sampler(app.store, mode, runs, base or {})
    sfn = local.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        tick = time.monotonic()
        # Statuses first: the sample taken after the last execution ended is the final state.
        running = sum(sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" for arn in arns)
        sample = {school: sampler.sample(school) for school in schools}
        at = round(time.monotonic() - zero, 2)
        calls = simulator.ministry.stats()["calls"]
        timeline.append(
            {
                "t": at,
                "run": label,
                "poll_s": round(time.monotonic() - tick, 2),
                "schools": sample,
                # Every ministry call so far (the plot compares them with and without the breaker).
                "submit_calls": sum(calls.get("submit", {}).values()),
                "calls": sum(sum(statuses.values()) for statuses in calls.values()),
            }
        )
        total = {key: sum(s[key] for s in sample.values()) for key in next(iter(sample.values()))}
        outage = " [ministry down]" if simulator.ministry.plan.in_outage(datetime.now(UTC)) else ""
        print(
            f"\r  {label} {at:6.1f} s  batches {total['done']:4d}/{total['batches']:<4d} done  "
            f"{total['retrying']:3d} retrying  {total['failed']:3d} failed  "
            f"accepted {total['accepted']:6d}  amended {total['amended']:4d}  retracted {total['retracted']:3d}  "
            f"executions running {running}{outage}      ",
            end="",
            flush=True,
        )
        if running == 0:
            print()
            return
        if time.monotonic() > deadline:
            print()
            raise SystemExit(f"{label}: executions still running after {timeout:.0f} s")
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))


def read_dlq(local: LocalGovSync) -> list[DeadLetter]:
    """Every message in the DLQ, left there (hidden for a while, deleted only after the redrive)."""
    _, _, resources = started_parts(local)
    sqs = local.client("sqs")
    letters: dict[str, DeadLetter] = {}
    while True:
        got = sqs.receive_message(
            QueueUrl=resources.dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=900,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            return list(letters.values())
        for message in got:
            body = json.loads(message["Body"])
            ref = BatchRef.from_json({k: v for k, v in body.items() if k not in ("error", "result")})
            error = str((body.get("error") or {}).get("Error", ""))
            letters[message["MessageId"]] = DeadLetter(
                ref, message["MessageId"], message["ReceiptHandle"], error
            )


def redrive(local: LocalGovSync, letters: Sequence[DeadLetter]) -> list[Started]:
    """The dead-lettered batches started again (``SyncStarter.redrive``), their messages deleted."""
    _, _, resources = started_parts(local)
    redriven = local.starter.redrive([(letter.ref, letter.message_id) for letter in letters], STARTED_BY)
    sqs = local.client("sqs")
    for letter in letters:
        sqs.delete_message(QueueUrl=resources.dlq_url, ReceiptHandle=letter.receipt_handle)
    return redriven


def execution_statuses(local: LocalGovSync, arns: Sequence[str]) -> dict[str, int]:
    """The executions by status (and error, if any)."""
    sfn = local.client("stepfunctions")
    executions: Counter[str] = Counter()
    for arn in arns:
        described = sfn.describe_execution(executionArn=arn)
        executions[described["status"] + (f" ({described['error']})" if described.get("error") else "")] += 1
    return dict(executions)


def figures(
    local: LocalGovSync,
    seeded: Seeded,
    letters: Sequence[DeadLetter],
    arns: Sequence[str],
    wall_seconds: float,
    batches_minimum: int,
) -> dict[str, Any]:
    """One run's account, from the ministry's books, the sync's state in the table and the DLQ."""
    app, simulator, resources = started_parts(local)
    ledger = simulator.ministry.ledger(entries=True)
    accepted_ids = {(e["school_code"], e["record_id"]) for e in ledger["entries"]}
    rejected: Counter[str] = Counter()
    rejected_ids: set[tuple[str, str]] = set()
    table_accepted = 0
    reading = time.monotonic()
    for school in seeded.records:
        progress = app.store.progress(school, PERIOD)
        if progress is None:
            continue
        table_accepted += progress.accepted
        rejected.update(outcome.reason_code for outcome in progress.rejected)
        rejected_ids |= {(school, outcome.record_id) for outcome in progress.rejected}
    progress_read = time.monotonic() - reading
    manifests = S3Manifests(local.client("s3"), resources.manifest_bucket)
    dead_ids = {
        (letter.ref.school_id, record.record_id)
        for letter in letters
        for record in manifests.get(letter.ref.manifest_key)
    }
    seeded_ids = {(school, record) for school, ids in seeded.records.items() for record in ids}
    lost = seeded_ids - accepted_ids - rejected_ids - dead_ids
    stats = simulator.ministry.stats()
    executions = execution_statuses(local, arns)
    return {
        "accepted_ledger": ledger["records"],
        "accepted_table": table_accepted,
        "acceptances": ledger["acceptances"],
        "rejected": sum(rejected.values()),
        "rejected_by_reason": dict(sorted(rejected.items())),
        "dlq_batches": len(letters),
        "dlq_records": len(dead_ids),
        "dlq_errors": dict(Counter(letter.error for letter in letters)),
        "duplicates": ledger["duplicates"],
        "lost": len(lost),
        "lost_sample": sorted(f"{school}/{record}" for school, record in lost)[:10],
        "foreign": len(accepted_ids - seeded_ids),
        "calls": stats["calls"],
        "submit_calls": sum(stats["calls"].get("submit", {}).values()),
        "token_calls": sum(stats["calls"].get("token", {}).values()),
        # Verdicts read back after a lost answer, instead of a second upload of the batch.
        "fetch_calls": sum(stats["calls"].get("fetch", {}).values()),
        "batches_minimum": batches_minimum,
        "batches_processed": stats["batches_processed"],
        "replays": stats["replays"],
        "faults": stats["faults"],
        "executions": executions,
        "wall_seconds": round(wall_seconds, 1),
        "progress_read_seconds": round(progress_read, 2),
    }
