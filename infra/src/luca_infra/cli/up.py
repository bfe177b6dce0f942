"""``luca up``: run the local platform in the foreground, and the banner it prints when ready.

Logs JSON lines, prints a human-readable banner with copy-paste examples (the ``*_flow``
functions, which the end-to-end tests run as printed) and stops cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.demo import (
    DEMO_PASSWORD,
    DEMO_ROLES,
    DEMO_TERM,
    SCHOOL_A,
    DemoSchool,
    example_evaluation,
)
from luca_infra.local.durable_state import DEFAULT_INTERVAL_SECONDS, SnapshotError
from luca_infra.local.emulator import DEFAULT_PORT as DEFAULT_EMULATOR_PORT
from luca_infra.local.emulator import EmulatorError, PortInUseError
from luca_infra.local.govsync import GovSyncConfig
from luca_infra.local.platform import (
    DEFAULT_GATEWAY_PORT,
    DEFAULT_STATE_DIR,
    LocalPlatform,
    PlatformConfig,
    PlatformState,
)
from luca_infra.local.scheduler import ScheduleError, trigger_for


def add_parser(commands: Any) -> None:
    up = commands.add_parser("up", help="run the local platform in the foreground (Ctrl-C stops it)")
    up.add_argument(
        "--port", type=int, default=DEFAULT_GATEWAY_PORT, help="gateway port (default %(default)s)"
    )
    up.add_argument(
        "--rest-port",
        type=int,
        default=PLATFORM_DEFINITION.grading.rest_port,
        help="grading REST port, behind the gateway (default %(default)s)",
    )
    up.add_argument(
        "--grpc-port",
        type=int,
        default=PLATFORM_DEFINITION.grading.grpc_port,
        help="grading gRPC port (default %(default)s)",
    )
    up.add_argument(
        "--emulator-port",
        type=int,
        default=DEFAULT_EMULATOR_PORT,
        help="AWS emulator port (default %(default)s)",
    )
    up.add_argument(
        "--analytics-rest-port",
        type=int,
        default=PLATFORM_DEFINITION.analytics_api.rest_port,
        help="analytics REST port, behind the gateway (default %(default)s)",
    )
    up.add_argument(
        "--analytics-grpc-port",
        type=int,
        default=PLATFORM_DEFINITION.analytics_api.grpc_port,
        help="analytics gRPC port (default %(default)s)",
    )
    up.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="local state (default %(default)s)"
    )
    up.add_argument("--log-level", default="INFO", help="log level (default %(default)s)")
    up.add_argument(
        "--fresh",
        action="store_true",
        help="start empty: discard the state the state directory holds (by default `luca up` resumes "
        "the table, users, queues, lake files and sync outcomes of the last run)",
    )
    up.add_argument(
        "--snapshot-interval",
        type=float,
        default=DEFAULT_INTERVAL_SECONDS,
        help="seconds between snapshots of the local state while running; a hard kill loses at most "
        "this much (0: only at a clean stop; default %(default)s)",
    )
    up.add_argument(
        "--processor-concurrency",
        type=int,
        default=1,
        help="pollers of the grade processor's event-source mapping, 1 to "
        f"{PLATFORM_DEFINITION.ingest.max_concurrency} (default %(default)s)",
    )
    up.add_argument(
        "--retry-delay",
        type=int,
        default=2,
        help="seconds before a failed event is retried (Lambda waits for the queue's visibility "
        f"timeout, {PLATFORM_DEFINITION.ingest.visibility_timeout_seconds} s; default %(default)s)",
    )

    up.add_argument(
        "--sync-schedule",
        default=PLATFORM_DEFINITION.govsync.schedule_expression,
        help="when the government sync runs by itself: an EventBridge expression (rate(...) or "
        "cron(...)), or off (default: the deployed one, %(default)s)",
    )
    up.add_argument(
        "--sync-retry-interval",
        type=int,
        default=None,
        help="seconds before the first retry of a batch the ministry failed "
        f"(default: the deployed {PLATFORM_DEFINITION.govsync.retry.interval_seconds})",
    )
    up.add_argument(
        "--sync-grpc-port",
        type=int,
        default=PLATFORM_DEFINITION.govsync_api.grpc_port,
        help="the government sync's gRPC API (default %(default)s)",
    )


def check_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Refuse settings the deployed platform could not have (``parser.error`` exits)."""
    if args.sync_schedule != "off":
        try:
            trigger_for(args.sync_schedule)
        except ScheduleError as exc:
            parser.error(f"--sync-schedule: {exc}")
    if args.sync_retry_interval is not None and args.sync_retry_interval < 1:
        parser.error("--sync-retry-interval must be at least 1 (Step Functions waits whole seconds)")
    most = PLATFORM_DEFINITION.ingest.max_concurrency
    if not 1 <= args.processor_concurrency <= most:
        parser.error(f"--processor-concurrency must be 1 to {most} (the deployed mapping's limit)")
    if not 0 <= args.retry_delay <= PLATFORM_DEFINITION.ingest.visibility_timeout_seconds:
        parser.error("--retry-delay must be 0 to the queue's visibility timeout")
    if args.snapshot_interval < 0:
        parser.error("--snapshot-interval must be 0 or more")


