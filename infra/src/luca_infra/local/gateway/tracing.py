"""The gateway's traces, as API Gateway with tracing enabled makes them.

* a server span per request (the ASGI instrumentation, inside ``EdgeContext`` so the request's
  correlation id is bound when the span starts and ``ContextSpanProcessor`` stamps it);
* the trace passed on in X-Ray's header format: ``X-Amzn-Trace-Id`` on the upstream request (a client
  span per call, by ``TracedTransport``) and the ``AWSTraceHeader`` system attribute on each SQS
  message of the event routes, the two places API Gateway puts it.

X-Ray's propagator is used explicitly, whatever the process's global one: the services and the
Lambda read that format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp

XRAY_HEADER = "X-Amzn-Trace-Id"
AWS_TRACE_HEADER = "AWSTraceHeader"  # the SQS message system attribute
TRACER_NAME = "luca.gateway"

_XRAY = AwsXRayPropagator()


def xray_header() -> str | None:
    """The current span as an X-Ray trace header (``Root=...;Parent=...;Sampled=1``); None untraced."""
    carrier: dict[str, str] = {}
    _XRAY.inject(carrier)
    return carrier.get(XRAY_HEADER)


def span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``METHOD /v1/<resource>``: API Gateway's resource, not the path (ids would make every name new)."""
    method = scope.get("method", "HTTP")
    segments = [part for part in scope.get("path", "").split("/") if part][:2]
    if segments[1:] == ["events"] and scope.get("path", "").rstrip("/").endswith("/events/batch"):
        segments.append("batch")
    route = "/" + "/".join(segments)
    return f"{method} {route}", {"http.route": route}


def _remember_span(span: trace.Span, scope: dict[str, Any]) -> None:
    # The access log line (written by EdgeContext, outside this span) names the request's trace.
    span_context = span.get_span_context()
    if span_context.is_valid:
        scope.setdefault("state", {})["trace_id"] = trace.format_trace_id(span_context.trace_id)


def server_spans(app: ASGIApp, *, tracer_provider: trace.TracerProvider | None = None) -> ASGIApp:
    """``app`` with a server span per request (health checks excluded, as ALB probes are in AWS)."""
    return OpenTelemetryMiddleware(
        app,
        excluded_urls="healthz",
        default_span_details=span_details,
        server_request_hook=_remember_span,
        tracer_provider=tracer_provider,
        exclude_spans=["receive", "send"],
    )


class TracedTransport(httpx.AsyncBaseTransport):
    """A client span per upstream call, its trace header on the request (what API Gateway sends).

    ``make`` builds the inner transport on first use and again after ``aclose``: the proxy closes its
    client with each serving loop, and a gateway can be served more than once (tests)."""

    def __init__(
        self,
        make: Callable[[], httpx.AsyncBaseTransport],
        *,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self._make = make
        self._inner: httpx.AsyncBaseTransport | None = None
        self._tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:
            self._inner = self._make()
        url = request.url
        with self._tracer.start_as_current_span(
            f"{request.method} upstream",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": request.method,
                "server.address": url.host,
                "server.port": url.port or 80,
                "url.path": url.path,
            },
        ) as span:
            header = xray_header()
            if header:
                request.headers[XRAY_HEADER] = header
            response = await self._inner.handle_async_request(request)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response

    async def aclose(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            await inner.aclose()
