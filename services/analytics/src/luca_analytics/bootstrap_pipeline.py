"""The stream → lake pipeline's composition root: settings in, the pipeline a stream reader feeds out.

In AWS the delivery is managed: Pipes filters the table's stream and calls the enrichment function
(``entrypoints.enrich``, the same ``domain.lake.flatten``), Firehose buffers the rows and writes
Parquet. Wherever this service delivers to the lake itself (the local platform's stand-in for
Pipes + Firehose, the lake benchmark), this is its one composition: the stream record decoder,
``LakePipeline`` with Firehose's buffering rule, and a ``ParquetSink`` over the lake's bucket (or a
local directory). Adapters are parameters (the real ones by default, fakes in tests); nothing is
built at import.

Separate from the query service's root (``bootstrap``: DuckDB, Athena) so a stream reader loads
neither; and never imported by the enrichment function, whose bundle must stay pure Python (no
pyarrow).

The settings come from the environment (prefix ``LUCA_``) and are checked at start, like the
query service's: the pseudonymisation key (``LUCA_PSEUDONYM_KEY``, the one the reports re-identify
with), exactly one of ``LUCA_LAKE_BUCKET`` and ``LUCA_LAKE_DIRECTORY``, Firehose's buffering hints
(``LUCA_LAKE_BUFFER_BYTES``, ``LUCA_LAKE_BUFFER_SECONDS``, within Firehose's limits), the Parquet
compression and the EMF namespace. S3 credentials are the default chain, as for the query service.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from luca_analytics.adapters.dynamodb_stream import UndecodableRecord, decode_record
from luca_analytics.adapters.parquet_sink import COMPRESSIONS, ParquetSink
from luca_analytics.adapters.traced_sink import TracedSink
from luca_analytics.service_layer.pipeline import (
    MAX_BUFFER_BYTES,
    MAX_BUFFER_SECONDS,
    NAMESPACE,
    BufferSettings,
    LakePipeline,
    LakeSink,
    MetricsSink,
)
from luca_platform.settings import DEFAULT_REGION, aws_from_environment, environment

# What this root builds, named here for callers outside the service (the local platform), which
# reach the service only through its composition roots.
__all__ = ["LakePipeline", "PipelineSettings", "StreamPipeline", "build_pipeline", "build_sink"]

_DEFAULT_BUFFER = BufferSettings()


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    pseudonym_key: bytes = field(repr=False)
    lake_bucket: str = ""  # the lake in S3 ...
    lake_directory: str = ""  # ... or in a local directory (tools and tests)
    buffer_bytes: int = _DEFAULT_BUFFER.buffer_bytes
    buffer_seconds: float = _DEFAULT_BUFFER.buffer_seconds
    compression: str = "zstd"
    metrics_namespace: str = NAMESPACE
    aws_region: str = DEFAULT_REGION
    aws_endpoint_url: str | None = None  # set only to reach an emulator

    def __post_init__(self) -> None:
        if not self.pseudonym_key:
            raise RuntimeError("not set: LUCA_PSEUDONYM_KEY")
        if bool(self.lake_bucket) == bool(self.lake_directory):
            raise RuntimeError("set exactly one of LUCA_LAKE_BUCKET and LUCA_LAKE_DIRECTORY")
        if not 1 <= self.buffer_bytes <= MAX_BUFFER_BYTES:
            raise RuntimeError(f"LUCA_LAKE_BUFFER_BYTES must be 1 to {MAX_BUFFER_BYTES} (Firehose's maximum)")
        if not 0 <= self.buffer_seconds <= MAX_BUFFER_SECONDS:
            raise RuntimeError(
                f"LUCA_LAKE_BUFFER_SECONDS must be 0 to {MAX_BUFFER_SECONDS:.0f} (Firehose's maximum)"
            )
        if self.compression not in COMPRESSIONS:
            raise RuntimeError(f"LUCA_LAKE_COMPRESSION must be one of {', '.join(sorted(COMPRESSIONS))}")

    @property
    def buffering(self) -> BufferSettings:
        return BufferSettings(buffer_bytes=self.buffer_bytes, buffer_seconds=self.buffer_seconds)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> PipelineSettings:
        env = environment(environ)
        aws = aws_from_environment(env)
        return cls(
            pseudonym_key=env.get("LUCA_PSEUDONYM_KEY", "").encode(),
            lake_bucket=env.get("LUCA_LAKE_BUCKET", ""),
            lake_directory=env.get("LUCA_LAKE_DIRECTORY", ""),
            buffer_bytes=int(env.get("LUCA_LAKE_BUFFER_BYTES") or _DEFAULT_BUFFER.buffer_bytes),
            buffer_seconds=float(env.get("LUCA_LAKE_BUFFER_SECONDS") or _DEFAULT_BUFFER.buffer_seconds),
            compression=env.get("LUCA_LAKE_COMPRESSION") or "zstd",
            metrics_namespace=env.get("LUCA_METRICS_NAMESPACE") or NAMESPACE,
            aws_region=aws["aws_region"],
            aws_endpoint_url=aws["aws_endpoint_url"],
        )


@dataclass(frozen=True, slots=True)
class StreamPipeline:
    """The pipeline, composed: hand it the table's stream records; it buffers and writes the lake."""

    settings: PipelineSettings
    pipeline: LakePipeline

    def take(self, record: Mapping[str, Any]) -> bool:
        """One stream record as the Streams API (or a Lambda event) gives it, typed JSON and all.
        A record that is not one the pipeline can read is counted as malformed and skipped, never
        raised: one bad record must not stop the stream. False then."""
        try:
            change = decode_record(record)
        except UndecodableRecord as exc:
            stream = record.get("dynamodb")
            sequence = stream.get("SequenceNumber") if isinstance(stream, Mapping) else None
            self.pipeline.reject(str(exc), str(sequence or ""))
            return False
        self.pipeline.accept(change)
        return True


def build_sink(settings: PipelineSettings) -> ParquetSink:
    """One Parquet file per partition per flush, in the bucket or the directory the settings name."""
    if settings.lake_directory:
        return ParquetSink.local(settings.lake_directory, compression=settings.compression)
    return ParquetSink.s3(
        settings.lake_bucket,
        region=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        compression=settings.compression,
    )


def build_pipeline(
    settings: PipelineSettings,
    *,
    sink: LakeSink | None = None,
    metrics: MetricsSink | None = None,
    traced: bool = False,
) -> StreamPipeline:
    """``metrics``: where the EMF lines go; stdout (for the log driver) unless given. ``traced``:
    each file written, and each request's rows in it, is a span and a log line (the local lake)."""
    writer = sink or build_sink(settings)
    pipeline = LakePipeline(
        TracedSink(writer) if traced else writer,
        settings.pseudonym_key,
        settings.buffering,
        metrics=metrics if metrics is not None else sys.stdout,
        namespace=settings.metrics_namespace,
    )
    return StreamPipeline(settings, pipeline)
