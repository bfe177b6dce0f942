"""The event-source mapping's stand-in against a real queue, with stand-in functions.

What Lambda's SQS mapping promises: batches up to BatchSize gathered within the window, the event
and context shapes a handler sees, deletion of exactly the records not reported as failed, nothing
deleted when the invocation fails, and failed messages left for the queue's redrive policy.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_trace_id

from luca_infra.definitions import PlatformDefinition
from luca_infra.local.emulator import Emulator
from luca_infra.local.event_source import (
    EventSourceMapping,
    EventSourceRunner,
    InvocationContext,
    failed_records,
)
from luca_infra.local.lambda_process import CONFIG_VARIABLE, LambdaProcessConfig
from luca_infra.local.provision import EventQueues
from luca_infra.local.service_process import ServiceProcess
from luca_ingest.entrypoints.handler import incoming

pytestmark = pytest.mark.emulator
Drained = Callable[[str], list[dict[str, Any]]]
TRACE_ID = "5759e988bd862e3fe1be46a994272793"
TRACE_HEADER = f"Root=1-{TRACE_ID[:8]}-{TRACE_ID[8:]};Parent=53995c3f42cd8ad8;Sampled=1"


def span_recorder() -> InMemorySpanExporter:
    """Spans finished from now on. The provider is process-wide and set once: join it if set."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


