"""The lake's writer: one Parquet file per partition per flush, in S3 or a local directory.

Files land at ``<root>/<LAKE_PREFIX>/school_id=<s>/year=<yyyy>/month=<mm>/part-<utc>-<uuid>.parquet``,
the layout Firehose's dynamic partitioning writes and Athena's partition projection (and the query
service's pyarrow dataset) read. Columns are ``lake_schema.file_schema()``: the partition columns are
the path, not in the file. A file is built in memory and uploaded in one request, so a reader never
sees half a file and its size is known without asking S3.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from luca_analytics.adapters.lake_schema import LAKE_PREFIX, file_schema, partition_path
from luca_analytics.domain.lake import LakeRow
from luca_analytics.service_layer.pipeline import Partition, WrittenFile

COMPRESSIONS = frozenset({"snappy", "zstd", "gzip", "none"})


def table_of(rows: Sequence[LakeRow]) -> pa.Table:
    schema = file_schema()
    return pa.table({name: [getattr(row, name) for row in rows] for name in schema.names}, schema=schema)


class ParquetSink:
    def __init__(
        self,
        filesystem: pafs.FileSystem,
        root: str,
        *,
        compression: str = "zstd",
        now: Callable[[], datetime] | None = None,
    ) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {sorted(COMPRESSIONS)}")
        self.filesystem = filesystem
        self.root = f"{root.rstrip('/')}/{LAKE_PREFIX}"
        self._compression = compression
        self._now = now or (lambda: datetime.now(UTC))

    @classmethod
    def s3(
        cls,
        bucket: str,
        *,
        region: str,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        **kwargs: object,
    ) -> ParquetSink:
        """The lake bucket; ``endpoint_url`` only to reach an emulator (credentials: the default chain,
        unless given)."""
        options: dict[str, object] = {"region": region}
        if endpoint_url:
            parsed = urlparse(endpoint_url)
            options.update(endpoint_override=parsed.netloc, scheme=parsed.scheme or "http")
        if access_key and secret_key:
            options.update(access_key=access_key, secret_key=secret_key)
        return cls(pafs.S3FileSystem(**options), bucket, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def local(cls, directory: str, **kwargs: object) -> ParquetSink:
        return cls(pafs.LocalFileSystem(), directory, **kwargs)  # type: ignore[arg-type]

    def write(self, partition: Partition, rows: Sequence[LakeRow]) -> WrittenFile:
        school, year, month = partition
        if not rows:
            raise ValueError("no rows to write")
        if any((r.school_id, r.year, r.month) != partition for r in rows):
            raise ValueError("a row does not belong to the partition it is written to")
        stamp = self._now().astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        directory = f"{self.root}/{partition_path(school, year, month)}"
        path = f"{directory}/part-{stamp}-{uuid.uuid4().hex}.parquet"
        buffer = pa.BufferOutputStream()
        pq.write_table(table_of(rows), buffer, compression=self._compression)
        data = buffer.getvalue()
        if isinstance(self.filesystem, pafs.LocalFileSystem):
            self.filesystem.create_dir(directory, recursive=True)
        with self.filesystem.open_output_stream(path) as out:
            out.write(data)
        return WrittenFile(path=path, partition=partition, rows=len(rows), bytes=data.size)
