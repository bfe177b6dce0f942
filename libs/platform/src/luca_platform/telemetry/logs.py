"""JSON logs: one object per line with service, correlation_id, school_id and route."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from luca_platform.telemetry import context


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self._service
        record.correlation_id = context.correlation_id.get()
        record.school_id = context.school_id.get()
        record.route = context.route.get()
        return True


def configure_logging(service: str, level: str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Root logger → stdout (or ``stream``) as JSON. Idempotent: a second call replaces the handler."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{service}{correlation_id}{school_id}{route}",
            style="{",
            rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_luca", False):
            root.removeHandler(existing)
    handler._luca = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("botocore", "urllib3", "werkzeug", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
