"""``luca events show``: the exercise results the grade processor stored for a school.

Read from the table: on a stage as the school (the tenant role, one student's partition), locally
with the emulator's credentials (one student's partition, or a scan across the school), optionally
waiting for a result to appear. Against the local platform, or a
deployed stage with ``--stage NAME`` (``luca events show --school S --student ST --stage prod``),
where a student is required: a scan there would read every school's items.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from luca_infra.cli.stage import NO_SUCH_STAGE, add_target_arguments, resolve_or_report


def add_parser(commands: Any) -> None:
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
    add_target_arguments(show)


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


def show_command(args: argparse.Namespace) -> int:
    out, err = Console(), Console(stderr=True)
    if args.stage and not args.student:
        # The school-wide look is a scan of the whole table: every school's items, read and billed.
        err.print(
            "on a deployed stage, name the student (--student ID): a school-wide look would scan "
            "every school's items",
            style="red",
            markup=False,
        )
        return NO_SUCH_STAGE
    target = resolve_or_report(args, err)
    if isinstance(target, int):
        return target
    if args.stage:
        # On a stage the read is the school's own: the tenant role, tagged with the school, so IAM
        # holds it to that school's partitions whatever the command is asked.
        from luca_platform.aws import AwsClients

        dynamodb = AwsClients(
            region=target.region, tenant_role_arn=target.resources.tenant_role_arn
        ).dynamodb_for(args.school)
    else:
        dynamodb = target.client("dynamodb")
    deadline = time.monotonic() + max(0.0, args.wait)
    while True:
        results = stored_results(
            dynamodb,
            target.resources.table_name,
            args.school,
            student_id=args.student,
            event_id=args.event_id,
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
