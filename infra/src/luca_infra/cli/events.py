"""``luca events show``: the exercise results the grade processor stored for a school.

Read from the table with the operator's credentials (a scan across the school, or one student's
partition), optionally waiting for a result to appear.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from luca_infra.cli.running import running_state
from luca_infra.local.platform import DEFAULT_STATE_DIR


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
    show.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)


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
    import boto3

    out, err = Console(), Console(stderr=True)
    state = running_state(args.state_dir, err)
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
