"""Run the ministry simulator in the foreground: ``python -m luca_govsync.simulator --port 8099 --error-rate 0.3``.

Every fault of ``FaultPlan`` has a flag; the plan can be changed later with ``PUT /_sim/faults``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

import uvicorn

from luca_govsync.simulator.app import create_app
from luca_govsync.simulator.faults import ENDPOINTS, GARBAGE_KINDS, FaultPlan, InvalidFaultPlan
from luca_govsync.simulator.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimulatedMinistry


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m luca_govsync.simulator", description=__doc__)
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, default=8099)
    cli.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    cli.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    cli.add_argument("--log-level", default="info")
    faults = cli.add_argument_group("faults (see FaultPlan)")
    faults.add_argument("--seed", type=int)
    faults.add_argument("--endpoints", type=_names, help=f"comma-separated, of {','.join(ENDPOINTS)}")
    faults.add_argument("--latency", dest="latency_seconds", type=float)
    faults.add_argument("--jitter", dest="jitter_seconds", type=float)
    faults.add_argument("--error-rate", type=float)
    faults.add_argument("--error-html-share", type=float)
    faults.add_argument("--timeout-before-rate", type=float)
    faults.add_argument("--timeout-after-rate", type=float)
    faults.add_argument("--hang", dest="hang_seconds", type=float)
    faults.add_argument("--throttle-next", type=int)
    faults.add_argument("--throttle-rate", type=float)
    faults.add_argument("--throttle-burst", type=int)
    faults.add_argument("--retry-after", dest="retry_after_seconds", type=int)
    faults.add_argument("--retry-after-as-date", action="store_true", default=None)
    faults.add_argument("--outage-seconds", type=float, help="an outage from start-up for this long")
    faults.add_argument("--outage-start", help="ISO 8601 date-time with offset")
    faults.add_argument("--outage-end", help="ISO 8601 date-time with offset")
    faults.add_argument("--garbage-rate", type=float)
    faults.add_argument("--garbage-kinds", type=_names, help=f"comma-separated, of {','.join(GARBAGE_KINDS)}")
    faults.add_argument(
        "--garbage-not-processed",
        dest="garbage_processed",
        action="store_false",
        default=None,
        help="a garbage answer means the batch was not recorded",
    )
    faults.add_argument("--token-ttl", dest="token_ttl_seconds", type=int)
    faults.add_argument("--unknown-students", type=_names)
    faults.add_argument("--reject-rate", type=float)
    faults.add_argument("--forbidden-schools", type=_names)
    return cli


def plan_from(arguments: argparse.Namespace) -> FaultPlan:
    skip = {"host", "port", "client_id", "client_secret", "log_level"}
    given: dict[str, Any] = {
        name: value for name, value in vars(arguments).items() if name not in skip and value is not None
    }
    return FaultPlan.from_json(given)


def main(argv: Sequence[str] | None = None) -> None:
    cli = parser()
    arguments = cli.parse_args(argv)
    try:
        plan = plan_from(arguments)
    except InvalidFaultPlan as exc:
        cli.error(str(exc))
    logging.basicConfig(level=arguments.log_level.upper())
    ministry = SimulatedMinistry(plan, clients={arguments.client_id: arguments.client_secret})
    uvicorn.run(create_app(ministry), host=arguments.host, port=arguments.port, log_level=arguments.log_level)


if __name__ == "__main__":
    main()