class Function:
    """A stand-in Lambda function: records every invocation; fails the records ``fails`` picks."""

    def __init__(self, fails: Callable[[dict[str, Any]], bool] = lambda _record: False) -> None:
        self.fails = fails
        self.invocations: list[tuple[dict[str, Any], Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.invocations.append((event, context))
        failures = [r["messageId"] for r in event["Records"] if self.fails(r)]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}

    @property
    def batch_sizes(self) -> list[int]:
        return [len(event["Records"]) for event, _ in self.invocations]

    def bodies(self) -> list[str]:
        return [record["body"] for event, _ in self.invocations for record in event["Records"]]


def mapping_for(
    definition: PlatformDefinition, queues: EventQueues, emulator: Emulator, **overrides: Any
) -> EventSourceMapping:
    """The deployed mapping's settings with short polls and waits, and whatever a test narrows.

    The window is 0 unless a test is about it: messages already queued arrive in one receive.
    """
    mapping = EventSourceMapping.from_definition(
        definition.ingest,
        queue_url=queues.queue_url,
        queue_arn=queues.queue_arn,
        region=emulator.region,
        endpoint_url=emulator.url,
        retry_delay_seconds=0,
        poll_wait_seconds=1,
    )
    return replace(mapping, **{"max_batching_window_seconds": 0, **overrides})


def send(
    sqs: Any,
    queue_url: str,
    bodies: list[str],
    school: str | None = "school-a",
    trace_header: str | None = None,
) -> list[str]:
    ids = []
    for start in range(0, len(bodies), 10):
        entries = []
        for n, body in enumerate(bodies[start : start + 10]):
            entry: dict[str, Any] = {"Id": str(n), "MessageBody": body}
            if school is not None:
                entry["MessageAttributes"] = {
                    "school_id": {"DataType": "String", "StringValue": school},
                    "correlation_id": {"DataType": "String", "StringValue": f"corr-{start + n}"},
                }
            if trace_header is not None:  # what a traced sender sets (the gateway does)
                entry["MessageSystemAttributes"] = {
                    "AWSTraceHeader": {"DataType": "String", "StringValue": trace_header}
                }
            entries.append(entry)
        if trace_header is not None:
            # One by one: the emulator keeps system attributes on SendMessage only (moto 5.2.5's
            # SendMessageBatch drops them).
            ids.extend(
                sqs.send_message(QueueUrl=queue_url, **{k: v for k, v in e.items() if k != "Id"})["MessageId"]
                for e in entries
            )
            continue
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        assert not response.get("Failed")
        ids.extend(entry["MessageId"] for entry in response["Successful"])
    return ids


def depth(sqs: Any, queue_url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


# -- what the function receives ------------------------------------------------------------------------------
def test_the_function_gets_lambdas_sqs_event_and_a_lambda_context(
    sqs: Any, queues: EventQueues, definition: PlatformDefinition, emulator: Emulator
) -> None:
    function = Function()
    runner = EventSourceRunner(mapping_for(definition, queues, emulator), function)
    body = json.dumps({"event_id": "evt-00000001"})
    (message_id,) = send(sqs, queues.queue_url, [body], school="school-a")

    runner.run_once()

    ((event, context),) = function.invocations
    (record,) = event["Records"]
    assert record["messageId"] == message_id
    assert record["body"] == body
    assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()  # noqa: S324 - SQS's checksum
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queues.queue_arn
    assert record["awsRegion"] == emulator.region
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["attributes"]["SentTimestamp"].isdigit()
    assert record["messageAttributes"]["school_id"] == {
        "stringValue": "school-a",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    # Powertools' data class and the handler's own mapping read it as they read Lambda's.
    (parsed,) = SQSEvent(event).records
    assert parsed.receipt_handle == record["receiptHandle"]
    assert parsed.message_attributes["correlation_id"].string_value == "corr-0"
    assert incoming(record).school_id == "school-a"
    assert context.function_name == definition.ingest.function_name
    assert context.invoked_function_arn == (
        f"arn:aws:lambda:{emulator.region}:{queues.queue_arn.split(':')[4]}:function:"
        f"{definition.ingest.function_name}"
    )
    assert context.memory_limit_in_mb == definition.ingest.memory_mib
    assert str(uuid.UUID(context.aws_request_id)) == context.aws_request_id
    assert "AWSTraceHeader" not in record["attributes"]  # the sender was not traced


def test_the_senders_trace_reaches_the_function_and_the_invocation_span_continues_it(
    sqs: Any, queues: EventQueues, definition: PlatformDefinition, emulator: Emulator
) -> None:
    spans = span_recorder()
    function = Function()
    runner = EventSourceRunner(mapping_for(definition, queues, emulator), function)
    send(sqs, queues.queue_url, ["traced"], trace_header=TRACE_HEADER)

    runner.run_once()

    ((event, _),) = function.invocations
    (record,) = event["Records"]
    assert record["attributes"]["AWSTraceHeader"] == TRACE_HEADER  # where Lambda puts it
    (span,) = [s for s in spans.get_finished_spans() if s.name.startswith("event-source invoke")]
    assert format_trace_id(span.context.trace_id) == TRACE_ID
    assert span.attributes is not None
    assert span.attributes["luca.outcome"] == "ok"


def test_the_context_counts_down_from_the_function_timeout() -> None:
    context = InvocationContext(
        function_name="f",
        invoked_function_arn="arn",
        memory_limit_in_mb=128,
        aws_request_id="r",
        deadline=time.monotonic() + 30,
    )
    expired = replace(context, deadline=time.monotonic() - 1)

    assert 29_000 < context.get_remaining_time_in_millis() <= 30_000
    assert expired.get_remaining_time_in_millis() == 0


# -- batching ------------------------------------------------------------------------------------------------
def test_a_batch_closes_when_full_and_the_rest_waits_for_its_window(
    sqs: Any, queues: EventQueues, definition: PlatformDefinition, emulator: Emulator
) -> None:
    function = Function()
    runner = EventSourceRunner(
        mapping_for(definition, queues, emulator, batch_size=20, max_batching_window_seconds=1), function
    )
    send(sqs, queues.queue_url, [f"m{n}" for n in range(25)])

    runner.run_once()
    runner.run_once()

    assert function.batch_sizes == [20, 5]
    assert sorted(function.bodies()) == sorted(f"m{n}" for n in range(25))


def test_messages_sent_during_the_window_join_the_batch(
    sqs: Any, queues: EventQueues, definition: PlatformDefinition, emulator: Emulator
) -> None:
    function = Function()
    runner = EventSourceRunner(
        mapping_for(definition, queues, emulator, max_batching_window_seconds=3), function
    )
    send(sqs, queues.queue_url, ["early"])
    late = threading.Timer(1.0, lambda: send(sqs, queues.queue_url, ["late"]))
    late.start()

    runner.run_once()
    late.join()

    assert function.batch_sizes == [2]
    assert sorted(function.bodies()) == ["early", "late"]


# -- settling the batch --------------------------------------------------------------------------------------
def test_only_the_records_not_reported_as_failed_are_deleted(
    sqs: Any, queues: EventQueues, definition: PlatformDefinition, emulator: Emulator, drained: Drained
) -> None:
    function = Function(fails=lambda record: record["body"].startswith("bad"))
    runner = EventSourceRunner(mapping_for(definition, queues, emulator), function)
    ids = dict(
        zip(
            ["good-1", "bad-1", "good-2", "bad-2", "good-3"],
            send(sqs, queues.queue_url, ["good-1", "bad-1", "good-2", "bad-2", "good-3"]),
            strict=True,
        )
    )

    report = runner.run_once()

    assert report is not None
    assert report.outcome == "partial"
    assert report.deleted == {ids["good-1"], ids["good-2"], ids["good-3"]}
    assert report.failed == {ids["bad-1"], ids["bad-2"]}
    back = drained(queues.queue_url)  # the failed ones, visible again after the retry delay
    assert sorted(m["Body"] for m in back) == ["bad-1", "bad-2"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in back} == {"2"}
    assert runner.totals.as_dict() == {"invocations": 1, "records": 5, "deleted": 3, "failed": 2, "errors": 0}


def test_an_invocation_that_raises_deletes_nothing(
    sqs: Any, queues: EventQueues, definition: PlatformDefinition, emulator: Emulator, drained: Drained
) -> None:
    def crashes(_event: dict[str, Any], _context: Any) -> Any:
        raise RuntimeError("the function crashed")

    runner = EventSourceRunner(mapping_for(definition, queues, emulator), crashes)
    send(sqs, queues.queue_url, ["a", "b"])

    report = runner.run_once()

    assert report is not None
    assert (report.outcome, report.deleted, len(report.failed)) == ("error", frozenset(), 2)
    assert sorted(m["Body"] for m in drained(queues.queue_url)) == ["a", "b"]
    assert runner.totals.errors == 1


def test_a_response_naming_a_record_not_in_the_batch_fails_the_whole_batch(
    sqs: Any, queues: EventQueues, definition: PlatformDefinition, emulator: Emulator, drained: Drained
) -> None:
    def confused(_event: dict[str, Any], _context: Any) -> Any:
        return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}

    runner = EventSourceRunner(mapping_for(definition, queues, emulator), confused)
    send(sqs, queues.queue_url, ["a", "b"])

    report = runner.run_once()

    assert report is not None
    assert (report.outcome, report.deleted) == ("invalid-response", frozenset())
    assert sorted(m["Body"] for m in drained(queues.queue_url)) == ["a", "b"]


@pytest.mark.parametrize(
    ("response", "failed", "valid"),
    [
        (None, set(), True),
        ({}, set(), True),
        ({"batchItemFailures": []}, set(), True),
        ({"batchItemFailures": None}, set(), True),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}, True),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"m1", "m2"}, False),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"m1", "m2"}, False),
        ({"batchItemFailures": [{"id": "m1"}]}, {"m1", "m2"}, False),
        ({"batchItemFailures": [{"itemIdentifier": "m9"}]}, {"m1", "m2"}, False),
        ({"batchItemFailures": {"itemIdentifier": "m1"}}, {"m1", "m2"}, False),
    ],
)
def test_partial_batch_responses_are_read_by_lambdas_rules(
    response: Any, failed: set[str], valid: bool
) -> None:
    assert failed_records(response, ["m1", "m2"]) == (failed, valid)