def run(args: argparse.Namespace) -> int:
    from luca_platform.telemetry.logs import configure_logging

    args.state_dir.mkdir(parents=True, exist_ok=True)
    # The platform also appends these lines to the state directory's log file (`luca trace` reads it).
    configure_logging("luca-local", args.log_level)
    for chatty in ("httpx", "httpcore"):
        # One line per upstream call would double the gateway's access log.
        logging.getLogger(chatty).setLevel(logging.WARNING)
    console = Console()
    config = PlatformConfig(
        gateway_port=args.port,
        rest_port=args.rest_port,
        grpc_port=args.grpc_port,
        emulator_port=args.emulator_port,
        state_dir=args.state_dir,
        log_level=args.log_level,
        processor_concurrency=args.processor_concurrency,
        processor_retry_delay_seconds=args.retry_delay,
        govsync_grpc_port=args.sync_grpc_port,
        analytics_rest_port=args.analytics_rest_port,
        analytics_grpc_port=args.analytics_grpc_port,
        fresh=args.fresh,
        snapshot_interval_seconds=args.snapshot_interval,
        govsync=GovSyncConfig(
            retry=None
            if args.sync_retry_interval is None
            else replace(PLATFORM_DEFINITION.govsync.retry, interval_seconds=args.sync_retry_interval),
            schedule_expression="" if args.sync_schedule == "off" else args.sync_schedule,
        ),
    )
    stopping = threading.Event()
    try:
        console.print("[bold]starting the local platform…[/bold]")
        with LocalPlatform(config) as platform:
            _print_banner(console, platform)
            _wait_for_signal(stopping)
            console.print("[bold]stopping…[/bold]")
    except (EmulatorError, PortInUseError, SnapshotError) as exc:
        console.print(f"cannot start: {exc}", style="red", markup=False)
        return 1
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; stopped[/yellow]")
        return 130
    console.print("[green]stopped cleanly[/green]")
    return 0


def _wait_for_signal(stopping: threading.Event) -> None:
    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: stop waiting for a clean shutdown
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stopping.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _luca_command() -> str:
    found = shutil.which("luca")
    return "luca" if found else shlex.quote(sys.argv[0] or "luca")


def example_flow(state: PlatformState, *, command: str = "luca", state_dir: Path = DEFAULT_STATE_DIR) -> str:
    """The copy-paste example the banner prints: a token, a recorded grade, the grade read back."""
    school = SCHOOL_A
    body = json.dumps(example_evaluation(school), ensure_ascii=False)
    state_flag = "" if state_dir == DEFAULT_STATE_DIR else f" --state-dir {shlex.quote(str(state_dir))}"
    return "\n".join(
        [
            f"TOKEN=$({command} token --school {school.school_id} --role teacher{state_flag})",
            f"curl -sS -X POST {state.gateway_url}/v1/evaluations \\",
            '  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\',
            '  -H "Idempotency-Key: grade-$(date +%s)-$RANDOM" \\',
            f"  -d {shlex.quote(body)}",
            f'curl -sS {state.gateway_url}/v1/students/{school.student_user_id}/evaluations -H "Authorization: Bearer $TOKEN"',
        ]
    )


