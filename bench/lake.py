"""Lake benchmark: a school term through the table's stream into the Parquet lake, and back out.

A command, not a test (``make bench-lake``). It runs as the platform does: ``LocalPlatform`` in this
process (the embedded emulator, the platform's table with stream and TTL on, and ``LocalLake``: the
stream poller feeding ``LakePipeline``, and the TTL reaper), with the platform's own settings
(buffer 1 MiB / 5 s, poll 0.5 s, reaper every 30 s), its grading service and gateway in processes of
their own; the bulk writers in processes of their own too. The term's items are what production
writes, made by the grading service's adapter (``DynamoSchoolRepository``, ``evaluation_item``,
``note_item``) and the grade processor's (``exercise_result_item``); grades are changed the only way
they can be: through the REST API.

The workload (``--scale 0.75``, the default: about 1,700 students, 30,000 stream records): 24
schools of 45-105 students (two grade in percentages, by their rule in the table), five subjects,
three evaluations per course and subject over a 14-week term ending yesterday (the last weighs
double), behavior notes, and practice exercise results from the burst path; each school's teacher
(a Cognito user) is assigned its courses and subjects, and the term exists. Then each school's
teacher changes grades through the gateway with a real token, as the app does (read the grade and
its ETag, ``PATCH`` with ``If-Match`` and an ``Idempotency-Key``, ``POST .../retraction``): 3% of
grades are corrected (a quarter of those twice, the second time their weight; a tenth of them then
retracted) and 0.3% retracted (entered twice). Each change is a MODIFY of the grade (its next
version), a history item and an idempotency record; a stale ``If-Match`` (412), a missing one (428)
and a replayed key are tried too and must write nothing. The exercise results graded more than 30
days ago have expired, so the reaper deletes them (REMOVEs). A REMOVE must never land in the lake.

The default size keeps the run within a few minutes on 2 cores; the emulator's stream reads set the
pace. The reaper finds expired items from a schedule the stream feeds it; a full scan of the final
table is timed as the baseline (on the emulator it grows faster than the table).

1. Roster: courses, subjects, rules and students through the repository (one put each).
2. Term load: the term's writes in the order they happened, 25 a BatchWriteItem (the items the
   repository and the processor write; the bulk load leaves out the interactive path's idempotency
   records, which would double the stream for items the lake skips anyway), as fast as the
   emulator takes them (``--write-rate`` paces them). The poller reads while they are written: on
   this engine the term is a backfill, and its freshness is the backlog's.
3. Changes: the corrections and retractions through the REST API (``--api-workers`` teachers at a
   time), once the backlog is drained: their freshness is the pipeline's at a teacher's pace.
4. Steady: grades and notes recorded through the repository as the grading service records them
   (each with its idempotency record), ``--live-rate`` a second for ``--live-seconds``: freshness
   while the pipeline keeps up.

During 2 to 4 a prober records a grade through the repository every ``--probe-every`` seconds,
each in a school of its own (``probe-NNN``), and queries that school through ``DuckDbLake`` every
``--probe-poll`` seconds until the answer holds it: change -> queryable, measured from outside the
pipeline. Every row's freshness is also read back from the lake (its file's write time, in the
file's name, minus the row's ``changed_at``), next to the pipeline's own percentiles.

Then the lake is stopped (flushing its buffer) and read: files, bytes, files per partition, the
small-file picture (the probes' schools left out); every row checked (no REMOVE landed, no two
rows of a record with the same version, rows = the pipeline's rows out; how many of a record's
versions were created in the same second, so that AWS's ``changed_at`` cannot order them). For one
school (the largest) each report runs through ``Reports`` over ``DuckDbLake`` (files and bytes read
from its ``ScanStatistics``) and is timed against a whole-lake scan of the same SQL and parameters
(every file handed to DuckDB as one stream of record batches, so nothing can be pruned: what the
query costs without partitions). Last, the cross-check: every school's per-student and per-subject
averages from the lake's reports against those computed from the table (its grades as they stand,
read on the school-term index as the government sync reads them: current versions, retracted ones
left out), the subject averages also against the records the bench asked for, and the table
against what the bench asked the API to do.

It writes ``bench/out/lake.json`` and ``bench/out/lake.png`` and exits non-zero when a REMOVE
landed, a row is missing or extra, two rows of a version tie, an API call answered otherwise than
expected, or an answer differs.

    make bench-lake
    python -m bench.lake [--scale 0.75] [--schools 24] [--write-rate 0] [--live-seconds 45]
        [--live-rate 10] [--probe-every 5] [--repeat 3] [--baseline-repeat 1] [--api-workers 4] ...
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn

from bench.lake_api_changes import apply_changes, teacher_tokens
from bench.lake_crosscheck import cross_check
from bench.lake_figures import Phases, figures
from bench.lake_load import (
    in_writer,
    plan_roster,
    record_live,
    settled,
    wait_drained,
    wait_reaped,
    write_batches,
    write_roster,
)
from bench.lake_platform import Bench, connect
from bench.lake_probes import Prober
from bench.lake_queries import REPORTS, run_reports, time_queries
from bench.lake_readback import lake_shape, read_lake
from bench.lake_report import plot, print_figures
from bench.lake_workload import (
    TERM_DAYS,
    Change,
    Ledger,
    School,
    Write,
    batches,
    plan_term,
    schools_of,
    term_of,
)
from luca_analytics.adapters.duckdb_lake import DuckDbLake
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.lake import local_pseudonym_key
from luca_infra.local.platform import LocalPlatform, PlatformConfig

OUT = Path(__file__).resolve().parent / "out"
console = Console(highlight=False)


# -- the run ---------------------------------------------------------------------------------------
def quiet_logs() -> None:
    for name in ("luca", "moto", "botocore", "werkzeug", "urllib3"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=0.75, help="students per school: 60-140 x this (default %(default)s)"
    )
    parser.add_argument("--schools", type=int, default=24, help="schools (default %(default)s)")
    parser.add_argument(
        "--grades-per-subject", type=int, default=3, help="evaluations per course and subject"
    )
    parser.add_argument("--correction-rate", type=float, default=0.03, help="share of grades corrected")
    parser.add_argument(
        "--second-correction-share", type=float, default=0.25,
        help="share of corrected grades corrected again (their weight)",
    )  # fmt: skip
    parser.add_argument(
        "--retract-corrected-share", type=float, default=0.1, help="share of corrected grades then retracted"
    )
    parser.add_argument(
        "--retraction-rate", type=float, default=0.003, help="share of grades retracted (entered twice)"
    )
    parser.add_argument(
        "--api-workers", type=int, default=4, help="teachers changing grades through the API at a time"
    )
    parser.add_argument(
        "--write-rate", type=float, default=0.0,
        help="term load writes a second (default 0: as fast as the emulator takes them)",
    )  # fmt: skip
    parser.add_argument("--live-seconds", type=float, default=45.0, help="length of the steady phase, s")
    parser.add_argument(
        "--live-rate", type=float, default=10.0, help="grades/notes a second in the steady phase"
    )
    parser.add_argument("--probe-every", type=float, default=5.0, help="a probe about every this many s")
    parser.add_argument("--probe-poll", type=float, default=0.25, help="probe query interval, s")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each one-school query (median)")
    parser.add_argument(
        "--baseline-repeat", type=int, default=1, help="timed runs of each whole-lake scan (median)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900.0, help="give up draining after this, s")
    opts = parser.parse_args()
    if (
        min(opts.schools, opts.repeat, opts.baseline_repeat, opts.api_workers) < 1
        or min(opts.scale, opts.live_rate) <= 0
    ):
        parser.error(
            "--schools, --scale, --repeat, --baseline-repeat, --api-workers and --live-rate must be positive"
        )
    return opts


def main() -> int:
    opts = options()
    OUT.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    rng = random.Random(opts.seed)
    now = datetime.now(UTC)
    term_end = (now - timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)
    term_start = (term_end - timedelta(days=TERM_DAYS)).replace(hour=8)
    term = term_of(term_end)
    schools = schools_of(opts.schools, opts.scale, rng)
    ledger = Ledger()
    writes, changes = plan_term(schools, term_start, term_end, now, opts, rng, ledger)
    quiet_logs()

    state = tempfile.TemporaryDirectory(prefix="luca-bench-lake-")
    # The platform as `luca up` composes it (no demo schools: the bench brings its own), so the
    # teachers' changes go through its gateway and grading service, and the lake is its own.
    platform = LocalPlatform(
        PlatformConfig.ephemeral(Path(state.name), schools=(), log_level="WARNING", access_log_stdout=False)
    )
    try:
        console.print("starting the local platform ...")
        platform.start()
        quiet_logs()
        report, ages, sizes = run(platform, Path(state.name), schools, writes, changes, ledger, term, opts)
    finally:
        platform.stop()
        state.cleanup()
    report["workload"].update(
        term=term, term_start=term_start.date().isoformat(), term_end=term_end.date().isoformat()
    )
    plot(report, ages, sizes, OUT / "lake.png")
    report["total_wall_seconds"] = round(time.monotonic() - began, 1)
    (OUT / "lake.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print_figures(report)
    print(f"wrote {OUT / 'lake.json'} and {OUT / 'lake.png'}")
    api = report["api"]
    bad = (
        report["lake"]["removes_landed"]
        or report["lake"]["version_ties"]
        or report["cross_check"]["mismatches"]
        or report["cross_check"]["table_vs_requests"]
        or api["unexpected"]
        or api["checked"] != api["stale_refused"]
        or api["checked"] != api["unconditional_refused"]
        or api["checked"] != api["replays_same"]
        or report["pipeline"]["rows_out"] != report["pipeline"]["expected_rows"]
        or report["lake"]["rows"] != report["pipeline"]["rows_out"]
        or not all(r["same_answer"] for r in report["queries"]["reports"].values())
    )
    return 1 if bad else 0


def run(
    platform: LocalPlatform,
    state_dir: Path,
    schools: Sequence[School],
    writes: Sequence[Write],
    changes: Sequence[Change],
    ledger: Ledger,
    term: str,
    opts: argparse.Namespace,
) -> tuple[dict[str, Any], dict[str, list[float]], list[int]]:
    settings = PLATFORM_DEFINITION.analytics
    bench = connect(platform)
    resources, lake = bench.resources, bench.lake
    students = sum(len(school.students) for school in schools)
    console.print(
        f"[bold]lake benchmark[/]: {len(schools)} schools, {students} students, term {term}; "
        f"{len(writes)} term writes, {sum(len(c.steps) for c in changes)} changes through the API; "
        f"lake buffer {settings.buffer_bytes // 1024} KiB / {settings.buffer_seconds:g} s, "
        f"poll {settings.poll_interval_seconds:g} s, reaper every {settings.reaper_interval_seconds:g} s"
    )
    columns = (
        TextColumn("{task.description:<34}"),
        BarColumn(),
        TextColumn("{task.completed:>8.0f}/{task.total:<8.0f}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
    )
    probe_duck = DuckDbLake.s3(lake.bucket, region=resources.region, endpoint_url=resources.endpoint_url)
    prober = Prober(
        bench.repositories,
        probe_duck,
        term,
        opts.probe_every,
        opts.probe_poll,
    )
    phases = run_phases(bench, schools, writes, changes, ledger, term, opts, prober, columns)

    console.print("reading the lake back and querying it ...")
    read = read_lake(bench)
    shape = lake_shape(bench)

    biggest = max(schools, key=lambda school: len(school.students))
    key = local_pseudonym_key(state_dir)
    reports = run_reports(bench, biggest, term, key)
    with Progress(*columns, console=console, refresh_per_second=2) as progress:
        task = progress.add_task(
            "queries: one school vs whole lake",
            total=len(REPORTS) * (opts.repeat + opts.baseline_repeat),
            note="",
        )
        time_queries(bench, biggest, term, reports, shape, opts.repeat, opts.baseline_repeat, progress, task)
    check = cross_check(bench, schools, ledger, term, key)
    report, ages = figures(
        opts, schools, writes, changes, ledger, prober, phases, read, shape, biggest, reports, check
    )
    return report, ages, shape.sizes


def run_phases(
    bench: Bench,
    schools: Sequence[School],
    writes: Sequence[Write],
    changes: Sequence[Change],
    ledger: Ledger,
    term: str,
    opts: argparse.Namespace,
    prober: Prober,
    columns: Sequence[ProgressColumn],
) -> Phases:
    """The roster, the term load, the changes through the API and the steady phase, each drained;
    then the lake stopped and a reaper pass timed over the final table."""
    settings = PLATFORM_DEFINITION.analytics
    platform, resources, lake = bench.platform, bench.resources, bench.lake
    students = sum(len(school.students) for school in schools)
    live_rng = random.Random(opts.seed + 1)
    with Progress(*columns, console=console, refresh_per_second=2) as progress:
        roster_task = progress.add_task("roster (repository)", total=students, note="")
        base_records = settled(bench)  # what the platform's own start put on the stream
        plan_roster(schools, ledger)
        roster_seconds = in_writer(
            bench,
            write_roster,
            (resources.endpoint_url, resources.region, resources.table_name, resources.tenant_role_arn,
             list(schools), term),
            progress,
            roster_task,
        )  # fmt: skip

        term_task = progress.add_task("term load (BatchWriteItem)", total=len(writes), note="")
        stream_task = progress.add_task("stream -> lake (records read)", total=len(writes), note="")
        prober.start()
        read_before = bench.records_read()
        requests = [[write.request for write in batch] for batch in batches(writes)]
        term_seconds = in_writer(
            bench,
            write_batches,
            (resources.endpoint_url, resources.region, resources.table_name, requests, opts.write_rate),
            progress,
            term_task,
            stream_task,
        )
        read_during = bench.records_read() - read_before

        def expected_records() -> int:
            assert lake.reaper is not None
            return base_records + ledger.stream_records + prober.stream_records + lake.reaper.deleted

        progress.update(stream_task, note="draining the backlog")
        drain_from = bench.records_read()
        drain_seconds = wait_drained(
            bench, expected_records, opts.timeout, progress, stream_task, flushed=False
        )
        drain_records = bench.records_read() - drain_from
        progress.update(stream_task, note="waiting for the reaper's pass")
        # A pass scans the whole table, which takes the emulator longer as the table grows.
        wait_reaped(bench, ledger.expired_results, timeout=4 * settings.reaper_interval_seconds + 120)
        wait_drained(bench, expected_records, opts.timeout, progress, stream_task, flushed=False)
        progress.update(stream_task, note="drained")

        prober.phase = "changes"
        changes_from = datetime.now(UTC)
        tokens = teacher_tokens(platform, schools)
        change_task = progress.add_task("changes (REST API, teachers)", total=len(changes), note="")
        api = apply_changes(
            platform.gateway_url, tokens, changes, ledger, opts.api_workers, progress, change_task
        )
        wait_drained(bench, expected_records, opts.timeout, progress, stream_task, flushed=False)

        steady_from = datetime.now(UTC)
        prober.phase = "steady"
        live_task = progress.add_task("steady (repository, live)", total=opts.live_seconds, note="")
        live = record_live(
            bench, schools, term, opts.live_seconds, opts.live_rate, ledger, live_rng, progress, live_task
        )
        prober.stop_writing()
        final_task = progress.add_task("final drain + probes", total=expected_records(), note="")
        wait_drained(bench, expected_records, opts.timeout, progress, final_task)
        prober.stop(timeout=60)
        wait_drained(bench, expected_records, opts.timeout, progress, final_task)
    lake.stop()  # flushes; the lake is quiet from here on
    assert lake.poller is not None
    assert lake.reaper is not None
    stats = lake.stats()
    reaped = lake.reaper.deleted
    # One more reaper pass, timed, over the final table (nothing is left to delete): the platform's
    # (the schedule the stream fed), and a full scan of the table as the baseline it replaced.
    dynamodb = boto3.client("dynamodb", region_name=resources.region, endpoint_url=resources.endpoint_url)
    table_items = int(dynamodb.describe_table(TableName=resources.table_name)["Table"].get("ItemCount", 0))
    console.print(f"timing a reaper pass over the final table ({table_items} items) ...")
    began = time.perf_counter()
    late_reaped = lake.reaper.reap_due()
    reaper_pass = time.perf_counter() - began
    began = time.perf_counter()
    late_reaped += lake.reaper.reap_once()
    reaper_scan = time.perf_counter() - began
    return Phases(
        base_records=base_records,
        roster_seconds=roster_seconds,
        term_seconds=term_seconds,
        read_during=read_during,
        drain_seconds=drain_seconds,
        drain_records=drain_records,
        changes_from=changes_from,
        steady_from=steady_from,
        api=api,
        live=live,
        stats=stats,
        undecodable=lake.poller.counters.undecodable,
        reaped=reaped,
        table_items=table_items,
        reaper_pass=reaper_pass,
        reaper_scan=reaper_scan,
        late_reaped=late_reaped,
    )


if __name__ == "__main__":
    sys.exit(main())
