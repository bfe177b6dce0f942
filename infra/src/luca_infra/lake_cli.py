"""``luca lake show [--school S] [--json]``: the lake's partitions, files and sizes.

Against the running local platform (``platform.json``): lists the objects under the lake's prefix in
the emulator's S3, grouped by partition (school, year, month), with totals. The listing is what
Athena's partition projection and the query service would find; nothing is read from the files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from rich.table import Table

from luca_analytics.adapters.lake_schema import LAKE_PREFIX
from luca_infra.local.lake import PartitionFiles, lake_partitions
from luca_infra.local.platform import DEFAULT_STATE_DIR, PlatformState


def add_parser(commands: Any) -> None:
    lake = commands.add_parser("lake", help="the analytics lake: its partitions, files and sizes")
    lake_commands = lake.add_subparsers(dest="lake_command")
    show = lake_commands.add_parser("show", help="partitions, files and sizes (from the object listing)")
    show.add_argument("--school", help="only this school's partitions")
    show.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    show.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console()
    if args.lake_command != "show":
        console.print("usage: luca lake show [--school S] [--json]")
        return 2
    try:
        state = PlatformState.read(args.state_dir)
    except FileNotFoundError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    if not state.lake_bucket:
        console.print("[red]this platform runs no lake (restart it with `luca up`)[/red]")
        return 1
    s3 = boto3.client("s3", region_name=state.region, endpoint_url=state.emulator_url)
    partitions = lake_partitions(s3, state.lake_bucket, args.school)
    if args.json:
        console.print_json(json.dumps(_document(state.lake_bucket, partitions)))
    else:
        console.print(_table(state.lake_bucket, args.school, partitions))
    return 0


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
