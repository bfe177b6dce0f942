"""``luca``: run the local platform in the foreground, and work with a running one.

    luca up [--port 8000] [--rest-port 8080] [--grpc-port 50051] [--emulator-port 4566]
            [--processor-concurrency 1] [--retry-delay 2]
    luca token --school demo-school-a --role teacher
    luca events show --school demo-school-a [--student st-a-001] [--event-id ID] [--wait 15]
    luca dlq list
    luca dlq redrive (--all | --message-id ID [--message-id ID ...])
    luca lake show [--school demo-school-a] [--json]

``up`` logs JSON lines, prints a human-readable banner when ready and stops cleanly on Ctrl-C or
SIGTERM. The other commands find the running platform through ``.luca/platform.json``. ``token``
signs a demo user in against the emulator and prints only the ID token (so ``TOKEN=$(luca token
...)`` works). ``events show`` lists the exercise results the grade processor stored for a school
(read from the table with the operator's credentials). ``dlq list`` shows each dead-lettered
event with its school, event id, receive count and why it fails, found by running it through the
processor's dry run; the messages stay in the DLQ. ``dlq redrive`` moves messages back to the
events queue with their body and attributes, deleting each from the DLQ only once it was sent.
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
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import Progress
from rich.table import Table

from luca_infra import lake_cli, sync_cli
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.demo import (
    DEMO_PASSWORD,
    DEMO_ROLES,
    DEMO_TERM,
    SCHOOL_A,
    DemoSchool,
    example_evaluation,
    id_token,
)
from luca_infra.local.emulator import DEFAULT_PORT as DEFAULT_EMULATOR_PORT
from luca_infra.local.emulator import EmulatorError, PortInUseError, ensure_dummy_credentials
from luca_infra.local.govsync import GovSyncConfig
from luca_infra.local.platform import (
    DEFAULT_GATEWAY_PORT,
    DEFAULT_GOVSYNC_GRPC_PORT,
    DEFAULT_STATE_DIR,
    LocalPlatform,
    PlatformConfig,
    PlatformState,
)
from luca_infra.local.scheduler import ScheduleError, trigger_for

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# How long ``dlq`` commands hold the messages they read before they are visible again (if the
# command dies before it releases them itself).
DLQ_HOLD_SECONDS = 30
SQS_BATCH = 10


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "up":
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
        return _up(args)
    if args.command == "token":
        return _token(args)
    if args.command == "events" and args.events_command == "show":
        return _events_show(args)
    if args.command == "dlq" and args.dlq_command == "list":
        return _dlq_list(args)
    if args.command == "dlq" and args.dlq_command == "redrive":
        return _dlq_redrive(args)
    if args.command == "sync":
        return sync_cli.run(args)
    if args.command == "lake":
        return lake_cli.run(args)
    parser.print_help()
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luca", description="The Luca platform on this machine.")
    commands = parser.add_subparsers(dest="command")

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
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="local state (default %(default)s)"
    )
    up.add_argument("--log-level", default="INFO", help="log level (default %(default)s)")
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
        default=DEFAULT_GOVSYNC_GRPC_PORT,
        help="the government sync's gRPC API (default %(default)s)",
    )

    token = commands.add_parser("token", help="print a demo user's ID token from the running platform")
    token.add_argument("--school", required=True, help="e.g. demo-school-a")
    token.add_argument("--role", required=True, choices=DEMO_ROLES)
    token.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)

    events = commands.add_parser("events", help="students' events the grade processor stored")
    event_commands = events.add_subparsers(dest="events_command")
    show = event_commands.add_parser("show", help="list a school's stored exercise results")
    show.add_argument("--school", required=True, help="e.g. demo-school-a")
    show.add_argument("--student", help="only this student's results")
    show.add_argument("--event-id", help="only this event")
    show.add_argument(
        "--wait", type=float, default=0.0, help="wait up to this many seconds for a result to appear"
    )
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    show.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)

    dlq = commands.add_parser("dlq", help="the events' dead-letter queue")
    dlq_commands = dlq.add_subparsers(dest="dlq_command")
    listing = dlq_commands.add_parser("list", help="why each dead-lettered event fails (nothing is removed)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    redrive = dlq_commands.add_parser("redrive", help="move dead-lettered events back to the events queue")
    which = redrive.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every message in the DLQ")
    which.add_argument("--message-id", action="append", dest="message_ids", help="this message (repeatable)")
    redrive.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    sync_cli.add_parser(commands)
    lake_cli.add_parser(commands)
    return parser


# -- luca up ------------------------------------------------------------------------------------------
def _up(args: argparse.Namespace) -> int:
    from luca_platform.telemetry.logs import configure_logging

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
    except (EmulatorError, PortInUseError) as exc:
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
    endpoints.add_row("traces", state.traces_file)
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


# -- luca token -----------------------------------------------------------------------------------------
def _token(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    err = Console(stderr=True)
    ensure_dummy_credentials()
    try:
        state = PlatformState.read(args.state_dir)
    except FileNotFoundError as exc:
        err.print(str(exc), style="red", markup=False)
        return 1
    username = state.users.get(args.school, {}).get(args.role)
    if username is None:
        known = ", ".join(state.users)
        err.print(
            f"no demo {args.role} for school {args.school!r}; schools: {known}", style="red", markup=False
        )
        return 1
    cognito = boto3.client("cognito-idp", region_name=state.region, endpoint_url=state.emulator_url)
    try:
        token = id_token(cognito, state.user_pool_id, state.user_pool_client_id, username, DEMO_PASSWORD)
    except (BotoCoreError, ClientError) as exc:
        err.print(f"could not sign in {username} at {state.emulator_url}: {exc}", style="red", markup=False)
        return 1
    print(token)
    return 0


# -- luca events show --------------------------------------------------------------------------------------
def _running_state(state_dir: Path, err: Console) -> PlatformState | None:
    ensure_dummy_credentials()
    try:
        return PlatformState.read(state_dir)
    except FileNotFoundError as exc:
        err.print(str(exc), style="red", markup=False)
        return None


def stored_results(
    dynamodb: Any, table: str, school_id: str, *, student_id: str | None = None, event_id: str | None = None
) -> list[dict[str, Any]]:
    """The ExerciseResult items of ``school_id`` (one student's partition when ``student_id`` is given)."""
    from luca_platform.contracts.exercise_results import EXERCISE_SK_PREFIX
    from luca_platform.contracts.roster import student_pk
    from luca_platform.table import keys
    from luca_platform.table.codec import from_wire

    if student_id is not None:
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :sk)",
            "ExpressionAttributeValues": {
                ":pk": {"S": student_pk(school_id, student_id)},
                ":sk": {"S": EXERCISE_SK_PREFIX},
            },
        }
        call = dynamodb.query
    else:  # an operator's look across the school's students: a scan, fine for a local table
        request = {
            "TableName": table,
            "FilterExpression": "begins_with(#pk, :pk) AND begins_with(#sk, :sk)",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.school_prefix(school_id)},
                ":sk": {"S": EXERCISE_SK_PREFIX},
            },
        }
        call = dynamodb.scan
    request["ExpressionAttributeNames"] = {"#pk": keys.TABLE_PARTITION_KEY, "#sk": keys.TABLE_SORT_KEY}
    items: list[dict[str, Any]] = []
    while True:
        page = call(**request)
        items.extend(from_wire(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    if event_id is not None:
        items = [item for item in items if item.get("event_id") == event_id]
    return sorted(items, key=lambda item: (str(item.get("graded_at", "")), str(item.get("event_id", ""))))


def _events_show(args: argparse.Namespace) -> int:
    import boto3

    out, err = Console(), Console(stderr=True)
    state = _running_state(args.state_dir, err)
    if state is None:
        return 1
    dynamodb = boto3.client("dynamodb", region_name=state.region, endpoint_url=state.emulator_url)
    deadline = time.monotonic() + max(0.0, args.wait)
    while True:
        results = stored_results(
            dynamodb, state.table_name, args.school, student_id=args.student, event_id=args.event_id
        )
        if results or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if args.json:
        for item in results:
            print(json.dumps(item, default=str, ensure_ascii=False))
    elif results:
        table = Table(title=f"exercise results stored for {args.school}")
        columns = ("event_id", "student_id", "subject_id", "exercise_id", "score", "passing", "graded_at")
        for column in columns:
            table.add_column(column)
        for item in results:
            table.add_row(*(str(item.get(column, "")) for column in columns))
        out.print(table)
    if not results:
        err.print(f"no stored exercise results for {args.school} match", style="yellow", markup=False)
        return 1
    return 0


# -- luca dlq ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeadLetter:
    """A dead-lettered event and what the processor's dry run makes of it now."""

    message_id: str
    school_id: str | None
    event_id: str | None
    # SQS's ApproximateReceiveCount before this listing: the receives from the events queue, plus any
    # earlier listings (SQS has no way to look at a message without receiving it).
    receives: int
    status: str  # "failed", or "stored"/"duplicate" when it would now succeed
    reason: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "school_id": self.school_id,
            "event_id": self.event_id,
            "receives": self.receives,
            "status": self.status,
            "reason": self.reason,
            "detail": self.detail,
        }


def hold_messages(
    sqs: SQSClient, queue_url: str, *, hold_seconds: int = DLQ_HOLD_SECONDS, limit: int | None = None
) -> list[dict[str, Any]]:
    """Every message of the queue (or the first ``limit``), each kept invisible for ``hold_seconds``.

    Ends with a one-second long poll that found nothing new (short polls may miss messages).
    """
    held: list[dict[str, Any]] = []
    seen: set[str] = set()
    while limit is None or len(held) < limit:
        wanted = SQS_BATCH if limit is None else min(SQS_BATCH, limit - len(held))
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=wanted,
            WaitTimeSeconds=1,
            VisibilityTimeout=hold_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh: list[dict[str, Any]] = [dict(m) for m in received if m["MessageId"] not in seen]
        if not fresh:
            break
        held.extend(fresh)
        seen.update(str(message["MessageId"]) for message in fresh)
    return held


def release_messages(sqs: SQSClient, queue_url: str, messages: Sequence[Mapping[str, Any]]) -> None:
    """Make held messages visible again at once (they stay where they are)."""
    for start in range(0, len(messages), SQS_BATCH):
        chunk = messages[start : start + SQS_BATCH]
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                for n, message in enumerate(chunk)
            ],
        )


