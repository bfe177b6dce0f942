"""``luca sync``: start the government sync of a period and watch it, list and redrive its DLQ.

Against the local platform, or a deployed stage with ``--stage NAME`` (the alarm texts quote
``luca sync dlq --stage prod``, ``luca sync redrive --stage prod`` and
``luca sync status --period P --school S --stage prod``): executions through the Step Functions API
(the state machine's StartExecution with the input the govsync starter builds; locally the
platform's own engine answers behind the emulator), progress from the sync's own state in the table
(per-school sessions, read as the school through the tenant role).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from luca_govsync.bootstrap import build_operations
from luca_govsync.config import OperationsSettings
from luca_govsync.entrypoints.operations import (
    BatchStatus,
    DeadLetter,
    InvalidSyncRequest,
    SyncKey,
    SyncProgress,
    change_counts,
)
from luca_infra.cli.stage import Target, add_target_arguments, resolve_or_report
from luca_platform.telemetry.context import sanitize_correlation_id
from luca_platform.telemetry.propagation import continued_span
from luca_platform.telemetry.tracing import configure_tracing

POLL_SECONDS = 0.5


def add_parser(commands: Any) -> None:
    sync = commands.add_parser("sync", help="the government sync: start it, watch it, redrive its DLQ")
    sync_commands = sync.add_subparsers(dest="sync_command")
    start = sync_commands.add_parser("start", help="start the sync of a period (one school or all)")
    start.add_argument("--period", required=True, help="a term, e.g. 2025-T1")
    start.add_argument(
        "--school", action="append", dest="schools", help="this school (repeatable; default all)"
    )
    start.add_argument("--by", default="operator", help="who starts it, for the audit trail")
    start.add_argument("--no-wait", action="store_true", help="start and return; do not watch")
    _correlation_argument(start)
    add_target_arguments(start)
    status = sync_commands.add_parser("status", help="where a school's sync of a period stands")
    status.add_argument("--period", required=True)
    status.add_argument("--school", required=True)
    status.add_argument("--watch", action="store_true", help="follow it with a progress bar until it ends")
    status.add_argument("--json", action="store_true")
    add_target_arguments(status)
    dlq = sync_commands.add_parser("dlq", help="batches that failed for good (nothing is removed)")
    dlq.add_argument("--json", action="store_true")
    add_target_arguments(dlq)
    redrive = sync_commands.add_parser(
        "redrive", help="resubmit the DLQ's batches (exactly once at the ministry)"
    )
    redrive.add_argument("--by", default="operator")
    redrive.add_argument("--no-wait", action="store_true")
    _correlation_argument(redrive)
    add_target_arguments(redrive)


def _correlation_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--correlation-id",
        type=_correlation_id,
        default=None,
        help="the request's id, which its executions, audit entries and ministry calls carry "
        "(default: a new one; printed, for `luca trace`)",
    )


def _correlation_id(value: str) -> str:
    if sanitize_correlation_id(value) != value:
        raise argparse.ArgumentTypeError(
            "a correlation id is up to 128 letters, digits and '-_.:' (leave it out to get a new one)"
        )
    return value


def _request(args: argparse.Namespace, console: Console) -> str:
    """This command's correlation id, said first so the operator can follow it (``luca trace``)."""
    correlation = args.correlation_id or str(uuid.uuid4())
    stage = f" --stage {args.stage}" if args.stage else ""
    # One line, never wrapped: it is meant to be copied.
    console.print(
        f"correlation id {correlation} (luca trace {correlation}{stage})", markup=False, soft_wrap=True
    )
    return correlation


