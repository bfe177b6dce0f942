"""The government-sync benchmark's correction phase (runs 3 and 4): grades corrected and retracted
after the term was synced, the follow-up syncs under faults, the redrive, and their account."""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.govsync_report import print_correction_figures
from bench.govsync_runs import DeadLetter, execution_statuses, read_dlq, redrive, started_parts, watch
from bench.govsync_seed import (
    PERCENTAGE_SCHOOL,
    PERIOD,
    STARTED_BY,
    Seeded,
    chilean_grade,
    percentage_grade,
    school_clients,
    write_items,
)
from luca_govsync.adapters.s3_manifests import S3Manifests
from luca_govsync.domain.model import BatchKind
from luca_govsync.simulator.faults import FaultPlan
from luca_infra.local.govsync import LocalGovSync
from luca_infra.local.stepfunctions import wait_for_execution
from luca_platform.contracts import grades as grades_contract
from luca_platform.table.codec import timestamp

CORRECTED_AT = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Corrected:
    """What the correction phase changed (school, record) -> the grade's version now, split by what
    the ministry held before: amendments and retractions are due for what it held, a resubmission
    for a corrected record it rejected, and nothing for a retracted one it never accepted."""

    amend: dict[tuple[str, str], int]
    retract: dict[tuple[str, str], int]
    resubmit: dict[tuple[str, str], int]
    withheld: set[tuple[str, str]]

    @property
    def changed(self) -> set[tuple[str, str]]:
        return {*self.amend, *self.retract, *self.resubmit, *self.withheld}


def changed_item(item: dict[str, Any], reason: str, **values: Any) -> dict[str, Any]:
    """A grade as the grading service leaves it after a correction or a retraction: the same item
    (same keys), grades contract v2, version + 1, who, when and why."""
    new = {
        **item,
        **values,
        "schema_version": grades_contract.EVALUATION.schema_version,
        "version": grades_contract.version_of(item) + 1,
        "updated_at": timestamp(CORRECTED_AT),
        "updated_by": f"{item['school_id']}-admin",
        "change_reason": reason,
    }
    grades_contract.check_evaluation(new)
    return new


def correct(
    local: LocalGovSync, seeded: Seeded, held: set[tuple[str, str]], rng: random.Random, opts: Any
) -> Corrected:
    """Corrects ``correction_rate`` of the term's grades and retracts ``retraction_rate`` (distinct
    grades), through each school's own client."""
    keys = sorted(seeded.items)
    corrections = round(len(keys) * opts.correction_rate)
    picked = rng.sample(keys, corrections + round(len(keys) * opts.retraction_rate))
    items = []
    for key in picked[:corrections]:
        item = seeded.items[key]
        draw = percentage_grade if key[0] == PERCENTAGE_SCHOOL else chilean_grade
        score = draw(rng)
        while score == item["score"]:
            score = draw(rng)
        items.append(changed_item(item, "corrected after the term closed", score=score))
    for key in picked[corrections:]:
        items.append(changed_item(seeded.items[key], "entered twice", retracted=True))
    clients = school_clients(local.region, local.emulator_url, local.tenant_role_arn)
    write_items(clients, local.table_name, items, "corrected")
    amend, retract, resubmit, withheld = {}, {}, {}, set()
    for item in items:
        key = (str(item["school_id"]), str(item["evaluation_id"]))
        seeded.items[key] = item
        if item.get("retracted"):
            if key in held:
                retract[key] = int(item["version"])
            else:
                withheld.add(key)
        elif key in held:
            amend[key] = int(item["version"])
        else:
            resubmit[key] = int(item["version"])
    return Corrected(amend, retract, resubmit, withheld)


