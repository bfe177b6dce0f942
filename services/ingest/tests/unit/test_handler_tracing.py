"""The grade processor's handler continues each record's trace and tags its log lines with its ids.

GIVEN SQS records as Lambda hands them (the sender's trace in ``attributes.AWSTraceHeader``, the
request's id in the ``correlation_id`` message attribute), WHEN the handler processes the batch with
fake adapters, THEN each record's span is a child of the sender's span in the sender's trace, carries
the correlation id and school, and the record's log line carries them with the span's ids.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id

from ingest_support import FakeStore, FixedBatchRules, LambdaContext, event_body, sqs_record
from luca_ingest.adapters.contract import decode_event
from luca_ingest.bootstrap import IngestApp
from luca_ingest.config import IngestSettings
from luca_ingest.entrypoints import handler
from luca_ingest.service_layer.processor import GradeProcessor
from luca_platform.telemetry import context as request_context
from luca_testing.fakes import FixedRules

TRACE = "5759e988bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
HEADER = f"Root=1-{TRACE[:8]}-{TRACE[8:]};Parent={PARENT};Sampled=1"


@pytest.fixture
def app() -> IngestApp:
    store = FakeStore(students={"school-a": {"st-1": "1A", "st-2": "1A"}}, subjects={"school-a": {"math"}})
    processor = GradeProcessor(store, FixedBatchRules(FixedRules()), decode_event)
    return IngestApp(IngestSettings(table_name="unused"), None, store, processor)  # type: ignore[arg-type]


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the handler's Powertools logger writes during the test (its stream swapped)."""
    buffer = io.StringIO()
    previous = handler.logger.registered_handler.setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    handler.logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]


def parsed(output: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.getvalue().splitlines() if line.strip()]


def run(app: IngestApp, records: list[dict[str, Any]]) -> dict[str, Any]:
    return handler.process({"Records": records}, LambdaContext(), app)  # type: ignore[arg-type]


def named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in spans.get_finished_spans() if span.name == name]


def test_a_records_span_continues_the_senders_trace_with_its_ids(
    app: IngestApp, spans: InMemorySpanExporter
) -> None:
    record = sqs_record(event_body("st-1"), correlation_id="corr-traced", trace_header=HEADER)

    assert run(app, [record]) == {"batchItemFailures": []}

    (span,) = named(spans, "grade-processor record")
    assert format_trace_id(span.context.trace_id) == TRACE
    assert span.parent is not None
    assert format_span_id(span.parent.span_id) == PARENT
    assert span.attributes is not None
    assert span.attributes["luca.correlation_id"] == "corr-traced"
    assert span.attributes["luca.school_id"] == "school-a"
    assert span.attributes["luca.outcome"] == "stored"
    # AND the batch's own work (its reads and writes) is in the same trace, linked to the record's
    (batch,) = named(spans, "grade-processor batch")
    assert format_trace_id(batch.context.trace_id) == TRACE
    assert [format_trace_id(link.context.trace_id) for link in batch.links] == [TRACE]


def test_an_untraced_record_starts_its_own_trace_and_keeps_its_correlation_id(
    app: IngestApp, spans: InMemorySpanExporter
) -> None:
    assert run(app, [sqs_record(event_body("st-1"), correlation_id="corr-plain")]) == {
        "batchItemFailures": []
    }

    (span,) = named(spans, "grade-processor record")
    assert span.parent is None
    assert span.attributes is not None
    assert span.attributes["luca.correlation_id"] == "corr-plain"
    (batch,) = named(spans, "grade-processor batch")
    assert batch.links == ()


def test_each_records_log_line_carries_its_correlation_id_school_and_span(
    app: IngestApp, spans: InMemorySpanExporter, log_output: io.StringIO
) -> None:
    records = [
        sqs_record(event_body("st-1"), correlation_id="corr-one", trace_header=HEADER),
        sqs_record(event_body("st-2"), correlation_id="corr-two"),
    ]

    run(app, records)

    lines = {
        line["correlation_id"]: line for line in parsed(log_output) if line["message"] == "record processed"
    }
    assert set(lines) == {"corr-one", "corr-two"}
    record_spans = {
        span.attributes["luca.correlation_id"]: span for span in named(spans, "grade-processor record")
    }  # type: ignore[index]
    for correlation, line in lines.items():
        assert line["school_id"] == "school-a"
        assert line["trace_id"] == format_trace_id(record_spans[correlation].context.trace_id)
        assert line["span_id"] == format_span_id(record_spans[correlation].context.span_id)
    assert lines["corr-one"]["trace_id"] == TRACE
    # AND the ids do not leak into the lines that follow, nor into the process's request context
    (summary,) = [line for line in parsed(log_output) if line["message"] == "batch processed"]
    assert "correlation_id" not in summary
    assert request_context.correlation_id.get() is None


def test_a_failed_records_span_is_an_error_and_its_line_names_the_request(
    app: IngestApp, spans: InMemorySpanExporter, log_output: io.StringIO
) -> None:
    poison = sqs_record(event_body("st-unknown"), correlation_id="corr-poison", trace_header=HEADER)

    response = run(app, [poison])

    assert response == {"batchItemFailures": [{"itemIdentifier": poison["messageId"]}]}
    (span,) = named(spans, "grade-processor record")
    assert span.status.status_code is StatusCode.ERROR
    (line,) = [line for line in parsed(log_output) if line["message"] == "record failed"]
    assert line["correlation_id"] == "corr-poison"
    assert line["reason"] == "unknown_student"
    assert line["trace_id"] == TRACE
