"""Telemetry: JSON logs with request context, OpenTelemetry spans with X-Ray ids, EMF metrics."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from grading_emulated import EmulatedGrading
from luca.grading.v1 import grading_pb2, grading_pb2_grpc
from luca_grading.entrypoints.main import start
from luca_platform.serving import RunningServers
from luca_platform.telemetry.logs import configure_logging
from luca_platform.telemetry.tracing import JsonLinesSpanExporter
from luca_testing.polling import eventually

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def running(grading: EmulatedGrading) -> Iterator[tuple[RunningServers, InMemorySpanExporter]]:
    service = start(grading.container)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield service, spans
    service.stop(grace=1)


def rest_url(service: RunningServers) -> str:
    port = service.rest.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_requests_leave_server_and_dynamodb_spans_with_xray_trace_ids(
    running: tuple[RunningServers, InMemorySpanExporter], grading: EmulatedGrading
) -> None:
    service, spans = running
    spans.clear()
    started = int(time.time())
    response = httpx.get(
        f"{rest_url(service)}/v1/students/st-1/evaluations", headers=grading.bearer("school-a", "teacher")
    )
    assert response.status_code == 200
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        grading_pb2_grpc.GradingServiceStub(channel).GetGradingRule(
            grading_pb2.GetGradingRuleRequest(subject_id="math"),
            metadata=[("authorization", grading.bearer("school-a", "teacher")["Authorization"])],
        )

    finished = spans.get_finished_spans()
    kinds = {(s.kind.name, s.attributes.get("rpc.system") if s.attributes else None) for s in finished}
    assert ("SERVER", None) in kinds or any(s.kind.name == "SERVER" and "GET" in s.name for s in finished)
    assert any(s.kind.name == "SERVER" and "GradingService" in s.name for s in finished), [
        s.name for s in finished
    ]
    dynamo = [s for s in finished if s.attributes and s.attributes.get("rpc.service") == "DynamoDB"]
    assert dynamo, "botocore calls are traced"
    # X-Ray trace ids start with the epoch seconds of the trace's start.
    epoch = int(format(finished[0].context.trace_id, "032x")[:8], 16)
    assert abs(epoch - started) < 120


def test_log_lines_are_json_with_correlation_school_and_route(
    running: tuple[RunningServers, InMemorySpanExporter],
    grading: EmulatedGrading,
) -> None:
    service, _ = running
    out = io.StringIO()
    handler = configure_logging("grading", "INFO", stream=out)
    correlation = f"corr-{uuid.uuid4().hex[:8]}"
    httpx.get(
        f"{rest_url(service)}/v1/grading-rules/math",
        headers={**grading.bearer("school-a", "teacher"), "X-Correlation-Id": correlation},
    )

    def my_lines() -> list[dict[str, object]]:
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        return [line for line in lines if line.get("correlation_id") == correlation]

    # The request's line is written after the response is sent: wait for it.
    try:
        mine = eventually(my_lines, timeout=10, what="the request's log line")
    finally:
        logging.getLogger().removeHandler(handler)
    assert mine[-1]["school_id"] == "school-a"
    assert mine[-1]["service"] == "grading"
    assert mine[-1]["route"] == "/v1/grading-rules/{subject_id}"


def test_the_local_span_file_holds_one_json_span_per_line(tmp_path: Path) -> None:
    provider = TracerProvider()
    exporter = JsonLinesSpanExporter(str(tmp_path / "spans.jsonl"))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("outer"), tracer.start_as_current_span("inner"):
        pass
    lines = (tmp_path / "spans.jsonl").read_text().splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["inner", "outer"]
