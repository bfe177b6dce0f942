"""``luca token --school S --role R``: a demo user's ID token from the running platform.

Signs the user in against the emulator's user pool and prints only the token, so
``TOKEN=$(luca token ...)`` works.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from luca_infra.cli.running import running_state
from luca_infra.local.demo import DEMO_PASSWORD, DEMO_ROLES, id_token
from luca_infra.local.platform_config import DEFAULT_STATE_DIR


def add_parser(commands: Any) -> None:
    token = commands.add_parser("token", help="print a demo user's ID token from the running platform")
    token.add_argument("--school", required=True, help="e.g. demo-school-a")
    token.add_argument("--role", required=True, choices=DEMO_ROLES)
    token.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)


def run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    err = Console(stderr=True)
    state = running_state(args.state_dir, err)
    if state is None:
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
