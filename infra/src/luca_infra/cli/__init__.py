"""``luca``: run the local platform in the foreground, and work with a running one.

    luca up [--port 8000] [--rest-port 8080] [--grpc-port 50051] [--emulator-port 4566]
            [--processor-concurrency 1] [--retry-delay 2]
    luca token --school demo-school-a --role teacher
    luca events show --school demo-school-a [--student st-a-001] [--event-id ID] [--wait 15]
    luca dlq list
    luca dlq redrive (--all | --message-id ID [--message-id ID ...])
    luca sync start --period 2025-T1 [--school demo-school-a] [--correlation-id ID]
    luca sync status|dlq|redrive ...
    luca lake show [--school demo-school-a] [--json]
    luca trace CORRELATION_ID [--json]
    luca schools create SCHOOL --name N --enrolment N --admin-email E [--tier T]
    luca schools export SCHOOL --out DIR [--student ID]
    luca schools delete SCHOOL --export-manifest PATH [--yes]
    luca schools audit [--school SCHOOL]
    luca up --fresh   (start empty instead of resuming .luca/)

One module per command group, each with its ``add_parser`` and what it runs. Without ``--stage``
a command finds the running local platform through ``.luca/platform.json``; ``dlq``, ``sync``,
``events``, ``lake``, ``trace`` and ``schools`` take ``--stage NAME`` to run against a deployed stage instead
(``cli.stage``: the stage's SSM resources document and the AWS credential chain).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from luca_infra.cli import dlq, events, lake, schools, sync, token, trace, up

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "up":
        up.check_arguments(args, parser)
        return up.run(args)
    if args.command == "token":
        return token.run(args)
    if args.command == "events" and args.events_command == "show":
        return events.show_command(args)
    if args.command == "dlq" and args.dlq_command == "list":
        return dlq.list_command(args)
    if args.command == "dlq" and args.dlq_command == "redrive":
        return dlq.redrive_command(args)
    if args.command == "sync":
        return sync.run(args)
    if args.command == "lake":
        return lake.run(args)
    if args.command == "trace":
        return trace.run(args)
    if args.command == "schools":
        return schools.run(args)
    parser.print_help()
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luca", description="The Luca platform on this machine.")
    commands = parser.add_subparsers(dest="command")
    for group in (
        up,
        token,
        events,
        dlq,
        sync,
        lake,
        trace,
        schools,
    ):  # the order `luca --help` lists them in
        group.add_parser(commands)
    return parser