def test_without_a_retry_delay_a_failed_message_waits_out_the_visibility_timeout(
    sqs: Any, queues: EventQueues, definition: PlatformDefinition, emulator: Emulator, drained: Drained
) -> None:
    runner = EventSourceRunner(
        mapping_for(definition, queues, emulator, retry_delay_seconds=None), Function(fails=lambda _r: True)
    )
    send(sqs, queues.queue_url, ["a"])

    runner.run_once()

    assert drained(queues.queue_url) == []
    assert depth(sqs, queues.queue_url) == (0, 1)  # in flight until the visibility timeout (180 s) ends


def test_a_message_that_keeps_failing_moves_to_the_dlq_after_max_receive_count(
    sqs: Any, queues: EventQueues, definition: PlatformDefinition, emulator: Emulator, drained: Drained
) -> None:
    function = Function(fails=lambda record: record["body"] == "poison")
    runner = EventSourceRunner(mapping_for(definition, queues, emulator), function)
    send(sqs, queues.queue_url, ["poison", "fine"], school="school-a", trace_header=TRACE_HEADER)

    for _ in range(3 * definition.ingest.max_receive_count):
        if runner.run_once() is None:
            break

    assert function.bodies().count("poison") == definition.ingest.max_receive_count
    assert function.bodies().count("fine") == 1
    (dead,) = drained(queues.dlq_url)
    assert dead["Body"] == "poison"
    assert dead["MessageAttributes"]["school_id"]["StringValue"] == "school-a"
    # AND the request's correlation id and trace are still on it: the DLQ tools can name the request
    assert dead["MessageAttributes"]["correlation_id"]["StringValue"] == "corr-0"
    assert dead["Attributes"]["AWSTraceHeader"] == TRACE_HEADER
    assert depth(sqs, queues.queue_url) == (0, 0)


