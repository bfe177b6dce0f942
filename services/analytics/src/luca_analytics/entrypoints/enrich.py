"""The Pipes enrichment function: a batch of table stream records in, the lake's rows out.

EventBridge Pipes (``LucaAnalytics``) reads the table's stream, keeps only INSERT and MODIFY (its
filter), and invokes this function with the batch as a JSON array. Each record's ``NewImage`` is
typed DynamoDB JSON; it is decoded with boto3's ``TypeDeserializer`` and handed to
``domain.lake.flatten``, the same transform the local poller runs. What comes back is a JSON array
of rows, which the pipe sends to Firehose one record per row; Firehose converts each to Parquet
against the Glue table and routes it by its partition keys.

A row carries every data column of the lake under its column name (``LakeRecord``'s fields), plus
the partition keys ``school_id``, ``year`` and ``month`` as the strings the partition path spells
(``year=2025/month=03``): Firehose's dynamic partitioning reads them with JQ, and they are not
columns of the Parquet files (the path is). Timestamps are ISO-8601 UTC with a ``Z``
(``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'``), a format Firehose's OpenX JSON deserializer parses.

Records that cannot become rows (a REMOVE that slipped past the filter, an item type that is not a
lake fact, an unknown type or schema version, a malformed item) are skipped, never raised: one bad
item must not stop the stream. Skips are counted per reason in one log line per batch and as EMF
metrics (``LakeRecordsSkipped`` by ``reason``), beside ``LakeRowsEmitted``. Only the reason and the
item type are logged, never an item's values (minors' data).

The pseudonymisation key is a Secrets Manager secret (``LUCA_PSEUDONYM_KEY_SECRET_ARN``), read once
per cold start through Powertools parameters and cached. Failing to read it fails the invocation, so
the pipe retries the batch and, in the end, sends it to its dead-letter queue: nothing is written
with a missing key.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3.dynamodb.types import TypeDeserializer

from luca_analytics.domain.lake import LakeRow, Skip, SkipReason, flatten

SERVICE = "lake-enrichment"
KEY_SECRET_ENV = "LUCA_PSEUDONYM_KEY_SECRET_ARN"  # noqa: S105 - an environment variable's name
NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
DEFAULT_NAMESPACE = "Luca/Platform"
# A secret changes only when operators rotate the key (which re-pseudonymises the lake going forward);
# an instance rereads it after this long, so a rotation reaches every instance within the hour.
KEY_MAX_AGE_SECONDS = 3600
ROWS_METRIC = "LakeRowsEmitted"
SKIPPED_METRIC = "LakeRecordsSkipped"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=os.environ.get(NAMESPACE_ENV, DEFAULT_NAMESPACE))
_deserializer = TypeDeserializer()
_ROW_FIELDS = tuple(f.name for f in fields(LakeRow))


@dataclass(frozen=True, slots=True)
class Enriched:
    rows: list[dict[str, Any]]
    skipped: Counter[str]
    skipped_types: Counter[str]


def pseudonym_key() -> bytes:
    """The key from Secrets Manager, cached by Powertools for ``KEY_MAX_AGE_SECONDS``."""
    arn = os.environ.get(KEY_SECRET_ENV)
    if not arn:
        raise RuntimeError(f"not set: {KEY_SECRET_ENV}")
    value = parameters.get_secret(arn, max_age=KEY_MAX_AGE_SECONDS)
    key = value.encode() if isinstance(value, str) else bytes(value)
    if not key:
        raise RuntimeError("the pseudonymisation key secret is empty")
    return key


def enrich(records: Iterable[Mapping[str, Any]], key: bytes) -> Enriched:
    """Stream records (as Pipes delivers them) to lake rows; skips counted by reason."""
    rows: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    skipped_types: Counter[str] = Counter()
    for record in records:
        outcome = _flatten_record(record, key)
        if isinstance(outcome, LakeRow) and not _finite(outcome):
            # A NaN or infinite score (a number attribute written as "NaN") has no JSON form and
            # would fail Firehose's conversion of the whole record: malformed, like any bad value.
            outcome = Skip(SkipReason.MALFORMED, "a number is not finite")
        if isinstance(outcome, LakeRow):
            rows.append(lake_row(outcome))
        else:
            skipped[outcome.reason.value] += 1
            if outcome.reason in (SkipReason.UNKNOWN_TYPE, SkipReason.UNKNOWN_SCHEMA_VERSION):
                # The detail is the item's type (and version), never its values.
                skipped_types[outcome.detail[:64]] += 1
    return Enriched(rows=rows, skipped=skipped, skipped_types=skipped_types)


def lake_row(row: LakeRow) -> dict[str, Any]:
    """A row as the JSON object Firehose converts: column name -> value, partition keys as path text."""
    document: dict[str, Any] = {}
    for name in _ROW_FIELDS:
        value = getattr(row, name)
        document[name] = _timestamp(value) if isinstance(value, datetime) else value
    # The partition keys as the path spells them (partition_path: year=2025/month=03), so the JQ
    # that extracts them needs no formatting of its own.
    document["year"] = f"{row.year:04d}"
    document["month"] = f"{row.month:02d}"
    return document


def _finite(row: LakeRow) -> bool:
    return all(math.isfinite(value) for value in (row.score, row.weight) if value is not None)


def _flatten_record(record: Mapping[str, Any], key: bytes) -> LakeRow | Skip:
    change = str(record.get("eventName") or "")
    stream = record.get("dynamodb")
    if not isinstance(stream, Mapping):
        return Skip(SkipReason.MALFORMED, "no dynamodb section")
    try:
        image = _decode(stream.get("NewImage"))
        changed_at = _changed_at(stream.get("ApproximateCreationDateTime"))
    except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        return Skip(SkipReason.MALFORMED, type(exc).__name__)
    # The sequence number orders two rows of one record and version (a redelivered record).
    return flatten(change, image, changed_at, key, str(stream.get("SequenceNumber") or ""))


def _decode(image: Any) -> dict[str, Any] | None:
    if image is None:
        return None
    if not isinstance(image, Mapping):
        raise TypeError("NewImage is not a map")
    return {name: _deserializer.deserialize(value) for name, value in image.items()}


def _changed_at(value: Any) -> datetime:
    # Streams give seconds since the epoch (a number; Pipes keeps it as in the Lambda event).
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError("no ApproximateCreationDateTime")
    return datetime.fromtimestamp(float(value), tz=UTC)


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def publish(outcome: Enriched, received: int, namespace: str) -> None:
    """``LakeRowsEmitted``, and ``LakeRecordsSkipped`` by ``reason`` (one EMF document per reason)."""
    metrics.add_metric(name=ROWS_METRIC, unit=MetricUnit.Count, value=len(outcome.rows))
    for reason, count in sorted(outcome.skipped.items()):
        with single_metric(
            name=SKIPPED_METRIC,
            unit=MetricUnit.Count,
            value=count,
            namespace=namespace,
            default_dimensions={"service": SERVICE, "reason": reason},
        ):
            pass
    logger.info(
        "batch enriched",
        extra={
            "records": received,
            "rows": len(outcome.rows),
            "skipped": dict(outcome.skipped),
            "skipped_types": dict(outcome.skipped_types),
        },
    )


def process(
    event: Sequence[Mapping[str, Any]] | Mapping[str, Any], key_source: Callable[[], bytes] = pseudonym_key
) -> list[dict[str, Any]]:
    """What the handler does, with the key's source as a parameter (tests pass a fixed key)."""
    records = list(event) if isinstance(event, Sequence) else [event]
    if not records:
        return []
    outcome = enrich(records, key_source())
    publish(outcome, len(records), os.environ.get(NAMESPACE_ENV, DEFAULT_NAMESPACE))
    return outcome.rows


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext) -> list[dict[str, Any]]:
    return process(event)
