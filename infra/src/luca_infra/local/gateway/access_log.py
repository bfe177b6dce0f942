"""The gateway's access log and the per-request context it records.

Every request gets a request id and a correlation id (the caller's, if safe, else a new one), both
returned on the answer, and exactly one JSON line in the access log, however the request ends.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from luca_platform.telemetry.context import CORRELATION_HEADER, RequestScope, sanitize_correlation_id

REQUEST_ID_HEADER = "x-request-id"
# Set by the gateway on the way back; the upstream's copies would duplicate them.
RESPONSE_OWNED = frozenset({"date", "server", CORRELATION_HEADER, REQUEST_ID_HEADER})


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


class EdgeContext:
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
        state.update(
            request_id=request_id, correlation_id=correlation, school_id=None, upstream_ms=None, trace_id=None
        )
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
                    "trace_id": state.get("trace_id"),
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
                    if lowered not in RESPONSE_OWNED:
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
            # Bound for the request's spans (stamped as they start) and log lines.
            with RequestScope(correlation, route_name=scope["path"]):
                await self.app(scope, receive, send_with_ids)
        finally:
            log_once()  # responses that never completed (errors, disconnects) are logged too
