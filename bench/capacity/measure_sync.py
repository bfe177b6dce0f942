"""The government path: one school's term synced by the real state machine on the emulator's engine
(its task Lambdas dispatched in this process, the ministry simulator healthy), metered; state
transitions counted from the execution's history as Step Functions bills them."""

from __future__ import annotations

import math
import time
from typing import Any

from rich.progress import Progress

from bench.capacity import grading_app
from bench.capacity.meter import Meter
from bench.capacity.quiet import handler_output_discarded
from luca_govsync.entrypoints import handlers
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.govsync import LocalGovSync
from luca_infra.local.stepfunctions import wait_for_execution

LABEL = "sync of a school's term"


def transitions(sfn: Any, execution_arn: str) -> tuple[int, dict[str, int]]:
    """Billed state transitions: every state entered (a Map iteration's states included) plus every
    retry of a task, which AWS bills as a transition too."""
    kinds: dict[str, int] = {}
    token: str | None = None
    while True:
        page = sfn.get_execution_history(
            executionArn=execution_arn, maxResults=1000, **({"nextToken": token} if token else {})
        )
        for event in page["events"]:
            kinds[event["type"]] = kinds.get(event["type"], 0) + 1
        token = page.get("nextToken")
        if not token:
            break
    entered = sum(count for kind, count in kinds.items() if kind.endswith("StateEntered"))
    retries = max(
        0,
        kinds.get("TaskScheduled", 0)
        + kinds.get("LambdaFunctionScheduled", 0)
        - kinds.get("TaskStateEntered", 0),
    )
    return entered + retries, kinds


def run(meter: Meter, govsync: LocalGovSync, *, grades: int, progress: Progress) -> dict[str, Any]:
    task = progress.add_task("government sync of the school's term", total=1)
    began = time.perf_counter()
    with meter.operation(LABEL), handler_output_discarded(handlers.logger):
        started = govsync.start_sync(grading_app.TERM, [grading_app.SCHOOL], "capacity-bench")
        sfn = govsync.client("stepfunctions")
        described = [wait_for_execution(sfn, s.execution_arn, timeout_seconds=300) for s in started]
    wall = time.perf_counter() - began
    progress.advance(task)
    statuses = [d["status"] for d in described]
    if statuses != ["SUCCEEDED"]:
        raise SystemExit(f"the sync ended {statuses}")
    count, kinds = transitions(sfn, started[0].execution_arn)
    batch_size = PLATFORM_DEFINITION.govsync.batch_size
    batches = math.ceil(grades / batch_size)
    return {
        "grades": grades,
        "batch_size": batch_size,
        "batches": batches,
        "state_transitions": count,
        "history_events": kinds,
        "wall_seconds": round(wall, 2),
    }
