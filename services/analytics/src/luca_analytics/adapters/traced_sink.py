"""The lake writer, traced: the lake hop of each request as a span and a log line with its id.

Each file written is a span (``lake write``); each request whose rows the file holds gets a span
(``lake rows written``) and a log line carrying its ``correlation_id`` (the rows' column) and school,
so ``luca trace`` can show where a request's rows landed. The stream carries no trace context, so
these spans start traces of their own and are found by the correlation id, as in AWS (Pipes and
Firehose propagate none either). Log lines name record ids and versions only: the rows' other
values are minors' data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context

from luca_analytics.domain.lake import LakeRow
from luca_analytics.service_layer.pipeline import LakeSink, Partition, WrittenFile
from luca_platform.telemetry import propagation

log = logging.getLogger("luca.lake.sink")
tracer = trace.get_tracer("luca.lake")


class TracedSink:
    """A ``LakeSink`` that writes through ``sink`` and traces what it wrote, per request."""

    def __init__(self, sink: LakeSink) -> None:
        self._sink = sink

    def write(self, partition: Partition, rows: Sequence[LakeRow]) -> WrittenFile:
        school, year, month = partition
        with tracer.start_as_current_span(
            "lake write",
            context=Context(),  # a flush serves many requests: a trace of its own
            attributes={
                **propagation.id_attributes(None, school),
                "luca.partition": f"{year:04d}-{month:02d}",
                "luca.rows": len(rows),
            },
        ) as span:
            written = self._sink.write(partition, rows)
            span.set_attribute("luca.file", written.path)
        by_request: dict[str, list[LakeRow]] = {}
        for row in rows:
            if row.correlation_id:
                by_request.setdefault(row.correlation_id, []).append(row)
        for correlation_id, mine in by_request.items():
            with propagation.continued_span(
                tracer,
                "lake rows written",
                trace_header=None,
                correlation_id=correlation_id,
                school_id=school,
                attributes={"luca.rows": len(mine), "luca.file": written.path},
            ):
                log.info(
                    "lake rows written",
                    extra={
                        "file": written.path,
                        "rows": [
                            {"item_type": r.item_type, "record_id": r.record_id, "version": r.version}
                            for r in mine
                        ],
                    },
                )
        return written
