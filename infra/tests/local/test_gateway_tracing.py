"""The gateway's traces: a server span per request stamped with the correlation id and school, and
the trace passed on as API Gateway passes it (``X-Amzn-Trace-Id`` upstream, ``AWSTraceHeader`` on SQS)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from luca_infra.definitions import PlatformDefinition
from luca_infra.local.emulator import Emulator
from luca_infra.local.gateway import (
    AccessLog,
    EventIntake,
    EventIntakeSettings,
    Gateway,
    GatewaySettings,
    ServedGateway,
)
from luca_infra.local.provision import EventQueues
from luca_platform.telemetry.context import CORRELATION_ATTRIBUTE, SCHOOL_ATTRIBUTE
from luca_platform.telemetry.tracing import ContextSpanProcessor
from luca_platform.tokens import CognitoTokenVerifier

if TYPE_CHECKING:
    from conftest import FakeUpstream, Mint


class Traced:
    def __init__(self) -> None:
        self.provider = TracerProvider()
        self.provider.add_span_processor(ContextSpanProcessor())
        self.memory = InMemorySpanExporter()
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))

    def spans(self) -> list[ReadableSpan]:
        return list(self.memory.get_finished_spans())

    def server_span(self) -> ReadableSpan:
        (span,) = [s for s in self.spans() if s.kind is SpanKind.SERVER]
        return span


@pytest.fixture
def traced() -> Traced:
    return Traced()


@contextlib.contextmanager
def serve(gateway: Gateway) -> Iterator[httpx.Client]:
    served = ServedGateway(gateway, port=0)
    url = served.start()
    try:
        with httpx.Client(base_url=url, timeout=10, trust_env=False) as http:
            yield http
    finally:
        served.stop()


def xray_parts(header: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in header.split(";"))


def xray_root(trace_id: int) -> str:
    hexed = format(trace_id, "032x")
    return f"1-{hexed[:8]}-{hexed[8:]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_proxied_request_carries_the_trace_upstream_in_a_client_span(
    verifier: CognitoTokenVerifier, upstream: FakeUpstream, mint: Mint, tmp_path: Path, traced: Traced
) -> None:
    access = tmp_path / "access.jsonl"
    gateway = Gateway(
        GatewaySettings(upstream_url="http://grading.test", access_log_stdout=False),
        verifier=verifier,
        transport=httpx.ASGITransport(app=upstream.app),
        access_log=AccessLog(path=access, stdout=False),
        tracer_provider=traced.provider,
    )
    with serve(gateway) as client:
        response = client.get(
            "/v1/grades/st-1",
            headers={**bearer(mint.token(school="school-a")), "X-Correlation-Id": "corr-up-1"},
        )
    assert response.status_code == 200, response.text

    (seen,) = upstream.requests
    headers = {name.lower(): value for name, value in seen["headers"]}
    trace_header = xray_parts(headers["x-amzn-trace-id"])
    server = traced.server_span()
    (client_span,) = [s for s in traced.spans() if s.kind is SpanKind.CLIENT]
    assert server.context is not None
    assert client_span.context is not None
    assert trace_header["Root"] == xray_root(server.context.trace_id)
    assert trace_header["Parent"] == format(client_span.context.span_id, "016x")
    assert trace_header["Sampled"] == "1"
    assert client_span.parent is not None
    assert client_span.parent.span_id == server.context.span_id
    assert (client_span.attributes or {})["http.response.status_code"] == 200
    # Found by correlation id: the server span (stamped as it starts) and the call made inside it.
    assert (server.attributes or {})[CORRELATION_ATTRIBUTE] == "corr-up-1"
    assert (server.attributes or {})[SCHOOL_ATTRIBUTE] == "school-a"
    assert (client_span.attributes or {})[CORRELATION_ATTRIBUTE] == "corr-up-1"
    assert server.name == "GET /v1/grades"  # the resource, not the path with its ids
    (line,) = [json.loads(text) for text in access.read_text().splitlines()]
    assert line["trace_id"] == format(server.context.trace_id, "032x")


def test_a_client_cannot_hand_the_service_a_trace_header_of_its_own_choosing(
    verifier: CognitoTokenVerifier, upstream: FakeUpstream, mint: Mint, tmp_path: Path, traced: Traced
) -> None:
    gateway = Gateway(
        GatewaySettings(upstream_url="http://grading.test", access_log_stdout=False),
        verifier=verifier,
        transport=httpx.ASGITransport(app=upstream.app),
        access_log=AccessLog(path=tmp_path / "access.jsonl", stdout=False),
        tracer_provider=traced.provider,
    )
    forged = "Root=1-00000000-000000000000000000000001;Parent=0000000000000001;Sampled=1"
    with serve(gateway) as client:
        client.get("/v1/grades", headers={**bearer(mint.token(school="school-a")), "X-Amzn-Trace-Id": forged})
    (seen,) = upstream.requests
    values = [value for name, value in seen["headers"] if name.lower() == "x-amzn-trace-id"]
    assert len(values) == 1
    assert values[0] != forged


@pytest.mark.emulator
def test_each_queued_event_carries_the_requests_trace_and_correlation_id(
    verifier: CognitoTokenVerifier,
    upstream: FakeUpstream,
    mint: Mint,
    tmp_path: Path,
    traced: Traced,
    emulator: Emulator,
    definition: PlatformDefinition,
    queues: EventQueues,
    sqs: Any,
) -> None:
    events = EventIntakeSettings.from_definition(
        definition.ingest, queue_url=queues.queue_url, region=emulator.region, endpoint_url=emulator.url
    )
    # What SQS is sent, as AWS would receive it: moto's SendMessageBatch drops the entries'
    # MessageSystemAttributes (its SendMessage keeps them), so the queue cannot show it here.
    sent: list[dict[str, Any]] = []
    sqs.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch", lambda params, **_: sent.extend(params["Entries"])
    )
    gateway = Gateway(
        GatewaySettings(upstream_url="http://grading.test", access_log_stdout=False, events=events),
        verifier=verifier,
        transport=httpx.ASGITransport(app=upstream.app),
        access_log=AccessLog(path=tmp_path / "access.jsonl", stdout=False),
        intake=EventIntake(events, sqs=sqs),
        tracer_provider=traced.provider,
    )
    batch = [
        {
            "event_id": f"evt-trace-{n}",
            "student_id": "st-1",
            "course_id": "1A",
            "subject_id": "math",
            "occurred_at": "2025-03-01T10:00:00Z",
            "schema_version": 1,
            "exercise_submission": {"exercise_id": "ex-1", "score": "6.5"},
        }
        for n in range(2)
    ]
    with serve(gateway) as client:
        response = client.post(
            "/v1/events/batch",
            json={"events": batch},
            headers={**bearer(mint.token(school="school-b")), "X-Correlation-Id": "corr-evt-1"},
        )
    assert response.status_code == 202, response.text

    assert [entry["Id"] for entry in sent] == ["evt-trace-0", "evt-trace-1"]
    server = traced.server_span()
    assert server.context is not None
    for entry in sent:
        system = entry["MessageSystemAttributes"]["AWSTraceHeader"]
        assert system["DataType"] == "String"
        header = xray_parts(system["StringValue"])
        assert header["Root"] == xray_root(server.context.trace_id)
        assert header["Parent"] == format(server.context.span_id, "016x")
        assert header["Sampled"] == "1"
        assert entry["MessageAttributes"]["correlation_id"]["StringValue"] == "corr-evt-1"
    queued = sqs.receive_message(QueueUrl=queues.queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(queued) == 2  # and they were queued
    assert server.name == "POST /v1/events/batch"
    assert (server.attributes or {})[CORRELATION_ATTRIBUTE] == "corr-evt-1"
    assert (server.attributes or {})[SCHOOL_ATTRIBUTE] == "school-b"
