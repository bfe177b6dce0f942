"""The ``grade-processor`` Lambda: one SQS batch per invocation, partial failures reported.

The batch is processed as a whole (one read and one write per school, see the store), then
Powertools' BatchProcessor turns the per-record outcomes into the ``batchItemFailures`` response:
the mapping deletes what succeeded and leaves the failures to be retried, then moved to the DLQ by
the queue's redrive policy. A record never fails the batch, and a batch in which every record fails
is reported as such rather than raised, so the invocation itself never errors on bad input.

No I/O at import time: the app is built on the first invocation and kept for the instance's life.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from luca_ingest.bootstrap import IngestApp, build
from luca_ingest.config import IngestSettings
from luca_ingest.service_layer.processor import BatchOutcome, IncomingRecord, RecordOutcome, Status

SERVICE = "grade-processor"
SCHOOL_ATTRIBUTE = "school_id"
CORRELATION_ATTRIBUTE = "correlation_id"
STUDENT_ATTRIBUTE = "submitted_by_student"
OPERATION = "exercise_submission"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Luca/Platform"))
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
    records = [incoming(record) for record in event.get("Records", [])]
    correlation = {record.record_id: record.correlation_id for record in records}
    outcome = application.processor.process(records)
    publish(outcome, application.settings.metrics_namespace)

    def report(record: SQSRecord) -> RecordOutcome:
        result = outcome.records[record.message_id]
        if result.status is Status.FAILED:
            logger.warning(
                "record failed",
                extra={
                    "message_id": record.message_id,
                    "school_id": result.school_id,
                    "event_id": result.event_id,
                    "reason": result.reason,
                    "detail": result.detail,
                    "permanent": result.permanent,
                    "correlation_id": correlation.get(record.message_id),
                },
            )
            raise RecordFailed(result)
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
        },
    )
    return response


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
