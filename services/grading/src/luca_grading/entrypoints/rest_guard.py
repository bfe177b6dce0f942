"""What every grading REST request goes through before a handler: body size and media type, the
correlation id, and its measurement; and the problem responses the app answers with."""

import logging
import time
from typing import Any

from fastapi import Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from luca_grading.bootstrap import Container
from luca_platform.rest import ProblemResponder
from luca_platform.telemetry import context

log = logging.getLogger("luca.grading.rest")


def _correlation(_request: Request | None) -> str | None:
    # The request guard binds the id (the edge's, or a fresh one) before any handler runs.
    return context.correlation_id.get()


problem = ProblemResponder(_correlation)


def _json_safe(errors: list[Any]) -> list[dict[str, Any]]:
    safe = []
    for error in errors:
        safe.append(
            {
                "loc": [str(p) for p in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return safe


class RequestGuard:
    """Checks what must be checked before a body is parsed, and measures every request."""

    def __init__(self, app: ASGIApp, *, container: Container) -> None:
        self.app = app
        self.container = container
        self.max_body = container.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        correlation = context.sanitize_correlation_id(headers.get(context.CORRELATION_HEADER))
        scope.setdefault("state", {})["correlation_id"] = correlation
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-correlation-id", correlation.encode()),
                ]
            await send(message)

        with context.RequestScope(correlation, route_name=scope.get("path")):
            rejection = self._reject(scope, headers)
            try:
                if rejection is not None:
                    await rejection(scope, receive, send_with_id)
                else:
                    await self.app(scope, self._limited(receive), send_with_id)
            except _BodyTooLarge:
                await self._too_large()(scope, receive, send_with_id)
            finally:
                self._measure(scope, started, status_holder["status"])

    def _reject(self, scope: Scope, headers: dict[str, str]) -> ASGIApp | None:
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return None
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return self._too_large()
        if length in (None, "0") and "transfer-encoding" not in headers:
            return None  # no body (closing a term, assigning a teacher): nothing to parse
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return problem(None, 415, "unsupported-media-type", "send the request body as application/json")
        return None

    def _too_large(self) -> ASGIApp:
        return problem(None, 413, "content-too-large", f"request body exceeds {self.max_body} bytes")

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge
            return message

        return wrapped

    def _measure(self, scope: Scope, started: float, status: int) -> None:
        route = scope.get("route")
        route_path = getattr(route, "path", None) or "unmatched"
        if not str(scope.get("path", "")).startswith("/v1/") or route_path.endswith("openapi.json"):
            return
        school = scope.get("state", {}).get("school_id") or "unauthenticated"
        # The handler ran in a worker thread: its context changes do not flow back here.
        context.school_id.set(school)
        context.route.set(route_path)
        latency_ms = (time.perf_counter() - started) * 1000
        self.container.metrics.record(
            school_id=school, route=route_path, latency_ms=latency_ms, status=status
        )
        log.info(
            "request",
            extra={"method": scope["method"], "status": status, "latency_ms": round(latency_ms, 2)},
        )


class _BodyTooLarge(Exception):
    pass


def mark_replay(response: Response, replayed: bool) -> None:
    """A replayed idempotent write answers 200 (not 201) and says so in a header."""
    if replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
