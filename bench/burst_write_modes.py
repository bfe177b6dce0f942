"""The burst path's three ways to store a batch, side by side: calls, write units and SDK CPU per event.

A command, not a test. For one batch of 50 exercise results (built by the processor's own code, so
the items are the stored ones), it prepares each write mode's requests and sends them through a real
botocore DynamoDB client whose HTTP is answered in process, so the figure is the client's own CPU
(validation, serialisation, signing, parsing), none of it the table's:

- a conditional TransactWriteItems of every result (what the processor does): 1 call, 2 WRU an item;
- a conditional PutItem per result: 50 calls, 1 WRU an item;
- BatchWriteItem of the deterministic keys, 25 items a call (no condition possible): 2 calls, 1 WRU.

The transaction is the baseline the others are divided by, measured in the same process.
docs/decisions/0011-burst-write-path.md weighs these figures with the exactly-once argument.

    python -m bench.burst_write_modes [--rounds 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import botocore.session
from botocore.awsrequest import AWSResponse, HTTPHeaders

from bench.capacity.units import WriteMode, item_size, write_units
from luca_ingest.adapters.contract import decode_event
from luca_ingest.adapters.dynamodb_store import MAX_ACTIONS_PER_WRITE, exercise_result_item
from luca_ingest.domain.events import event_from_contract, grade
from luca_kernel.grading import default_rule
from luca_platform.table.codec import to_wire

OUT = Path(__file__).resolve().parent / "out"
BATCH = 50
MAX_ITEMS_PER_BATCH_WRITE = 25  # BatchWriteItem's limit (the emulator accepts 26: LOCAL-ENGINE.md)
TABLE = "luca-grading"


class _Raw:
    """A urllib3-like body for botocore's response parser."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def json_answer(request: Any, body: bytes = b"{}") -> AWSResponse:
    """DynamoDB's 200 answer to ``request`` with ``body``, made in process."""
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/x-amz-json-1.0"
    return AWSResponse(request.url, 200, headers, _Raw(body))


def client() -> Any:
    """A DynamoDB client whose requests are answered in process with an empty success."""
    session = botocore.session.get_session()
    # Any key signs: no request leaves the process.
    session.set_credentials("bench", "bench")
    dynamodb = session.create_client(
        "dynamodb", region_name="us-east-1", endpoint_url="https://dynamodb.us-east-1.amazonaws.com"
    )

    def answer(request: Any, **_: Any) -> AWSResponse:
        return json_answer(request)

    dynamodb.meta.events.register("before-send.dynamodb", cast(Callable[..., None], answer))
    return dynamodb


def results() -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    items = []
    for n in range(BATCH):
        body = {
            "event_id": f"evt-{n:08d}-burst-write-modes",
            "student_id": f"st-{n:04d}",
            "course_id": "1A",
            "subject_id": "math",
            "occurred_at": now.isoformat(),
            "schema_version": 1,
            "exercise_submission": {"exercise_id": "ex-fractions-3", "score": "6.5"},
        }
        event = event_from_contract(f"school-{n % 50:02d}", decode_event(json.dumps(body)), f"corr-{n}")
        items.append(to_wire(exercise_result_item(grade(event, default_rule(), now))))
    return items


def modes(dynamodb: Any, items: list[dict[str, Any]]) -> dict[str, tuple[Callable[[], int], WriteMode]]:
    condition = {
        "ConditionExpression": "attribute_not_exists(#pk)",
        "ExpressionAttributeNames": {"#pk": "PK"},
    }

    def transaction() -> int:
        calls = 0
        for start in range(0, len(items), MAX_ACTIONS_PER_WRITE):
            chunk = items[start : start + MAX_ACTIONS_PER_WRITE]
            dynamodb.transact_write_items(
                TransactItems=[{"Put": {"TableName": TABLE, "Item": item, **condition}} for item in chunk]
            )
            calls += 1
        return calls

    def put_each() -> int:
        for item in items:
            dynamodb.put_item(TableName=TABLE, Item=item, **condition)
        return len(items)

    def batch_write() -> int:
        calls = 0
        for start in range(0, len(items), MAX_ITEMS_PER_BATCH_WRITE):
            chunk = items[start : start + MAX_ITEMS_PER_BATCH_WRITE]
            dynamodb.batch_write_item(
                RequestItems={TABLE: [{"PutRequest": {"Item": item}} for item in chunk]}
            )
            calls += 1
        return calls

    return {
        "TransactWriteItems, conditional": (transaction, WriteMode.TRANSACTIONAL),
        "PutItem per event, conditional": (put_each, WriteMode.STANDARD),
        "BatchWriteItem, deterministic keys": (batch_write, WriteMode.STANDARD),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=200, help="batches per mode (default %(default)s)")
    opts = parser.parse_args()
    dynamodb, items = client(), results()
    runs = modes(dynamodb, items)
    for write, _ in runs.values():
        write()  # warm: the service model, the signer, the parsers
    samples: dict[str, list[float]] = {name: [] for name in runs}
    calls: dict[str, int] = {}
    for n in range(opts.rounds):
        for name, (write, _) in runs.items():  # interleaved, so drift hits every mode alike
            began = time.process_time()
            calls[name] = write()
            samples[name].append(time.process_time() - began)
        if (n + 1) % 50 == 0 or n + 1 == opts.rounds:
            print(f"\r  {n + 1}/{opts.rounds} batches per mode", end="", flush=True)
    print()
    sizes = [item_size(item) for item in items]
    baseline = statistics.median(samples["TransactWriteItems, conditional"])
    report = {}
    print(f"one batch of {BATCH} results (median item {statistics.median(sizes):.0f} B), client CPU only")
    print(f"{'mode':38} {'calls/event':>11} {'WRU/event':>9} {'CPU ms/event':>12} {'vs txn':>7}")
    for name, (_, mode) in runs.items():
        cpu = statistics.median(samples[name])
        figures = {
            "calls_per_event": round(calls[name] / BATCH, 3),
            "wru_per_event": sum(write_units(size, mode) for size in sizes) / BATCH,
            "cpu_ms_per_event": round(1000 * cpu / BATCH, 4),
            "cpu_vs_transaction": round(cpu / baseline, 2),
        }
        report[name] = figures
        print(
            f"{name:38} {figures['calls_per_event']:>11} {figures['wru_per_event']:>9} "
            f"{figures['cpu_ms_per_event']:>12} {figures['cpu_vs_transaction']:>6}x"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "burst-write-modes.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, OUT / "burst-write-modes.png")
    print(f"wrote {OUT / 'burst-write-modes.json'} and {OUT / 'burst-write-modes.png'}")
    return 0


def plot(report: dict[str, dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report)
    labels = [name.replace(", ", "\n") for name in names]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for axis, key, title in zip(
        axes,
        ("calls_per_event", "wru_per_event", "cpu_ms_per_event"),
        ("write calls per event", "write units per event", "client CPU ms per event"),
        strict=True,
    ):
        axis.bar(labels, [report[name][key] for name in names], color=["#2a7", "#e93", "#59c"])
        axis.set_title(title)
        axis.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"Storing a batch of {BATCH} exercise results, three ways")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    raise SystemExit(main())
