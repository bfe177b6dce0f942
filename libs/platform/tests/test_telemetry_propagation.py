"""Trace context across SQS and Lambda records: X-Ray headers in and out, the request's ids bound."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_span_id, format_trace_id

from luca_platform.telemetry import context, propagation

TRACE = "5759e988bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
HEADER = f"Root=1-{TRACE[:8]}-{TRACE[8:]};Parent={PARENT};Sampled=1"


def recorder() -> tuple[trace.Tracer, InMemorySpanExporter]:
    """A provider of the test's own (not the global one): the module must work with any provider."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def test_a_records_trace_header_is_read_where_lambda_puts_it() -> None:
    assert propagation.record_trace_header({"attributes": {"AWSTraceHeader": HEADER}}) == HEADER
    assert propagation.record_trace_header({"attributes": {"SentTimestamp": "1"}}) is None
    assert propagation.record_trace_header({}) is None


def test_a_continued_span_is_a_child_of_the_header_with_the_ids_bound_only_inside() -> None:
    tracer, exporter = recorder()

    with propagation.continued_span(
        tracer, "work", trace_header=HEADER, correlation_id="corr-1", school_id="school-a"
    ) as span:
        assert context.correlation_id.get() == "corr-1"
        assert context.school_id.get() == "school-a"
        # AND the header it would hand on names this span, in the same trace
        assert propagation.xray_header() == (
            f"Root=1-{TRACE[:8]}-{TRACE[8:]};Parent={format_span_id(span.get_span_context().span_id)};Sampled=1"
        )

    assert context.correlation_id.get() is None
    (finished,) = exporter.get_finished_spans()
    assert format_trace_id(finished.context.trace_id) == TRACE
    assert finished.parent is not None
    assert format_span_id(finished.parent.span_id) == PARENT
    assert finished.attributes == {
        context.CORRELATION_ATTRIBUTE: "corr-1",
        context.SCHOOL_ATTRIBUTE: "school-a",
    }


def test_without_a_usable_header_the_span_starts_a_trace_of_its_own_not_the_callers() -> None:
    tracer, exporter = recorder()

    with tracer.start_as_current_span("caller"):
        for header in (None, "", "not-an-xray-header"):
            with propagation.continued_span(tracer, "work", trace_header=header):
                pass

    works = [span for span in exporter.get_finished_spans() if span.name == "work"]
    assert len(works) == 3
    assert all(span.parent is None for span in works)
    assert propagation.link_to("not-an-xray-header") is None
    link = propagation.link_to(HEADER)
    assert link is not None
    assert format_trace_id(link.context.trace_id) == TRACE


def test_log_ids_are_hex_and_absent_for_a_span_that_records_nothing() -> None:
    tracer, _ = recorder()

    with tracer.start_as_current_span("work") as span:
        ids = propagation.ids_of(span)

    assert ids == {
        "trace_id": format_trace_id(span.get_span_context().trace_id),
        "span_id": format_span_id(span.get_span_context().span_id),
    }
    assert propagation.ids_of(trace.INVALID_SPAN) == {}