class SyncControl:
    """The operator's view of the government path of a stage (or the local platform)."""

    def __init__(self, target: Target) -> None:
        resources = target.resources
        if not resources.govsync_state_machine_arn:
            raise RuntimeError(f"stage {target.stage} runs no government sync (locally: restart `luca up`)")
        self.target = target
        # The govsync service's own operations code: the same starter (execution names and input)
        # as the scheduled start, reading progress as the school through the tenant role.
        self.operations = build_operations(
            OperationsSettings(
                table_name=resources.table_name,
                state_machine_arn=resources.govsync_state_machine_arn,
                aws_region=target.region,
                aws_endpoint_url=target.endpoint_url,
                tenant_role_arn=resources.tenant_role_arn,
                dlq_url=resources.govsync_dlq_url,
            )
        )

    def schools(self) -> list[str]:
        return self.target.schools()

    def progress(self, school: str, period: str) -> SyncProgress | None:
        return self.operations.progress(school, period)

    def dead_letters(self) -> list[DeadLetter]:
        """Every batch in the sync's DLQ, read through the service's own DLQ use case."""
        return self.operations.dead_letters()


def watch(control: SyncControl, keys: list[tuple[SyncKey, str]], console: Console) -> dict[str, str]:
    """A progress bar per school until every execution has ended; returns each execution's status."""
    statuses: dict[str, str] = {}
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bars:
        tasks = {
            name: bars.add_task(f"{key.school_id} {key.period}", total=None, detail="starting")
            for key, name in keys
        }
        while True:
            for key, name in keys:
                status = control.operations.execution_status(name) or "UNKNOWN"
                statuses[name] = status
                progress = control.progress(key.school_id, key.period)
                if progress is None:
                    continue
                done, failed = progress.count(BatchStatus.DONE), progress.count(BatchStatus.FAILED)
                retrying = progress.count(BatchStatus.RETRYING)
                bars.update(
                    tasks[name],
                    total=len(progress.batches) or 1,
                    completed=done + failed,
                    detail=f"done {done}  retrying {retrying}  failed {failed}  "
                    f"accepted {progress.accepted}  rejected {len(progress.rejected)}  [{status}]",
                )
            if all(status not in ("RUNNING", "UNKNOWN") for status in statuses.values()):
                return statuses
            time.sleep(POLL_SECONDS)


def print_progress(progress: SyncProgress, console: Console) -> None:
    table = Table(
        title=f"{progress.school_id} {progress.period}: {progress.sync_id} ({progress.status.value})"
    )
    for column in ("batch", "records", "status", "attempts", "accepted", "rejected", "last error"):
        table.add_column(column)
    for batch in progress.batches:
        table.add_row(
            str(batch.ref.number),
            str(batch.ref.records),
            batch.status.value,
            str(batch.attempts),
            str(batch.accepted),
            str(batch.rejected),
            batch.last_error[:60],
        )
    console.print(table)
    console.print(
        f"records {progress.records_total}: accepted {progress.accepted}, rejected {len(progress.rejected)}",
        markup=False,
    )
    amendments, retractions = change_counts(progress.batches)
    for name, counts in (("amendments", amendments), ("retractions", retractions)):
        if counts.sent:
            console.print(
                f"{name} {counts.sent}: accepted {counts.accepted}, rejected {counts.rejected}, "
                f"failed {counts.failed} (answered as replays: {counts.replayed})",
                markup=False,
            )
    for outcome in progress.rejected[:20]:
        console.print(
            f"  rejected {outcome.record_id} (student {outcome.student_id}): {outcome.reason_code} {outcome.reason}",
            markup=False,
        )


def run(args: argparse.Namespace) -> int:
    console, err = Console(), Console(stderr=True)
    target = resolve_or_report(args, err)
    if isinstance(target, int):
        return target
    try:
        control = SyncControl(target)
    except RuntimeError as exc:
        err.print(str(exc), style="red", markup=False)
        return 1
    try:
        if args.sync_command == "start":
            return _start(control, args, console)
        if args.sync_command == "status":
            return _status(control, args, console)
        if args.sync_command == "dlq":
            return _dlq(control, args, console)
        if args.sync_command == "redrive":
            return _redrive(control, args, console)
    except InvalidSyncRequest as exc:
        err.print(f"refused: {exc}", style="red", markup=False)
        return 2
    err.print("usage: luca sync {start,status,dlq,redrive} --help", markup=False)
    return 2


