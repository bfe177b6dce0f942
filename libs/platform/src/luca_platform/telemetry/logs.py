"""JSON logs: one object per line with the request's ids and the current span's.

Every line carries ``service``, ``correlation_id``, ``school_id``, ``route`` (from
``telemetry.context``) and ``trace_id``/``span_id`` of the current OpenTelemetry span. ``trace_id``
is the 32-hex OpenTelemetry form, the one the span files and OTLP use, so ``luca trace`` joins logs
to spans on it; ``xray_trace_id`` repeats it in X-Ray's ``1-xxxxxxxx-...`` form, which is what the
X-Ray console shows and an operator pastes into Logs Insights.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from luca_platform.telemetry import context
from luca_platform.telemetry.files import AppendOnlyLines

LOG_FILE_VARIABLE = "LUCA_LOG_FILE"
_FIELDS = (
    "{asctime}{levelname}{name}{message}{service}{correlation_id}{school_id}{route}"
    "{trace_id}{span_id}{xray_trace_id}"
)


def xray_trace_id(trace_id: int) -> str:
    """An OpenTelemetry trace id in X-Ray's form (its first 8 hex digits are the start epoch)."""
    hexed = trace.format_trace_id(trace_id)
    return f"1-{hexed[:8]}-{hexed[8:]}"


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self._service
        record.correlation_id = context.correlation_id.get()
        record.school_id = context.school_id.get()
        record.route = context.route.get()
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = trace.format_trace_id(span_context.trace_id)
            record.span_id = trace.format_span_id(span_context.span_id)
            record.xray_trace_id = xray_trace_id(span_context.trace_id)
        else:
            record.trace_id = record.span_id = record.xray_trace_id = None
        return True


class _UtcJsonFormatter(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # ISO 8601 in UTC, to the millisecond: lines from several processes sort by it.
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class AppendingFileHandler(logging.Handler):
    """Formatted records appended as whole lines (``AppendOnlyLines``): safe for several processes."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.lines = AppendOnlyLines(path)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.write_lines([self.format(record)])
        except Exception:  # logging must never raise into the caller
            self.handleError(record)

    def close(self) -> None:
        self.lines.close()
        super().close()


def _formatter() -> logging.Formatter:
    return _UtcJsonFormatter(
        _FIELDS,
        style="{",
        rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
    )


def configure_logging(
    service: str,
    level: str = "INFO",
    stream: TextIO | None = None,
    file_path: str | Path | None = None,
) -> logging.Handler:
    """Root logger → stdout (or ``stream``) as JSON and, when ``file_path`` or ``LUCA_LOG_FILE`` names
    one, the same lines appended to that file. Idempotent: a second call replaces both handlers.
    Returns the stream handler."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handlers: list[logging.Handler] = [handler]
    path = file_path or os.environ.get(LOG_FILE_VARIABLE)
    if path:
        handlers.append(AppendingFileHandler(path))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_luca", False):
            root.removeHandler(existing)
            if isinstance(existing, AppendingFileHandler):
                existing.close()
    for new in handlers:
        new.setFormatter(_formatter())
        new.addFilter(_ContextFilter(service))
        new._luca = True  # type: ignore[attr-defined]
        root.addHandler(new)
    # The stream shows the chosen level; the file keeps INFO at least, so `luca trace` finds a
    # request's lines even when the terminal is quiet.
    handler.setLevel(level)
    file_level = min(logging.getLevelName(level.upper()), logging.INFO) if len(handlers) > 1 else None
    if file_level is not None:
        handlers[1].setLevel(file_level)
    root.setLevel(min(handler.level, file_level) if file_level is not None else handler.level)
    for noisy in ("botocore", "urllib3", "werkzeug", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


def attach_log_file(service: str, path: str | Path) -> logging.Handler | None:
    """Also append the root logger's lines to ``path`` (JSON, as ``configure_logging`` writes them),
    leaving the other handlers as they are; None when a handler already writes there. The caller
    removes the returned handler (``detach_log_file``) when it is done."""
    root = logging.getLogger()
    for existing in root.handlers:
        if isinstance(existing, AppendingFileHandler) and existing.lines.path == Path(path):
            return None
    handler = AppendingFileHandler(path)
    handler.setFormatter(_formatter())
    handler.addFilter(_ContextFilter(service))
    handler.setLevel(logging.INFO)
    if root.level > logging.INFO:
        # The file keeps INFO; the handlers already there keep showing what they showed.
        for existing in root.handlers:
            if existing.level < root.level:
                existing.setLevel(root.level)
        root.setLevel(logging.INFO)
    root.addHandler(handler)
    return handler


def detach_log_file(handler: logging.Handler | None) -> None:
    if handler is not None:
        logging.getLogger().removeHandler(handler)
        handler.close()