def call_counts(stats: dict[str, Any], before: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Calls by endpoint and answer status since ``before`` (the simulator counts from its start)."""
    out: dict[str, dict[str, int]] = {}
    for endpoint, statuses in stats["calls"].items():
        earlier = before["calls"].get(endpoint, {})
        delta = {status: n - earlier.get(status, 0) for status, n in statuses.items()}
        if any(delta.values()):
            out[endpoint] = {status: n for status, n in sorted(delta.items()) if n}
    return out


def correction_figures(
    local: LocalGovSync,
    runs: dict[str, str],
    corrected: Corrected,
    letters: Sequence[DeadLetter],
    stats_before: dict[str, Any],
    arns: Sequence[str],
    wall_seconds: float,
) -> dict[str, Any]:
    """The correction runs' account, from the ministry's books, the runs' state and the DLQ."""
    app, simulator, resources = started_parts(local)
    ledger = simulator.ministry.ledger(entries=True)
    held = {(e["school_code"], e["record_id"]): e for e in ledger["entries"]}
    amendments, retractions = Counter[str](), Counter[str]()
    rejected_records: set[tuple[str, str]] = set()
    rejected_changes: Counter[str] = Counter()
    refused: set[tuple[str, str]] = set()
    minimum = resubmitted = 0
    for school, sync_id in runs.items():
        progress = app.store.progress(school, PERIOD, sync_id)
        if progress is None:
            continue
        amendments.update(progress.amendments.to_json())
        retractions.update(progress.retractions.to_json())
        rejected_records |= {(school, o.record_id) for o in progress.rejected}
        refused |= {(school, o.record_id) for o in progress.change_rejections}
        rejected_changes.update(o.reason_code for o in progress.change_rejections)
        resubmitted += progress.records_total
        # One call per submission batch, one per change: what a ministry without faults needs.
        minimum += sum(1 if b.ref.kind is BatchKind.SUBMISSION else b.ref.records for b in progress.batches)
    manifests = S3Manifests(local.client("s3"), resources.manifest_bucket)
    dead: set[tuple[str, str]] = set()
    for letter in letters:
        if letter.ref.kind is BatchKind.CHANGES:
            dead |= {
                (letter.ref.school_id, c.record.record_id)
                for c in manifests.get_changes(letter.ref.manifest_key)
            }
        else:
            dead |= {(letter.ref.school_id, r.record_id) for r in manifests.get(letter.ref.manifest_key)}
    settled = dead | refused | rejected_records  # in the DLQ, or refused with a reason
    lost = sorted(
        [
            key
            for key, version in corrected.amend.items()
            if held[key]["version"] != version and key not in settled
        ]
        + [key for key in corrected.retract if not held[key]["retracted"] and key not in settled]
        + [
            key
            for key, version in corrected.resubmit.items()
            if not (key in held and held[key]["version"] == version) and key not in settled
        ]
    )
    # Changed at the ministry though nobody changed them here: as bad as a lost change.
    foreign = [
        key
        for key, e in held.items()
        if (e["version"] > 1 or e["retracted"]) and key not in corrected.changed
    ]
    stats = simulator.ministry.stats()
    calls = call_counts(stats, stats_before)
    executions = execution_statuses(local, arns)
    books = ledger["changes"]
    return {
        "amendments": dict(amendments),
        "retractions": dict(retractions),
        "changes_rejected_by_reason": dict(sorted(rejected_changes.items())),
        "resubmitted": resubmitted,
        "ministry_amendments": books["amendments"],
        "ministry_retractions": books["retractions"],
        "ministry_retracted_records": ledger["retracted"],
        "duplicates": ledger["duplicates"],
        "change_duplicates": books["amendments"]["duplicates"] + books["retractions"]["duplicates"],
        "lost": len(lost) + len(foreign),
        "lost_sample": [f"{school}/{record}" for school, record in [*lost, *foreign][:10]],
        "sent_retracted": sum(1 for key in corrected.withheld if key in held),
        "dlq_batches": len(letters),
        "dlq_changes": len(dead),
        "calls": calls,
        "calls_made": sum(sum(statuses.values()) for statuses in calls.values()),
        "calls_minimum": minimum,
        "change_replays": stats["change_replays"] - stats_before["change_replays"],
        "executions": executions,
        "wall_seconds": round(wall_seconds, 1),
    }


def run_corrections(
    local: LocalGovSync,
    seeded: Seeded,
    schools: list[str],
    faults: FaultPlan,
    healthy: FaultPlan,
    opts: argparse.Namespace,
    zero: float,
    timeline: list[dict[str, Any]],
) -> dict[str, Any]:
    """Run 3: corrections and retractions after the sync, the syncs started again under the same
    faults; run 4: the redrive of what run 3 dead-lettered (if anything)."""
    _, simulator, _ = started_parts(local)
    ministry = simulator.ministry
    held = {(e["school_code"], e["record_id"]) for e in ministry.ledger(entries=True)["entries"]}
    corrected = correct(local, seeded, held, random.Random(opts.seed + 1), opts)
    print(
        f"\ncorrections: {len(corrected.amend) + len(corrected.resubmit)} grades corrected, "
        f"{len(corrected.retract) + len(corrected.withheld)} retracted (v2 items, version + 1); the ministry "
        f"held {len(corrected.amend)} of the corrected (amendments due) and {len(corrected.retract)} of the "
        f"retracted (retractions due); it had rejected {len(corrected.resubmit)} corrected (resubmitted) "
        f"and {len(corrected.withheld)} retracted (never sent)"
    )
    stats_before = ministry.stats()
    base = timeline[-1]["schools"]
    started_s = round(time.monotonic() - zero, 2)
    outage = (
        started_s + opts.correction_outage_at,
        started_s + opts.correction_outage_at + opts.outage_seconds,
    )
    now = datetime.now(UTC)
    ministry.set_plan(
        replace(
            faults,
            outage_start=now + timedelta(seconds=opts.correction_outage_at),
            outage_end=now + timedelta(seconds=opts.correction_outage_at + opts.outage_seconds),
        )
    )
    phase = time.monotonic()
    started = local.start_sync(PERIOD, schools, STARTED_BY)
    # A school with nothing new finds its last run, ended: no run of this phase to count.
    runs = {s.key.school_id: s.execution_name for s in started if s.started}
    arns = [s.execution_arn for s in started if s.started]
    print(
        f"run 3 (corrections, same faults, outage {opts.correction_outage_at:g}-"
        f"{opts.correction_outage_at + opts.outage_seconds:g} s): {sum(s.started for s in started)} follow-up "
        f"runs started, {len(started) - len(runs)} schools with nothing new"
    )
    watch(local, schools, runs, arns, zero, timeline, "run 3", opts.timeout, opts.poll, base)
    sfn = local.client("stepfunctions")
    for arn in arns:
        wait_for_execution(sfn, arn, timeout_seconds=10)
    letters = read_dlq(local)
    third = correction_figures(local, runs, corrected, letters, stats_before, arns, time.monotonic() - phase)
    print_correction_figures("run 3 (corrections under faults)", third, corrected)
    redrive_s, final, redriven = None, third, []
    if letters:
        ministry.set_plan(healthy)
        redrive_s = round(time.monotonic() - zero, 2)
        redriven = redrive(local, letters)
        redrive_arns = [r.execution_arn for r in redriven]
        print(
            f"\nrun 4 (redrive): ministry healthy, {len(letters)} dead-lettered batches in {len(redrive_arns)} redrives"
        )
        watch(local, schools, runs, redrive_arns, zero, timeline, "run 4", opts.timeout, opts.poll, base)
        for arn in redrive_arns:
            wait_for_execution(sfn, arn, timeout_seconds=10)
        final = correction_figures(
            local,
            runs,
            corrected,
            read_dlq(local),
            stats_before,
            arns + redrive_arns,
            time.monotonic() - phase,
        )
        print_correction_figures("after the redrive (the corrections, whole)", final, corrected)
    return {
        "correction_rate": opts.correction_rate,
        "retraction_rate": opts.retraction_rate,
        "amendments_expected": len(corrected.amend),
        "retractions_expected": len(corrected.retract),
        "resubmitted_corrected": len(corrected.resubmit),
        "withheld": len(corrected.withheld),
        "started_s": started_s,
        "outage": list(outage),
        "runs": sorted(runs.values()),
        "faults_run": third,
        "redrive": {"started_s": redrive_s, "executions": [r.execution_name for r in redriven]},
        "final": final,
    }
