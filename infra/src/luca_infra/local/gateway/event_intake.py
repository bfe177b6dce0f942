"""The burst path's SQS integration: ``POST /v1/events`` and ``POST /v1/events/batch``.

The local twin of the AWS edge's request model and SQS integration (no compute there either). A body
is one ``luca.ingest.v1.StudentEvent`` or a ``SubmitEventsRequest`` of 1-10 events, checked against
the contract's generated JSON Schema (which allows no extra properties, so a body cannot name a
school); each event is limited to ``max_event_bytes``. The events go to the queue in one
SendMessageBatch, entry Id = event id, with the ``school_id`` attribute taken from the verified
token and ``correlation_id`` from the request; the answer is 202 ``{"event_ids": [...]}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import boto3
import fastjsonschema
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from luca_infra.definitions import NOT_THE_SUBMITTER, PLATFORM_DEFINITION, IngestDefinition
from luca_infra.local.gateway.problems import problem
from luca_infra.local.gateway.tracing import AWS_TRACE_HEADER, xray_header
from luca_kernel.access import Principal

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

EVENT_SCHEMAS_PACKAGE = "luca.ingest.v1.schemas"

log = logging.getLogger("luca.gateway")


@dataclass(frozen=True, slots=True)
class EventIntakeSettings:
    """Where the event routes put events, and the edge's limits (from ``IngestDefinition`` and the
    platform's request body limit)."""

    queue_url: str
    region: str
    endpoint_url: str | None = None
    max_events_per_request: int = PLATFORM_DEFINITION.ingest.max_events_per_request
    max_event_bytes: int = PLATFORM_DEFINITION.ingest.max_event_bytes
    # The whole body, one event or a batch: the edge's limit on every route (the WAF's in AWS).
    max_body_bytes: int = PLATFORM_DEFINITION.request_body_limit_bytes
    school_attribute: str = PLATFORM_DEFINITION.ingest.school_attribute
    correlation_attribute: str = PLATFORM_DEFINITION.ingest.correlation_attribute
    student_attribute: str = PLATFORM_DEFINITION.ingest.student_attribute

    @classmethod
    def from_definition(
        cls,
        ingest: IngestDefinition,
        *,
        queue_url: str,
        region: str,
        endpoint_url: str | None = None,
        max_body_bytes: int = PLATFORM_DEFINITION.request_body_limit_bytes,
    ) -> EventIntakeSettings:
        return cls(
            queue_url=queue_url,
            region=region,
            endpoint_url=endpoint_url,
            max_events_per_request=ingest.max_events_per_request,
            max_event_bytes=ingest.max_event_bytes,
            max_body_bytes=max_body_bytes,
            school_attribute=ingest.school_attribute,
            correlation_attribute=ingest.correlation_attribute,
            student_attribute=ingest.student_attribute,
        )


@cache
def event_validator(schema: str) -> Callable[[Any], Any]:
    """The generated JSON Schema of ``luca.ingest.v1.<schema>``, compiled once (the processor uses it too)."""
    source = resources.files(EVENT_SCHEMAS_PACKAGE).joinpath(f"{schema}.schema.json")
    validate: Callable[[Any], Any] = fastjsonschema.compile(json.loads(source.read_text(encoding="utf-8")))
    return validate


