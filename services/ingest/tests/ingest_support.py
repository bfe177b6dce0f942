"""Test helpers for the grade processor: contract-shaped bodies, SQS-shaped events and fakes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from opentelemetry import trace
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from luca_ingest.bootstrap import IngestApp
from luca_ingest.domain.events import ExerciseResult, StudentEvent
from luca_ingest.service_layer.ports import SchoolSnapshot, StoredRules, WriteOutcome
from luca_kernel.grading import GradingRule
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId
from luca_testing.fakes import FixedRules


def event_body(
    student: str = "st-1",
    *,
    event_id: str | None = None,
    course: str = "1A",
    subject: str = "math",
    score: str | None = "6.5",
    answers: Sequence[bool] | None = None,
    occurred_at: str = "2026-11-27T10:15:00-03:00",
    **overrides: Any,
) -> dict[str, Any]:
    submission: dict[str, Any] = {"exercise_id": "ex-fractions-3"}
    if answers is not None:
        submission["answers"] = {
            "items": [{"question_id": f"q{i}", "correct": c} for i, c in enumerate(answers)]
        }
    elif score is not None:
        submission["score"] = score
    body = {
        "event_id": event_id or f"evt-{uuid.uuid4()}",
        "student_id": student,
        "course_id": course,
        "subject_id": subject,
        "occurred_at": occurred_at,
        "schema_version": 1,
        "exercise_submission": submission,
    }
    body.update(overrides)
    return body


def sqs_record(
    body: dict[str, Any] | str,
    school: str | None = "school-a",
    *,
    message_id: str | None = None,
    correlation_id: str | None = None,
    trace_header: str | None = None,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "correlation_id": {
            "stringValue": correlation_id or f"corr-{uuid.uuid4().hex[:8]}",
            "dataType": "String",
        }
    }
    if school is not None:
        attributes["school_id"] = {"stringValue": school, "dataType": "String"}
    system = {"ApproximateReceiveCount": "1", "SentTimestamp": "1764240000000"}
    if trace_header is not None:
        system["AWSTraceHeader"] = trace_header
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"rh-{uuid.uuid4()}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": system,
        "messageAttributes": attributes,
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:luca-student-events",
        "awsRegion": "us-east-1",
    }


class LambdaContext:
    function_name = "luca-grade-processor"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:luca-grade-processor"
    aws_request_id = "req-test"
    log_group_name = "/aws/lambda/luca-grade-processor"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@dataclass
class FakeStore:
    """Students per school (student -> course), subjects per school, stored event keys per school."""

    students: dict[str, dict[str, str]] = field(default_factory=dict)
    subjects: dict[str, set[str]] = field(default_factory=dict)
    stored: dict[str, dict[tuple[str, str], ExerciseResult]] = field(default_factory=dict)
    # (school, events) per school of each read, and of each write; one read and one write per batch.
    snapshots: list[tuple[str, int]] = field(default_factory=list)
    writes: list[tuple[str, int]] = field(default_factory=list)
    read_calls: int = 0
    write_calls: int = 0
    fail_reads_for: set[str] = field(default_factory=set)
    fail_writes_for: set[str] = field(default_factory=set)
    stored_meanwhile: set[tuple[str, str, str]] = field(default_factory=set)  # raced in by another invocation

    def snapshot(
        self,
        events: Mapping[SchoolId, Sequence[StudentEvent]],
        rule_subjects: Mapping[SchoolId, frozenset[SubjectId]],
    ) -> dict[SchoolId, SchoolSnapshot | Exception]:
        self.read_calls += 1
        snapshots: dict[SchoolId, SchoolSnapshot | Exception] = {}
        for school_id, school_events in events.items():
            self.snapshots.append((school_id, len(school_events)))
            if (
                school_id in self.fail_reads_for
            ):  # as the real store: that school's read failed, not the others'
                snapshots[school_id] = ConnectionError("table unreachable")
                continue
            stored = self.stored.get(school_id, {})
            snapshots[school_id] = SchoolSnapshot(
                frozenset((StudentId(s), e) for s, e in stored),
                {StudentId(s): CourseId(c) for s, c in self.students.get(school_id, {}).items()},
                frozenset(SubjectId(s) for s in self.subjects.get(school_id, set())),
            )
        return snapshots

    def write_new(self, results: Sequence[ExerciseResult]) -> WriteOutcome:
        by_school: dict[str, list[ExerciseResult]] = {}
        for result in results:
            by_school.setdefault(result.event.school_id, []).append(result)
        self.writes.extend((school, len(school_results)) for school, school_results in by_school.items())
        if self.fail_writes_for & set(by_school):
            raise ConnectionError("table unreachable")
        written, already = set(), set()
        for result in results:
            event = result.event
            key = (event.school_id, event.student_id, event.event_id)
            if key in self.stored_meanwhile:
                already.add(key)
                continue
            self.stored.setdefault(event.school_id, {})[(event.student_id, event.event_id)] = result
            written.add(key)
        calls = 1 if written or already else 0
        self.write_calls += calls
        return WriteOutcome(frozenset(written), frozenset(already), calls)


@dataclass
class FixedBatchRules:
    """The processor's rule port over ``FixedRules``: every rule warm, nothing read with the batch."""

    fixed: FixedRules

    def cold(self, school_id: SchoolId, subject_ids: frozenset[SubjectId]) -> frozenset[SubjectId]:
        return frozenset()

    def rule_for(self, school_id: SchoolId, subject_id: SubjectId, stored: StoredRules) -> GradingRule:
        return self.fixed.rule_for(school_id, subject_id)


@dataclass
class EmulatedIngest:
    app: IngestApp
    endpoint: str
    table_name: str

    def items(self) -> list[dict[str, object]]:
        client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=self.endpoint)
        return client.scan(TableName=self.table_name)["Items"]

    def exercise_results(self) -> list[dict[str, object]]:
        return [item for item in self.items() if item["type"] == {"S": "ExerciseResult"}]


def span_recorder() -> InMemorySpanExporter:
    """Finished spans of this process, in memory. The tracer provider is process-wide and set once,
    so the recorder joins the one another test may have installed instead of replacing it."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(id_generator=AwsXRayIdGenerator())
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter
