"""Government-sync fault run: a term's official grades reach an unstable ministry exactly once.

A command, not a test (``make bench-govsync``). It runs in this process, as the engine tests do: the
embedded emulator, the platform's resources, and ``LocalGovSync`` (the real state machine on the
emulator's Step Functions engine, its tasks dispatched to the in-repo handlers, the ministry
simulator on loopback). Only configuration differs from production: a short retry policy (stated
in the output; production waits minutes) and the simulator's faults.

It seeds 20,000 grades of one term (2025-T1) in five schools of uneven size (BatchWriteItem, 25 a
call, each school through its own client): Chilean grades (1.0-7.0) and one school that grades on
percentages (its rule in the table; the sync moves its grades to the ministry's scale). A few of
the students are unknown to the ministry's registry, and a share of records is rejected as an
enrolment mismatch. Each school's term is closed (the roster contract's ``Term``): closing a term is
what the sync submits, and the starter refuses an open one.

Run 1 (faults): one sync per school, all five at once, against a ministry with 30% transient
errors, 5% timeouts after the ministry stored the batch (the answer is lost), some 429s, and an
outage that starts 15 s into the run and lasts long enough for some batches to exhaust their
retries and land in the DLQ. Every second it reads each school's progress from the table, shows a
live line and keeps a timeline. When every execution has ended it prints: the records the ministry
accepted (its ledger), the rejected records by reason, the batches in the DLQ, duplicates at the
ministry (must be 0), lost records (seeded but neither accepted, nor rejected, nor in a
dead-lettered batch: must be 0), the calls made against the minimum, the executions' statuses and
the wall time.

Run 2 (redrive): the ministry recovers, the DLQ's batches are redriven (``SyncStarter.redrive``)
and their messages deleted; the same figures again, for the whole sync: accepted + rejected equals
the grades seeded, the DLQ is empty, no duplicate, nothing lost.

Run 3 (corrections): after the term was synced, 1% of its grades are corrected and 0.2% retracted,
written as the grading service leaves them (the same item, grades contract v2: a new score or
``retracted``, version + 1, who and why), each school through its own client. The syncs are started
again (``SyncStarter.start``: a follow-up run per school, named from what it sends) against the
same faults, an outage included. Corrections of records the ministry holds go as amendments,
retractions as retractions, each under a client id derived from (record, version); a record it
rejected goes again in its latest state, and one retracted before it was ever accepted is not sent.
Run 4 redrives what run 3 dead-lettered, if anything. It prints the amendments and retractions
accepted, duplicates at the ministry (must be 0: no record accepted twice, no change applied
twice), lost changes (must be 0: every change the ministry should hold, it holds, or it is rejected
with a reason or in the DLQ), and the calls made against the minimum (one per change, one per
resubmitted batch).

Before all that, the same fault run and redrive (runs 1 and 2) go once with the school's breaker off
(``breaker_threshold`` 0: every batch retries on its own, the behaviour before the breaker), on a
fresh emulator and ministry seeded the same way, as the baseline; the end prints submit calls
against the minimum before and after (``--no-baseline`` skips it; ``--breaker-threshold N``).

It writes ``bench/out/govsync.json`` (configuration, every run's figures, the timelines) and
``bench/out/govsync.png`` (progress over time, the outages shaded, the redrives and the correction
phase marked, and the submit calls over time before and after the breaker), and exits non-zero when
a duplicate or a lost record or change is found.

The timeline reads the batch states once a second (``--poll progress`` reads ``store.progress``
instead: every record's verdict on each poll, which on the emulator takes seconds per school once
thousands are decided, so the polls drift and slow the run they watch).

    make bench-govsync
    python -m bench.govsync [--grades 20000] [--batch-size 100] [--error-rate 0.3]
        [--timeout-after-rate 0.05] [--outage-at 15] [--outage-seconds 25] [--poll batches]
        [--correction-rate 0.01] [--retraction-rate 0.002] [--correction-outage-at 2] ...
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
import time
import urllib.request
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.govsync_corrections import run_corrections
from bench.govsync_report import print_comparison, print_figures, publish
from bench.govsync_runs import figures, read_dlq, redrive, school_sample, started_parts, watch
from bench.govsync_seed import (
    PERCENTAGE_SCHOOL,
    PERIOD,
    SCHOOLS,
    STARTED_BY,
    Seeded,
    school_sizes,
    seed,
)
from luca_govsync.definition import RetryPolicy
from luca_govsync.simulator.faults import FaultPlan
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.emulator import Emulator
from luca_infra.local.govsync import GovSyncConfig, LocalGovSync
from luca_infra.local.provision import provision
from luca_infra.local.stepfunctions import wait_for_execution

OUT = Path(__file__).resolve().parent / "out"


def quiet_logs() -> None:
    """The handlers and the client log every call and every failed attempt; the run prints its own account."""
    for name in ("govsync", "luca_govsync", "luca", "moto", "botocore", "werkzeug", "uvicorn"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grades", type=int, default=20_000, help="grades seeded (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=100, help="records per batch (default %(default)s)")
    parser.add_argument(
        "--error-rate", type=float, default=0.3, help="transient 5xx share (default %(default)s)"
    )
    parser.add_argument(
        "--timeout-after-rate", type=float, default=0.05,
        help="share of calls the ministry stores, then never answers in time (default %(default)s)",
    )  # fmt: skip
    parser.add_argument("--throttle-rate", type=float, default=0.02, help="429 bursts started per call")
    parser.add_argument("--ministry-timeout", type=float, default=2.0, help="the client's timeout, s")
    parser.add_argument("--outage-at", type=float, default=15.0, help="outage start, s after the syncs start")
    parser.add_argument("--outage-seconds", type=float, default=25.0, help="outage length, s")
    parser.add_argument("--unknown-students", type=float, default=0.005, help="share of students unknown")
    parser.add_argument(
        "--reject-rate", type=float, default=0.002, help="share of records rejected (enrolment)"
    )
    parser.add_argument("--retry-interval", type=int, default=1, help="first retry's cap, s")
    parser.add_argument("--retry-backoff", type=float, default=2.0)
    parser.add_argument("--retry-max-delay", type=int, default=8)
    parser.add_argument("--retry-attempts", type=int, default=5, help="retries after the first attempt")
    parser.add_argument(
        "--poll", choices=("batches", "progress"), default="batches",
        help="what the once-a-second timeline reads: the batch states, or store.progress (O(records))",
    )  # fmt: skip
    parser.add_argument("--correction-rate", type=float, default=0.01, help="share of grades corrected")
    parser.add_argument("--retraction-rate", type=float, default=0.002, help="share of grades retracted")
    parser.add_argument(
        "--correction-outage-at", type=float, default=2.0,
        help="outage start, s after the correction runs start (same length as run 1's)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on a run after this, s")
    parser.add_argument(
        "--breaker-threshold", type=int, default=PLATFORM_DEFINITION.govsync.breaker_threshold,
        help="outage-class failures in a row that open a school's breaker (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--no-baseline", action="store_true",
        help="skip the baseline (the same fault run with no breaker, today's behaviour) run first",
    )  # fmt: skip
    opts = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    quiet_logs()
    baseline = None
    if not opts.no_baseline:
        print("== before: the same fault run with no breaker (every batch retries on its own) ==")
        baseline = session(opts, breaker_threshold=0, corrections=False)
        print(f"\n== after: the school's batches share a breaker (threshold {opts.breaker_threshold}) ==")
    report = session(opts, breaker_threshold=opts.breaker_threshold, corrections=True)
    if baseline is not None:
        report["baseline"] = baseline
    report["total_wall_seconds"] = round(time.monotonic() - began, 1)
    print_comparison(report)
    publish(report, [school for school, _ in SCHOOLS], opts.poll, OUT)
    runs = [report] + ([baseline] if baseline else [])
    bad = any(
        r[run][key] for r in runs for run in ("faults_run", "redrive_run") for key in ("duplicates", "lost")
    )
    final = report["corrections"]["final"]
    bad = bad or any(final[key] for key in ("duplicates", "change_duplicates", "lost", "sent_retracted"))
    return 1 if bad else 0


def session(opts: argparse.Namespace, *, breaker_threshold: int, corrections: bool) -> dict[str, Any]:
    """One fault run on a fresh emulator and ministry (seeded the same way): the same workload and
    faults, so two sessions differ only by the breaker."""
    rng = random.Random(opts.seed)
    retry = RetryPolicy(
        interval_seconds=opts.retry_interval,
        backoff_rate=opts.retry_backoff,
        max_attempts=opts.retry_attempts,
        max_delay_seconds=opts.retry_max_delay,
    )
    definition = replace(PLATFORM_DEFINITION.govsync, batch_size=opts.batch_size)
    schools = [school for school, _ in SCHOOLS]
    began = time.monotonic()
    emulator = Emulator(port=0)
    emulator.start()
    quiet_logs()
    try:
        # moto's backends belong to the process, not to one server: start from nothing, whatever
        # a session before this one left (the baseline's table, executions and queues).
        reset = urllib.request.Request(f"{emulator.url}/moto-api/reset", method="POST")  # noqa: S310 - loopback
        urllib.request.urlopen(reset, timeout=30).close()  # noqa: S310 - the emulator's URL, http on loopback
        resources = provision(emulator.url)
        print(
            f"seeding {opts.grades} grades of {PERIOD} in {len(schools)} schools "
            f"({', '.join(f'{s} {n}' for s, n in school_sizes(opts.grades).items())}; {PERCENTAGE_SCHOOL} grades in %)"
        )
        seeded = seed(resources, opts.grades, opts.unknown_students, rng)
        faults = FaultPlan(
            seed=opts.seed,
            error_rate=opts.error_rate,
            timeout_after_rate=opts.timeout_after_rate,
            hang_seconds=opts.ministry_timeout + 1.5,
            throttle_rate=opts.throttle_rate,
            throttle_burst=2,
            unknown_students=seeded.unknown_students,
            reject_rate=opts.reject_rate,
        )
        healthy = FaultPlan(
            seed=opts.seed, unknown_students=seeded.unknown_students, reject_rate=opts.reject_rate
        )
        local = LocalGovSync(
            emulator_url=resources.endpoint_url,
            region=resources.region,
            table_name=resources.table_name,
            tenant_role_arn=resources.tenant_role_arn,
            definition=definition,
            schools=lambda: schools,
            config=GovSyncConfig(
                retry=retry,
                schedule_expression="",
                faults=faults,
                ministry_timeout_seconds=opts.ministry_timeout,
                breaker_threshold=breaker_threshold,
            ),
        )
        local.start()
        quiet_logs()
        try:
            report = run(local, seeded, schools, faults, healthy, retry, opts, corrections)
        finally:
            local.stop()
    finally:
        emulator.stop()
    report["breaker_threshold"] = breaker_threshold
    report["session_wall_seconds"] = round(time.monotonic() - began, 1)
    return report


def run(
    local: LocalGovSync,
    seeded: Seeded,
    schools: list[str],
    faults: FaultPlan,
    healthy: FaultPlan,
    retry: RetryPolicy,
    opts: argparse.Namespace,
    corrections: bool = True,
) -> dict[str, Any]:
    _, simulator, _ = started_parts(local)
    ministry = simulator.ministry
    batches_minimum = sum(math.ceil(len(ids) / opts.batch_size) for ids in seeded.records.values())
    print(
        f"retry policy: interval {retry.interval_seconds} s, backoff {retry.backoff_rate}x, max delay "
        f"{retry.max_delay_seconds} s, {retry.max_attempts} retries ({retry.max_attempts + 1} attempts), "
        f"{retry.jitter} jitter (production: {definition_retry()})"
    )
    # The outage is placed relative to the syncs' start, so it is set just before they start.
    zero_wall = datetime.now(UTC)
    zero = time.monotonic()
    plan = replace(
        faults,
        outage_start=zero_wall + timedelta(seconds=opts.outage_at),
        outage_end=zero_wall + timedelta(seconds=opts.outage_at + opts.outage_seconds),
    )
    ministry.set_plan(plan)
    print(
        f"run 1 (faults): {len(schools)} syncs at once, {batches_minimum} batches of {opts.batch_size}; ministry: "
        f"{opts.error_rate:.0%} 5xx, {opts.timeout_after_rate:.0%} stored-then-timed-out "
        f"(hang {plan.hang_seconds:g} s > client {opts.ministry_timeout:g} s), {opts.throttle_rate:.0%} 429 bursts, "
        f"outage {opts.outage_at:g}-{opts.outage_at + opts.outage_seconds:g} s, "
        f"{len(seeded.unknown_students)} students unknown, {opts.reject_rate:.1%} enrolment rejections"
    )
    started = local.start_sync(PERIOD, schools, STARTED_BY)
    arns = [s.execution_arn for s in started]
    timeline: list[dict[str, Any]] = [
        {
            "t": 0.0,
            "run": "run 1",
            "poll_s": 0.0,
            "schools": {school: school_sample(()) for school in schools},
        }
    ]
    runs = {s.key.school_id: s.execution_name for s in started}
    watch(local, schools, runs, arns, zero, timeline, "run 1", opts.timeout, opts.poll)
    sfn = local.client("stepfunctions")
    for arn in arns:
        wait_for_execution(sfn, arn, timeout_seconds=10)
    run1_wall = time.monotonic() - zero
    letters = read_dlq(local)
    first = figures(local, seeded, letters, arns, run1_wall, batches_minimum)
    print_figures("run 1 (faults)", first, seeded.total)

    # Run 2: the ministry has recovered (the registry is the same); the DLQ's batches go again.
    ministry.set_plan(healthy)
    redrive_at = round(time.monotonic() - zero, 2)
    redrive_zero = time.monotonic()
    redriven = redrive(local, letters)
    redrive_arns = [r.execution_arn for r in redriven]
    print(
        f"\nrun 2 (redrive): ministry healthy, {len(letters)} dead-lettered batches in {len(redrive_arns)} redrives"
    )
    if redrive_arns:
        watch(local, schools, runs, redrive_arns, zero, timeline, "run 2", opts.timeout, opts.poll)
        for arn in redrive_arns:
            wait_for_execution(sfn, arn, timeout_seconds=10)
    run2_wall = time.monotonic() - redrive_zero
    remaining = read_dlq(local)
    second = figures(local, seeded, remaining, arns + redrive_arns, run2_wall, batches_minimum)
    print_figures("after the redrive (the whole sync)", second, seeded.total)
    complete = second["accepted_ledger"] + second["rejected"] == seeded.total and second["dlq_batches"] == 0
    print(f"  every grade accounted for: {'yes' if complete else 'NO'}")
    corrected = (
        run_corrections(local, seeded, schools, faults, healthy, opts, zero, timeline)
        if corrections
        else None
    )
    return {
        "period": PERIOD,
        "grades": seeded.total,
        "schools": {school: len(ids) for school, ids in seeded.records.items()},
        "students": seeded.students,
        "percentage_school": PERCENTAGE_SCHOOL,
        "unknown_students": sorted(seeded.unknown_students),
        "batch_size": opts.batch_size,
        "retry": asdict(retry),
        "faults": plan.to_json(),
        "healthy": healthy.to_json(),
        "ministry_timeout_seconds": opts.ministry_timeout,
        "timeline_reads": opts.poll,
        "outage": {"start_s": opts.outage_at, "end_s": opts.outage_at + opts.outage_seconds},
        "faults_run": first,
        "dead_letters": [
            {
                "school_id": letter.ref.school_id,
                "number": letter.ref.number,
                "records": letter.ref.records,
                "error": letter.error,
            }
            for letter in letters
        ],
        "redrive": {"started_s": redrive_at, "executions": [r.execution_name for r in redriven]},
        "redrive_run": second,
        "complete": complete,
        **({"corrections": corrected} if corrected is not None else {}),
        "timeline": timeline,
    }


def definition_retry() -> str:
    production = PLATFORM_DEFINITION.govsync.retry
    return (
        f"interval {production.interval_seconds} s, backoff {production.backoff_rate}x, max delay "
        f"{production.max_delay_seconds} s, {production.max_attempts} retries"
    )


if __name__ == "__main__":
    sys.exit(main())
