"""The grade processor's own CPU per event, with DynamoDB answered in process.

A command, not a test. The handler (``luca_ingest.entrypoints.handler.process``), its composition
root, its store and a real botocore client process SQS-shaped batches of 50 student events; the
client's HTTP is answered in process from a dictionary of items, so the figure is the handler
thread's CPU (decoding, grading, the store's keys and codec, the SDK's serialising, signing and
parsing, the log lines and spans) without an emulator sharing the cores. Batches mix 3 schools, as a
recess with little overlap, and 50, as 2,000 schools in one time zone; the 3-school run is the
baseline the other is divided by, the two interleaved in the same process. No session is assumed
per batch (no roles here); ``docs/capacity.md`` gives that cost apart.

    python -m bench.burst_cpu [--batches 40]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from botocore.awsrequest import AWSResponse

from bench.burst_write_modes import json_answer
from bench.capacity import grading_app
from bench.capacity.measure_burst import event_body
from luca_ingest.bootstrap import IngestApp, build
from luca_ingest.config import IngestSettings
from luca_ingest.entrypoints import handler
from luca_platform.aws import AwsClients
from luca_platform.table import keys
from luca_testing.seed import SchoolSeed

OUT = Path(__file__).resolve().parent / "out"
ENDPOINT = "https://dynamodb.us-east-1.amazonaws.com"
TABLE = "luca-grading"
BATCH = 50
STUDENTS = 20
SCHOOL_COUNTS = (3, 50)


class InProcessTable:
    """Answers the calls the processor makes (PutItem, BatchGetItem, TransactWriteItems)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def _key(self, item: dict[str, Any]) -> tuple[str, str]:
        return item[keys.TABLE_PARTITION_KEY]["S"], item[keys.TABLE_SORT_KEY]["S"]

    def answer(self, request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().rsplit(".", 1)[-1]
        body = json.loads(request.body)
        reply: dict[str, Any] = {}
        if operation == "PutItem":
            self.items[self._key(body["Item"])] = body["Item"]
        elif operation == "TransactWriteItems":
            for action in body["TransactItems"]:
                self.items[self._key(action["Put"]["Item"])] = action["Put"]["Item"]
        elif operation == "BatchGetItem":
            found = {
                table: [self.items[k] for k in map(self._key, spec["Keys"]) if k in self.items]
                for table, spec in body["RequestItems"].items()
            }
            reply = {"Responses": found, "UnprocessedKeys": {}}
        else:
            raise AssertionError(f"the processor made an unexpected call: {operation}")
        return json_answer(request, json.dumps(reply).encode())


def app_for(schools: list[str], table: InProcessTable) -> IngestApp:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")  # any key signs: nothing leaves the process
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    clients = AwsClients(region="us-east-1", endpoint_url=ENDPOINT)
    client = clients.dynamodb_for(schools[0])  # no roles: one shared client for every school
    client.meta.events.register("before-send.dynamodb", cast(Callable[..., None], table.answer))
    for school in schools:
        seed = SchoolSeed(clients, TABLE, school).course(grading_app.COURSE).subject(grading_app.SUBJECTS[0])
        for student in grading_app.students(STUDENTS):
            seed.student(student, grading_app.COURSE)
    settings = IngestSettings(table_name=TABLE, aws_region="us-east-1", aws_endpoint_url=ENDPOINT)
    return build(settings, clients)


def batch(rng: random.Random, schools: list[str], roster: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": uuid.UUID(int=rng.getrandbits(128)).hex,
                "body": json.dumps(event_body(rng, rng.choice(roster))),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {
                    "school_id": {"stringValue": rng.choice(schools), "dataType": "String"}
                },
                "eventSource": "aws:sqs",
            }
            for _ in range(BATCH)
        ]
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--batches", type=int, default=40, help="measured batches a mix (default %(default)s)"
    )
    opts = parser.parse_args()
    rng = random.Random(7)
    roster = grading_app.students(STUDENTS)
    context = SimpleNamespace(aws_request_id="bench", function_name="grade-processor")
    mixes = {}
    for count in SCHOOL_COUNTS:
        schools = [f"school-{count}-{i:03d}" for i in range(count)]
        mixes[count] = (schools, app_for(schools, InProcessTable()))
    samples: dict[int, list[float]] = {count: [] for count in SCHOOL_COUNTS}
    # The handler's log and EMF lines are written (their CPU counts), not onto the terminal.
    with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
        previous = handler.logger.registered_handler.setStream(sink)  # type: ignore[attr-defined]
        try:
            for n in range(opts.batches + 5):  # five warm-up rounds: caches, the service model
                for count, (schools, app) in mixes.items():  # interleaved, so drift hits both alike
                    event = batch(rng, schools, roster)
                    began = time.thread_time()
                    answer = handler.process(event, context, app)  # type: ignore[arg-type]
                    elapsed = time.thread_time() - began
                    if answer["batchItemFailures"]:
                        raise SystemExit(f"the processor failed records: {answer['batchItemFailures'][:3]}")
                    if n >= 5:
                        samples[count].append(elapsed)
        finally:
            handler.logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]
    baseline = statistics.median(samples[SCHOOL_COUNTS[0]])
    report = {
        f"{count} schools a batch": {
            "cpu_ms_per_event": round(1000 * statistics.median(samples[count]) / BATCH, 3),
            "vs_3_schools": round(statistics.median(samples[count]) / baseline, 2),
        }
        for count in SCHOOL_COUNTS
    }
    print(f"grade processor, batches of {BATCH}, DynamoDB answered in process (median of {opts.batches})")
    for name, figures in report.items():
        print(f"  {name:20} {figures['cpu_ms_per_event']:>6} ms CPU an event ({figures['vs_3_schools']}x) "
              "(target < 1 ms)")  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "burst-cpu.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, OUT / "burst-cpu.png")
    print(f"wrote {OUT / 'burst-cpu.json'} and {OUT / 'burst-cpu.png'}")
    return 0


def plot(report: dict[str, dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6, 4))
    axis.bar(
        list(report), [figures["cpu_ms_per_event"] for figures in report.values()], color=["#2a7", "#59c"]
    )
    axis.axhline(1.0, color="#c33", linestyle="--", label="target: 1 ms")
    axis.set_ylabel("handler CPU ms per event")
    axis.set_title(f"Grade processor, batches of {BATCH}, store answered in process")
    axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    raise SystemExit(main())
