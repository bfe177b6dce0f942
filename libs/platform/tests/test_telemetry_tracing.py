"""Spans are stamped with the request's ids; the span file can be re-pointed while in use."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from luca_platform.telemetry import context
from luca_platform.telemetry.context import CORRELATION_ATTRIBUTE, SCHOOL_ATTRIBUTE
from luca_platform.telemetry.tracing import (
    ContextSpanProcessor,
    FileSink,
    JsonLinesSpanExporter,
    SerialisedOnceResource,
)


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider()
    provider.add_span_processor(ContextSpanProcessor())
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def test_every_span_started_in_a_request_carries_its_correlation_id_and_school() -> None:
    provider, memory = _provider()
    tracer = provider.get_tracer("test")
    with context.RequestScope("corr-7"), tracer.start_as_current_span("before-auth"):
        context.school_id.set("school-b")
        with tracer.start_as_current_span("dynamodb"):
            pass
    with tracer.start_as_current_span("outside"):
        pass
    spans = {span.name: dict(span.attributes or {}) for span in memory.get_finished_spans()}
    assert spans["dynamodb"] == {CORRELATION_ATTRIBUTE: "corr-7", SCHOOL_ATTRIBUTE: "school-b"}
    # Stamped at start: the school was not known yet.
    assert spans["before-auth"] == {CORRELATION_ATTRIBUTE: "corr-7"}
    assert spans["outside"] == {}


def test_the_file_sink_is_re_pointed_and_each_file_keeps_its_own_spans(tmp_path: Path) -> None:
    provider = TracerProvider()
    sink = FileSink(provider)
    tracer = provider.get_tracer("test")
    first, second = tmp_path / "one" / "traces.jsonl", tmp_path / "two" / "traces.jsonl"
    sink.point_to(first)
    with tracer.start_as_current_span("in-one"):
        pass
    sink.point_to(second)  # flushes what the first file was owed
    with tracer.start_as_current_span("in-two"):
        pass
    provider.force_flush()
    assert sink.path == second
    assert [json.loads(line)["name"] for line in first.read_text().splitlines()] == ["in-one"]
    assert [json.loads(line)["name"] for line in second.read_text().splitlines()] == ["in-two"]


def test_the_span_file_holds_one_json_span_per_line_with_ids_and_service(tmp_path: Path) -> None:
    provider = TracerProvider()
    path = tmp_path / "traces.jsonl"
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
    with (
        provider.get_tracer("t").start_as_current_span("outer"),
        provider.get_tracer("t").start_as_current_span("inner"),
    ):
        pass
    inner, outer = (json.loads(line) for line in path.read_text().splitlines())
    assert inner["parent_id"] == outer["context"]["span_id"]
    assert inner["context"]["trace_id"] == outer["context"]["trace_id"]


def test_the_resource_is_serialised_once_and_spans_read_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = Resource.create({"service.name": "luca-grading"})
    once = SerialisedOnceResource(plain.attributes, plain.schema_url)
    calls: list[int | None] = []
    serialise = Resource.to_json

    def counted(self: Resource, indent: int | None = 4) -> str:
        calls.append(indent)
        return serialise(self, indent)

    monkeypatch.setattr(Resource, "to_json", counted)
    spans = []
    for resource in (plain, once):
        memory = InMemorySpanExporter()
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(SimpleSpanProcessor(memory))
        with provider.get_tracer("t").start_as_current_span(
            "request", start_time=1, end_on_exit=False
        ) as span:
            span.set_attribute("http.route", "/v1/grading-rules/{subject_id}")
            span.end(end_time=2)
        spans.append(memory.get_finished_spans()[0])
    plain_span, once_span = spans
    calls.clear()
    lines = [once_span.to_json(indent=None) for _ in range(3)]
    assert calls == [4]  # the resource once (ReadableSpan.to_json asks for it indented), then cached
    as_plain = json.loads(plain_span.to_json(indent=None))
    for line in lines:
        read = json.loads(line)
        assert (
            read["resource"]
            == as_plain["resource"]
            == {
                "attributes": dict(plain.attributes),
                "schema_url": plain.schema_url,
            }
        )
        assert {k: v for k, v in read.items() if k != "context"} == {
            k: v for k, v in as_plain.items() if k != "context"
        }


_CONFIGURE_TWICE = """
import json, sys
from opentelemetry import propagate, trace
from luca_platform.telemetry import context
from luca_platform.telemetry.tracing import configure_tracing, trace_file
first, second = sys.argv[1], sys.argv[2]
provider = configure_tracing(service="gateway", exporter="file", file_path=first)
with context.RequestScope("corr-9"), trace.get_tracer("t").start_as_current_span("a") as span:
    pass
again = configure_tracing(service="gateway", exporter="file", file_path=second)
with trace.get_tracer("t").start_as_current_span("b"):
    pass
provider.force_flush()
print(json.dumps({
    "same": again is provider,
    "file": str(trace_file()),
    "propagator": type(propagate.get_global_textmap()).__name__,
    "trace_id": format(span.get_span_context().trace_id, "032x"),
}))
"""


def test_configuring_again_keeps_the_provider_and_re_points_the_file(tmp_path: Path) -> None:
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    # A fresh interpreter: the global provider can be set once per process.
    out = subprocess.run(
        [sys.executable, "-c", _CONFIGURE_TWICE, str(first), str(second)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(out.stdout)
    assert result["same"] is True
    assert result["file"] == str(second)
    assert result["propagator"] == "AwsXRayPropagator"
    [a] = [json.loads(line) for line in first.read_text().splitlines()]
    [b] = [json.loads(line) for line in second.read_text().splitlines()]
    assert (a["name"], b["name"]) == ("a", "b")
    assert a["attributes"][CORRELATION_ATTRIBUTE] == "corr-9"
    assert a["resource"]["attributes"]["service.name"] == "luca-gateway"
    # X-Ray ids: the first 8 hex digits are the start time in epoch seconds.
    assert a["context"]["trace_id"] == "0x" + result["trace_id"]
    assert abs(int(result["trace_id"][:8], 16) - time.time()) < 600
