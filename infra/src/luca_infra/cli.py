"""``luca``: run the local platform in the foreground, and fetch demo tokens from a running one.

    luca up [--port 8000] [--rest-port 8080] [--grpc-port 50051] [--emulator-port 4566]
    luca token --school demo-school-a --role teacher

``up`` logs JSON lines, prints a human-readable banner when ready and stops cleanly on Ctrl-C or
SIGTERM. ``token`` signs a demo user in against the running platform's emulator, found through
``.luca/platform.json``, and prints only the ID token (so ``TOKEN=$(luca token ...)`` works).
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
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.demo import DEMO_PASSWORD, DEMO_ROLES, SCHOOL_A, example_evaluation, id_token
from luca_infra.local.emulator import DEFAULT_PORT as DEFAULT_EMULATOR_PORT
from luca_infra.local.emulator import EmulatorError, PortInUseError, ensure_dummy_credentials
from luca_infra.local.platform import (
    DEFAULT_GATEWAY_PORT,
    DEFAULT_STATE_DIR,
    LocalPlatform,
    PlatformConfig,
    PlatformState,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "up":
        return _up(args)
    if args.command == "token":
        return _token(args)
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

    token = commands.add_parser("token", help="print a demo user's ID token from the running platform")
    token.add_argument("--school", required=True, help="e.g. demo-school-a")
    token.add_argument("--role", required=True, choices=DEMO_ROLES)
    token.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    return parser


# -- luca up ------------------------------------------------------------------------------------------
def _up(args: argparse.Namespace) -> int:
    from luca_grading.telemetry.logs import configure_logging

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
    for school, roles in state.users.items():
        endpoints.add_row(school, ", ".join(f"{role}: {roles[role]}" for role in DEMO_ROLES))
    console.print(Panel(endpoints, title="[bold green]Luca local platform is up[/bold green]", expand=False))
    # Outside any box and never hard-wrapped, so it pastes into a shell as printed.
    console.print("[bold]Record a grade and read it back[/bold] (in another terminal):")
    flow = example_flow(state, command=_luca_command(), state_dir=platform.config.state_dir)
    console.print(flow, soft_wrap=True, highlight=False, markup=False)
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


if __name__ == "__main__":
    sys.exit(main())
