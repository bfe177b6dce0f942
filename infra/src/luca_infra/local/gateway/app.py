"""The gateway's ASGI app: routes, the authorizer, throttling, and where each request goes.

Only ``/v1/...`` and ``/healthz`` exist; anything else is a 404 problem. ``GET /v1/openapi.json`` is
the public API's one document (``luca_infra.public_api``), served without a token. A ``/v1`` request needs a
bearer ID token the authorizer accepts (401 + ``WWW-Authenticate: Bearer`` otherwise) and a token
from its school's bucket (429 + ``Retry-After`` otherwise); then the events routes go to the queue
(``event_intake``) and everything else to its upstream service (``proxy``).

The authorizer is the AWS edge's own (``luca_edge``): the same code decides who the caller is here
and in API Gateway's Lambda authorizer; only the bucket differs (a usage plan's per key there, the
``SchoolRateLimiter`` here, both shaped by the same tiers).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Protocol

import anyio.to_thread
import httpx
from opentelemetry.trace import TracerProvider
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from luca_edge.bootstrap import with_verifier
from luca_infra.definitions import PLATFORM_DEFINITION, ThrottlingDefinition
from luca_infra.local.gateway.access_log import AccessLog, EdgeContext
from luca_infra.local.gateway.event_intake import EventIntake, EventIntakeSettings
from luca_infra.local.gateway.problems import problem
from luca_infra.local.gateway.proxy import DEFAULT_UPSTREAM_TIMEOUT_SECONDS, UpstreamProxy
from luca_infra.local.gateway.rate_limiter import RateLimit, SchoolRateLimiter, retry_after_seconds
from luca_infra.local.gateway.tracing import TracedTransport, server_spans
from luca_infra.public_api import OPENAPI_PATH, public_document_bytes
from luca_kernel.access import Principal
from luca_kernel.errors import Unauthenticated
from luca_platform.telemetry.files import AppendOnlyLines
from luca_platform.telemetry.metrics import throttled_request
from luca_platform.telemetry.tracing import annotate_school
from luca_platform.tokens import bearer

API_PREFIX = "/v1"
HEALTH_PATH = "/healthz"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
EVENTS_PATH = f"{API_PREFIX}/events"
EVENTS_BATCH_PATH = f"{API_PREFIX}/events/batch"

log = logging.getLogger("luca.gateway")


class TokenVerifier(Protocol):
    """The authorizer: the service's ``CognitoTokenVerifier`` (one instance, keys cached)."""

    def verify(self, token: str) -> Principal: ...


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
    # Where the edge's own EMF lines go (ThrottledRequests per school); None: nowhere.
    metrics_path: Path | None = None
    metrics_namespace: str = PLATFORM_DEFINITION.metrics_namespace


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
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        """``tracer_provider``: the process's global one unless given (tests pass their own)."""
        self.settings = settings
        self.intake = intake or (EventIntake(settings.events) if settings.events is not None else None)
        self.authorizer = with_verifier(verifier)
        self.limiter = limiter or SchoolRateLimiter.from_definition(
            settings.throttling, tiers=settings.school_limits
        )
        self.access_log = access_log or AccessLog(
            path=settings.access_log_path, stdout=settings.access_log_stdout
        )
        self.metrics = AppendOnlyLines(settings.metrics_path) if settings.metrics_path else None
        self.proxy = UpstreamProxy(
            settings.upstream_url,
            routes=settings.routes,
            connect_timeout_seconds=settings.connect_timeout_seconds,
            upstream_timeout_seconds=settings.upstream_timeout_seconds,
            max_connections=settings.max_upstream_connections,
            transport=TracedTransport(
                (lambda: transport) if transport is not None else self._pooled_transport,
                tracer_provider=tracer_provider,
            ),
        )
        self.app = Starlette(
            routes=[
                Route(HEALTH_PATH, self._health, methods=["GET", "HEAD"]),
                Route("/{path:path}", self._route, methods=ALL_METHODS),
            ],
            # EdgeContext outermost: the correlation id is bound before the server span starts.
            middleware=[
                Middleware(EdgeContext, access_log=self.access_log),
                Middleware(server_spans, tracer_provider=tracer_provider),
            ],
            exception_handlers={HTTPException: self._http_error, Exception: self._unexpected},
            lifespan=self._lifespan,
        )

    def _pooled_transport(self) -> httpx.AsyncBaseTransport:
        # The client ignores its own limits when handed a transport: they are the transport's now.
        size = self.settings.max_upstream_connections
        return httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=30),
            trust_env=False,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with self.proxy.connected():
            yield

    async def _health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 400
        # A 404 here is a path no route matches at all (one with a line break, which Starlette's
        # path convertor never spans): the same not-found the services answer for an unknown path.
        kind = {404: "not-found", 405: "method-not-allowed"}.get(status, "http-error")
        detail = "no route for that path" if status == 404 else HTTPStatus(status).phrase
        # Starlette's 405 names the allowed methods in Allow, which RFC 9110 requires of a 405.
        headers = exc.headers if isinstance(exc, HTTPException) else None
        return problem(request, status, kind, detail, headers)

    async def _unexpected(self, request: Request, exc: Exception) -> Response:
        # A bug in the stand-in, not bad input: the body stays a problem, the details go to the log.
        log.error("gateway error", exc_info=exc)
        return problem(request, 500, "internal", "the gateway failed; it has been logged")

    async def _route(self, request: Request) -> Response:
        path = request.url.path
        if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
            return problem(request, 404, "not-found", f"no route {path}")
        if path == OPENAPI_PATH:
            # The public document needs no token, like API Gateway's exported one.
            if request.method not in ("GET", "HEAD"):
                return problem(
                    request, 405, "method-not-allowed", f"{path} accepts GET only", {"Allow": "GET, HEAD"}
                )
            return Response(public_document_bytes(), media_type="application/json")
        event_route = self.intake is not None and path.rstrip("/") in (EVENTS_PATH, EVENTS_BATCH_PATH)
        if event_route and request.method != "POST":
            return problem(request, 405, "method-not-allowed", f"{path} accepts POST only", {"Allow": "POST"})
        try:
            token = bearer(request.headers.get("authorization"))
            # Off the event loop: a key-set refetch is a blocking HTTP call.
            principal = (await anyio.to_thread.run_sync(self.authorizer.grant, token)).principal
        except Unauthenticated as exc:
            challenge = 'Bearer error="invalid_token"' if request.headers.get("authorization") else "Bearer"
            return problem(request, 401, "unauthenticated", exc.detail, {"WWW-Authenticate": challenge})
        request.state.school_id = principal.school_id
        annotate_school(principal.school_id)
        if self.limiter.needs_lookup(principal.school_id):
            # Off the event loop too: finding a created school's tier asks the emulator.
            await anyio.to_thread.run_sync(self.limiter.look_up, principal.school_id)
        wait = self.limiter.take(principal.school_id)
        if wait:
            if self.metrics is not None:
                self.metrics.write_lines(
                    [
                        throttled_request(
                            namespace=self.settings.metrics_namespace,
                            school_id=principal.school_id,
                            route=path,
                        )
                    ]
                )
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
        return await self.proxy.forward(request)