def example_event(school: DemoSchool = SCHOOL_A) -> dict[str, Any]:
    """A valid ``luca.ingest.v1.StudentEvent`` from ``school``'s student user (ids filled by the shell)."""
    return {
        "event_id": "EVENT_ID",
        "student_id": school.student_user_id,
        "course_id": school.course_id,
        "subject_id": next(iter(school.subjects)),
        "occurred_at": "OCCURRED_AT",
        "schema_version": 1,
        "exercise_submission": {
            "exercise_id": "fracciones-1",
            "answers": {
                "items": [
                    {"question_id": "q1", "correct": True},
                    {"question_id": "q2", "correct": True},
                    {"question_id": "q3", "correct": False},
                ]
            },
        },
    }


def event_flow(state: PlatformState, *, command: str = "luca", state_dir: Path = DEFAULT_STATE_DIR) -> str:
    """The banner's second example: a student's app sends an event; it is graded and stored."""
    school = SCHOOL_A
    state_flag = "" if state_dir == DEFAULT_STATE_DIR else f" --state-dir {shlex.quote(str(state_dir))}"
    body = json.dumps(example_event(school), separators=(",", ":"))
    # Close the single-quoted body around the shell's values, so the line pastes as printed.
    body = body.replace('"EVENT_ID"', '"\'"$EVENT_ID"\'"').replace(
        '"OCCURRED_AT"', '"\'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"\'"'
    )
    return "\n".join(
        [
            f"STUDENT_TOKEN=$({command} token --school {school.school_id} --role student{state_flag})",
            "EVENT_ID=evt-$(date +%s)-$RANDOM",
            f"curl -sS -X POST {state.gateway_url}/v1/events \\",
            '  -H "Authorization: Bearer $STUDENT_TOKEN" -H "Content-Type: application/json" \\',
            f"  -d '{body}'",
            f"{command} events show --school {school.school_id} --student {school.student_user_id} "
            f'--event-id "$EVENT_ID" --wait 20{state_flag}',
        ]
    )


def report_flow(state: PlatformState, *, command: str = "luca", state_dir: Path = DEFAULT_STATE_DIR) -> str:
    """The banner's fourth example: a report over the lake through the gateway, and the lake's files."""
    school = SCHOOL_A.school_id
    state_flag = "" if state_dir == DEFAULT_STATE_DIR else f" --state-dir {shlex.quote(str(state_dir))}"
    return "\n".join(
        [
            f"ADMIN_TOKEN=$({command} token --school {school} --role admin{state_flag})",
            f'curl -sS -w "\\n" "{state.gateway_url}/v1/analytics/subject-averages?term_id={DEMO_TERM}" '
            '-H "Authorization: Bearer $ADMIN_TOKEN"',
            f"{command} lake show --school {school}{state_flag}",
        ]
    )


def sync_flow(*, command: str = "luca", state_dir: Path = DEFAULT_STATE_DIR) -> str:
    """The banner's third example: the government sync of the demo term, watched, then its state."""
    state_flag = "" if state_dir == DEFAULT_STATE_DIR else f" --state-dir {shlex.quote(str(state_dir))}"
    school = SCHOOL_A.school_id
    return "\n".join(
        [
            f"{command} sync start --period {DEMO_TERM} --school {school}{state_flag}",
            f"{command} sync status --period {DEMO_TERM} --school {school}{state_flag}",
            f"{command} sync dlq{state_flag}   # batches that failed for good; then: {command} sync redrive{state_flag}",
        ]
    )


