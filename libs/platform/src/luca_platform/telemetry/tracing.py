"""OpenTelemetry traces with X-Ray ids and propagation; exporter chosen by configuration.

A process calls ``configure_tracing`` once (its composition root): the global tracer provider gets
the X-Ray id generator, the X-Ray propagator, botocore instrumentation, ``ContextSpanProcessor``
(every span stamped with the request's correlation id and school) and the chosen exporter. With the
``file`` exporter spans go, as JSON lines, to a file every local process appends to.

Several local platforms in one process (tests) each have their own state directory, but a process
has one global provider: a later ``configure_tracing(exporter="file", file_path=...)`` or
``set_trace_file(path)`` re-points the file sink (after flushing what the old file was owed)
instead of installing a second provider.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import Attributes, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)

from luca_platform.telemetry import context
from luca_platform.telemetry.context import CORRELATION_ATTRIBUTE, SCHOOL_ATTRIBUTE
from luca_platform.telemetry.files import AppendOnlyLines

EXPORTER_VARIABLE = "LUCA_OTEL_EXPORTER"
FILE_PATH_VARIABLE = "LUCA_OTEL_FILE_PATH"
EXPORTERS = frozenset({"none", "file", "console", "otlp"})
# Locally a span should be readable by ``luca trace`` well within a second of ending.
_FILE_EXPORT_DELAY_MS = 200


class JsonLinesSpanExporter(SpanExporter):
    """Writes finished spans as JSON lines (``ReadableSpan.to_json``), a batch in one ``write``."""

    def __init__(self, path: str | Path) -> None:
        self._lines = AppendOnlyLines(path)

    @property
    def path(self) -> Path:
        return self._lines.path

    def repoint(self, path: str | Path) -> None:
        self._lines.repoint(path)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            # Unindented, to_json is one line and uses the C encoder (indented, the pure-Python one).
            self._lines.write_lines([span.to_json(indent=None) for span in spans])
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._lines.close()


class SerialisedOnceResource(Resource):
    """A resource that serialises itself once per indent: ``ReadableSpan.to_json`` serialises the
    span's resource, indented (the pure-Python encoder), for every span, and a resource never changes
    (its attributes are immutable). The JSON is the same."""

    def __init__(self, attributes: Attributes, schema_url: str | None = None) -> None:
        super().__init__(attributes, schema_url)
        self._json: dict[int | None, str] = {}

    def to_json(self, indent: int | None = 4) -> str:
        serialised = self._json.get(indent)
        if serialised is None:
            serialised = self._json[indent] = super().to_json(indent)
        return serialised


class ContextSpanProcessor(SpanProcessor):
    """Stamps every span, as it starts, with the correlation id and school bound in
    ``telemetry.context``: any span of a request is then findable by its correlation id."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        correlation = context.correlation_id.get()
        if correlation:
            span.set_attribute(CORRELATION_ATTRIBUTE, correlation)
        school = context.school_id.get()
        if school:
            span.set_attribute(SCHOOL_ATTRIBUTE, school)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def annotate_school(school_id: str) -> None:
    """The request's school, once known (after authorization): bound for the log lines and spans
    started from now on, and set on the current span, which started before it was known."""
    context.school_id.set(school_id)
    trace.get_current_span().set_attribute(SCHOOL_ATTRIBUTE, school_id)


class FileSink:
    """A provider's JSON-lines file sink, added on first use and re-pointed after (flushing first)."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._exporter: JsonLinesSpanExporter | None = None
        self._processor: BatchSpanProcessor | None = None

    @property
    def path(self) -> Path | None:
        return self._exporter.path if self._exporter is not None else None

    def point_to(self, path: str | Path) -> None:
        if not path:
            raise ValueError("the file exporter needs a file path")
        if self._exporter is None:
            self._exporter = JsonLinesSpanExporter(path)
            self._processor = BatchSpanProcessor(self._exporter, schedule_delay_millis=_FILE_EXPORT_DELAY_MS)
            self.provider.add_span_processor(self._processor)
            return
        if self._exporter.path != Path(path):
            if self._processor is not None:
                # Spans already ended belong to the previous file.
                self._processor.force_flush()
            self._exporter.repoint(path)


_lock = threading.Lock()
_configured: FileSink | None = None


def configure_tracing(*, service: str, exporter: str, file_path: str | Path = "") -> TracerProvider:
    """Install the global tracer provider once per process and instrument botocore.

    A later call returns the same provider; with ``exporter="file"`` it re-points the file sink to
    ``file_path`` (see the module's docstring)."""
    global _configured
    if exporter not in EXPORTERS:
        raise ValueError(f"the trace exporter is one of {sorted(EXPORTERS)}, not {exporter!r}")
    with _lock:
        if _configured is not None:
            if exporter == "file":
                _configured.point_to(file_path)
            return _configured.provider
        resource = Resource.create({"service.name": f"luca-{service}"})
        provider = TracerProvider(
            id_generator=AwsXRayIdGenerator(),
            resource=SerialisedOnceResource(resource.attributes, resource.schema_url),
        )
        # First, so the exporters below see the stamped attributes.
        provider.add_span_processor(ContextSpanProcessor())
        configured = FileSink(provider)
        if exporter == "file":
            configured.point_to(file_path)
        elif exporter == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        propagate.set_global_textmap(AwsXRayPropagator())
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

        BotocoreInstrumentor().instrument(tracer_provider=provider)
        _configured = configured
        return provider


def configure_tracing_from_environment(
    service: str, environ: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """``configure_tracing`` from ``LUCA_OTEL_EXPORTER`` and ``LUCA_OTEL_FILE_PATH`` (a process the
    local platform starts gets both); None when the exporter is ``none`` or unset."""
    env = os.environ if environ is None else environ
    exporter = env.get(EXPORTER_VARIABLE, "none") or "none"
    if exporter == "none":
        return None
    file_path = env.get(FILE_PATH_VARIABLE, "")
    if exporter == "file" and not file_path:
        raise ValueError(f"{EXPORTER_VARIABLE}=file needs {FILE_PATH_VARIABLE}")
    return configure_tracing(service=service, exporter=exporter, file_path=file_path)


def set_trace_file(path: str | Path) -> None:
    """Spans finished from now on go to ``path`` (added as a sink when the process had none)."""
    with _lock:
        if _configured is None:
            raise RuntimeError("configure_tracing first: there is no tracer provider to add a file to")
        _configured.point_to(path)


def trace_file() -> Path | None:
    """Where this process's file sink writes, if it has one."""
    configured = _configured
    return configured.path if configured is not None else None
