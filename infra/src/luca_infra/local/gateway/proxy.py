"""The integration with the services behind the gateway: forward a request, stream the answer back.

``/v1/...`` goes to the service that owns its path prefix (the grading service unless a route says
otherwise) unchanged, minus the headers a client could use to claim a tenant or an identity
(``x-luca-*``, ``x-school*``, ``x-amzn-*``): the service takes the school from the token only, and
verifies the token again itself. Upstream failures become 502/503/504 problems; a service that is down (nothing accepts the
connection, as while the local supervisor restarts it) is a 503 with ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from luca_infra.local.gateway.access_log import RESPONSE_OWNED
from luca_infra.local.gateway.problems import problem
from luca_platform.telemetry.context import CORRELATION_HEADER

# API Gateway's default integration timeout.
DEFAULT_UPSTREAM_TIMEOUT_SECONDS = 29.0
# The local supervisor's first restart comes after 1 s; a service takes a few more to be ready.
RETRY_AFTER_SECONDS = 2

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

log = logging.getLogger("luca.gateway")


class UpstreamProxy:
    """Forwards requests to the upstream that serves their path, over one pooled client."""

    def __init__(
        self,
        upstream_url: str,
        *,
        routes: Mapping[str, str],
        connect_timeout_seconds: float,
        upstream_timeout_seconds: float,
        max_connections: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.upstream_url = upstream_url
        self.routes = routes
        self.connect_timeout_seconds = connect_timeout_seconds
        self.upstream_timeout_seconds = upstream_timeout_seconds
        self.max_connections = max_connections
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        """One pooled client per gateway, made on the serving loop and closed with it."""
        timeout = httpx.Timeout(
            self.upstream_timeout_seconds,
            connect=self.connect_timeout_seconds,
            pool=self.connect_timeout_seconds,
        )
        limits = httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_connections,
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

    def upstream_for(self, path: str) -> tuple[str, str]:
        """(service name, base URL) of the upstream that serves ``path``: the longest matching route."""
        for prefix in sorted(self.routes, key=len, reverse=True):
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return prefix.rstrip("/").rsplit("/", 1)[-1] + " service", self.routes[prefix]
        return "grading service", self.upstream_url

    async def forward(self, request: Request) -> Response:
        if self._client is None:
            return problem(request, 503, "upstream-unavailable", "the gateway is not started")
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        service, base = self.upstream_for(request.url.path)
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
        except (httpx.ConnectError, httpx.ConnectTimeout):
            # Nothing listens (the service is down, being restarted by the supervisor): the request
            # never reached it, so the client may safely send it again.
            log.warning("upstream unavailable", extra={"upstream": service})
            return problem(
                request,
                503,
                "upstream-unavailable",
                f"the {service} is unavailable; retry shortly",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        except httpx.TimeoutException:
            return problem(request, 504, "upstream-timeout", f"the {service} did not answer in time")
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
            if name.decode("latin-1").lower() not in _HOP_BY_HOP | RESPONSE_OWNED
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
