"""The lake's local stand-ins: Pipes + Firehose (a stream poller feeding the analytics pipeline) and TTL.

In AWS, EventBridge Pipes reads the table's stream, filters INSERT/MODIFY, enriches with ``flatten``
and Firehose buffers and writes Parquet per school/year/month. The emulator streams changes but
nothing consumes them, and it never expires items. The pipeline itself (decoding, ``flatten``,
Firehose's buffering rule, the Parquet writer) is the analytics service's, composed by
``luca_analytics.bootstrap_pipeline``; what is here is only what AWS would run around it. In the
platform's process:

* ``StreamPoller`` (a thread) describes the stream, reads every shard from ``TRIM_HORIZON`` and then
  follows ``NextShardIterator``; shards that appear later are read from their start, closed shards
  are dropped once drained, an expired iterator is renewed after the last sequence number read. Each
  record is handed to the pipeline; one it cannot decode is counted and skipped, a pass that fails
  (the emulator stopping, say) is logged and retried after a pause: the poller never dies of bad
  input. It asks for a flush on the buffer's interval even when no record arrives, and once more on
  ``stop()``.
* ``TtlReaper`` (a thread) deletes, every ``reaper_interval_seconds``, the items whose ``expires_at``
  has passed, as DynamoDB's TTL would (conditionally, so an item whose TTL was extended meanwhile is
  kept). Their REMOVE records flow through the stream and the pipeline skips them: the lake keeps
  everything. It learns what expires when from the same stream (the poller hands it every record):
  a schedule of keys by expiry, so a pass costs what is due, not a scan of the table. The emulator
  scans slower than linearly (a pass over 30,000 items took 24 s, in the poller's process, every
  30 s); the poller reads the stream from its start, so the schedule sees every item ever written.
  ``reap_once()`` (a full scan) stays for tools and tests.
* The pipeline is built ``traced``: each file written is a span, and each request whose rows it
  holds gets a span and a log line with its ``correlation_id`` (the rows' column), so ``luca trace``
  shows the lake hop (``luca_analytics.adapters.traced_sink``).
* ``LocalLake`` provisions the lake bucket (named like the AWS stack's) and the local
  pseudonymisation key (random, kept in the state directory), builds the pipeline with the
  service's composition root and the definition's local buffering, and runs both threads.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from luca_analytics.bootstrap_pipeline import LakePipeline, PipelineSettings, StreamPipeline, build_pipeline
from luca_analytics.definition import LAKE_PREFIX
from luca_infra.definitions import PLATFORM_DEFINITION, PlatformDefinition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("luca.local.lake")

# Streams' GetRecords returns at most 1,000 records a call.
MAX_RECORDS_PER_CALL = 1000
# How often the poller looks for new shards when the ones it has are open.
_DESCRIBE_EVERY_SECONDS = 10.0
_ERROR_PAUSE_SECONDS = 1.0
_DUMMY_KEYS = ("testing", "testing")  # the emulator accepts any credentials


def lake_bucket_name(definition: PlatformDefinition, account: str, region: str) -> str:
    """Named like the AWS stack's bucket: ``<prefix>-<account>-<region>``."""
    return f"{definition.analytics_aws.lake_bucket_prefix}-{account}-{region}"


def local_pseudonym_key(state_dir: Path, definition: PlatformDefinition = PLATFORM_DEFINITION) -> bytes:
    """LOCAL ONLY: a random key kept in the state directory (created on first use, owner-only).

    In AWS the key is the Secrets Manager secret ``analytics_aws.pseudonym_key_secret_name``."""
    path = state_dir / definition.analytics.pseudonym_key_file
    with contextlib.suppress(FileNotFoundError):
        existing = path.read_text(encoding="ascii").strip()
        if existing:
            return existing.encode()
    state_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(key + "\n")
    return key.encode()


# -- the stream poller ----------------------------------------------------------------------------------
@dataclass(slots=True)
class _Shard:
    shard_id: str
    iterator: str | None
    last_sequence: str = ""


@dataclass(slots=True)
class PollerCounters:
    records_read: int = 0
    undecodable: int = 0
    failed_passes: int = 0
    shards_seen: int = 0
    shards_closed: int = 0
    passes: int = 0