@contextlib.contextmanager
def _traced(control: SyncControl, name: str, correlation: str) -> Iterator[None]:
    """The command as the root span of the sync it starts: the execution continues its trace
    (``traceHeader``), so the start, every task and every ministry call are one trace. Locally the
    span is written to the platform's trace file (``luca trace`` shows it); on a stage it is not
    exported, but its ids still reach the execution, so X-Ray shows the sync as one trace."""
    file = control.target.traces_file
    provider = configure_tracing(service="cli", exporter="file" if file else "none", file_path=file)
    try:
        with continued_span(
            trace.get_tracer("luca.cli"),
            name,
            trace_header=None,
            correlation_id=correlation,
            kind=SpanKind.CLIENT,
        ):
            yield
    finally:
        provider.force_flush()


def _start(control: SyncControl, args: argparse.Namespace, console: Console) -> int:
    schools = args.schools or control.schools()
    if not schools:
        console.print("no schools to sync: name them with --school", markup=False)
        return 2
    correlation = _request(args, console)
    with _traced(control, "luca sync start", correlation):
        started = control.operations.start(args.period, schools, args.by, correlation)
    for run_ in started:
        verb = "started" if run_.started else f"already exists ({run_.status}), not started again"
        console.print(f"{run_.key.school_id} {run_.key.period}: {run_.execution_name} {verb}", markup=False)
    if args.no_wait:
        return 0
    statuses = watch(control, [(s.key, s.execution_name) for s in started], console)
    return 0 if all(status == "SUCCEEDED" for status in statuses.values()) else 1


def _status(control: SyncControl, args: argparse.Namespace, console: Console) -> int:
    key = SyncKey(args.school, args.period)
    if args.watch:
        watch(control, [(key, key.execution_name())], console)
    progress = control.progress(key.school_id, key.period)
    if progress is None:
        console.print(f"no sync of {key.school_id} for {key.period} yet", markup=False)
        return 1
    if args.json:
        console.print(
            json.dumps(control.operations.report(progress), indent=2),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    else:
        print_progress(progress, console)
    return 0


def _dlq(control: SyncControl, args: argparse.Namespace, console: Console) -> int:
    letters = control.dead_letters()
    for letter in letters:
        ref, error = letter.ref, letter.error
        line = {
            "message_id": letter.message_id,
            "school_id": ref.school_id,
            "period": ref.period,
            "sync_id": ref.sync_id,
            "batch": ref.number,
            "records": ref.records,
            "client_batch_id": ref.client_batch_id,
            "error": error.get("Error", ""),
        }
        # One line per batch, never wrapped: a JSON line must stay one line for the tools reading it.
        text = json.dumps(line) if args.json else "  ".join(f"{k}={v}" for k, v in line.items())
        console.print(text, markup=False, highlight=False, soft_wrap=True)
    if not args.json:
        console.print(f"{len(letters)} batches in the DLQ", markup=False)
    return 0


def _redrive(control: SyncControl, args: argparse.Namespace, console: Console) -> int:
    letters = control.dead_letters()
    if not letters:
        console.print("the DLQ is empty", markup=False)
        return 0
    # Started (or found already started), then removed: a batch that fails again is dead-lettered
    # again, with a new message.
    correlation = _request(args, console)
    with _traced(control, "luca sync redrive", correlation):
        redriven = control.operations.redrive_dead_letters(letters, args.by, correlation)
    started = redriven.started
    console.print(
        f"redriving {len(letters)} batches in {len(started)} executions; "
        f"{redriven.removed} DLQ messages removed",
        markup=False,
    )
    if args.no_wait:
        return 0
    statuses = watch(control, [(s.key, s.execution_name) for s in started], console)
    return 0 if all(status == "SUCCEEDED" for status in statuses.values()) else 1
