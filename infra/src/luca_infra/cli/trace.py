"""``luca trace <correlation_id> [--json] [--state-dir .luca] [--stage NAME]``: one request, end to end.

Locally every process appends its spans to ``<state_dir>/traces.jsonl`` and its JSON log lines to
``<state_dir>/logs.jsonl``; on a stage the spans come from X-Ray (``GetTraceSummaries`` on the
``luca_correlation_id`` annotation, then ``BatchGetTraces``) and the lines from CloudWatch Logs
Insights over the stage's log groups (``/luca/<stage>/resources``), with the normal AWS credential
chain. Either way the command prints the request's traces as span trees, its log lines in time
order and the lake row it produced, if one landed (``--json``: one document). Exit 1 when nothing
was recorded for the id.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from luca_analytics.definition import LAKE_PREFIX
from luca_infra import stage_resources
from luca_infra.local.emulator import ensure_dummy_credentials
from luca_infra.local.platform_config import (
    ACCESS_LOG_FILE,
    DEFAULT_STATE_DIR,
    LOGS_FILE,
    TRACES_FILE,
    PlatformState,
)
from luca_platform.telemetry.context import sanitize_correlation_id
from luca_platform.telemetry.timeline import (
    KEY_ATTRIBUTES,
    XRAY_CORRELATION_ANNOTATION,
    SpanRecord,
    Timeline,
    build_timeline,
    log_time,
    read_json_lines,
    span_from_otel,
    spans_from_xray,
)

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_xray import XRayClient

LAKE_COLUMN = "correlation_id"
DEFAULT_LOOKBACK_HOURS = 6.0  # X-Ray keeps 30 days; a wider window is a slower query
QUERY_TIMEOUT_SECONDS = 60.0
_XRAY_BATCH = 5  # BatchGetTraces takes at most 5 ids


class TraceError(Exception):
    """The trace could not be read (no stage, a failed query): said in red, exit 1."""


def add_parser(commands: Any) -> None:
    trace = commands.add_parser("trace", help="one request end to end: spans, log lines and its lake row")
    trace.add_argument("correlation_id", help="the request's x-correlation-id")
    trace.add_argument("--json", action="store_true", help="one JSON document instead of a timeline")
    trace.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    trace.add_argument("--stage", help="a deployed stage (X-Ray and Logs Insights) instead of this machine")
    trace.add_argument("--hours", type=float, default=DEFAULT_LOOKBACK_HOURS, help="how far back (stage)")


def run(args: argparse.Namespace, console: Console | None = None, err: Console | None = None) -> int:
    console = console or Console()
    err = err or Console(stderr=True)
    correlation_id = args.correlation_id
    if sanitize_correlation_id(correlation_id) != correlation_id:
        # The id goes into query strings: only what the edge would accept as one.
        err.print("not a correlation id: letters, digits and -_.: only, at most 128", style="red")
        return 2
    try:
        timeline = (
            stage_timeline(args, correlation_id, err)
            if args.stage
            else local_timeline(args.state_dir, correlation_id)
        )
    except (TraceError, stage_resources.StageNotFound, stage_resources.UnsupportedDocument) as exc:
        err.print(str(exc), style="red", markup=False)
        return 1
    if timeline.empty:
        where = f"stage {args.stage}" if args.stage else str(args.state_dir)
        err.print(
            f"nothing recorded for correlation id {correlation_id} in {where}", style="red", markup=False
        )
        return 1
    if args.json:
        console.print_json(json.dumps(timeline.document(), default=str))
    else:
        render(timeline, console)
    return 0


# -- local --------------------------------------------------------------------------------------------------
def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []


def _access_lines(state_dir: Path) -> list[dict[str, Any]]:
    """The gateway's access log (API Gateway's, in AWS) as log lines of the edge."""
    return [
        {
            **entry,
            "service": "gateway",
            "level": "INFO",
            "message": f"{entry.get('method')} {entry.get('path')} -> {entry.get('status')}"
            f" in {entry.get('latency_ms')} ms",
        }
        for entry in read_json_lines(_lines(state_dir / ACCESS_LOG_FILE))
    ]


def local_timeline(state_dir: Path, correlation_id: str) -> Timeline:
    spans = [s for line in read_json_lines(_lines(state_dir / TRACES_FILE)) if (s := span_from_otel(line))]
    logs = [*_access_lines(state_dir), *read_json_lines(_lines(state_dir / LOGS_FILE))]
    timeline = build_timeline(correlation_id, spans, logs)
    if timeline.empty:
        return timeline
    try:
        ensure_dummy_credentials()  # the emulator's
        state = PlatformState.read(state_dir)
    except FileNotFoundError:
        timeline.lake_note = "lake not read: the platform is not running"
        return timeline
    if state.lake_bucket:
        s3 = boto3.client("s3", region_name=state.region, endpoint_url=state.emulator_url)
        _attach_lake(timeline, s3, state.lake_bucket)
    return timeline


# -- a deployed stage ---------------------------------------------------------------------------------------
def stage_timeline(args: argparse.Namespace, correlation_id: str, err: Console) -> Timeline:
    session = boto3.session.Session()  # the normal chain; AWS_ENDPOINT_URL is honoured by boto3 itself
    resources = stage_resources.load(session.client("ssm"), args.stage)
    end = datetime.now(UTC) + timedelta(minutes=1)  # lines of the last second count too
    start = end - timedelta(hours=args.hours)
    spans = xray_spans(session.client("xray", region_name=resources.region), correlation_id, start, end)
    trace_ids = sorted({span.trace_id for span in spans})
    with err.status("querying the stage's logs (Logs Insights)..."):
        logs = insights_lines(
            session.client("logs", region_name=resources.region),
            sorted(set(resources.log_groups.values())),
            insights_query(correlation_id, trace_ids),
            start,
            end,
        )
    timeline = build_timeline(correlation_id, spans, logs)
    if not timeline.empty and resources.lake_bucket:
        _attach_lake(timeline, session.client("s3", region_name=resources.region), resources.lake_bucket)
    return timeline


def xray_filter(correlation_id: str) -> str:
    return f'annotation.{XRAY_CORRELATION_ANNOTATION} = "{correlation_id}"'


def xray_spans(xray: XRayClient, correlation_id: str, start: datetime, end: datetime) -> list[SpanRecord]:
    """Every segment of the traces annotated with the correlation id."""
    trace_ids: list[str] = []
    pages = xray.get_paginator("get_trace_summaries").paginate(
        StartTime=start, EndTime=end, FilterExpression=xray_filter(correlation_id), Sampling=False
    )
    for page in pages:
        trace_ids += [s["Id"] for s in page.get("TraceSummaries", []) if "Id" in s]
    documents: list[str] = []
    for offset in range(0, len(trace_ids), _XRAY_BATCH):
        for batch in xray.get_paginator("batch_get_traces").paginate(
            TraceIds=trace_ids[offset : offset + _XRAY_BATCH]
        ):
            documents += [
                seg["Document"]
                for t in batch.get("Traces", [])
                for seg in t.get("Segments", [])
                if "Document" in seg
            ]
    return spans_from_xray(documents)


def insights_query(correlation_id: str, trace_ids: Iterable[str]) -> str:
    clauses = [f'correlation_id = "{correlation_id}"'] + [f'trace_id = "{t}"' for t in trace_ids]
    return f"fields @timestamp, @message, @log | filter {' or '.join(clauses)} | sort @timestamp asc | limit 10000"


def insights_lines(
    logs: CloudWatchLogsClient,
    log_groups: list[str],
    query: str,
    start: datetime,
    end: datetime,
    *,
    timeout: float = QUERY_TIMEOUT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """The query's rows as log lines (``@message`` parsed as JSON), once it completes."""
    if not log_groups:
        return []
    query_id = logs.start_query(
        logGroupNames=log_groups,
        startTime=int(start.timestamp()),
        endTime=int(end.timestamp()),
        queryString=query,
    )["queryId"]
    deadline = time.monotonic() + timeout
    while True:
        result = logs.get_query_results(queryId=query_id)
        status = result["status"]
        if status == "Complete":
            return [line for row in result.get("results", []) if (line := insights_row(row))]
        if status in ("Failed", "Cancelled", "Timeout", "Unknown"):
            raise TraceError(f"the Logs Insights query ended {status}")
        if time.monotonic() > deadline:
            logs.stop_query(queryId=query_id)
            raise TraceError(f"the Logs Insights query did not finish in {timeout:.0f} s")
        sleep(0.5)