class StreamPoller:
    """Reads the table's stream into the pipeline, in a background thread, until ``stop()``."""

    def __init__(
        self,
        streams: DynamoDBStreamsClient,
        stream_arn: str,
        delivery: StreamPipeline,
        *,
        poll_interval_seconds: float = 0.5,
        observers: Sequence[Callable[[Mapping[str, Any]], None]] = (),
    ) -> None:
        self._streams = streams
        self._observers = tuple(observers)
        self.stream_arn = stream_arn
        self._delivery = delivery
        self.pipeline: LakePipeline = delivery.pipeline
        self._poll_interval = poll_interval_seconds
        self._shards: dict[str, _Shard] = {}
        self._finished: set[str] = set()
        self._described_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counters = PollerCounters()

    def start(self) -> StreamPoller:
        self._thread = threading.Thread(target=self._run, name="lake-stream-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling, then flush what is buffered (Firehose delivers its buffer too)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.pipeline.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                read = self.poll_once()
            except Exception:
                self.counters.failed_passes += 1
                log.exception("stream poll failed; retrying")
                self._stop.wait(_ERROR_PAUSE_SECONDS)
                continue
            try:
                self.pipeline.flush_if_due()
            except Exception:
                log.exception("lake flush failed")
            if not read:
                self._stop.wait(self._poll_interval)

    def poll_once(self) -> int:
        """One pass over the shards; the number of records read."""
        self.counters.passes += 1
        if not self._shards or time.monotonic() - self._described_at >= _DESCRIBE_EVERY_SECONDS:
            self._discover()
        read = 0
        for shard in list(self._shards.values()):
            read += self._read(shard)
        return read

    def _discover(self) -> None:
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        self._described_at = time.monotonic()
        for found in description.get("Shards", []):
            shard_id = found["ShardId"]
            if shard_id in self._shards or shard_id in self._finished:
                continue
            # A shard first seen (at start, or a child of a split) is read from its beginning.
            iterator = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            self._shards[shard_id] = _Shard(shard_id, iterator)
            self.counters.shards_seen += 1

    def _read(self, shard: _Shard) -> int:
        if shard.iterator is None:
            return 0
        try:
            page = self._streams.get_records(ShardIterator=shard.iterator, Limit=MAX_RECORDS_PER_CALL)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExpiredIteratorException":
                raise
            shard.iterator = self._renewed(shard)
            return 0
        records = page.get("Records", [])
        for record in records:
            self.counters.records_read += 1
            for observe in self._observers:
                try:
                    observe(record)
                except Exception:
                    log.exception("stream observer failed on a record")
            if not self._delivery.take(record):
                self.counters.undecodable += 1
            stream = record.get("dynamodb")
            sequence = str(stream.get("SequenceNumber") or "") if isinstance(stream, Mapping) else ""
            if sequence:
                shard.last_sequence = sequence
        shard.iterator = page.get("NextShardIterator")
        if shard.iterator is None:
            # Closed and drained: its children (if any) show up in the next description.
            del self._shards[shard.shard_id]
            self._finished.add(shard.shard_id)
            self.counters.shards_closed += 1
            self._described_at = 0.0
        return len(records)

    def _renewed(self, shard: _Shard) -> str:
        request: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard.shard_id}
        if shard.last_sequence:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.last_sequence)
        else:
            request.update(ShardIteratorType="TRIM_HORIZON")
        return self._streams.get_shard_iterator(**request)["ShardIterator"]


