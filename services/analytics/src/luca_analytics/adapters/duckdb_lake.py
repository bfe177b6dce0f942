"""The ``Lake`` port over the Parquet lake: a pyarrow dataset of one school's partitions, queried
with DuckDB.

The school is confined before DuckDB sees anything: the dataset is discovered from
``<root>/school_id=<school>/`` only (so not even another school's file *names* are listed), its
fragments are filtered again on the ``school_id`` partition expression, and DuckDB gets a dataset of
exactly those fragments, registered as the ``lake_grades`` view. The report SQL then also says
``WHERE school_id = ?`` (it is the same text Athena runs). Each query's ``ScanStatistics`` records the
files handed to DuckDB and their bytes, from the fragments themselves: the proof that a one-school
query touches only that school's files, and the benchmark's figures.

The lake lives in S3 (``pyarrow.fs.S3FileSystem``; the emulator's through ``endpoint_override``)
or, for tests and tools, in a local directory: the layout is the same.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from luca_analytics.adapters import report_sql
from luca_analytics.adapters.lake_schema import LAKE_PREFIX, file_schema, partition_schema
from luca_analytics.service_layer.reports import LakeUnavailable


@dataclass(frozen=True, slots=True)
class ScanStatistics:
    """What one query read: the Parquet files DuckDB was given (all of them the school's) and their
    size. ``bytes_read`` is the files' size, an upper bound: DuckDB reads only the columns and row
    groups it needs."""

    school_id: str
    files_read: tuple[str, ...]
    bytes_read: int

    @property
    def file_count(self) -> int:
        return len(self.files_read)


@dataclass(frozen=True, slots=True)
class LakeSize:
    files: int
    bytes: int


def lake_schema() -> pa.Schema:
    """The dataset's schema: the files' columns, then the hive partition columns."""
    return pa.schema([*file_schema(), *partition_schema()])


class DuckDbLake:
    def __init__(self, filesystem: pafs.FileSystem, root: str, *, duckdb_threads: int = 2) -> None:
        """``root`` is the lake's base directory on ``filesystem`` (``<bucket>/lake/grades``)."""
        self._fs = filesystem
        self._root = root.rstrip("/")
        self._threads = duckdb_threads
        self._lock = threading.Lock()
        self._last: ScanStatistics | None = None

    @classmethod
    def local(cls, directory: str, **kwargs: Any) -> DuckDbLake:
        """A lake in a local directory laid out as the bucket is (``<directory>/lake/grades/...``)."""
        return cls(pafs.LocalFileSystem(), f"{directory.rstrip('/')}/{LAKE_PREFIX}", **kwargs)

    @classmethod
    def s3(cls, bucket: str, *, region: str, endpoint_url: str | None = None, **kwargs: Any) -> DuckDbLake:
        """The lake in S3; ``endpoint_url`` only to reach an emulator (credentials: the default chain)."""
        options: dict[str, Any] = {"region": region}
        if endpoint_url:
            parsed = urlparse(endpoint_url)
            options.update(endpoint_override=parsed.netloc, scheme=parsed.scheme or "http")
        return cls(pafs.S3FileSystem(**options), f"{bucket}/{LAKE_PREFIX}", **kwargs)

    @property
    def last_statistics(self) -> ScanStatistics | None:
        """The statistics of the latest query in this process (tools and the benchmark)."""
        with self._lock:
            return self._last

    # -- the port ---------------------------------------------------------------------------------
    def query(self, school_id: str, sql_name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        rows, _ = self.query_with_statistics(school_id, sql_name, params)
        return rows

    def query_with_statistics(
        self, school_id: str, sql_name: str, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], ScanStatistics]:
        report, values = report_sql.bind(school_id, sql_name, params)
        try:
            return self._run(school_id, report, values)
        except (OSError, pa.ArrowException, duckdb.IOException) as exc:
            # The bucket unreachable, a file unreadable: the lake cannot answer now.
            raise LakeUnavailable(f"lake read failed: {exc}") from exc

    def _run(
        self, school_id: str, report: report_sql.ReportQuery, values: list[Any]
    ) -> tuple[list[dict[str, Any]], ScanStatistics]:
        dataset, statistics = self.school_dataset(school_id)
        connection = duckdb.connect(
            config={
                "threads": self._threads,
                # DuckDB reads only the dataset we register: no files, no URLs, no extensions.
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            }
        )
        try:
            connection.register(report_sql.LAKE_TABLE, dataset)
            cursor = connection.execute(report.sql(), values)
            names = [column[0] for column in cursor.description or ()]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            connection.close()
        with self._lock:
            self._last = statistics
        return rows, statistics

    # -- the school's dataset ---------------------------------------------------------------------
    def school_dataset(self, school_id: str) -> tuple[ds.Dataset, ScanStatistics]:
        """Exactly the school's Parquet files, as a dataset with the partition columns."""
        report_sql.check_school(school_id)
        schema = lake_schema()
        partitioning = ds.partitioning(partition_schema(), flavor="hive")
        selector = pafs.FileSelector(
            f"{self._root}/school_id={school_id}", recursive=True, allow_not_found=True
        )
        infos = [
            info
            for info in self._fs.get_file_info(selector)
            if info.is_file and info.path.endswith(".parquet")
        ]
        if not infos:
            return ds.dataset(schema.empty_table()), ScanStatistics(school_id, (), 0)
        discovered = ds.dataset(
            [info.path for info in infos],
            schema=schema,
            format="parquet",
            filesystem=self._fs,
            partitioning=partitioning,
            partition_base_dir=self._root,
        )
        # Pruning by the partition expression, as a second wall: a file whose path does not parse
        # as this school's partition is not handed over.
        fragments = list(discovered.get_fragments(filter=ds.field("school_id") == school_id))
        sizes = {info.path: info.size or 0 for info in infos}
        paths = tuple(fragment.path for fragment in fragments)
        dataset = ds.FileSystemDataset(fragments, schema, ds.ParquetFileFormat(), self._fs)
        return dataset, ScanStatistics(school_id, paths, sum(sizes.get(path, 0) for path in paths))

    def size(self, school_id: str | None = None) -> LakeSize:
        """Files and bytes in the whole lake (or one school's part): the denominator of the
        benchmark's "read vs whole lake"."""
        base = self._root if school_id is None else f"{self._root}/school_id={school_id}"
        infos = self._fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        files = [info for info in infos if info.is_file and info.path.endswith(".parquet")]
        return LakeSize(files=len(files), bytes=sum(info.size or 0 for info in files))

    def partitions(self) -> Sequence[str]:
        """The lake's partitions (``school_id=.../year=.../month=...``) that hold files."""
        infos = self._fs.get_file_info(pafs.FileSelector(self._root, recursive=True, allow_not_found=True))
        found = {
            info.path[len(self._root) + 1 :].rsplit("/", 1)[0]
            for info in infos
            if info.is_file and info.path.endswith(".parquet")
        }
        return sorted(found)
