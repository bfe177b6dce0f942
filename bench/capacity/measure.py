"""``python -m bench.capacity measure``: run every path on the local platform, metered, and write the
per-operation figures to ``bench/out/capacity-measured.json``.

The platform runs in this process as ``luca up`` composes it (the embedded emulator with the table,
stream and TTL, the lake's stream poller, the government sync on the emulator's Step Functions
engine), with the meter's hooks installed before it starts so every client made afterwards is
metered. The interactive operations run through the grading service's REST app built here over the
platform's table and tenant role (the app in its child process would be out of the hooks' reach);
the burst batch through the grade processor's handler; the sync through the real state machine.
Then, each in a child process of its own: the grading service's CPU per request on one core
(``bench.capacity.cpu``) and the Lambda handlers' cold start (``bench.capacity.coldstart``).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.capacity import grading_app, measure_burst, measure_grading, measure_lake, measure_sync
from bench.capacity.meter import Call, Meter
from bench.capacity.tables import print_operations
from luca_infra.definitions import AVAILABILITY_ZONES, PLATFORM_DEFINITION
from luca_infra.local.platform import LocalPlatform, PlatformConfig
from luca_platform.telemetry.metrics import SCHOOL_DIMENSION, RequestMetrics

OUT = Path(__file__).resolve().parents[1] / "out"
MEASURED = OUT / "capacity-measured.json"
# The edge stack's web ACL (luca_infra.aws.firewall): IP reputation, per-IP rate, body size and three
# managed groups. Counted, not imported: importing the stack's module starts the CDK's node runtime.
WAF_RULES = 6


def summarise(calls: Sequence[Call], per: float) -> dict[str, Any]:
    """Totals of a label's calls divided by its units of work (requests, events, batches, rows)."""
    dynamo = [c for c in calls if c.service == "dynamodb"]
    operations: dict[str, int] = {}
    for call in calls:
        if call.operation == "DescribeExecution":
            continue  # the bench waiting for the sync, not the sync
        operations[f"{call.service}:{call.operation}"] = (
            operations.get(f"{call.service}:{call.operation}", 0) + 1
        )
    reported = [c.reported_units for c in dynamo if c.reported_units is not None]

    def each(value: float) -> float:
        return round(value / per, 4)

    return {
        "units_of_work": per,
        "store_calls": each(len(dynamo)),
        "calls_by_operation": {name: each(count) for name, count in sorted(operations.items())},
        "rru": each(sum(c.rru for c in dynamo)),
        "wru": each(sum(c.wru for c in dynamo)),
        "index_wru": each(sum(c.index_wru for c in dynamo)),
        "bytes_read": each(sum(c.bytes_read for c in dynamo)),
        "bytes_written": each(sum(c.bytes_written for c in dynamo)),
        "items_read": each(sum(c.items_read for c in dynamo)),
        "items_written": each(sum(c.items_written for c in dynamo)),
        "emulator_reported_units": each(sum(reported)) if reported else None,
        "modes": sorted({f"{c.operation}/{c.mode}" for c in dynamo if c.mode}),
        "conditional_failures": each(sum(bool(c.error) for c in dynamo)),
        "s3_requests": each(sum(c.service == "s3" for c in calls)),
        "s3_put_bytes": each(sum(c.payload_bytes for c in calls if c.operation == "PutObject")),
        "sqs_requests": each(sum(c.service == "sqs" for c in calls)),
    }


