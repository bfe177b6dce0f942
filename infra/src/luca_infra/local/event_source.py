"""The SQS event-source mapping's stand-in: polls the events queue and invokes the grade processor.

In AWS, Lambda's pollers read the queue and invoke ``luca-grade-processor`` with batches of
messages; the mapping (``IngestDefinition``: BatchSize 50, MaximumBatchingWindowInSeconds 5,
ReportBatchItemFailures) deletes what succeeded and leaves the rest to the queue's redrive policy.
Locally nothing does that for the emulator, so this runner does, with the same settings:

* **Gathering.** ReceiveMessage (10 at a time, long polling, every system attribute, among them
  ``AWSTraceHeader``, the sender's trace, and every message attribute) until the batch holds ``batch_size`` messages or ``max_batching_window_seconds`` have passed since
  its first message arrived.
* **Invocation.** The handler is called in this process (``luca_ingest.entrypoints.handler.handler``,
  which builds its app on the first call and keeps it, like a warm instance) with the event Lambda
  would send (``Records`` with ``messageId``, ``receiptHandle``, ``body``, ``attributes``,
  ``messageAttributes`` in Lambda's camel-case shape, ``md5OfBody``, ``eventSource`` ``aws:sqs``,
  ``eventSourceARN``, ``awsRegion``) and a Lambda-shaped context whose remaining time counts down
  from the function's timeout.
* **Partial failures.** The response's ``batchItemFailures`` name the failed records; every other
  record is deleted (DeleteMessageBatch). As in Lambda, a response naming an id that is not in the
  batch (or an empty one) fails the whole batch, an invocation that raises deletes nothing, and one
  that runs past the function's timeout counts as failed (Lambda would have stopped it). Failed
  messages stay on the queue; its redrive policy moves them to the DLQ once they have been received
  ``maxReceiveCount`` times (the emulator does that on receive, as SQS does).

Local-only differences, on purpose:

* **Retry delay.** Lambda leaves a failed message invisible for the rest of the queue's visibility
  timeout (6 x the function timeout: 180 s here), so a poison message needs about 15 minutes to reach
  the DLQ. The runner sets the failed messages' visibility to ``retry_delay_seconds`` (2 s by
  default) instead, so they are retried, and dead-lettered, within seconds. ``None`` keeps Lambda's
  behaviour.
* **Concurrency.** ``max_concurrency`` pollers (threads), each gathering and invoking its own
  batches; the default is 1. In AWS each concurrent invocation has its own instance (the mapping's
  MaximumConcurrency is ``IngestDefinition.max_concurrency``); here the threads share this process's
  warm handler, and one interpreter lock, so more than a few pollers add nothing but contention.
  Powertools keeps its logger keys and metric buffer per process, so with several pollers a log
  line or a metrics flush may carry another concurrent invocation's context; the results stored
  are unaffected (the processor's clients and caches are thread-safe).
* **Long polls** wait at most ``poll_wait_seconds`` (2 s, where Lambda waits 20 s), so a stop request
  is honoured within seconds; a message still arrives as soon as it is sent.
* **Payload limit.** Lambda also closes a batch at 6 MB of payload; with events of at most
  ``IngestDefinition.max_event_bytes`` a full batch stays far below it, so it is not checked.

Each invocation is logged as one JSON line with the batch's counts and the runner's running totals,
and has a span (``event-source invoke``, as Lambda's own segment would be) in the trace of the batch's
first traced record, linked to every record's trace.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from luca_infra.definitions import IngestDefinition
from luca_platform.telemetry import propagation

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("luca.event_source")
tracer = trace.get_tracer("luca.event_source")

MAX_MESSAGES_PER_RECEIVE = 10  # ReceiveMessage and the batch calls take at most 10
EVENT_SOURCE = "aws:sqs"
# How long a poller backs off after the queue could not be read (the emulator stopping, say).
_RECEIVE_ERROR_PAUSE_SECONDS = 1.0
# Between short polls while a batch waits out the rest of its window.
_WINDOW_TICK_SECONDS = 0.2

LambdaFunction = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True, slots=True)
class EventSourceMapping:
    """The mapping's settings: the queue, the function, and how batches are gathered and retried."""

    queue_url: str
    queue_arn: str
    function_name: str
    region: str
    endpoint_url: str | None = None
    batch_size: int = 50
    max_batching_window_seconds: float = 5.0
    function_timeout_seconds: int = 30
    memory_mib: int = 512
    max_concurrency: int = 1
    retry_delay_seconds: int | None = 2
    poll_wait_seconds: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError("batch_size must be 1..10000 (Lambda's limit for standard queues)")
        if not 0 <= self.max_batching_window_seconds <= 300:
            raise ValueError("max_batching_window_seconds must be 0..300")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.retry_delay_seconds is not None and not 0 <= self.retry_delay_seconds <= 43_200:
            raise ValueError("retry_delay_seconds must be 0..43200 (SQS's visibility limit) or None")
        if not 0 <= self.poll_wait_seconds <= 20:
            raise ValueError("poll_wait_seconds must be 0..20 (SQS's long-poll limit)")

    @classmethod
    def from_definition(
        cls,
        ingest: IngestDefinition,
        *,
        queue_url: str,
        queue_arn: str,
        region: str,
        endpoint_url: str | None = None,
        **local: Any,
    ) -> EventSourceMapping:
        """The deployed mapping's settings; ``local`` sets only the local-only knobs."""
        mapping = cls(
            queue_url=queue_url,
            queue_arn=queue_arn,
            function_name=ingest.function_name,
            region=region,
            endpoint_url=endpoint_url,
            batch_size=ingest.batch_size,
            max_batching_window_seconds=ingest.max_batching_window_seconds,
            function_timeout_seconds=ingest.function_timeout_seconds,
            memory_mib=ingest.memory_mib,
        )
        unknown = set(local) - {"max_concurrency", "retry_delay_seconds", "poll_wait_seconds"}
        if unknown:
            raise TypeError(f"not local settings of the mapping: {sorted(unknown)}")
        if local.get("max_concurrency", 1) > ingest.max_concurrency:
            raise ValueError(f"max_concurrency is at most {ingest.max_concurrency} (the deployed mapping's)")
        return replace(mapping, **local)

    @property
    def account(self) -> str:
        return self.queue_arn.split(":")[4]

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"


