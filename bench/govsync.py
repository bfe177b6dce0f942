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

It writes ``bench/out/govsync.json`` (configuration, every run's figures, the timelines) and
``bench/out/govsync.png`` (progress over time, the outages shaded, the redrives and the correction
phase marked), and exits non-zero when a duplicate or a lost record or change is found.

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

from luca_govsync.adapters.dynamodb_store import DynamoSyncStore
from luca_govsync.adapters.s3_manifests import S3Manifests
from luca_govsync.bootstrap import GovSyncApp
from luca_govsync.config import StarterSettings
from luca_govsync.definition import RetryPolicy
from luca_govsync.domain.model import BatchKind, BatchRef, BatchState, BatchStatus
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
from luca_kernel.roster import Term
from luca_platform.aws import AwsClients
from luca_platform.contracts import grades as grades_contract
from luca_platform.contracts import roster
from luca_platform.contracts.rules import rule_item
from luca_platform.table.codec import timestamp, to_wire

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
TERM_CLOSED_AT = datetime(2025, 5, 23, 18, 0, tzinfo=UTC)
CORRECTED_AT = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Seeded:
    """What the benchmark put in the table: every grade's record id per school, who the ministry's
    registry does not know, and each grade's item as written (a correction rewrites it)."""

    records: dict[str, list[str]]
    unknown_students: frozenset[str]
    students: dict[str, int]
    items: dict[tuple[str, str], dict[str, Any]]

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


def school_clients(region: str, endpoint_url: str, tenant_role_arn: str | None) -> AwsClients:
    """Each school's own client (the tenant role, tagged with the school), as the grading service
    writes its items."""
    return AwsClients(region=region, endpoint_url=endpoint_url, tenant_role_arn=tenant_role_arn)


def write_items(clients: AwsClients, table: str, items: Sequence[dict[str, Any]], label: str) -> None:
    """Items straight into the table, 25 a call, each school's through that school's client."""
    by_school: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_school.setdefault(str(item["school_id"]), []).append(item)
    chunks = [
        (school, mine[i : i + BATCH_WRITE])
        for school, mine in sorted(by_school.items())
        for i in range(0, len(mine), BATCH_WRITE)
    ]

    def write(job: tuple[str, list[dict[str, Any]]]) -> int:
        school, chunk = job
        client = clients.dynamodb_for(school)
        requests: list[Any] = [{"PutRequest": {"Item": to_wire(item)}} for item in chunk]
        while requests:
            answer = client.batch_write_item(RequestItems={table: requests})
            requests = list(answer.get("UnprocessedItems", {}).get(table, []))
        return len(chunk)

    written, started = 0, time.monotonic()
    with ThreadPoolExecutor(max_workers=SEED_WORKERS) as pool:
        for count in pool.map(write, chunks):
            written += count
            if written % 1000 < BATCH_WRITE or written == len(items):
                print(
                    f"\r  {label} {written:6d}/{len(items)} grades ({time.monotonic() - started:5.1f} s)",
                    end="",
                    flush=True,
                )
    print()


def seed(resources: ProvisionedResources, grades: int, unknown_share: float, rng: random.Random) -> Seeded:
    """Every school's grades, its closed term (and the percentage school's rule) into the table."""
    clients = school_clients(resources.region, resources.endpoint_url, resources.tenant_role_arn)
    percentage = GradingRule(
        SubjectId("*"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal("60"), decimals=0
    )
    clients.dynamodb_for(PERCENTAGE_SCHOOL).put_item(
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
        # The term ended and its admin closed it: what the sync submits.
        term = Term(
            SchoolId(school), TermId(PERIOD), f"Term {PERIOD}", closed_at=TERM_CLOSED_AT, closed_by="bench"
        )
        term_item = {k: v for k, v in roster.term_item(term).items() if v is not None}
        clients.dynamodb_for(school).put_item(TableName=resources.table_name, Item=to_wire(term_item))
    write_items(clients, resources.table_name, items, "seeded")
    by_key = {(str(item["school_id"]), str(item["evaluation_id"])): item for item in items}
    return Seeded(records, frozenset(unknown), students, by_key)


# -- watching --------------------------------------------------------------------------------------
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
        timeline.append(
            {"t": at, "run": label, "poll_s": round(time.monotonic() - tick, 2), "schools": sample}
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
def plot(report: dict[str, Any], schools: Sequence[str], path: Path) -> None:
    """Batches per state, records accepted per school, and the correction phase's amendments and
    retractions accepted, over time; the outages shaded, the redrives and the corrections marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline = report["timeline"]
    fig, (top, middle, bottom) = plt.subplots(
        3, 1, figsize=(12, 11), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2]}
    )
    xs = [sample["t"] for sample in timeline]

    def total(key: str) -> list[int]:
        return [sum(sample["schools"][school][key] for school in schools) for sample in timeline]

    top.step(xs, total("done"), where="post", color="#2a7", linewidth=2, label="batches done (the run's)")
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
    middle.stackplot(
        xs,
        *[[sample["schools"][school]["accepted"] for sample in timeline] for school in schools],
        labels=schools,
        step="post",
    )
    middle.set_ylabel("records accepted (cumulative)")
    middle.set_title("Records the ministry accepted, per school")
    middle.legend(fontsize=8, loc="upper left")
    bottom.step(xs, total("amended"), where="post", color="#36c", linewidth=2, label="amendments accepted")
    bottom.step(xs, total("retracted"), where="post", color="#939", linewidth=2, label="retractions accepted")
    corrections = report["corrections"]
    for count, color in (
        (corrections["amendments_expected"], "#36c"),
        (corrections["retractions_expected"], "#939"),
    ):
        bottom.axhline(count, color=color, linestyle=":", linewidth=1)
    bottom.set_ylabel("changes accepted")
    bottom.set_xlabel("seconds since the syncs started")
    bottom.set_title(
        "Corrections after the sync: amendments and retractions the ministry accepted (dotted: expected)"
    )
    bottom.legend(fontsize=8, loc="upper left")
    outages = [(report["outage"]["start_s"], report["outage"]["end_s"]), tuple(corrections["outage"])]
    marks = [(report["redrive"]["started_s"], " redrive"), (corrections["started_s"], " corrections")]
    if corrections["redrive"]["started_s"] is not None:
        marks.append((corrections["redrive"]["started_s"], " redrive"))
    for axis in (top, middle, bottom):
        for start, end in outages:
            axis.axvspan(start, end, color="#c33", alpha=0.12, label="_outage")
        for at, _ in marks:
            axis.axvline(at, color="#333", linestyle=":", linewidth=1.5)
    for start, _ in outages:
        top.text(start, top.get_ylim()[1] * 0.97, " ministry outage", va="top", fontsize=8, color="#a22")
    for at, text in marks:
        top.text(at, top.get_ylim()[1] * 0.85, text, va="top", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- the correction phase ------------------------------------------------------------------------------
class BenchGovSync(LocalGovSync):
    """The local government path, its starter reading each school's term and sync state as that
    school (the table and the tenant role): what the starter function's settings hold in AWS."""

    def starter_settings(self) -> StarterSettings:
        if self.resources is None:
            raise RuntimeError("the government sync is not started")
        return StarterSettings(
            state_machine_arn=self.resources.state_machine_arn,
            schools_parameter=self.definition.schools_parameter,
            table_name=self.table_name,
            aws_region=self.region,
            aws_endpoint_url=self.emulator_url,
            tenant_role_arn=self.tenant_role_arn,
        )


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
    sfn = local.client("stepfunctions")
    executions: Counter[str] = Counter()
    for arn in arns:
        described = sfn.describe_execution(executionArn=arn)
        executions[described["status"] + (f" ({described['error']})" if described.get("error") else "")] += 1
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
        "executions": dict(executions),
        "wall_seconds": round(wall_seconds, 1),
    }


def print_correction_figures(title: str, f: dict[str, Any], corrected: Corrected) -> None:
    def line(counts: dict[str, int], expected: int) -> str:
        return (
            f"{counts.get('accepted', 0)} of {expected} (sent {counts.get('sent', 0)}, rejected "
            f"{counts.get('rejected', 0)}, failed to the DLQ {counts.get('failed', 0)}, answered as replays "
            f"{counts.get('replayed', 0)})"
        )

    calls = "  ".join(
        f"{endpoint} [" + " ".join(f"{status}:{n}" for status, n in statuses.items()) + "]"
        for endpoint, statuses in sorted(f["calls"].items())
    )
    print(f"\n{title}")
    print(f"  amendments accepted       {line(f['amendments'], len(corrected.amend))}")
    print(f"  retractions accepted      {line(f['retractions'], len(corrected.retract))}")
    if f["changes_rejected_by_reason"]:
        print(f"  changes rejected          {f['changes_rejected_by_reason']}")
    print(
        f"  at the ministry           {f['ministry_amendments']['applied']} amendments applied to "
        f"{f['ministry_amendments']['records']} records, {f['ministry_retractions']['applied']} retractions; "
        f"{f['ministry_retracted_records']} records retracted"
    )
    print(
        f"  resubmitted               {f['resubmitted']} records the ministry had rejected "
        f"({len(corrected.resubmit)} of them corrected since)"
    )
    print(f"  retracted, never accepted {len(corrected.withheld)}, sent {f['sent_retracted']} (must be 0)")
    print(
        f"  duplicates at ministry    {f['duplicates']} records accepted twice, {f['change_duplicates']} changes "
        "applied twice (must be 0)"
    )
    print(
        f"  lost                      {f['lost']} (must be 0)"
        + (f": {f['lost_sample']}" if f["lost"] else "")
    )
    print(f"  batches in the DLQ        {f['dlq_batches']} ({f['dlq_changes']} records or changes)")
    print(
        f"  calls made                {f['calls_made']}: {calls}; minimum {f['calls_minimum']} "
        f"({f['calls_made'] / max(f['calls_minimum'], 1):.2f}x); {f['change_replays']} changes answered as replays"
    )
    print(f"  executions                {f['executions']}")
    print(f"  wall time                 {f['wall_seconds']} s")


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
    _, simulator, resources = started_parts(local)
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
        redriven = local.starter.redrive([(letter.ref, letter.message_id) for letter in letters], STARTED_BY)
        sqs = local.client("sqs")
        for letter in letters:
            sqs.delete_message(QueueUrl=resources.dlq_url, ReceiptHandle=letter.receipt_handle)
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
    parser.add_argument("--correction-rate", type=float, default=0.01, help="share of grades corrected")
    parser.add_argument("--retraction-rate", type=float, default=0.002, help="share of grades retracted")
    parser.add_argument(
        "--correction-outage-at", type=float, default=2.0,
        help="outage start, s after the correction runs start (same length as run 1's)",
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
        local = BenchGovSync(
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
    plot(report, schools, OUT / "govsync.png")
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
    final = report["corrections"]["final"]
    bad = bad or any(final[key] for key in ("duplicates", "change_duplicates", "lost", "sent_retracted"))
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
    redriven = local.starter.redrive([(letter.ref, letter.message_id) for letter in letters], STARTED_BY)
    sqs = local.client("sqs")
    for letter in letters:
        sqs.delete_message(QueueUrl=resources.dlq_url, ReceiptHandle=letter.receipt_handle)
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
    corrections = run_corrections(local, seeded, schools, faults, healthy, opts, zero, timeline)
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
        "corrections": corrections,
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
