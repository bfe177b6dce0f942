"""Trace context and the request's ids across the hops that are not HTTP or gRPC.

SQS carries a trace in the ``AWSTraceHeader`` system attribute and Lambda hands it to the function
as ``record["attributes"]["AWSTraceHeader"]``; Step Functions takes one in its execution input. All
of them use the X-Ray header format, so the X-Ray propagator reads and writes it here whatever the
process's global propagator is (a Lambda's may be unset, or set by a layer).

Only the OpenTelemetry API is used: the process's composition root (or, in AWS, the ADOT Lambda
layer) installs the tracer provider; without one every span here is a cheap no-op.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.trace import Link, Span, SpanKind

from luca_platform.telemetry import context

XRAY_HEADER = "X-Amzn-Trace-Id"
AWS_TRACE_HEADER = "AWSTraceHeader"  # the SQS system attribute, and its key in a Lambda SQS record

_XRAY = AwsXRayPropagator()


def context_from_xray(header: str | None) -> Context:
    """The parent an X-Ray trace header names; an empty context (so a new trace) when there is none
    or it is malformed. Never the caller's current context: a record's trace is its sender's."""
    if not header:
        return Context()
    return _XRAY.extract({XRAY_HEADER: header}, context=Context())


def xray_header(parent: Context | None = None) -> str | None:
    """The current span (or ``parent``'s) as an X-Ray trace header; None when there is no valid span."""
    carrier: dict[str, str] = {}
    _XRAY.inject(carrier, context=parent)
    return carrier.get(XRAY_HEADER)


def record_trace_header(record: Mapping[str, Any]) -> str | None:
    """The ``AWSTraceHeader`` of a Lambda SQS record (absent when the sender was not traced)."""
    attributes = record.get("attributes") or {}
    value = attributes.get(AWS_TRACE_HEADER)
    return value if isinstance(value, str) and value else None


def link_to(header: str | None) -> Link | None:
    """A span link to the trace a header names (a batch consumer links the records it was handed)."""
    span_context = trace.get_current_span(context_from_xray(header)).get_span_context()
    return Link(span_context) if span_context.is_valid else None


def ids_of(span: Span) -> dict[str, str]:
    """``trace_id`` and ``span_id`` as the log lines carry them (hex); empty for a no-op span."""
    span_context = span.get_span_context()
    if not span_context.is_valid:
        return {}
    return {
        "trace_id": trace.format_trace_id(span_context.trace_id),
        "span_id": trace.format_span_id(span_context.span_id),
    }


@contextmanager
def bound(correlation_id: str | None, school_id: str | None) -> Iterator[None]:
    """The request's ids in ``telemetry.context`` for a unit of work that is not a request (a queue
    record, a lake row); the previous values come back afterwards."""
    tokens = (context.correlation_id.set(correlation_id or None), context.school_id.set(school_id or None))
    try:
        yield
    finally:
        context.school_id.reset(tokens[1])
        context.correlation_id.reset(tokens[0])


def id_attributes(correlation_id: str | None, school_id: str | None) -> dict[str, str]:
    """The ids as span attributes, set at the span's start: a provider without the platform's
    ``ContextSpanProcessor`` (the ADOT layer's) would not stamp them."""
    attributes = {}
    if correlation_id:
        attributes[context.CORRELATION_ATTRIBUTE] = correlation_id
    if school_id:
        attributes[context.SCHOOL_ATTRIBUTE] = school_id
    return attributes


@contextmanager
def continued_span(
    tracer: trace.Tracer,
    name: str,
    *,
    trace_header: str | None,
    correlation_id: str | None = None,
    school_id: str | None = None,
    kind: SpanKind = SpanKind.CONSUMER,
    attributes: Mapping[str, str | int | bool] | None = None,
    links: Sequence[Link] = (),
    start_time: int | None = None,
) -> Iterator[Span]:
    """A current span continuing the trace ``trace_header`` names (a new trace without one), with the
    request's ids bound for the log lines written inside it."""
    with (
        bound(correlation_id, school_id),
        tracer.start_as_current_span(
            name,
            context=context_from_xray(trace_header),
            kind=kind,
            attributes={**id_attributes(correlation_id, school_id), **(attributes or {})},
            links=links,
            start_time=start_time,
        ) as span,
    ):
        yield span