# -- the TTL reaper -----------------------------------------------------------------------------------------
class TtlReaper:
    """Deletes items whose TTL attribute is in the past, as DynamoDB's TTL does (moto never does)."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table_name: str,
        *,
        ttl_attribute: str = PLATFORM_DEFINITION.table.ttl_attribute,
        key_attributes: tuple[str, str] = (
            PLATFORM_DEFINITION.table.partition_key,
            PLATFORM_DEFINITION.table.sort_key,
        ),
        interval_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dynamodb = dynamodb
        self.table_name = table_name
        self._ttl = ttl_attribute
        self._keys_attributes = key_attributes
        self._interval = interval_seconds
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.deleted = 0
        # The schedule: (expiry, key id) in a heap; ``_expiry`` holds each key's current expiry (an
        # entry whose expiry no longer matches is stale and skipped); ``_keys`` the typed keys.
        self._lock = threading.Lock()
        self._heap: list[tuple[int, str]] = []
        self._expiry: dict[str, int] = {}
        self._keys: dict[str, dict[str, Any]] = {}

    @property
    def scheduled(self) -> int:
        """Items with a TTL the reaper knows of (not yet expired and deleted)."""
        with self._lock:
            return len(self._expiry)

    def observe(self, record: Mapping[str, Any]) -> None:
        """Learn an item's expiry from its stream record (the poller calls this for every record)."""
        stream = record.get("dynamodb")
        if not isinstance(stream, Mapping):
            return
        keys = stream.get("Keys")
        if not isinstance(keys, Mapping) or set(keys) != set(self._keys_attributes):
            return
        key_id = json.dumps(keys, sort_keys=True, separators=(",", ":"))
        expires = _epoch_seconds((stream.get("NewImage") or {}).get(self._ttl))
        with self._lock:
            if record.get("eventName") == "REMOVE" or expires is None:
                # Gone, or no (numeric) TTL any more: DynamoDB ignores a TTL that is not a number.
                self._expiry.pop(key_id, None)
                self._keys.pop(key_id, None)
                return
            if self._expiry.get(key_id) == expires:
                return
            self._expiry[key_id] = expires
            self._keys[key_id] = dict(keys)
            heapq.heappush(self._heap, (expires, key_id))

    def reap_due(self) -> int:
        """Delete the scheduled items whose expiry has passed; the number deleted."""
        now = int(self._clock())
        due: list[tuple[str, dict[str, Any]]] = []
        with self._lock:
            while self._heap and self._heap[0][0] < now:
                expires, key_id = heapq.heappop(self._heap)
                if self._expiry.get(key_id) == expires:
                    due.append((key_id, self._keys[key_id]))
        deleted = sum(1 for _, key in due if self._delete(key, now))
        with self._lock:
            for key_id, _ in due:
                # Deleted (its REMOVE will say so too) or kept because its TTL moved (its MODIFY
                # re-schedules it): either way this entry is spent.
                if self._expiry.get(key_id, now) < now:
                    self._expiry.pop(key_id, None)
                    self._keys.pop(key_id, None)
        if deleted:
            log.info("expired items deleted", extra={"table": self.table_name, "deleted": deleted})
        self.deleted += deleted
        return deleted

    def _delete(self, key: Mapping[str, Any], now: int) -> bool:
        try:
            self._dynamodb.delete_item(
                TableName=self.table_name,
                Key=dict(key),
                ConditionExpression="#ttl < :now",
                ExpressionAttributeNames={"#ttl": self._ttl},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False  # its TTL was extended (or it is gone) since it was scheduled
        return True

    def start(self) -> TtlReaper:
        self._thread = threading.Thread(target=self._run, name="ttl-reaper", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.reap_due()
            except Exception:
                log.exception("TTL reaping failed; retrying next interval")

    def reap_once(self) -> int:
        """Delete every expired item now; the number deleted."""
        now = int(self._clock())
        names = {"#ttl": self._ttl, "#pk": self._keys_attributes[0], "#sk": self._keys_attributes[1]}
        deleted = 0
        paginator = self._dynamodb.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.table_name,
            FilterExpression="attribute_exists(#ttl) AND #ttl < :now",
            ProjectionExpression="#pk, #sk",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":now": {"N": str(now)}},
        )
        for page in pages:
            for key in page.get("Items", []):
                if self._delete(key, now):
                    deleted += 1
        if deleted:
            log.info("expired items deleted", extra={"table": self.table_name, "deleted": deleted})
        self.deleted += deleted
        return deleted


def _epoch_seconds(value: Any) -> int | None:
    """A TTL attribute's value in typed JSON (``{"N": "1764000000"}``) as whole seconds, else None."""
    if not isinstance(value, Mapping) or "N" not in value:
        return None
    try:
        return int(float(value["N"]))
    except (TypeError, ValueError, OverflowError):
        return None


