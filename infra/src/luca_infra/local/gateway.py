"""The API Gateway stand-in: one port in front of the grading service, as the AWS edge behaves.

It replaces, and is kept as small as, the managed pieces the edge stack deploys:

* the REST API's routes: ``/v1/...`` goes to the grading service unchanged; anything else is 404;
* the Cognito authorizer: a bearer ID token verified against the user pool's JWKS (the service's
  own ``CognitoTokenVerifier``, one instance, keys cached); 401 + ``WWW-Authenticate: Bearer``;
* usage plans / the per-school limiter (ARCHITECTURE §2.5): a token bucket per school plus one for
  the stage, rate and burst from ``definitions.throttling``; 429 with ``Retry-After``;
* access logging: exactly one JSON line per request;
* the burst path's SQS integration: ``POST /v1/events`` (one ``luca.ingest.v1.StudentEvent``) and
  ``POST /v1/events/batch`` (``SubmitEventsRequest``: 1-10 events) never reach the service. The body
  is checked against the contract's generated JSON Schema (a body naming a school is refused: the
  schema allows no extra properties), each event is limited to ``max_event_bytes``, and the events
  go to the queue in one SendMessageBatch, entry Id = event id, with the ``school_id`` attribute
  taken from the verified token's school claim and ``correlation_id`` from the request; the answer is
  202 ``{"event_ids": [...]}``. This is the AWS edge's request model + SQS integration, not compute.

It mints ``X-Correlation-Id`` when the caller sent none (or an unsafe one), passes it upstream and
returns it. It never forwards headers a client could use to claim a tenant or an identity
(``x-luca-*``, ``x-school*``, ``x-amzn-*``); the service takes the school from the verified token
only, and verifies the token again itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio.to_thread
import boto3
import fastjsonschema
import httpx
import uvicorn
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from luca_infra.definitions import (
    NOT_THE_SUBMITTER,
    PLATFORM_DEFINITION,
    IngestDefinition,
    ThrottlingDefinition,
)
from luca_kernel.access import Principal
from luca_kernel.errors import Unauthenticated
from luca_platform.problems import PROBLEM_JSON, problem_body
from luca_platform.telemetry.context import CORRELATION_HEADER, sanitize_correlation_id
from luca_platform.tokens import bearer

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

API_PREFIX = "/v1"
HEALTH_PATH = "/healthz"
REQUEST_ID_HEADER = "x-request-id"
# API Gateway's default integration timeout.
DEFAULT_UPSTREAM_TIMEOUT_SECONDS = 29.0
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
EVENTS_PATH = f"{API_PREFIX}/events"
EVENTS_BATCH_PATH = f"{API_PREFIX}/events/batch"
EVENT_SCHEMAS_PACKAGE = "luca.ingest.v1.schemas"
# Room for the batch envelope ({"events": [...]}) and whitespace around the events themselves.
_BATCH_ENVELOPE_BYTES = 1024

# RFC 9110 §7.6.1 connection-specific fields, plus what the client library sets itself.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
# Headers a client must never be able to set on the service: tenant or identity claims, and the
# ones the edge itself owns.
_UNTRUSTED_PREFIXES = ("x-luca-", "x-school", "x-amzn-", "x-forwarded-", "x-request-id")
# Set by the gateway on the way back; the upstream's copies would duplicate them.
_RESPONSE_OWNED = frozenset({"date", "server", CORRELATION_HEADER, REQUEST_ID_HEADER})

log = logging.getLogger("luca.gateway")


# -- authorizer --------------------------------------------------------------------------------------
class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal: ...


# -- throttling --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket's shape: ``rate`` tokens per second refill, at most ``burst`` banked."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")


@dataclass(slots=True)
class _Bucket:
    limit: RateLimit
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Spend one token; 0.0 when allowed, else the seconds until one is available."""
        self.tokens = min(float(self.limit.burst), self.tokens + (now - self.updated) * self.limit.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.limit.rate

    def full_at(self, now: float) -> bool:
        return self.tokens + (now - self.updated) * self.limit.rate >= self.limit.burst


class SchoolRateLimiter:
    """Per-school token buckets (tiers by school, a default for the rest) behind one stage bucket.

    The stage bucket mirrors the API stage's throttle; the school buckets mirror usage plans and
    the per-school limiter that AWS needs because a Cognito authorizer alone cannot key usage plans.
    """

    def __init__(
        self,
        default: RateLimit,
        *,
        stage: RateLimit | None = None,
        tiers: Mapping[str, RateLimit] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_schools: int = 100_000,
    ) -> None:
        self._default = default
        self._tiers = dict(tiers or {})
        self._clock = clock
        self._max_schools = max_schools
        self._lock = threading.Lock()
        self._schools: dict[str, _Bucket] = {}
        self._stage = _Bucket(stage, float(stage.burst), clock()) if stage else None

    @classmethod
    def from_definition(
        cls, throttling: ThrottlingDefinition, *, tiers: Mapping[str, RateLimit] | None = None
    ) -> SchoolRateLimiter:
        return cls(
            RateLimit(throttling.per_school_rate, throttling.per_school_burst),
            stage=RateLimit(throttling.stage_rate_limit, throttling.stage_burst_limit),
            tiers=tiers,
        )

    def limit_for(self, school_id: str) -> RateLimit:
        return self._tiers.get(school_id, self._default)

    def take(self, school_id: str) -> float:
        """Spend a request for ``school_id``: 0.0 when allowed, else seconds to wait before retrying."""
        with self._lock:
            now = self._clock()
            if self._stage is not None:
                wait = self._stage.take(now)
                if wait:
                    return wait
            bucket = self._schools.get(school_id)
            if bucket is None:
                self._evict_idle(now)
                limit = self.limit_for(school_id)
                bucket = self._schools[school_id] = _Bucket(limit, float(limit.burst), now)
            return bucket.take(now)

    def _evict_idle(self, now: float) -> None:
        # A full bucket carries no state worth keeping: forgetting it changes no decision.
        if len(self._schools) < self._max_schools:
            return
        for school in [s for s, b in self._schools.items() if b.full_at(now)]:
            del self._schools[school]


def retry_after_seconds(wait: float) -> int:
    """``Retry-After`` is whole seconds (RFC 9110 §10.2.3); never tell a client to retry at once."""
    return max(1, math.ceil(wait))


# -- access log ----------------------------------------------------------------------------------------
class AccessLog:
    """One JSON object per request, on its own logger (stdout and, optionally, a file)."""

    def __init__(self, *, path: Path | None = None, stdout: bool = True) -> None:
        # A private logger, not logging.getLogger(): two gateways in one process keep their own sinks.
        self._logger = logging.Logger("luca.gateway.access", logging.INFO)
        self._logger.propagate = False
        formatter = logging.Formatter("%(message)s")
        if stdout:
            console = logging.StreamHandler(sys.stdout)
            console.setFormatter(formatter)
            self._logger.addHandler(console)
        self._file: logging.FileHandler | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = logging.FileHandler(path, encoding="utf-8")
            self._file.setFormatter(formatter)
            self._logger.addHandler(self._file)

    def write(self, entry: Mapping[str, Any]) -> None:
        self._logger.info(json.dumps(entry, separators=(",", ":"), default=str))

    def close(self) -> None:
        for handler in list(self._logger.handlers):
            handler.close()
            self._logger.removeHandler(handler)


class _EdgeContext:
    """Request id, correlation id and the access-log line, around every request (pure ASGI)."""

    def __init__(self, app: ASGIApp, *, access_log: AccessLog) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = str(uuid.uuid4())
        correlation = sanitize_correlation_id(headers.get(CORRELATION_HEADER))
        state = scope.setdefault("state", {})
        state.update(request_id=request_id, correlation_id=correlation, school_id=None, upstream_ms=None)
        started = time.perf_counter()
        status: int | None = None
        logged = False
        owned = [
            (CORRELATION_HEADER.encode(), correlation.encode()),
            (REQUEST_ID_HEADER.encode(), request_id.encode()),
        ]

        def log_once() -> None:
            nonlocal logged
            if logged:
                return
            logged = True
            client = scope.get("client")
            self.access_log.write(
                {
                    "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "requestId": request_id,
                    "correlation_id": correlation,
                    "school_id": state.get("school_id"),
                    "ip": client[0] if client else None,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status if status is not None else 500,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    "upstream_latency_ms": state.get("upstream_ms"),
                    "user_agent": headers.get("user-agent"),
                }
            )

        unsent: int | None = None  # body bytes still to send, when the length is declared

        async def send_with_ids(message: Message) -> None:
            nonlocal status, unsent
            if message["type"] == "http.response.start":
                status = message["status"]
                kept = []
                for name, value in message.get("headers", []):
                    lowered = name.decode("latin-1").lower()
                    if lowered == "content-length" and value.isdigit():
                        unsent = int(value)
                    if lowered not in _RESPONSE_OWNED:
                        kept.append((name, value))
                message["headers"] = [*kept, *owned]
            elif message["type"] == "http.response.body":
                if unsent is not None:
                    unsent -= len(message.get("body", b""))
                # Written before the last byte leaves: a client holding a full response finds its line.
                if not message.get("more_body", False) or (unsent is not None and unsent <= 0):
                    log_once()
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            log_once()  # responses that never completed (errors, disconnects) are logged too


# -- the burst path's SQS integration -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventIntakeSettings:
    """Where the event routes put events, and the edge's limits (all from ``IngestDefinition``)."""

    queue_url: str
    region: str
    endpoint_url: str | None = None
    max_events_per_request: int = PLATFORM_DEFINITION.ingest.max_events_per_request
    max_event_bytes: int = PLATFORM_DEFINITION.ingest.max_event_bytes
    school_attribute: str = PLATFORM_DEFINITION.ingest.school_attribute
    correlation_attribute: str = PLATFORM_DEFINITION.ingest.correlation_attribute
    student_attribute: str = PLATFORM_DEFINITION.ingest.student_attribute

    @classmethod
    def from_definition(
        cls, ingest: IngestDefinition, *, queue_url: str, region: str, endpoint_url: str | None = None
    ) -> EventIntakeSettings:
        return cls(
            queue_url=queue_url,
            region=region,
            endpoint_url=endpoint_url,
            max_events_per_request=ingest.max_events_per_request,
            max_event_bytes=ingest.max_event_bytes,
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
            events = self._events(await self._body(request, batch=batch), batch=batch)
            self._check_submitter(events, principal)
            entries = [self._entry(event, principal, request.state.correlation_id) for event in events]
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

    async def _body(self, request: Request, *, batch: bool) -> bytes:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            raise _Rejected(415, "unsupported-media-type", "send the request body as application/json")
        settings = self.settings
        limit = (
            settings.max_events_per_request * settings.max_event_bytes + _BATCH_ENVELOPE_BYTES
            if batch
            else settings.max_event_bytes
        )
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

    def _entry(self, event: Mapping[str, Any], principal: Principal, correlation_id: str) -> dict[str, Any]:
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
        return {"Id": event["event_id"], "MessageBody": body, "MessageAttributes": attributes}

    def _send(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        response = self._sqs.send_message_batch(
            QueueUrl=self.settings.queue_url,
            Entries=entries,  # type: ignore[arg-type]
        )
        return dict(response)


# -- the gateway -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GatewaySettings:
    upstream_url: str
    # Other services behind the same edge, by path prefix (API Gateway's resources, each with its own
    # integration): "/v1/analytics" -> its base URL. Everything else goes to ``upstream_url``.
    routes: Mapping[str, str] = field(default_factory=dict)
    throttling: ThrottlingDefinition = PLATFORM_DEFINITION.throttling
    # Tiers: schools whose plan differs from the default (the local twin of per-tier usage plans).
    school_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    connect_timeout_seconds: float = 2.0
    upstream_timeout_seconds: float = DEFAULT_UPSTREAM_TIMEOUT_SECONDS
    max_upstream_connections: int = 200
    access_log_path: Path | None = None
    access_log_stdout: bool = True
    # The burst path's routes; without them /v1/events is forwarded like any other path.
    events: EventIntakeSettings | None = None


def problem(
    request: Request,
    status: int,
    kind: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """An RFC 9457 problem, in the one shape every service answers with."""
    body = problem_body(
        status,
        kind,
        detail,
        instance=request.url.path,
        correlation_id=request.scope.get("state", {}).get("correlation_id"),
        extra=extra,
    )
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


class Gateway:
    """The edge: build once with its verifier; serve ``app`` (ASGI) with any server."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        verifier: TokenVerifier,
        limiter: SchoolRateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        access_log: AccessLog | None = None,
        intake: EventIntake | None = None,
    ) -> None:
        self.settings = settings
        self.intake = intake or (EventIntake(settings.events) if settings.events is not None else None)
        self.verifier = verifier
        self.limiter = limiter or SchoolRateLimiter.from_definition(
            settings.throttling, tiers=settings.school_limits
        )
        self.access_log = access_log or AccessLog(
            path=settings.access_log_path, stdout=settings.access_log_stdout
        )
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self.app = Starlette(
            routes=[
                Route(HEALTH_PATH, self._health, methods=["GET", "HEAD"]),
                Route("/{path:path}", self._route, methods=ALL_METHODS),
            ],
            middleware=[Middleware(_EdgeContext, access_log=self.access_log)],
            exception_handlers={HTTPException: self._http_error, Exception: self._unexpected},
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        # One pooled client per gateway, made on the serving loop and closed with it.
        timeout = httpx.Timeout(
            self.settings.upstream_timeout_seconds,
            connect=self.settings.connect_timeout_seconds,
            pool=self.settings.connect_timeout_seconds,
        )
        limits = httpx.Limits(
            max_connections=self.settings.max_upstream_connections,
            max_keepalive_connections=self.settings.max_upstream_connections,
            keepalive_expiry=30,
        )
        self._client = httpx.AsyncClient(
            transport=self._transport,
            timeout=timeout,
            limits=limits,
            follow_redirects=False,
            trust_env=False,
        )
        try:
            yield
        finally:
            await self._client.aclose()
            self._client = None

    async def _health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 400
        kind = {405: "method-not-allowed"}.get(status, "http-error")
        return problem(request, status, kind, HTTPStatus(status).phrase)

    async def _unexpected(self, request: Request, exc: Exception) -> Response:
        # A bug in the stand-in, not bad input: the body stays a problem, the details go to the log.
        log.error("gateway error", exc_info=exc)
        return problem(request, 500, "internal", "the gateway failed; it has been logged")

    async def _route(self, request: Request) -> Response:
        path = request.url.path
        if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
            return problem(request, 404, "not-found", f"no route {path}")
        event_route = self.intake is not None and path.rstrip("/") in (EVENTS_PATH, EVENTS_BATCH_PATH)
        if event_route and request.method != "POST":
            return problem(request, 405, "method-not-allowed", f"{path} accepts POST only", {"Allow": "POST"})
        try:
            token = bearer(request.headers.get("authorization"))
            # Off the event loop: a key-set refetch is a blocking HTTP call.
            principal = await anyio.to_thread.run_sync(self.verifier.verify, token)
        except Unauthenticated as exc:
            challenge = 'Bearer error="invalid_token"' if request.headers.get("authorization") else "Bearer"
            return problem(request, 401, "unauthenticated", exc.detail, {"WWW-Authenticate": challenge})
        request.state.school_id = principal.school_id
        wait = self.limiter.take(principal.school_id)
        if wait:
            return problem(
                request,
                429,
                "rate-limited",
                "your school is sending requests faster than its plan allows; retry later",
                {"Retry-After": str(retry_after_seconds(wait))},
            )
        if event_route and self.intake is not None:
            # The burst path's integration: the queue, never the grading service.
            return await self.intake.submit(
                request, principal=principal, batch=path.rstrip("/") == EVENTS_BATCH_PATH
            )
        return await self._forward(request)

    def _upstream_for(self, path: str) -> tuple[str, str]:
        """(service name, base URL) of the upstream that serves ``path``: the longest matching route."""
        for prefix in sorted(self.settings.routes, key=len, reverse=True):
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return prefix.rstrip("/").rsplit("/", 1)[-1] + " service", self.settings.routes[prefix]
        return "grading service", self.settings.upstream_url

    async def _forward(self, request: Request) -> Response:
        if self._client is None:
            return problem(request, 503, "upstream-unavailable", "the gateway is not started")
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        service, base = self._upstream_for(request.url.path)
        target = (
            base.rstrip("/") + raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
        )
        upstream_request = self._client.build_request(
            request.method,
            target,
            headers=upstream_headers(
                request.headers.raw,
                correlation_id=request.state.correlation_id,
                client_ip=request.client.host if request.client else None,
            ),
            content=request.stream() if _has_body(request) else None,
        )
        started = time.perf_counter()
        try:
            upstream = await self._client.send(upstream_request, stream=True)
        except httpx.TimeoutException:
            return problem(request, 504, "upstream-timeout", f"the {service} did not answer in time")
        except httpx.ConnectError:
            return problem(
                request,
                503,
                "upstream-unavailable",
                f"the {service} is unavailable",
                {"Retry-After": "1"},
            )
        except httpx.HTTPError as exc:
            log.warning("upstream error", extra={"error": repr(exc)})
            return problem(request, 502, "bad-gateway", f"the {service} gave no valid answer")
        request.state.upstream_ms = round((time.perf_counter() - started) * 1000, 2)

        return _UpstreamResponse(upstream)


class _UpstreamResponse(StreamingResponse):
    """The upstream's response streamed back as it arrives; its connection is released however it ends."""

    def __init__(self, upstream: httpx.Response) -> None:
        super().__init__(upstream.aiter_raw(), status_code=upstream.status_code)
        self._upstream = upstream
        # Raw pairs, not a mapping: repeated headers survive; the body passes through still encoded.
        self.raw_headers = [
            (name, value)
            for name, value in upstream.headers.raw
            if name.decode("latin-1").lower() not in _HOP_BY_HOP | _RESPONSE_OWNED
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._upstream.aclose()


def upstream_headers(
    raw: Iterable[tuple[bytes, bytes]], *, correlation_id: str, client_ip: str | None
) -> list[tuple[bytes, bytes]]:
    """The client's headers minus hop-by-hop and untrusted ones, plus the edge's own."""
    pairs = [(k.decode("latin-1").lower(), v) for k, v in raw]
    # Fields named in Connection are hop-by-hop for this request too (RFC 9110 §7.6.1).
    named = {
        token.strip().lower()
        for name, value in pairs
        if name == "connection"
        for token in value.decode("latin-1").split(",")
    }
    forwarded = [
        (name.encode(), value)
        for name, value in pairs
        if name not in _HOP_BY_HOP
        and name not in named
        and name != CORRELATION_HEADER
        and not name.startswith(_UNTRUSTED_PREFIXES)
    ]
    forwarded.append((CORRELATION_HEADER.encode(), correlation_id.encode()))
    if client_ip:
        forwarded.append((b"x-forwarded-for", client_ip.encode()))
    forwarded.append((b"x-forwarded-proto", b"http"))
    return forwarded


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length != "0") or "transfer-encoding" in request.headers


# -- serving -------------------------------------------------------------------------------------------
class ServedGateway:
    """The gateway on uvicorn in a background thread (uvicorn installs no signal handlers there)."""

    def __init__(self, gateway: Gateway, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.gateway = gateway
        config = uvicorn.Config(
            gateway.app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,  # the gateway writes its own, one line per request
            lifespan="on",
            # The gateway is the edge: a caller's X-Forwarded-For is a claim, not its address.
            proxy_headers=False,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="gateway", daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            self._thread.join(0.02)
        if not self._server.started:
            self._server.should_exit = True
            raise RuntimeError(f"the gateway failed to start on {self.host}:{self.port}")
        self.port = bound_port(self._server)
        return self.url

    def stop(self, grace: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(grace + 1)
        self.gateway.access_log.close()


def bound_port(server: uvicorn.Server) -> int:
    """The port a started uvicorn server listens on (what port 0 turned into)."""
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the server is not listening")
