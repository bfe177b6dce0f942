"""The burst path's unit of work: one SQS batch of student events through the grade processor's
handler (``luca_ingest.entrypoints.handler.process``), over the platform's table, metered."""

from __future__ import annotations

import json
import random
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from rich.progress import Progress

from bench.capacity import grading_app
from bench.capacity.meter import Meter
from bench.capacity.quiet import handler_output_discarded
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_ingest.bootstrap import IngestApp, build
from luca_ingest.config import IngestSettings
from luca_ingest.entrypoints import handler
from luca_platform.aws import AwsClients

LABEL = "student event batch"


def event_body(rng: random.Random, student: str) -> dict[str, Any]:
    """A student app's exercise submission, as ``bench.burst`` sends it: answers half the time."""
    submission: dict[str, Any] = {"exercise_id": f"ex-{rng.randint(1, 40)}"}
    if rng.random() < 0.5:
        submission["answers"] = {
            "items": [{"question_id": f"q{i}", "correct": rng.random() < 0.7} for i in range(10)]
        }
    else:
        submission["score"] = f"{rng.randint(10, 70) / 10:.1f}"
    occurred = datetime.now(UTC) - timedelta(seconds=rng.uniform(0, 600))
    return {
        "event_id": f"evt-{uuid.UUID(int=rng.getrandbits(128))}",
        "student_id": student,
        "course_id": grading_app.COURSE,
        "subject_id": grading_app.SUBJECTS[0],
        "occurred_at": occurred.isoformat(),
        "schema_version": 1,
        "exercise_submission": submission,
    }


def sqs_event(bodies: list[dict[str, Any]], school: str) -> dict[str, Any]:
    """What Lambda's SQS event-source mapping hands the function (the gateway's message attributes)."""
    return {
        "Records": [
            {
                "messageId": uuid.uuid4().hex,
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {
                    "school_id": {"stringValue": school, "dataType": "String"},
                    "correlation_id": {"stringValue": uuid.uuid4().hex, "dataType": "String"},
                },
                "eventSource": "aws:sqs",
            }
            for body in bodies
        ]
    }


def run(
    meter: Meter, *, region: str, endpoint: str, table: str, batch_role: str, students: int, batches: int,
    progress: Progress,
) -> dict[str, Any]:  # fmt: skip
    batch_size = PLATFORM_DEFINITION.ingest.batch_size
    settings = IngestSettings(
        table_name=table, aws_region=region, aws_endpoint_url=endpoint, batch_role_arn=batch_role
    )
    app = build(settings, AwsClients(region=region, endpoint_url=endpoint, batch_role_arn=batch_role))
    rng = random.Random(5)
    roster = grading_app.students(students)
    context = SimpleNamespace(aws_request_id="capacity", function_name="grade-processor")
    task = progress.add_task(f"burst: batches of {batch_size} events", total=batches + 1)
    with handler_output_discarded(handler.logger):
        return _measure(app, rng, roster, context, batch_size, batches, meter, progress, task)


def _measure(
    app: IngestApp, rng: random.Random, roster: list[str], context: SimpleNamespace, batch_size: int,
    batches: int,
    meter: Meter, progress: Progress, task: Any,
) -> dict[str, Any]:  # fmt: skip
    durations: list[float] = []
    cpu: list[float] = []
    message_bytes: list[int] = []
    failures = 0
    for n in range(batches + 1):
        bodies = [event_body(rng, rng.choice(roster)) for _ in range(batch_size)]
        message_bytes.extend(len(json.dumps(body).encode()) for body in bodies)
        event = sqs_event(bodies, grading_app.SCHOOL)
        # The first batch warms the rule cache and the school's client: timed, not counted as typical.
        label = LABEL if n else f"{LABEL} (first, cold caches)"
        began, began_cpu = time.perf_counter(), time.thread_time()  # the emulator's threads left out
        with meter.operation(label):
            answer = handler.process(event, context, app)  # type: ignore[arg-type]
        if n:
            durations.append(time.perf_counter() - began)
            cpu.append(time.thread_time() - began_cpu)
        failures += len(answer.get("batchItemFailures", []))
        progress.advance(task)
    tracemalloc.start()
    handler.process(
        sqs_event([event_body(rng, rng.choice(roster)) for _ in range(batch_size)], grading_app.SCHOOL),
        context,  # type: ignore[arg-type]
        app,
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if failures:
        raise SystemExit(f"the grade processor failed {failures} records")
    return {
        "events_per_batch": batch_size,
        "batches": batches,
        "duration_ms_mean": round(1000 * sum(durations) / len(durations), 2),
        "cpu_ms_mean": round(1000 * sum(cpu) / len(cpu), 2),
        "peak_python_heap_mib": round(peak / 2**20, 2),
        "message_bytes_mean": round(sum(message_bytes) / len(message_bytes), 1),
    }
