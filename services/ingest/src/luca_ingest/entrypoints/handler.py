"""The ``grade-processor`` Lambda: one SQS batch per invocation, partial failures reported.

The batch is processed as a whole (one read and one write per school, see the store), then
Powertools' BatchProcessor turns the per-record outcomes into the ``batchItemFailures`` response:
the mapping deletes what succeeded and leaves the failures to be retried, then moved to the DLQ by
the queue's redrive policy. A record never fails the batch, and a batch in which every record fails
is reported as such rather than raised, so the invocation itself never errors on bad input.

Tracing (OpenTelemetry API only; the provider comes from the ADOT Lambda layer in AWS, from the
local Lambda host locally): each record gets a span continuing the trace its sender put in the
``AWSTraceHeader`` system attribute, so one trace runs from the API to the stored result. The batch's
own span (its reads and writes) continues the first traced record's trace and links every record's.
Each record's log line carries its ``correlation_id``, ``school_id``, ``trace_id`` and ``span_id``.

No I/O at import time: the app is built on the first invocation and kept for the instance's life.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace import Status as SpanStatus

from luca_ingest.bootstrap import IngestApp, build
from luca_ingest.config import IngestSettings
from luca_ingest.service_layer.processor import BatchOutcome, IncomingRecord, RecordOutcome, Status
from luca_platform.telemetry import propagation

SERVICE = "grade-processor"
SCHOOL_ATTRIBUTE = "school_id"
CORRELATION_ATTRIBUTE = "correlation_id"
STUDENT_ATTRIBUTE = "submitted_by_student"
OPERATION = "exercise_submission"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Luca/Platform"))
# A proxy until a provider is installed (by the layer or the local host): nothing configured here.
tracer = trace.get_tracer("luca.grade-processor")
_app: IngestApp | None = None


class RecordFailed(Exception):
    def __init__(self, outcome: RecordOutcome) -> None:
        super().__init__(f"{outcome.reason}: {outcome.detail}")
        self.outcome = outcome


def app() -> IngestApp:
    global _app
    if _app is None:
        _app = build(IngestSettings.from_environment())
    return _app


def incoming(record: dict[str, Any]) -> IncomingRecord:
    attributes = record.get("messageAttributes") or {}

    def attribute(name: str) -> str | None:
        value = attributes.get(name) or {}
        return value.get("stringValue") or None

    return IncomingRecord(
        record_id=record["messageId"],
        body=record.get("body") or "",
        school_id=attribute(SCHOOL_ATTRIBUTE),
        correlation_id=attribute(CORRELATION_ATTRIBUTE) or "",
        submitted_by_student=attribute(STUDENT_ATTRIBUTE),
    )


def process(
    event: dict[str, Any], context: LambdaContext, application: IngestApp | None = None
) -> dict[str, Any]:
    application = application or app()
    raw = list(event.get("Records", []))
    records = [incoming(record) for record in raw]
    by_id = {record.record_id: record for record in records}
    headers = {record["messageId"]: propagation.record_trace_header(record) for record in raw}
    started = time.time_ns()
    # The handler thread's CPU: in AWS nothing else runs in the instance; locally the emulator
    # serves the batch's calls on other threads of the same process, which this leaves out.
    cpu_started = time.thread_time()
    with tracer.start_as_current_span(
        f"{SERVICE} batch",
        context=propagation.context_from_xray(next((h for h in headers.values() if h), None)),
        kind=SpanKind.CONSUMER,
        links=[link for link in map(propagation.link_to, set(headers.values())) if link is not None],
        attributes={
            "messaging.system": "aws_sqs",
            "messaging.batch.message_count": len(records),
            "faas.invocation_id": getattr(context, "aws_request_id", "") or "",
        },
    ) as batch_span:
        outcome = application.processor.process(records)
        batch_span.set_attribute("luca.write_calls", outcome.write_calls)
        publish(outcome, application.settings.metrics_namespace)

    def report(record: SQSRecord) -> RecordOutcome:
        sent = by_id[record.message_id]
        result = outcome.records[record.message_id]
        with (
            propagation.continued_span(
                tracer,
                f"{SERVICE} record",
                trace_header=headers.get(record.message_id),
                correlation_id=sent.correlation_id,
                school_id=result.school_id or sent.school_id,
                start_time=started,  # the record waited on the whole batch's work
                attributes={"messaging.message.id": record.message_id, "luca.outcome": result.status.value},
            ) as span,
            _log_keys(sent.correlation_id, result.school_id or sent.school_id, span),
        ):
            if result.status is Status.FAILED:
                span.set_status(SpanStatus(StatusCode.ERROR, result.reason))
                logger.warning(
                    "record failed",
                    extra={
                        "message_id": record.message_id,
                        "event_id": result.event_id,
                        "reason": result.reason,
                        "detail": result.detail,
                        "permanent": result.permanent,
                    },
                )
                raise RecordFailed(result)
            # One line per record: what `luca trace` and Logs Insights find by correlation id.
            logger.info(
                "record processed",
                extra={
                    "message_id": record.message_id,
                    "event_id": result.event_id,
                    "outcome": result.status.value,
                },
            )
            return result

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = dict(
        process_partial_response(event=event, record_handler=report, processor=processor, context=context)
    )
    logger.info(
        "batch processed",
        extra={
            "records": len(records),
            "stored": sum(1 for o in outcome.records.values() if o.status is Status.STORED),
            "duplicates": sum(1 for o in outcome.records.values() if o.status is Status.DUPLICATE),
            "failed": len(outcome.failed),
            "write_calls": outcome.write_calls,
            "schools": len(outcome.school_seconds),
            # What per-school sessions would have cost: one write call per school with a new result.
            "schools_written": len(
                {o.school_id for o in outcome.records.values() if o.status is Status.STORED}
            ),
            # The instance's CPU for the batch (decoding, grading, the SDK's serialising and signing).
            "cpu_ms": round(1000 * (time.thread_time() - cpu_started), 2),
            **propagation.ids_of(batch_span),
        },
    )
    return response


@contextmanager
def _log_keys(correlation_id: str, school_id: str | None, span: Span) -> Iterator[None]:
    """The record's ids on every log line written for it; per thread (the local mapping may run
    several pollers in one process), removed afterwards."""
    keys = {"correlation_id": correlation_id or None, "school_id": school_id, **propagation.ids_of(span)}
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(keys)


def publish(outcome: BatchOutcome, namespace: str) -> None:
    """``GradeProcessingLatency`` per school and operation, in EMF (one document per school)."""
    for school_id, seconds in outcome.school_seconds.items():
        with single_metric(
            name="GradeProcessingLatency",
            unit=MetricUnit.Milliseconds,
            value=seconds * 1000,
            namespace=namespace,
            default_dimensions={"school_id": school_id, "operation_type": OPERATION},
        ) as metric:
            metric.add_metadata("service", SERVICE)
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(outcome.failed))


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process(event, context)