# -- pollers -------------------------------------------------------------------------------------------------
def test_concurrent_pollers_deliver_every_message_once_and_stop_cleanly(
    sqs: Any, queues: EventQueues, definition: PlatformDefinition, emulator: Emulator
) -> None:
    function = Function()
    runner = EventSourceRunner(
        mapping_for(
            definition, queues, emulator, max_concurrency=2, batch_size=10, max_batching_window_seconds=1
        ),
        function,
    )
    bodies = [f"m{n:02d}" for n in range(40)]
    send(sqs, queues.queue_url, bodies)

    runner.start()
    deadline = time.monotonic() + 60
    while runner.totals.deleted < len(bodies) and time.monotonic() < deadline:
        time.sleep(0.1)
    runner.stop()

    assert sorted(function.bodies()) == bodies
    assert runner.totals.deleted == len(bodies)
    assert not runner.running
    assert depth(sqs, queues.queue_url) == (0, 0)


def test_the_mapping_takes_the_deployed_settings_and_only_local_knobs(definition: PlatformDefinition) -> None:
    ingest = definition.ingest
    arn = "arn:aws:sqs:us-east-1:123456789012:q"

    mapping = EventSourceMapping.from_definition(ingest, queue_url="u", queue_arn=arn, region="us-east-1")

    assert (mapping.batch_size, mapping.max_batching_window_seconds) == (
        ingest.batch_size,
        ingest.max_batching_window_seconds,
    )
    assert mapping.function_timeout_seconds == ingest.function_timeout_seconds
    assert mapping.max_concurrency == 1
    with pytest.raises(TypeError, match="batch_size"):
        EventSourceMapping.from_definition(ingest, queue_url="u", queue_arn=arn, region="r", batch_size=7)
    with pytest.raises(ValueError, match="max_concurrency"):
        EventSourceMapping.from_definition(
            ingest, queue_url="u", queue_arn=arn, region="r", max_concurrency=ingest.max_concurrency + 1
        )


# -- the process -------------------------------------------------------------------------------------------
def test_the_processor_process_announces_itself_and_stops_on_sigterm(
    tmp_path: Path, queues: EventQueues, definition: PlatformDefinition, emulator: Emulator
) -> None:
    config = LambdaProcessConfig(
        mapping=mapping_for(definition, queues, emulator),
        ready_file=str(tmp_path / "ready.json"),
        log_level="WARNING",
    )
    path = config.write(tmp_path / "processor.json")
    assert LambdaProcessConfig.read(path) == config
    environment = {
        CONFIG_VARIABLE: str(path),
        "LUCA_TABLE_NAME": "unused",
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    }

    process = ServiceProcess.start(
        name="processor",
        module="luca_infra.local.lambda_process",
        environment=environment,
        ready_file=tmp_path / "ready.json",
        timeout_seconds=60,
    )
    process.stop(grace_seconds=20)

    assert process.process.returncode == 0
    assert not (tmp_path / "ready.json").exists()