# -- what Lambda hands the function --------------------------------------------------------------------
@dataclass(frozen=True)
class InvocationContext:
    """The Lambda context object's attributes the Python runtime provides (and Powertools reads)."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    deadline: float  # time.monotonic() when the function times out
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id[:8]}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def lambda_record(message: Mapping[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """One ReceiveMessage message as the record Lambda puts in an SQS event."""
    attributes = message.get("MessageAttributes") or {}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {name: _lambda_attribute(value) for name, value in attributes.items()},
        "md5OfBody": message.get("MD5OfBody"),
        **({"md5OfMessageAttributes": message["MD5OfMessageAttributes"]} if attributes else {}),
        "eventSource": EVENT_SOURCE,
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _lambda_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        shaped["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        binary = value["BinaryValue"]
        shaped["binaryValue"] = (
            base64.b64encode(binary).decode("ascii") if isinstance(binary, bytes) else binary
        )
    return shaped


def failed_records(response: Any, message_ids: Sequence[str]) -> tuple[set[str], bool]:
    """The records an invocation reported as failed, by Lambda's ReportBatchItemFailures rules.

    Returns the failed message ids and whether the response was valid. No response, no
    ``batchItemFailures`` or an empty list: every record succeeded. A failure list that is not a
    list, or a failure whose ``itemIdentifier`` is missing, empty or not a message of the batch, is
    an invalid response: the whole batch failed.
    """
    failures = response.get("batchItemFailures") if isinstance(response, Mapping) else None
    if not failures:
        return set(), True
    known = set(message_ids)
    if not isinstance(failures, list):
        return known, False
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in known:
            return known, False
        failed.add(identifier)
    return failed, True


# -- the runner ------------------------------------------------------------------------------------------
@dataclass
class RunnerTotals:
    invocations: int = 0
    records: int = 0
    deleted: int = 0
    failed: int = 0
    errors: int = 0  # invocations that raised or timed out

    def as_dict(self) -> dict[str, int]:
        return {
            "invocations": self.invocations,
            "records": self.records,
            "deleted": self.deleted,
            "failed": self.failed,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class BatchReport:
    """One invocation: what went in, what was deleted, what was left for a retry."""

    request_id: str
    message_ids: tuple[str, ...]
    deleted: frozenset[str]
    failed: frozenset[str]
    outcome: str  # "ok", "partial", "error" (raised), "timeout", "invalid-response"
    duration_ms: float
    response: Any = field(default=None, repr=False)


class EventSourceRunner:
    """Pollers that gather batches from the queue and invoke ``function`` with them.

    ``start()`` runs ``max_concurrency`` pollers in background threads; ``stop()`` lets each finish
    the batch in hand (invoked and settled) and returns. ``run_once()`` gathers and invokes a
    single batch in the caller's thread.
    """

    def __init__(
        self, mapping: EventSourceMapping, function: LambdaFunction, *, sqs: SQSClient | None = None
    ) -> None:
        self.mapping = mapping
        self._function = function
        self._sqs: SQSClient = sqs or boto3.client(
            "sqs",
            region_name=mapping.region,
            endpoint_url=mapping.endpoint_url,
            # A long poll holds the connection for up to poll_wait_seconds.
            config=Config(
                read_timeout=mapping.poll_wait_seconds + 10,
                retries={"mode": "standard", "max_attempts": 3},
                max_pool_connections=max(10, mapping.max_concurrency * 2),
            ),
        )
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.totals = RunnerTotals()

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> EventSourceRunner:
        if self.running:
            return self
        self._stopping.clear()
        self._threads = []
        for number in range(self.mapping.max_concurrency):
            thread = threading.Thread(target=self._poll, name=f"event-source-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "event source mapping started",
            extra={
                "function": self.mapping.function_name,
                "queue": self.mapping.queue_arn,
                "batch_size": self.mapping.batch_size,
                "window_seconds": self.mapping.max_batching_window_seconds,
                "pollers": self.mapping.max_concurrency,
                "retry_delay_seconds": self.mapping.retry_delay_seconds,
            },
        )
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling; each poller settles the batch in hand first."""
        self._stopping.set()
        limit = (
            timeout
            if timeout is not None
            else self.mapping.poll_wait_seconds + self.mapping.function_timeout_seconds + 5
        )
        deadline = time.monotonic() + limit
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        if alive:
            log.warning("pollers still busy at stop", extra={"pollers": alive})
        log.info("event source mapping stopped", extra=self.totals.as_dict())

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception:  # a bug here must not silently end the poller
                log.exception("event source poller failed; polling again")
                self._stopping.wait(_RECEIVE_ERROR_PAUSE_SECONDS)

    # -- one batch ---------------------------------------------------------------------------------------
    def run_once(self) -> BatchReport | None:
        """Gather a batch (waiting for its first message at most one long poll) and invoke it."""
        messages = self.gather()
        if not messages:
            return None
        return self.invoke(messages)

    def gather(self) -> list[dict[str, Any]]:
        """Messages until the batch is full or its window, counted from its first message, has passed.

        Returns an empty list when a long poll brought nothing (or the runner is stopping).
        """
        mapping = self.mapping
        batch: list[dict[str, Any]] = []
        seen: set[str] = set()
        first_at: float | None = None
        while len(batch) < mapping.batch_size:
            if first_at is None:
                if self._stopping.is_set():
                    break
                wait = mapping.poll_wait_seconds
            else:
                remaining = mapping.max_batching_window_seconds - (time.monotonic() - first_at)
                if remaining <= 0 or self._stopping.is_set():
                    break  # a batch in hand is invoked even when stopping: it is already received
                wait = min(mapping.poll_wait_seconds, int(remaining))
            received = self._receive(min(MAX_MESSAGES_PER_RECEIVE, mapping.batch_size - len(batch)), wait)
            fresh = [message for message in received if message["MessageId"] not in seen]
            if fresh:
                if first_at is None:
                    first_at = time.monotonic()
                batch.extend(fresh)
                seen.update(message["MessageId"] for message in fresh)
            elif first_at is None:
                return []  # one empty long poll: let the caller check whether to stop
            elif wait == 0:
                self._stopping.wait(min(_WINDOW_TICK_SECONDS, max(0.0, remaining)))
        return batch

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        try:
            response = self._sqs.receive_message(
                QueueUrl=self.mapping.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=["All"],  # AWSTraceHeader among them, as Lambda's pollers
                MessageAttributeNames=["All"],
            )
        except (BotoCoreError, ClientError) as error:
            if not self._stopping.is_set():
                log.warning("could not read the queue", extra={"error": repr(error)})
                self._stopping.wait(_RECEIVE_ERROR_PAUSE_SECONDS)
            return []
        return list(response.get("Messages", []))  # type: ignore[arg-type]

    def invoke(self, messages: Sequence[Mapping[str, Any]]) -> BatchReport:
        """Invoke the function with ``messages``, then delete what succeeded and schedule the retries."""
        mapping = self.mapping
        records = [lambda_record(m, queue_arn=mapping.queue_arn, region=mapping.region) for m in messages]
        ids = [record["messageId"] for record in records]
        receipts = {record["messageId"]: record["receiptHandle"] for record in records}
        request_id = str(uuid.uuid4())
        context = InvocationContext(
            function_name=mapping.function_name,
            invoked_function_arn=mapping.function_arn,
            memory_limit_in_mb=mapping.memory_mib,
            aws_request_id=request_id,
            deadline=time.monotonic() + mapping.function_timeout_seconds,
        )
        headers = [propagation.record_trace_header(record) for record in records]
        started = time.perf_counter()
        response: Any = None
        with tracer.start_as_current_span(
            f"event-source invoke {mapping.function_name}",
            context=propagation.context_from_xray(next((h for h in headers if h), None)),
            kind=SpanKind.CLIENT,
            links=[link for link in map(propagation.link_to, set(headers)) if link is not None],
            attributes={
                "faas.invoked_name": mapping.function_name,
                "faas.invocation_id": request_id,
                "messaging.batch.message_count": len(ids),
            },
        ) as span:
            try:
                response = self._function({"Records": records}, context)
            except Exception:
                log.exception("invocation failed", extra={"request_id": request_id, "records": len(ids)})
                failed, outcome = set(ids), "error"
            else:
                failed, valid = failed_records(response, ids)
                outcome = "invalid-response" if not valid else "partial" if failed else "ok"
            span.set_attribute("luca.outcome", outcome)
            span.set_attribute("luca.failed", len(failed))
        elapsed = time.perf_counter() - started
        if elapsed > mapping.function_timeout_seconds:
            failed, outcome = set(ids), "timeout"  # Lambda would have stopped it: nothing counts
        succeeded = [message_id for message_id in ids if message_id not in failed]
        deleted = self._delete([(message_id, receipts[message_id]) for message_id in succeeded])
        self._retry_later([receipts[message_id] for message_id in ids if message_id in failed])
        report = BatchReport(
            request_id=request_id,
            message_ids=tuple(ids),
            deleted=frozenset(deleted),
            failed=frozenset(failed),
            outcome=outcome,
            duration_ms=round(elapsed * 1000, 2),
            response=response,
        )
        self._account(report)
        return report

    def _delete(self, entries: Sequence[tuple[str, str]]) -> set[str]:
        deleted: set[str] = set()
        for chunk in _chunks(list(entries), MAX_MESSAGES_PER_RECEIVE):
            try:
                response = self._sqs.delete_message_batch(
                    QueueUrl=self.mapping.queue_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": receipt} for n, (_, receipt) in enumerate(chunk)
                    ],
                )
            except (BotoCoreError, ClientError) as error:
                log.warning("could not delete processed messages", extra={"error": repr(error)})
                continue
            for entry in response.get("Successful", []):
                deleted.add(chunk[int(entry["Id"])][0])
            for entry in response.get("Failed", []):
                log.warning(
                    "a processed message was not deleted",
                    extra={"message_id": chunk[int(entry["Id"])][0], "code": entry.get("Code")},
                )
        return deleted

    def _retry_later(self, receipts: Sequence[str]) -> None:
        delay = self.mapping.retry_delay_seconds
        if delay is None or not receipts:
            return  # as Lambda: the message reappears when the visibility timeout runs out
        for chunk in _chunks(list(receipts), MAX_MESSAGES_PER_RECEIVE):
            try:
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self.mapping.queue_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": receipt, "VisibilityTimeout": delay}
                        for n, receipt in enumerate(chunk)
                    ],
                )
            except (BotoCoreError, ClientError) as error:  # they come back after the visibility timeout
                log.warning("could not shorten the retry delay", extra={"error": repr(error)})

    def _account(self, report: BatchReport) -> None:
        with self._lock:
            totals = self.totals
            totals.invocations += 1
            totals.records += len(report.message_ids)
            totals.deleted += len(report.deleted)
            totals.failed += len(report.failed)
            totals.errors += report.outcome in ("error", "timeout")
            running = totals.as_dict()
        log.info(
            "invocation",
            extra={
                "function": self.mapping.function_name,
                "request_id": report.request_id,
                "outcome": report.outcome,
                "records": len(report.message_ids),
                "deleted": len(report.deleted),
                "failed": len(report.failed),
                "duration_ms": report.duration_ms,
                "totals": running,
            },
        )


def _chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
