"""``luca lake show [--school S] [--json]``: the lake's partitions, files and sizes.

Against the local platform, or a deployed stage with ``--stage NAME``: lists the objects under the
lake's prefix in its S3 bucket, grouped by partition (school, year, month), with totals. The listing
is what Athena's partition projection and the query service would find; nothing is read from the
files. Locally, below it, the pipeline's own figures since the platform started, summed from the
EMF lines it publishes at every flush (``lake_metrics_file``; a stage's are in CloudWatch): records
in, rows out, records skipped by reason, and the freshness (change → queryable) of the latest flush and the worst one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from luca_analytics.definition import (
    BYTES_METRIC,
    FILES_METRIC,
    FRESHNESS_METRIC,
    FRESHNESS_P50_METRIC,
    LAKE_PREFIX,
    RECORDS_IN_METRIC,
    ROWS_OUT_METRIC,
    SKIPPED_METRIC,
)
from luca_infra.cli.stage import TargetUnavailable, add_target_arguments, resolve
from luca_infra.local.lake import PartitionFiles, lake_partitions


def add_parser(commands: Any) -> None:
    lake = commands.add_parser("lake", help="the analytics lake: its partitions, files and sizes")
    lake_commands = lake.add_subparsers(dest="lake_command")
    show = lake_commands.add_parser("show", help="partitions, files and sizes (from the object listing)")
    show.add_argument("--school", help="only this school's partitions")
    show.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    add_target_arguments(show)


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console()
    if args.lake_command != "show":
        console.print("usage: luca lake show [--school S] [--json]")
        return 2
    try:
        target = resolve(args)
    except TargetUnavailable as exc:
        console.print(str(exc), style="red", markup=False)
        return exc.exit_code
    bucket = target.resources.lake_bucket
    if not bucket:
        console.print(f"[red]stage {target.stage} runs no lake (locally: restart `luca up`)[/red]")
        return 1
    partitions = lake_partitions(target.client("s3"), bucket, args.school)
    pipeline = pipeline_figures(Path(target.lake_metrics_file)) if target.lake_metrics_file else {}
    if args.json:
        console.print_json(json.dumps({**_document(bucket, partitions), "pipeline": pipeline}))
    else:
        console.print(_table(bucket, args.school, partitions))
        if pipeline:
            console.print(_pipeline_line(pipeline), highlight=False, soft_wrap=True)
    return 0


def pipeline_figures(path: Path) -> dict[str, Any]:
    """The pipeline's totals since start, from its EMF lines (an unreadable line is passed over)."""
    totals = {"records_in": 0.0, "rows_out": 0.0, "files_written": 0.0, "bytes_written": 0.0, "flushes": 0}
    skipped: dict[str, float] = {}
    freshness: dict[str, float] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    for line in lines:
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if not isinstance(document, dict):
            continue
        if SKIPPED_METRIC in document:
            reason = str(document.get("reason", "unknown"))
            skipped[reason] = skipped.get(reason, 0.0) + _value(document[SKIPPED_METRIC])
            continue
        if RECORDS_IN_METRIC not in document:
            continue
        totals["flushes"] += 1
        for name, metric in (
            ("records_in", RECORDS_IN_METRIC),
            ("rows_out", ROWS_OUT_METRIC),
            ("files_written", FILES_METRIC),
            ("bytes_written", BYTES_METRIC),
        ):
            totals[name] += _value(document.get(metric, 0))
        if FRESHNESS_METRIC in document:
            worst = _value(document[FRESHNESS_METRIC])
            freshness["latest_max_seconds"] = worst
            freshness["latest_p50_seconds"] = _value(document.get(FRESHNESS_P50_METRIC, worst))
            freshness["worst_seconds"] = max(freshness.get("worst_seconds", 0.0), worst)
    return {
        **{name: int(value) for name, value in totals.items()},
        "skipped": {reason: int(count) for reason, count in sorted(skipped.items())},
        "freshness": freshness,
    }


def _value(raw: Any) -> float:
    """An EMF metric value: a number, or a list of them (summed)."""
    if isinstance(raw, list):
        return float(sum(float(v) for v in raw))
    try:
        return float(raw)
    except (TypeError, ValueError):
        return 0.0


def _pipeline_line(figures: dict[str, Any]) -> str:
    skipped = ", ".join(f"{reason} {count}" for reason, count in figures["skipped"].items()) or "none"
    line = (
        f"pipeline since start: {figures['records_in']} records in, {figures['rows_out']} rows out, "
        f"skipped: {skipped}; {figures['files_written']} files in {figures['flushes']} flushes"
    )
    freshness = figures["freshness"]
    if freshness:
        line += (
            f"; freshness (change -> queryable) latest flush p50 {freshness['latest_p50_seconds']:.1f} s, "
            f"max {freshness['latest_max_seconds']:.1f} s; worst {freshness['worst_seconds']:.1f} s"
        )
    return line


def _document(bucket: str, partitions: list[PartitionFiles]) -> dict[str, Any]:
    return {
        "location": f"s3://{bucket}/{LAKE_PREFIX}/",
        "partitions": [
            {
                "school_id": p.school_id,
                "year": p.year,
                "month": p.month,
                "files": p.files,
                "bytes": p.bytes,
                "last_modified": p.last_modified.isoformat() if p.last_modified else None,
            }
            for p in partitions
        ],
        "totals": {
            "schools": len({p.school_id for p in partitions}),
            "partitions": len(partitions),
            "files": sum(p.files for p in partitions),
            "bytes": sum(p.bytes for p in partitions),
        },
    }


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _table(bucket: str, school: str | None, partitions: list[PartitionFiles]) -> Table:
    title = f"s3://{bucket}/{LAKE_PREFIX}/" + (f"school_id={school}/" if school else "")
    table = Table(title=title, show_footer=True)
    files = sum(p.files for p in partitions)
    size = sum(p.bytes for p in partitions)
    schools = len({p.school_id for p in partitions})
    table.add_column("school_id", footer=f"{schools} schools", no_wrap=True)
    table.add_column("year")
    table.add_column("month", footer=f"{len(partitions)} partitions", no_wrap=True)
    table.add_column("files", justify="right", footer=str(files))
    table.add_column("size", justify="right", footer=_size(size))
    table.add_column("mean file", justify="right", footer=_size(size // files) if files else "-")
    table.add_column("newest file (UTC)", no_wrap=True)
    for p in partitions:
        table.add_row(
            p.school_id,
            f"{p.year:04d}",
            f"{p.month:02d}",
            str(p.files),
            _size(p.bytes),
            _size(p.bytes // p.files),
            p.last_modified.strftime("%Y-%m-%d %H:%M:%S") if p.last_modified else "-",
        )
    if not partitions:
        table.caption = "the lake is empty: nothing has been recorded (or flushed) yet"
    return table
