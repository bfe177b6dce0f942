"""OpenTelemetry traces with X-Ray ids and propagation; exporter chosen by configuration."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import propagate, trace
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)


class JsonLinesSpanExporter(SpanExporter):
    """Writes finished spans as JSON lines (the local platform's trace file)."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(json.loads(span.to_json()), separators=(",", ":")) for span in spans]
        with self._lock, self._path.open("a", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


_configured: TracerProvider | None = None


def configure_tracing(*, service: str, exporter: str, file_path: str) -> TracerProvider:
    """Install the global tracer provider once per process and instrument botocore."""
    global _configured
    if _configured is not None:
        return _configured
    provider = TracerProvider(
        id_generator=AwsXRayIdGenerator(), resource=Resource.create({"service.name": f"luca-{service}"})
    )
    span_exporter: SpanExporter | None = None
    if exporter == "file":
        span_exporter = JsonLinesSpanExporter(file_path)
    elif exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    if span_exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    propagate.set_global_textmap(AwsXRayPropagator())
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    BotocoreInstrumentor().instrument(tracer_provider=provider)
    _configured = provider
    return provider
