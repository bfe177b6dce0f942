"""Government-sync fault run: a term's official grades reach an unstable ministry exactly once.

A command, not a test (``make bench-govsync``). It runs in this process, as the engine tests do: the
embedded emulator, the platform's resources, and ``LocalGovSync`` (the real state machine on the
emulator's Step Functions engine, its tasks dispatched to the in-repo handlers, the ministry
simulator on loopback). Only configuration differs from production: a short retry policy (stated
in the output; production waits minutes) and the simulator's faults.

It seeds 20,000 grades of one term (2025-T1) in five schools of uneven size (BatchWriteItem, 25 a
call): Chilean grades (1.0-7.0) and one school that grades on percentages (its rule in the table;
the sync moves its grades to the ministry's scale). A few of the students are unknown to the
ministry's registry, and a share of records is rejected as an enrolment mismatch.

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

It writes ``bench/out/govsync.json`` (configuration, both runs' figures, the timelines) and
``bench/out/govsync.png`` (progress over time, the outage shaded, the redrive marked), and exits
non-zero when a duplicate or a lost record is found.

The timeline reads the batch states once a second (``--poll progress`` reads ``store.progress``
instead: every record's verdict on each poll, which on the emulator takes seconds per school once
thousands are decided, so the polls drift and slow the run they watch).

    make bench-govsync
    python -m bench.govsync [--grades 20000] [--batch-size 100] [--error-rate 0.3]
        [--timeout-after-rate 0.05] [--outage-at 15] [--outage-seconds 25] [--poll batches] ...
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import boto3

from luca_govsync.adapters.dynamodb_store import DynamoSyncStore
from luca_govsync.adapters.s3_manifests import S3Manifests
from luca_govsync.bootstrap import GovSyncApp
from luca_govsync.definition import RetryPolicy
from luca_govsync.domain.model import BatchRef, BatchState, BatchStatus
from luca_govsync.simulator.faults import FaultPlan
from luca_govsync.simulator.server import SimulatorServer
from luca_grading.adapters.dynamodb_repository import evaluation_item
from luca_grading.domain.model import Evaluation
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.emulator import Emulator
from luca_infra.local.govsync import GovSyncConfig, GovSyncResources, LocalGovSync
from luca_infra.local.provision import ProvisionedResources, provision
from luca_infra.local.stepfunctions import wait_for_execution
from luca_kernel.grading import GradingRule, ScaleKind
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_platform.contracts.rules import rule_item
from luca_platform.table.codec import to_wire

OUT = Path(__file__).resolve().parent / "out"
PERIOD = "2025-T1"
STARTED_BY = "bench"
# Five schools of uneven size; the smallest grades on percentages (passing at 60%).
SCHOOLS: tuple[tuple[str, float], ...] = (
    ("liceo-andes", 0.30),
    ("colegio-bosque", 0.25),
    ("escuela-costa", 0.20),
    ("liceo-desierto", 0.15),
    ("colegio-estrella", 0.10),
)
PERCENTAGE_SCHOOL = "colegio-estrella"
SUBJECTS = ("math", "language", "history", "science", "english")
COURSES = ("1A", "1B", "2A", "2B", "3A", "3B", "4A", "4B")
GRADES_PER_STUDENT = 10  # two per subject in the term
BATCH_WRITE = 25  # DynamoDB's BatchWriteItem limit
SEED_WORKERS = 4


@dataclass(frozen=True)
class Seeded:
    """What the benchmark put in the table: every grade's record id per school, and who the
    ministry's registry does not know."""

    records: dict[str, list[str]]
    unknown_students: frozenset[str]
    students: dict[str, int]

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.records.values())


@dataclass(frozen=True)
class DeadLetter:
    ref: BatchRef
    message_id: str
    receipt_handle: str
    error: str


# -- the workload ------------------------------------------------------------------------------------
def school_sizes(grades: int) -> dict[str, int]:
    sizes = {school: int(grades * share) for school, share in SCHOOLS}
    sizes[SCHOOLS[0][0]] += grades - sum(sizes.values())
    return sizes


def chilean_grade(rng: random.Random) -> Decimal:
    return Decimal(f"{min(7.0, max(1.0, rng.gauss(5.4, 0.9))):.1f}")


def percentage_grade(rng: random.Random) -> Decimal:
    return Decimal(round(min(100.0, max(0.0, rng.gauss(72.0, 14.0)))))