def child(module: str, *args: str) -> dict[str, Any]:
    """Run a measurement in a fresh interpreter (its own core, its own imports) and read its JSON."""
    result = subprocess.run(
        [sys.executable, "-m", module, "--json", *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"{module} failed:\n{result.stderr[-3000:]}")
    print(result.stderr, end="", file=sys.stderr)
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def measure(*, students: int, history: int, repeat: int, batches: int, cpu_seconds: float) -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    columns = (
        TextColumn("{task.description:<44}"),
        BarColumn(),
        TextColumn("{task.completed:>6.0f}/{task.total}"),
        TimeElapsedColumn(),
    )
    with tempfile.TemporaryDirectory(prefix="luca-capacity-") as scratch:
        platform = LocalPlatform(
            PlatformConfig.ephemeral(Path(scratch), schools=(), log_level="WARNING", access_log_stdout=False)
        )
        meter = Meter(endpoint_url="", region="")
        print("starting the local platform ...", flush=True)
        # Hooked before the platform starts, so the clients it makes (the sync's S3, ...) are metered.
        with meter.install():
            platform.start()
        try:
            res = platform.resources
            meter.endpoint_url, meter.region = res.endpoint_url, res.region
            with meter.install(), Progress(*columns, refresh_per_second=4) as progress:
                built = grading_app.build(
                    region=res.region,
                    table=res.table_name,
                    endpoint=res.endpoint_url,
                    tenant_role=res.tenant_role_arn,
                )
                interactive = measure_grading.run(
                    meter, built, students=students, history=history, repeat=repeat, progress=progress
                )
                burst = measure_burst.run(
                    meter, region=res.region, endpoint=res.endpoint_url, table=res.table_name,
                    batch_role=res.batch_role_arn, students=students, batches=batches, progress=progress,
                )  # fmt: skip
                close_term(built)
                assert platform.govsync is not None
                sync = measure_sync.run(
                    meter,
                    platform.govsync,
                    grades=students * len(grading_app.SUBJECTS) * history,
                    progress=progress,
                )
                lake = measure_lake.run(meter, platform, Path(scratch), progress=progress)
        finally:
            platform.stop()
    grouped = meter.by_label()
    operations: dict[str, Any] = {}
    for label in measure_grading.OPERATIONS:
        operations[label] = {"per": "request", **summarise(grouped.get(label, []), repeat)}
    batch = burst["events_per_batch"]
    operations["student event (in a batch)"] = {
        "per": "event",
        **summarise(grouped[measure_burst.LABEL], batches * batch),
    }
    operations["sync batch"] = {"per": "batch", **summarise(grouped[measure_sync.LABEL], sync["batches"])}
    for name in lake["reports"]:
        operations[name] = {"per": "query", **summarise(grouped.get(name, []), 1)}
    # Nothing of the lake's own path touches the table: its figures are the row's bytes.
    operations["lake record"] = {
        "per": "row", **summarise([], 1), "bytes_written": lake["parquet_bytes_per_row_one_file"],
        "firehose_json_bytes": lake["json_bytes_per_row"],
    }  # fmt: skip
    print("measuring the grading service's CPU per request (one core, in-memory store) ...", flush=True)
    cpu = child("bench.capacity.cpu", "--seconds", str(cpu_seconds))
    print("measuring the Lambda handlers' cold start ...", flush=True)
    cold = child("bench.capacity.coldstart")
    document = {
        "operations": operations,
        "interactive": interactive,
        "burst": burst,
        "sync": sync,
        "lake": lake,
        "grading_cpu": cpu,
        "lambda_cold_start": cold,
        "deployment": deployment(),
    }
    MEASURED.write_text(json.dumps(document, indent=2) + "\n")
    print_operations(document)
    print(f"wrote {MEASURED}")
    return document


def close_term(built: grading_app.Built) -> None:
    """Close the measured term as its admin does: the sync submits only closed terms."""
    from fastapi.testclient import TestClient

    with TestClient(built.app) as client:
        response = client.post(
            f"/v1/terms/{grading_app.TERM}/closure", headers=built.bearer("admin"), json={}
        )
        if response.status_code >= 300:
            raise SystemExit(f"closing the term: {response.status_code} {response.text}")


def deployment() -> dict[str, Any]:
    """What the stacks deploy (memory, task sizes, batch sizes), from the one platform definition."""
    d = PLATFORM_DEFINITION
    return {
        "grading_task_vcpu": d.grading.cpu / 1024,
        "grading_task_memory_gib": d.grading.memory_mib / 1024,
        "grading_min_tasks": d.grading.min_tasks,
        "grading_max_tasks": d.grading.max_tasks,
        "availability_zones": AVAILABILITY_ZONES,
        "grading_target_cpu_percent": d.grading.target_cpu_percent,
        "other_services": {
            "govsync_api": {
                "vcpu": d.govsync_api.cpu / 1024,
                "memory_gib": d.govsync_api.memory_mib / 1024,
                "tasks": d.govsync_api.min_tasks,
            },
            "analytics_api": {
                "vcpu": d.analytics_api.cpu / 1024,
                "memory_gib": d.analytics_api.memory_mib / 1024,
                "tasks": d.analytics_api.min_tasks,
            },
        },
        "processor_memory_mib": d.ingest.memory_mib,
        "processor_batch_size": d.ingest.batch_size,
        "processor_max_concurrency": d.ingest.max_concurrency,
        "govsync_memory_mib": d.govsync.memory_mib,
        "govsync_batch_size": d.govsync.batch_size,
        "enrich_memory_mib": d.analytics_aws.enrich_memory_mib,
        "pipe_batch_size": d.analytics_aws.pipe_batch_size,
        "firehose_buffer_seconds": d.analytics_aws.buffer_interval_seconds,
        "firehose_buffer_mib": d.analytics_aws.buffer_size_mib,
        "lake_noncurrent_days": d.analytics_aws.noncurrent_version_days,
        "per_school_metric_series": per_school_metric_series(),
        "authorizer_memory_mib": d.authorizer.memory_mib,
        "waf_rules": WAF_RULES,
    }


def per_school_metric_series() -> int:
    """Custom metrics (series) each school adds: the grading service's EMF line for one request,
    its metrics under every dimension set that names the school (CloudWatch bills each series)."""
    sink = io.StringIO()
    metrics = RequestMetrics(namespace="m", service="s", sink=sink)
    metrics.record(school_id="school", route="r", latency_ms=1.0, status=200)
    metrics.close()
    (line,) = sink.getvalue().splitlines()
    directives: list[dict[str, Any]] = json.loads(line)["_aws"]["CloudWatchMetrics"]
    return sum(
        len(d["Metrics"]) * sum(SCHOOL_DIMENSION in dims for dims in d["Dimensions"]) for d in directives
    )
