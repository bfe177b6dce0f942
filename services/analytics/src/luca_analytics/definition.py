"""What a deployment of the analytics service needs to know about it, and nothing it may not.

The CDK app (``luca_infra.aws``) reaches a service only through its composition root, entrypoints,
config and definition modules; this is the analytics service's definition. It names the lake's
layout (prefix, partition keys, the Glue columns derived from ``luca.analytics.v1.LakeRecord``),
which table changes become rows, and what the enrichment handler reads from its environment. Every
value is taken from the module that owns it, never restated, so the stacks cannot drift from the
pipeline and the query service.

The enrichment handler never imports this module: the lake schema needs pyarrow, which its Lambda
bundle leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass

from luca_analytics.adapters import lake_schema
from luca_analytics.domain import lake
from luca_analytics.entrypoints import enrich
from luca_analytics.service_layer import pipeline

# Where the rows land, under the lake bucket: LAKE_PREFIX/school_id=<s>/year=<yyyy>/month=<mm>/.
LAKE_PREFIX: str = lake_schema.LAKE_PREFIX
PARTITION_KEYS: tuple[str, ...] = lake.PARTITION_KEYS
# The stream's eventName values that become rows; REMOVE (TTL expiries, deletions) never does.
LAKE_CHANGES: frozenset[str] = lake.LAKE_CHANGES

# The pipeline's metrics (EMF), which alarms and operators' tools read by name.
RECORDS_IN_METRIC: str = pipeline.RECORDS_IN_METRIC
ROWS_OUT_METRIC: str = pipeline.ROWS_OUT_METRIC
SKIPPED_METRIC: str = pipeline.SKIPPED_METRIC
FILES_METRIC: str = pipeline.FILES_METRIC
BYTES_METRIC: str = pipeline.BYTES_METRIC
FRESHNESS_METRIC: str = pipeline.FRESHNESS_METRIC
FRESHNESS_P50_METRIC: str = pipeline.FRESHNESS_P50_METRIC

# The enrichment function (Pipes' enrichment step): its handler and the environment it reads.
ENRICH_HANDLER: str = f"{enrich.__name__}.{enrich.handler.__name__}"
ENRICH_SERVICE: str = enrich.SERVICE
ENRICH_KEY_SECRET_ENV: str = enrich.KEY_SECRET_ENV
ENRICH_NAMESPACE_ENV: str = enrich.NAMESPACE_ENV


@dataclass(frozen=True, slots=True)
class GlueColumn:
    """One column of the lake's Glue table: its name and Glue (Hive) type."""

    name: str
    type: str


def glue_data_columns() -> tuple[GlueColumn, ...]:
    """The columns stored in the Parquet files, in the contract's field order."""
    return tuple(GlueColumn(c.name, c.glue) for c in lake_schema.data_columns())


def glue_partition_columns() -> tuple[GlueColumn, ...]:
    """The partition columns (the object's path, not its content), in ``PARTITION_KEYS`` order."""
    return tuple(GlueColumn(c.name, c.glue) for c in lake_schema.partition_columns())


def partition_path(school_id: str, year: int, month: int) -> str:
    """``school_id=<s>/year=<yyyy>/month=<mm>``, the layout under ``LAKE_PREFIX``."""
    return lake_schema.partition_path(school_id, year, month)