def evaluations(
    school: str, count: int, unknown_share: float, rng: random.Random
) -> tuple[list[Evaluation], set[str]]:
    """A school's official grades of the term: ``GRADES_PER_STUDENT`` per student over the subjects,
    and the students (about ``unknown_share`` of them) the ministry's registry does not know."""
    students = max(1, math.ceil(count / GRADES_PER_STUDENT))
    roster = [f"{school}-st-{n:04d}" for n in range(students)]
    unknown = set(rng.sample(roster, max(1, round(students * unknown_share)))) if unknown_share else set()
    grade = percentage_grade if school == PERCENTAGE_SCHOOL else chilean_grade
    start = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    out = []
    for n in range(count):
        student = roster[n % students]
        out.append(
            Evaluation(
                school_id=SchoolId(school),
                evaluation_id=f"ev-{n:06d}",
                student_id=StudentId(student),
                course_id=CourseId(COURSES[(n % students) % len(COURSES)]),
                subject_id=SubjectId(SUBJECTS[(n // students) % len(SUBJECTS)]),
                term_id=TermId(PERIOD),
                score=grade(rng),
                weight=Decimal("1"),
                teacher_id=TeacherId(f"{school}-t-{(n // students) % len(SUBJECTS)}"),
                recorded_at=start + timedelta(minutes=rng.randint(0, 60 * 24 * 80)),
            )
        )
    return out, unknown


def seed(resources: ProvisionedResources, grades: int, unknown_share: float, rng: random.Random) -> Seeded:
    """Every school's grades (and the percentage school's rule) straight into the table, 25 a call."""
    dynamodb = boto3.client("dynamodb", region_name=resources.region, endpoint_url=resources.endpoint_url)
    percentage = GradingRule(
        SubjectId("*"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal("60"), decimals=0
    )
    dynamodb.put_item(
        TableName=resources.table_name,
        Item=to_wire(
            {k: v for k, v in rule_item(SchoolId(PERCENTAGE_SCHOOL), percentage).items() if v is not None}
        ),
    )
    records: dict[str, list[str]] = {}
    unknown: set[str] = set()
    students: dict[str, int] = {}
    items: list[dict[str, Any]] = []
    for school, count in school_sizes(grades).items():
        made, ghosts = evaluations(school, count, unknown_share, rng)
        records[school] = [evaluation.evaluation_id for evaluation in made]
        unknown |= ghosts
        students[school] = len({evaluation.student_id for evaluation in made})
        items.extend({k: v for k, v in evaluation_item(e).items() if v is not None} for e in made)
    chunks = [items[i : i + BATCH_WRITE] for i in range(0, len(items), BATCH_WRITE)]
    written = 0

    def write(chunk: list[dict[str, Any]]) -> int:
        requests: list[Any] = [{"PutRequest": {"Item": to_wire(item)}} for item in chunk]
        while requests:
            answer = dynamodb.batch_write_item(RequestItems={resources.table_name: requests})
            requests = list(answer.get("UnprocessedItems", {}).get(resources.table_name, []))
        return len(chunk)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=SEED_WORKERS) as pool:
        for count in pool.map(write, chunks):
            written += count
            if written % 1000 < BATCH_WRITE or written == len(items):
                print(
                    f"\r  seeded {written:6d}/{len(items)} grades ({time.monotonic() - started:5.1f} s)",
                    end="",
                    flush=True,
                )
    print()
    return Seeded(records, frozenset(unknown), students)


# -- watching --------------------------------------------------------------------------------------
def started_parts(local: LocalGovSync) -> tuple[GovSyncApp, SimulatorServer, GovSyncResources]:
    if local.app is None or local.simulator is None or local.resources is None:
        raise RuntimeError("the government sync is not started")
    return local.app, local.simulator, local.resources


def school_sample(batches: Sequence[BatchState], accepted: int, rejected: int) -> dict[str, int]:
    statuses = Counter(batch.status for batch in batches)
    return {
        "batches": len(batches),
        "done": statuses[BatchStatus.DONE],
        "retrying": statuses[BatchStatus.RETRYING],
        "failed": statuses[BatchStatus.FAILED],
        "in_flight": statuses[BatchStatus.SUBMITTING],
        "accepted": accepted,
        "rejected": rejected,
    }


class Sampler:
    """Where each school's sync stands, read from the table once per poll.

    ``progress`` is ``store.progress``: the sync's whole account, every record's verdict included,
    so one read costs O(records) and takes seconds per school on the emulator once thousands are
    decided (it slows the run it watches, and the polls drift far from once a second).
    ``batches`` (the default) finds the sync once through ``store.progress`` and then reads its
    batch states only: each done batch carries its accepted and rejected counts."""

    def __init__(self, store: DynamoSyncStore, mode: str) -> None:
        self._store, self._mode = store, mode
        self._sync_ids: dict[str, str] = {}

    def sample(self, school: str) -> dict[str, int]:
        sync_id = self._sync_ids.get(school)
        if self._mode == "progress" or sync_id is None:
            progress = self._store.progress(school, PERIOD)
            if progress is None:
                return school_sample((), 0, 0)
            self._sync_ids[school] = progress.sync_id
            return school_sample(progress.batches, progress.accepted, len(progress.rejected))
        batches = self._store.batch_states(school, PERIOD, sync_id)
        return school_sample(batches, sum(b.accepted for b in batches), sum(b.rejected for b in batches))


def watch(
    local: LocalGovSync,
    schools: Sequence[str],
    arns: Sequence[str],
    zero: float,
    timeline: list[dict[str, Any]],
    label: str,
    timeout: float,
    mode: str,
) -> None:
    """Once a second until every execution in ``arns`` has ended: each school's progress from the
    table into ``timeline`` (seconds since ``zero``), and a live line."""
    app, simulator, _ = started_parts(local)
    sampler = Sampler(app.store, mode)
    sfn = local.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        tick = time.monotonic()
        # Statuses first: the sample taken after the last execution ended is the final state.
        running = sum(sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" for arn in arns)
        sample = {school: sampler.sample(school) for school in schools}
        at = round(time.monotonic() - zero, 2)
        timeline.append(
            {"t": at, "run": label, "poll_s": round(time.monotonic() - tick, 2), "schools": sample}
        )
        total = {key: sum(s[key] for s in sample.values()) for key in next(iter(sample.values()))}
        outage = " [ministry down]" if simulator.ministry.plan.in_outage(datetime.now(UTC)) else ""
        print(
            f"\r  {label} {at:6.1f} s  batches {total['done']:4d}/{total['batches']:<4d} done  "
            f"{total['retrying']:3d} retrying  {total['failed']:3d} failed  "
            f"accepted {total['accepted']:6d}  executions running {running}{outage}      ",
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
    sfn = local.client("stepfunctions")
    executions: Counter[str] = Counter()
    for arn in arns:
        described = sfn.describe_execution(executionArn=arn)
        executions[described["status"] + (f" ({described['error']})" if described.get("error") else "")] += 1
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
        "batches_minimum": batches_minimum,
        "batches_processed": stats["batches_processed"],
        "replays": stats["replays"],
        "faults": stats["faults"],
        "executions": dict(executions),
        "wall_seconds": round(wall_seconds, 1),
        "progress_read_seconds": round(progress_read, 2),
    }


def print_figures(title: str, f: dict[str, Any], seeded: int) -> None:
    reasons = ", ".join(f"{code} {count}" for code, count in f["rejected_by_reason"].items()) or "none"
    errors = ", ".join(f"{error} {count}" for error, count in f["dlq_errors"].items())
    submits = " ".join(f"{status}:{n}" for status, n in sorted(f["calls"].get("submit", {}).items()))
    tokens = " ".join(f"{status}:{n}" for status, n in sorted(f["calls"].get("token", {}).items()))
    print(f"\n{title}")
    print(
        f"  accepted by the ministry  {f['accepted_ledger']} records (ledger; our table records {f['accepted_table']})"
    )
    print(f"  rejected                  {f['rejected']} ({reasons})")
    print(
        f"  batches in the DLQ        {f['dlq_batches']} ({f['dlq_records']} records)"
        + (f": {errors}" if errors else "")
    )
    print(
        f"  accounted for             {f['accepted_ledger'] + f['rejected']} accepted + rejected, of {seeded} seeded"
    )
    print(f"  duplicates at ministry    {f['duplicates']} (must be 0)")
    print(f"  lost                      {f['lost']} (must be 0)")
    print(
        f"  calls made                {f['submit_calls']} submit [{submits}] + {f['token_calls']} token [{tokens}]; "
        f"minimum {f['batches_minimum']} submit + 1 token ({(f['submit_calls'] + f['token_calls']) / max(f['batches_minimum'] + 1, 1):.2f}x)"
    )
    print(
        f"  batches stored / replays  {f['batches_processed']} stored by the ministry, {f['replays']} answered as replays"
    )
    print(f"  faults met               {f['faults']}")
    print(f"  executions                {f['executions']}")
    print(f"  wall time                 {f['wall_seconds']} s")
    print(
        f"  progress read             {f['progress_read_seconds']} s (store.progress of every school, once)"
    )


# -- the plot --------------------------------------------------------------------------------------
def plot(
    timeline: list[dict[str, Any]],
    schools: Sequence[str],
    outage: tuple[float, float],
    redrive_at: float | None,
    path: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 8), sharex=True)
    xs = [sample["t"] for sample in timeline]

    def total(key: str) -> list[int]:
        return [sum(sample["schools"][school][key] for school in schools) for sample in timeline]

    top.step(xs, total("done"), where="post", color="#2a7", linewidth=2, label="batches done (all schools)")
    top.step(xs, total("retrying"), where="post", color="#e90", linewidth=2, label="batches retrying")
    top.step(
        xs, total("failed"), where="post", color="#c33", linewidth=2, label="batches failed (in the DLQ)"
    )
    for school in schools:
        top.step(
            xs, [sample["schools"][school]["done"] for sample in timeline], where="post",
            linewidth=0.8, linestyle="--", alpha=0.7, label=f"done: {school}",
        )  # fmt: skip
    top.set_ylabel("batches")
    top.set_title("Government sync under faults: batches per state over time")
    top.legend(fontsize=8, ncol=2, loc="center right")
    bottom.stackplot(
        xs,
        *[[sample["schools"][school]["accepted"] for sample in timeline] for school in schools],
        labels=schools,
        step="post",
    )
    bottom.set_ylabel("records accepted (cumulative)")
    bottom.set_xlabel("seconds since the syncs started")
    bottom.set_title("Records the ministry accepted, per school")
    bottom.legend(fontsize=8, loc="upper left")
    for axis in (top, bottom):
        axis.axvspan(outage[0], outage[1], color="#c33", alpha=0.12, label="_outage")
        if redrive_at is not None:
            axis.axvline(redrive_at, color="#333", linestyle=":", linewidth=1.5)
    top.text(outage[0], top.get_ylim()[1] * 0.97, " ministry outage", va="top", fontsize=8, color="#a22")
    if redrive_at is not None:
        top.text(redrive_at, top.get_ylim()[1] * 0.85, " redrive", va="top", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- the run ---------------------------------------------------------------------------------------
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
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on a run after this, s")
    opts = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    rng = random.Random(opts.seed)
    retry = RetryPolicy(
        interval_seconds=opts.retry_interval,
        backoff_rate=opts.retry_backoff,
        max_attempts=opts.retry_attempts,
        max_delay_seconds=opts.retry_max_delay,
    )
    definition = replace(PLATFORM_DEFINITION.govsync, batch_size=opts.batch_size)
    schools = [school for school, _ in SCHOOLS]
    quiet_logs()

    emulator = Emulator(port=0)
    emulator.start()
    quiet_logs()
    try:
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
            ),
        )
        local.start()
        quiet_logs()
        try:
            report = run(local, seeded, schools, faults, healthy, retry, opts)
        finally:
            local.stop()
    finally:
        emulator.stop()
    report["total_wall_seconds"] = round(time.monotonic() - began, 1)
    (OUT / "govsync.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    plot(
        report["timeline"], schools, (report["outage"]["start_s"], report["outage"]["end_s"]),
        report["redrive"]["started_s"], OUT / "govsync.png",
    )  # fmt: skip
    stamps = [sample["t"] for sample in report["timeline"]]
    gaps = sorted(later - earlier for earlier, later in pairwise(stamps))
    if gaps:
        print(
            f"\ntimeline: {len(stamps)} polls ({opts.poll}), interval median {gaps[len(gaps) // 2]:.2f} s, "
            f"max {gaps[-1]:.2f} s"
        )
    print(f"\ntotal wall time {report['total_wall_seconds']} s (seeding and setup included)")
    print(f"wrote {OUT / 'govsync.json'} and {OUT / 'govsync.png'}")
    bad = any(report[run][key] for run in ("faults_run", "redrive_run") for key in ("duplicates", "lost"))
    return 1 if bad else 0


def run(
    local: LocalGovSync,
    seeded: Seeded,
    schools: list[str],
    faults: FaultPlan,
    healthy: FaultPlan,
    retry: RetryPolicy,
    opts: argparse.Namespace,
) -> dict[str, Any]:
    _, simulator, resources = started_parts(local)
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
            "schools": {school: school_sample((), 0, 0) for school in schools},
        }
    ]
    watch(local, schools, arns, zero, timeline, "run 1", opts.timeout, opts.poll)
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
    redriven = local.starter.redrive([(letter.ref, letter.message_id) for letter in letters], STARTED_BY)
    sqs = local.client("sqs")
    for letter in letters:
        sqs.delete_message(QueueUrl=resources.dlq_url, ReceiptHandle=letter.receipt_handle)
    redrive_arns = [r.execution_arn for r in redriven]
    print(
        f"\nrun 2 (redrive): ministry healthy, {len(letters)} dead-lettered batches in {len(redrive_arns)} redrives"
    )
    if redrive_arns:
        watch(local, schools, redrive_arns, zero, timeline, "run 2", opts.timeout, opts.poll)
        for arn in redrive_arns:
            wait_for_execution(sfn, arn, timeout_seconds=10)
    run2_wall = time.monotonic() - redrive_zero
    remaining = read_dlq(local)
    second = figures(local, seeded, remaining, arns + redrive_arns, run2_wall, batches_minimum)
    print_figures("after the redrive (the whole sync)", second, seeded.total)
    complete = second["accepted_ledger"] + second["rejected"] == seeded.total and second["dlq_batches"] == 0
    print(f"  every grade accounted for: {'yes' if complete else 'NO'}")
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