class _Rejected(Exception):
    def __init__(
        self, status: int, kind: str, detail: str, *, extra: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail, self.extra = status, kind, detail, dict(extra or {})


class EventIntake:
    """``POST /v1/events`` and ``/v1/events/batch``: validated events onto the queue, nothing else."""

    def __init__(self, settings: EventIntakeSettings, *, sqs: SQSClient | None = None) -> None:
        self.settings = settings
        self._sqs: SQSClient = sqs or boto3.client(
            "sqs",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=50),
        )
        self._single = event_validator("StudentEvent")
        self._batch = event_validator("SubmitEventsRequest")

    async def submit(self, request: Request, *, principal: Principal, batch: bool) -> Response:
        try:
            events = self._events(await self._body(request), batch=batch)
            self._check_submitter(events, principal)
            # The request's trace, as API Gateway's SQS integration passes it: the handler continues it.
            trace_header = xray_header()
            entries = [
                self._entry(event, principal, request.state.correlation_id, trace_header) for event in events
            ]
        except _Rejected as rejected:
            return problem(request, rejected.status, rejected.kind, rejected.detail, extra=rejected.extra)
        event_ids = [entry["Id"] for entry in entries]
        try:
            sent = await anyio.to_thread.run_sync(self._send, entries)
        except (BotoCoreError, ClientError) as error:
            log.warning("events not queued", extra={"error": repr(error), "events": len(entries)})
            return problem(
                request,
                503,
                "queue-unavailable",
                "the events could not be queued; send them again (their event ids make a resend harmless)",
                {"Retry-After": "1"},
            )
        failed = [entry["Id"] for entry in sent.get("Failed", [])]
        if failed:
            log.warning("events not queued", extra={"failed": failed})
            return problem(
                request,
                503,
                "queue-unavailable",
                f"{len(failed)} of {len(entries)} events were not queued; send them again "
                "(their event ids make a resend harmless)",
                {"Retry-After": "1"},
                extra={"failed_event_ids": failed},
            )
        return JSONResponse({"event_ids": event_ids}, status_code=202)

    async def _body(self, request: Request) -> bytes:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            raise _Rejected(415, "unsupported-media-type", "send the request body as application/json")
        limit = self.settings.max_body_bytes
        too_large = _Rejected(413, "content-too-large", f"the request body exceeds {limit} bytes")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise too_large
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:  # stop reading: the rest is never buffered
                raise too_large
        return bytes(body)

    def _events(self, body: bytes, *, batch: bool) -> list[dict[str, Any]]:
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _Rejected(400, "malformed-json", "the body is not valid JSON") from exc
        validate, contract = (self._batch, "SubmitEventsRequest") if batch else (self._single, "StudentEvent")
        try:
            validate(document)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise _Rejected(
                400,
                "validation",
                f"the body does not match luca.ingest.v1.{contract}",
                extra={"errors": [{"loc": list(exc.path[1:]), "msg": exc.message, "type": exc.rule}]},
            ) from exc
        events: list[dict[str, Any]] = document["events"] if batch else [document]
        ids = [event["event_id"] for event in events]
        repeated = sorted({event_id for event_id in ids if ids.count(event_id) > 1})
        if repeated:
            raise _Rejected(
                400,
                "duplicate-event-ids",
                "every event in a request needs its own event_id",
                extra={"event_ids": repeated},
            )
        return events

    @staticmethod
    def _check_submitter(events: list[dict[str, Any]], principal: Principal) -> None:
        """A student's token sends only that student's events (API Gateway's template refuses alike)."""
        if principal.student_id is None:
            return
        others = [event["event_id"] for event in events if event["student_id"] != principal.student_id]
        if others:
            raise _Rejected(403, "forbidden", NOT_THE_SUBMITTER, extra={"event_ids": others})

    def _entry(
        self, event: Mapping[str, Any], principal: Principal, correlation_id: str, trace_header: str | None
    ) -> dict[str, Any]:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        size = len(body.encode("utf-8"))
        if size > self.settings.max_event_bytes:
            raise _Rejected(
                413,
                "content-too-large",
                f"event {event['event_id']} is {size} bytes; an event may have at most "
                f"{self.settings.max_event_bytes}",
            )
        # The school (and a student's own id) come from the verified token only; the body cannot name one.
        attributes = {
            self.settings.school_attribute: {"DataType": "String", "StringValue": principal.school_id},
            self.settings.correlation_attribute: {"DataType": "String", "StringValue": correlation_id},
        }
        if principal.student_id is not None:
            attributes[self.settings.student_attribute] = {
                "DataType": "String",
                "StringValue": principal.student_id,
            }
        entry: dict[str, Any] = {
            "Id": event["event_id"],
            "MessageBody": body,
            "MessageAttributes": attributes,
        }
        if trace_header:
            entry["MessageSystemAttributes"] = {
                AWS_TRACE_HEADER: {"DataType": "String", "StringValue": trace_header}
            }
        return entry

    def _send(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        response = self._sqs.send_message_batch(
            QueueUrl=self.settings.queue_url,
            Entries=entries,  # type: ignore[arg-type]
        )
        return dict(response)
