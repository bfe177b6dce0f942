"""One request's timeline, from what the processes recorded: its traces as span trees, its log lines.

Spans come from the local span files (``ReadableSpan.to_json`` lines) or from X-Ray segment
documents; both become ``SpanRecord`` with the trace id in the canonical 32-hex form (X-Ray's
``1-xxxxxxxx-...`` is the same 128 bits). A request's traces are those with at least one span
stamped with its correlation id; every span of those traces is shown, stamped or not (a botocore
call, a library's span). Its log lines are those with its correlation id or one of its trace ids.
Pure: the readers of files, X-Ray and Logs Insights are the caller's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from luca_platform.telemetry.context import CORRELATION_ATTRIBUTE

# The attributes worth a glance in a span tree (everything is in --json).
KEY_ATTRIBUTES = (
    "http.route",
    "http.request.method",
    "http.response.status_code",
    "http.status_code",
    "rpc.service",
    "rpc.method",
    "rpc.grpc.status_code",
    "aws.operation",
    "messaging.operation",
    "luca.school_id",
)


def normalize_trace_id(value: str) -> str:
    """``0x<32 hex>``, ``<32 hex>`` or X-Ray's ``1-<8>-<24>`` → 32 lowercase hex digits."""
    text = value.strip().lower()
    if text.startswith("1-") and text.count("-") == 2:
        return text[2:].replace("-", "")
    return text.removeprefix("0x")


def parse_time(value: Any) -> float | None:
    """Epoch seconds from an ISO 8601 string (also ``2025-01-01 12:00:00,123+0000``) or a number."""
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace(",", ".")).timestamp()
    except ValueError:
        return None


@dataclass
class SpanRecord:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    start: float
    end: float
    status: str = "UNSET"
    kind: str = "INTERNAL"
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        return round((self.end - self.start) * 1000, 3)

    def document(self, children: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "name": self.name,
            "service": self.service,
            "kind": self.kind,
            "start": datetime.fromtimestamp(self.start).astimezone().isoformat(timespec="milliseconds"),
            "duration_ms": self.duration_ms,
            "status": self.status,
            "attributes": self.attributes,
            "children": children,
        }


def span_from_otel(line: Mapping[str, Any]) -> SpanRecord | None:
    """A span file line; None when it is not one (a torn or foreign line is passed over)."""
    try:
        span_context = line["context"]
        start, end = parse_time(line["start_time"]), parse_time(line["end_time"])
    except (KeyError, TypeError):
        return None
    if start is None or end is None:
        return None
    parent = line.get("parent_id")
    resource = (line.get("resource") or {}).get("attributes") or {}
    return SpanRecord(
        trace_id=normalize_trace_id(str(span_context["trace_id"])),
        span_id=str(span_context["span_id"]).removeprefix("0x"),
        parent_id=str(parent).removeprefix("0x") if parent else None,
        name=str(line.get("name", "")),
        service=str(resource.get("service.name", "?")),
        start=start,
        end=end,
        status=str((line.get("status") or {}).get("status_code", "UNSET")),
        kind=str(line.get("kind", "")).removeprefix("SpanKind."),
        attributes=dict(line.get("attributes") or {}),
    )


def spans_from_xray(segment_documents: Iterable[str]) -> list[SpanRecord]:
    """X-Ray segments (``BatchGetTraces`` ``Segments[].Document``) and their nested subsegments."""
    spans: list[SpanRecord] = []

    def visit(node: Mapping[str, Any], trace_id: str, parent: str | None, service: str) -> None:
        attributes: dict[str, Any] = dict(node.get("annotations") or {})
        http = node.get("http") or {}
        if (http.get("response") or {}).get("status") is not None:
            attributes["http.response.status_code"] = http["response"]["status"]
        if (http.get("request") or {}).get("method"):
            attributes["http.request.method"] = http["request"]["method"]
        if (node.get("aws") or {}).get("operation"):
            attributes["aws.operation"] = node["aws"]["operation"]
        status = "ERROR" if node.get("fault") or node.get("error") else "OK"
        spans.append(
            SpanRecord(
                trace_id=trace_id,
                span_id=str(node["id"]),
                parent_id=parent,
                name=str(node.get("name", "")),
                service=service,
                start=float(node.get("start_time", 0.0)),
                end=float(node.get("end_time", node.get("start_time", 0.0))),
                status=status,
                kind=str(node.get("namespace", "segment")),
                attributes=attributes,
            )
        )
        for child in node.get("subsegments") or []:
            visit(child, trace_id, str(node["id"]), service)

    for raw in segment_documents:
        document = json.loads(raw)
        visit(
            document,
            normalize_trace_id(str(document["trace_id"])),
            document.get("parent_id"),
            str(document.get("name", "?")),
        )
    return spans