# -- the lake on the local platform ------------------------------------------------------------------------
@dataclass
class LocalLake:
    """The bucket, the key, the poller and the reaper, as the platform runs them."""

    endpoint_url: str
    region: str
    table_name: str
    stream_arn: str
    state_dir: Path
    definition: PlatformDefinition = PLATFORM_DEFINITION
    account: str = ""
    bucket: str = ""
    pipeline: LakePipeline | None = None
    poller: StreamPoller | None = None
    reaper: TtlReaper | None = None
    _metrics: IO[str] | None = field(default=None, repr=False)

    @property
    def metrics_path(self) -> Path:
        return self.state_dir / self.definition.analytics.metrics_file

    def start(self) -> LocalLake:
        session = boto3.Session(
            region_name=self.region, aws_access_key_id=_DUMMY_KEYS[0], aws_secret_access_key=_DUMMY_KEYS[1]
        )
        s3: S3Client = session.client("s3", endpoint_url=self.endpoint_url)
        if not self.account:
            self.account = session.client("sts", endpoint_url=self.endpoint_url).get_caller_identity()[
                "Account"
            ]
        self.bucket = self.bucket or lake_bucket_name(self.definition, self.account, self.region)
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            s3.create_bucket(Bucket=self.bucket)
        settings = self.definition.analytics
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # In AWS the EMF lines go to stdout for the log driver; here to a file `luca lake show` reads.
        self._metrics = self.metrics_path.open("a", encoding="utf-8")
        pipeline_settings = PipelineSettings(
            pseudonym_key=local_pseudonym_key(self.state_dir, self.definition),
            lake_bucket=self.bucket,
            # Firehose's rule with local sizes, so a change is queryable in seconds.
            buffer_bytes=settings.buffer_bytes,
            buffer_seconds=settings.buffer_seconds,
            compression=settings.compression,
            metrics_namespace=self.definition.metrics_namespace,
            aws_region=self.region,
            aws_endpoint_url=self.endpoint_url,
        )
        delivery = build_pipeline(pipeline_settings, metrics=self._metrics, traced=True)
        self.pipeline = delivery.pipeline
        self.reaper = TtlReaper(
            session.client("dynamodb", endpoint_url=self.endpoint_url),
            self.table_name,
            ttl_attribute=self.definition.table.ttl_attribute,
            key_attributes=(self.definition.table.partition_key, self.definition.table.sort_key),
            interval_seconds=settings.reaper_interval_seconds,
        ).start()
        self.poller = StreamPoller(
            session.client("dynamodbstreams", endpoint_url=self.endpoint_url),
            self.stream_arn,
            delivery,
            poll_interval_seconds=settings.poll_interval_seconds,
            observers=[self.reaper.observe],
        ).start()
        log.info("lake pipeline running", extra={"bucket": self.bucket, "prefix": LAKE_PREFIX})
        return self

    def stop(self) -> None:
        if self.reaper is not None:
            self.reaper.stop()
        if self.poller is not None:
            self.poller.stop()  # flushes the buffer
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    def stats(self) -> dict[str, Any]:
        if self.pipeline is None or self.poller is None:
            return {}
        return {
            **self.pipeline.counters.snapshot(),
            "records_read": self.poller.counters.records_read,
            "freshness": self.pipeline.freshness_percentiles(),
            "reaped": self.reaper.deleted if self.reaper else 0,
        }


# -- what is in the lake ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PartitionFiles:
    school_id: str
    year: int
    month: int
    files: int
    bytes: int
    last_modified: datetime | None


def lake_partitions(s3: S3Client, bucket: str, school_id: str | None = None) -> list[PartitionFiles]:
    """The lake's partitions (from the object listing): files, bytes and the newest file's time."""
    prefix = f"{LAKE_PREFIX}/" + (f"school_id={school_id}/" if school_id else "")
    found: dict[tuple[str, int, int], list[tuple[int, datetime | None]]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            parts = dict(
                segment.split("=", 1)
                for segment in item["Key"][len(LAKE_PREFIX) + 1 :].split("/")[:-1]
                if "=" in segment
            )
            if not item["Key"].endswith(".parquet") or not {"school_id", "year", "month"} <= set(parts):
                continue
            key = (parts["school_id"], int(parts["year"]), int(parts["month"]))
            modified = item.get("LastModified")
            found.setdefault(key, []).append(
                (int(item.get("Size", 0)), modified.astimezone(UTC) if modified else None)
            )
    return [
        PartitionFiles(
            school_id=school,
            year=year,
            month=month,
            files=len(files),
            bytes=sum(size for size, _ in files),
            last_modified=max((m for _, m in files if m is not None), default=None),
        )
        for (school, year, month), files in sorted(found.items())
    ]