def insights_row(row: Iterable[Any]) -> dict[str, Any] | None:
    fields = {cell["field"]: cell.get("value") for cell in row if "field" in cell}
    message = fields.get("@message")
    if message is None:
        return None
    try:
        line = json.loads(message)
    except ValueError:
        line = {"message": message}
    if not isinstance(line, dict):
        line = {"message": message}
    line.setdefault("timestamp", fields.get("@timestamp"))
    if fields.get("@log"):
        line.setdefault("log_group", str(fields["@log"]).split(":")[-1])
    return line


# -- the lake -----------------------------------------------------------------------------------------------
def _attach_lake(timeline: Timeline, s3: S3Client, bucket: str) -> None:
    try:
        rows = lake_rows(s3, bucket, timeline.correlation_id, timeline.school_ids(), since=timeline.start())
    except Exception as exc:  # the timeline stands without it: say why
        timeline.lake_note = f"lake not read: {exc}"
        return
    timeline.lake_rows = rows
    if rows is None:
        timeline.lake_note = f"no lake row: the lake has no {LAKE_COLUMN} column yet"
    elif not rows:
        timeline.lake_note = "no lake row (not landed yet, or this request wrote no grade)"


def lake_rows(
    s3: S3Client, bucket: str, correlation_id: str, schools: Iterable[str], *, since: float | None
) -> list[dict[str, Any]] | None:
    """The lake's rows with the correlation id, from the files of the request's schools written
    since it started; None when the files it read all predate the column (none read: an empty list)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    prefixes = [f"{LAKE_PREFIX}/school_id={school}/" for school in sorted(schools)] or [f"{LAKE_PREFIX}/"]
    found: list[dict[str, Any]] = []
    has_column = read_any = False
    for prefix in prefixes:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                modified = item.get("LastModified")
                if not item["Key"].endswith(".parquet") or (
                    since and modified and modified.timestamp() < since - 5
                ):
                    continue
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                table = pq.read_table(io.BytesIO(body))
                read_any = True
                if LAKE_COLUMN not in table.column_names:
                    continue
                has_column = True
                matching = table.filter(pc.equal(table[LAKE_COLUMN], correlation_id))
                found += [{**row, "_file": item["Key"]} for row in matching.to_pylist()]
    return found if has_column or not read_any else None


# -- printing -----------------------------------------------------------------------------------------------
def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S.%f")[:-3]


def _label(span: SpanRecord) -> str:
    keys = " ".join(f"{k}={span.attributes[k]}" for k in KEY_ATTRIBUTES if k in span.attributes)
    status = {"ERROR": "[red]ERROR[/red]", "OK": "[green]OK[/green]"}.get(span.status, span.status)
    return (
        f"[cyan]{escape(span.service)}[/cyan] [bold]{escape(span.name)}[/bold] "
        f"{span.duration_ms:.1f} ms {status} [dim]{escape(keys)}[/dim]"
    )


def render(timeline: Timeline, console: Console) -> None:
    console.print(f"[bold]correlation id[/bold] {escape(timeline.correlation_id)}")
    for trace_id, spans in timeline.traces.items():
        by_id = {span.span_id: span for span in spans}
        tree = Tree(f"trace {trace_id} ({len(spans)} spans, from {_clock(spans[0].start)} UTC)")
        nodes: dict[str, Tree] = {}
        for span in spans:  # by start: a parent is placed before its children
            parent = nodes.get(span.parent_id or "") if span.parent_id in by_id else None
            nodes[span.span_id] = (parent or tree).add(_label(span))
        console.print(tree)
    if not timeline.traces:
        console.print("[dim]no spans recorded[/dim]")
    logs = Table(title=f"{len(timeline.logs)} log lines", show_lines=False)
    for column in ("time (UTC)", "service", "level", "message"):
        logs.add_column(column, overflow="fold")
    for line in timeline.logs:
        # Every process's own timestamp format, shown alike (Powertools writes "hh:mm:ss,mmm").
        logs.add_row(
            _clock(log_time(line)) if log_time(line) else escape(str(line.get("timestamp", ""))),
            escape(str(line.get("service", line.get("log_group", "")))),
            escape(str(line.get("level", ""))),
            escape(str(line.get("message", ""))),
        )
    console.print(logs)
    if timeline.lake_rows:
        for row in timeline.lake_rows:
            console.print("[bold]lake row[/bold]", escape(json.dumps(row, default=str, sort_keys=True)))
    else:
        console.print(f"[dim]{escape(timeline.lake_note or 'no lake row')}[/dim]")