def correlated_traces(spans: Iterable[SpanRecord], correlation_id: str) -> dict[str, list[SpanRecord]]:
    """The traces (trace id → all their spans, by start) that hold a span stamped with the id."""
    by_trace: dict[str, list[SpanRecord]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    wanted = [
        trace_id
        for trace_id, members in by_trace.items()
        if any(span.attributes.get(CORRELATION_ATTRIBUTE) == correlation_id for span in members)
        # X-Ray gives annotations, where the exporter wrote the attribute with '_' for '.'.
        or any(span.attributes.get(XRAY_CORRELATION_ANNOTATION) == correlation_id for span in members)
    ]
    ordered = sorted(wanted, key=lambda t: min(s.start for s in by_trace[t]))
    return {trace_id: sorted(by_trace[trace_id], key=lambda s: s.start) for trace_id in ordered}


# The X-Ray annotation the collector's exporter makes of ``luca.correlation_id`` (listed in its
# ``indexed_attributes``): annotation keys allow only letters, digits and '_'.
XRAY_CORRELATION_ANNOTATION = CORRELATION_ATTRIBUTE.replace(".", "_")


def span_tree(spans: list[SpanRecord]) -> list[dict[str, Any]]:
    """The spans of one trace as nested documents; a span whose parent is missing is a root."""
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[SpanRecord]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)

    def build(span: SpanRecord, seen: frozenset[str]) -> dict[str, Any]:
        below = [c for c in children.get(span.span_id, []) if c.span_id not in seen]
        return span.document([build(child, seen | {child.span_id}) for child in below])

    return [build(root, frozenset({root.span_id})) for root in children.get(None, [])]


def log_time(line: Mapping[str, Any]) -> float:
    return parse_time(line.get("timestamp")) or parse_time(line.get("@timestamp")) or 0.0


def correlated_logs(
    lines: Iterable[Mapping[str, Any]], correlation_id: str, trace_ids: Iterable[str]
) -> list[dict[str, Any]]:
    """Log lines with the correlation id or one of the trace ids, in time order (stable for ties)."""
    traces = {normalize_trace_id(t) for t in trace_ids}
    found = []
    for line in lines:
        trace_id = line.get("trace_id") or line.get("xray_trace_id")
        if line.get("correlation_id") == correlation_id or (
            isinstance(trace_id, str) and normalize_trace_id(trace_id) in traces
        ):
            found.append(dict(line))
    return sorted(found, key=log_time)


@dataclass
class Timeline:
    correlation_id: str
    traces: dict[str, list[SpanRecord]]
    logs: list[dict[str, Any]]
    lake_rows: list[dict[str, Any]] | None = None  # None: the lake was not (or could not be) read
    lake_note: str = ""

    @property
    def empty(self) -> bool:
        return not self.traces and not self.logs

    def school_ids(self) -> set[str]:
        schools = {
            str(s.attributes["luca.school_id"])
            for t in self.traces.values()
            for s in t
            if s.attributes.get("luca.school_id")
        }
        return schools | {str(line["school_id"]) for line in self.logs if line.get("school_id")}

    def start(self) -> float | None:
        times = [s.start for t in self.traces.values() for s in t] + [log_time(line) for line in self.logs]
        times = [t for t in times if t]
        return min(times) if times else None

    def document(self) -> dict[str, Any]:
        return {
            "correlation_id": self.correlation_id,
            "traces": [{"trace_id": tid, "spans": span_tree(spans)} for tid, spans in self.traces.items()],
            "logs": self.logs,
            "lake_rows": self.lake_rows or [],
        }


def build_timeline(
    correlation_id: str, spans: Iterable[SpanRecord], logs: Iterable[Mapping[str, Any]]
) -> Timeline:
    traces = correlated_traces(spans, correlation_id)
    return Timeline(correlation_id, traces, correlated_logs(logs, correlation_id, traces))


def read_json_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The JSON objects among ``lines`` (a torn line, written as a process died, is passed over)."""
    found = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found