def _print_banner(console: Console, platform: LocalPlatform) -> None:
    state = PlatformState.read(platform.config.state_dir)
    endpoints = Table.grid(padding=(0, 2))
    endpoints.add_column(style="bold cyan", no_wrap=True)
    endpoints.add_column(overflow="fold")
    endpoints.add_row("gateway (use this)", state.gateway_url + "/v1/...")
    endpoints.add_row("grading REST", state.grading_rest_url + "/v1/docs  (behind the gateway)")
    endpoints.add_row("grading gRPC", state.grading_grpc_target + "  (ID token in `authorization` metadata)")
    endpoints.add_row("AWS emulator", f"{state.emulator_url}  (export AWS_ENDPOINT_URL={state.emulator_url})")
    endpoints.add_row("JWKS", state.jwks_url)
    endpoints.add_row("user pool, client", f"{state.user_pool_id}, {state.user_pool_client_id}")
    endpoints.add_row("access log", state.access_log)
    endpoints.add_row("metrics (EMF)", state.metrics_file)
    endpoints.add_row("traces, logs", f"{state.traces_file}, {state.logs_file}")
    endpoints.add_row(
        "local state",
        f"{platform.durable_state.path}  ({'resumed' if state.resumed else 'new'}; `luca up --fresh` starts empty)",
    )
    ingest = PLATFORM_DEFINITION.ingest
    endpoints.add_row(
        "grade processor",
        f"{ingest.function_name} <- {ingest.queue_name} (batch {ingest.batch_size}, "
        f"window {ingest.max_batching_window_seconds} s; DLQ after {ingest.max_receive_count} receives)",
    )
    endpoints.add_row("events queue, DLQ", f"{state.events_queue_url}, {state.events_dlq_url}")
    govsync = PLATFORM_DEFINITION.govsync
    endpoints.add_row(
        "government sync",
        f"{state.govsync_state_machine_arn}  (schedule {govsync.schedule_expression} {govsync.schedule_timezone})",
    )
    endpoints.add_row("govsync gRPC", state.govsync_grpc_target + "  (a school admin's ID token)")
    endpoints.add_row(
        "ministry (simulator)", f"{state.ministry_url}  (faults: PUT {state.ministry_url}/_sim/faults)"
    )
    for school, roles in state.users.items():
        endpoints.add_row(school, ", ".join(f"{role}: {roles[role]}" for role in DEMO_ROLES))
    console.print(Panel(endpoints, title="[bold green]Luca local platform is up[/bold green]", expand=False))
    # Outside any box and never hard-wrapped, so it pastes into a shell as printed.
    console.print("[bold]Record a grade and read it back[/bold] (in another terminal):")
    flow = example_flow(state, command=_luca_command(), state_dir=platform.config.state_dir)
    console.print(flow, soft_wrap=True, highlight=False, markup=False)
    console.print("[bold]Send a student's event and see it graded and stored[/bold]:")
    events = event_flow(state, command=_luca_command(), state_dir=platform.config.state_dir)
    console.print(events, soft_wrap=True, highlight=False, markup=False)
    state_flag = (
        ""
        if platform.config.state_dir == DEFAULT_STATE_DIR
        else f" --state-dir {shlex.quote(str(platform.config.state_dir))}"
    )
    console.print(
        f"Events that keep failing end in the DLQ: {_luca_command()} dlq list{state_flag}  "
        f"(then: {_luca_command()} dlq redrive --all{state_flag})",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    console.print("[bold]Send a term's grades to the ministry and watch the sync[/bold]:")
    console.print(
        sync_flow(command=_luca_command(), state_dir=platform.config.state_dir),
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    buffering = platform.config.definition.analytics
    console.print(
        f"[bold]Every change reaches the lake[/bold] (Parquet per school/year/month, within about "
        f"{buffering.buffer_seconds:g} s); a school admin's report over it:"
    )
    console.print(
        report_flow(state, command=_luca_command(), state_dir=platform.config.state_dir),
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    console.print(
        f"Demo users sign in with password {DEMO_PASSWORD}. Ctrl-C stops everything.", highlight=False
    )