def explain_dead_letters(
    messages: Sequence[Mapping[str, Any]], processor: Any, *, queue_arn: str, region: str
) -> list[DeadLetter]:
    """Run the messages through the processor's dry run (nothing is written): why does each fail?"""
    from luca_infra.local.event_source import lambda_record
    from luca_ingest.entrypoints.handler import incoming

    records = [incoming(lambda_record(m, queue_arn=queue_arn, region=region)) for m in messages]
    outcome = processor.process(records, write=False)
    letters = []
    for message, record in zip(messages, records, strict=True):
        result = outcome.records[record.record_id]
        event_id = result.event_id or _event_id_in(record.body)
        receives = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
        letters.append(
            DeadLetter(
                message_id=record.record_id,
                school_id=record.school_id,
                event_id=event_id,
                receives=max(0, receives - 1),  # this listing's own receive is not counted
                status=str(result.status),
                reason=result.reason,
                detail=result.detail,
            )
        )
    return letters


def _event_id_in(body: str) -> str | None:
    """The event id of a body the processor could not read (a malformed one may still name it)."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    event_id = document.get("event_id") if isinstance(document, dict) else None
    return event_id if isinstance(event_id, str) else None


def _processor_for(state: PlatformState) -> Any:
    from luca_ingest.bootstrap import build
    from luca_ingest.config import IngestSettings

    settings = IngestSettings(
        table_name=state.table_name,
        aws_region=state.region,
        aws_endpoint_url=state.emulator_url,
        tenant_role_arn=state.tenant_role_arn,
    )
    return build(settings).processor


def _sqs(state: PlatformState) -> SQSClient:
    import boto3

    client: SQSClient = boto3.client("sqs", region_name=state.region, endpoint_url=state.emulator_url)
    return client


def _queue_arn(sqs: SQSClient, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _dlq_list(args: argparse.Namespace) -> int:
    out, err = Console(), Console(stderr=True)
    state = _running_state(args.state_dir, err)
    if state is None:
        return 1
    sqs = _sqs(state)
    messages = hold_messages(sqs, state.events_dlq_url)
    try:
        letters = explain_dead_letters(
            messages,
            _processor_for(state),
            queue_arn=_queue_arn(sqs, state.events_queue_url),
            region=state.region,
        )
    finally:
        release_messages(sqs, state.events_dlq_url, messages)
    if args.json:
        for letter in letters:
            print(json.dumps(letter.as_dict(), ensure_ascii=False))
        return 0
    if not letters:
        out.print("the DLQ is empty", highlight=False)
        return 0
    table = Table(title=f"{len(letters)} dead-lettered events (still in the DLQ)")
    for column in ("message id", "school", "event id", "receives*", "why it fails"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        why = (
            f"{letter.reason}: {letter.detail}"
            if letter.status == "failed"
            else f"would succeed now ({letter.status}): redrive it"
        )
        table.add_row(
            letter.message_id, letter.school_id or "-", letter.event_id or "-", str(letter.receives), why
        )
    out.print(table)
    out.print("* SQS counts every receive: earlier `dlq list` runs add one each.", highlight=False)
    return 0


@dataclass
class RedriveResult:
    moved: list[str] = field(default_factory=list)  # DLQ message ids now back on the queue
    failed: list[str] = field(default_factory=list)  # not sent (still in the DLQ)
    missing: list[str] = field(default_factory=list)  # asked for, not in the DLQ

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing


def redrive(
    sqs: SQSClient,
    *,
    dlq_url: str,
    queue_url: str,
    message_ids: Collection[str] | None = None,
    on_progress: Callable[[int], None] = lambda _moved: None,
) -> RedriveResult:
    """Move dead letters (all, or ``message_ids``) back to the queue: body and attributes as they are.

    Each message is deleted from the DLQ only after SendMessageBatch accepted it, so a failure
    leaves it where it was, never lost and never in both queues for good.
    """
    result = RedriveResult()
    wanted = set(message_ids) if message_ids is not None else None
    held: list[dict[str, Any]] = []  # everything received: what is not moved is released at the end
    seen: set[str] = set()
    try:
        while wanted is None or wanted - seen:
            batch = [m for m in hold_messages(sqs, dlq_url, limit=SQS_BATCH) if m["MessageId"] not in seen]
            if not batch:
                break
            held.extend(batch)
            seen.update(message["MessageId"] for message in batch)
            chosen = [m for m in batch if wanted is None or m["MessageId"] in wanted]
            if chosen:
                moved = _move(sqs, chosen, dlq_url=dlq_url, queue_url=queue_url, failed=result.failed)
                result.moved.extend(moved)
                on_progress(len(moved))
    finally:
        moved_ids = set(result.moved)
        release_messages(sqs, dlq_url, [m for m in held if m["MessageId"] not in moved_ids])
    if wanted is not None:
        result.missing = sorted(wanted - seen)
    return result


def _move(
    sqs: SQSClient,
    messages: Sequence[Mapping[str, Any]],
    *,
    dlq_url: str,
    queue_url: str,
    failed: list[str],
) -> list[str]:
    entries: list[Any] = [
        {
            "Id": str(n),
            "MessageBody": message["Body"],
            "MessageAttributes": {
                name: {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
        }
        for n, message in enumerate(messages)
    ]
    sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    accepted = [messages[int(entry["Id"])] for entry in sent.get("Successful", [])]
    failed.extend(messages[int(entry["Id"])]["MessageId"] for entry in sent.get("Failed", []))
    if not accepted:
        return []
    deleted = sqs.delete_message_batch(
        QueueUrl=dlq_url,
        Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(accepted)],
    )
    # A copy that was sent but could not be deleted would be processed twice: harmless (the event id
    # makes the second a duplicate), and reported so the operator knows the DLQ still holds it.
    for entry in deleted.get("Failed", []):
        logging.getLogger("luca.dlq").warning(
            "sent back but not deleted from the DLQ",
            extra={"message_id": accepted[int(entry["Id"])]["MessageId"]},
        )
    return [accepted[int(entry["Id"])]["MessageId"] for entry in deleted.get("Successful", [])]


def _dlq_redrive(args: argparse.Namespace) -> int:
    out, err = Console(), Console(stderr=True)
    state = _running_state(args.state_dir, err)
    if state is None:
        return 1
    sqs = _sqs(state)
    if args.all:
        depth = sqs.get_queue_attributes(
            QueueUrl=state.events_dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        total = int(depth.get("ApproximateNumberOfMessages", "0"))
    else:
        total = len(set(args.message_ids))
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("redriving", total=total or None)
        result = redrive(
            sqs,
            dlq_url=state.events_dlq_url,
            queue_url=state.events_queue_url,
            message_ids=None if args.all else args.message_ids,
            on_progress=lambda moved: progress.advance(task, moved),
        )
    out.print(
        f"moved {len(result.moved)} back to the events queue; failed {len(result.failed)}; "
        f"not found {len(result.missing)}",
        highlight=False,
    )
    for message_id in result.missing:
        err.print(f"not in the DLQ: {message_id}", style="yellow", markup=False)
    for message_id in result.failed:
        err.print(f"not sent (still in the DLQ): {message_id}", style="red", markup=False)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
