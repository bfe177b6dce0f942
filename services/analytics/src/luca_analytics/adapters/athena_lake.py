"""The ``Lake`` port on Athena: the report SQL (``report_sql``) run in the LucaAnalytics workgroup over
the Glue table with partition projection. This is the lake adapter the query service uses in AWS;
``DuckDbLake`` is the local one, and both run the same text.

The school is confined the way Athena allows it:

* The school id is checked against the same strict pattern as ``DuckDbLake``'s before any call, and
  it is always bound as the *first* execution parameter (every report starts ``WHERE school_id = ?``);
  it is never formatted into the SQL. Only the table's name is (``ReportQuery.sql`` checks it).
* The Glue table projects ``school_id`` as an *injected* partition key: Athena refuses a query that
  does not name its school with an equality, and lists only that school's prefix. Athena substitutes
  execution parameters before planning, so projection prunes on the bound school as on a literal.

Execution parameters are SQL literals, not raw values (Athena's documentation: a parameter is only
treated as a string when it is enclosed in single quotes). So a string is sent as ``'value'`` with
every ``'`` inside doubled, an integer as its digits and a float as a DOUBLE literal (``0.5E0``), the
types DuckDB binds the same Python values as. Nothing else is accepted.

A query is started in the workgroup (whose result location, encryption and scan cutoff are enforced),
polled with a bounded exponential backoff until it finishes or the overall timeout passes (then it is
stopped, so it stops scanning and billing), and its results are read page by page (the first page's
first row is the header). Values are converted by the result set's column types. Every failure
(the query FAILED or was CANCELLED, throttling beyond botocore's retries, any other AWS error, the
timeout) is a ``LakeUnavailable``: the entrypoints answer it as "unavailable, try again", never as
the caller's fault and never as a bare 500.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from luca_analytics.adapters import report_sql
from luca_analytics.service_layer.reports import LakeUnavailable

log = logging.getLogger("luca.analytics.athena")

# A Glue database or table name as configured (it is formatted into the SQL, so checked first).
_GLUE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# How long a query may run before it is stopped: below the edge's 29 s integration timeout.
DEFAULT_TIMEOUT_SECONDS = 20.0
# Athena's most rows per GetQueryResults page.
MAX_RESULTS_PER_PAGE = 1000
# The process talks to Athena with these; throttling (TooManyRequestsException when the account's
# concurrent-query quota is reached) is retried by botocore's standard mode, then becomes LakeUnavailable.
CLIENT_CONFIG = Config(
    max_pool_connections=32,
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=2,
    read_timeout=10,
    tcp_keepalive=True,
)
FINISHED_BADLY = frozenset({"FAILED", "CANCELLED"})
_INTEGER_TYPES = frozenset({"tinyint", "smallint", "integer", "int", "bigint"})
_FLOAT_TYPES = frozenset({"double", "float", "real", "decimal"})


@dataclass(frozen=True, slots=True)
class QueryStatistics:
    """What one Athena query cost: the bytes it scanned (what Athena bills) and its times."""

    school_id: str
    report: str
    query_execution_id: str
    data_scanned_bytes: int
    engine_time_ms: int
    total_time_ms: int
    queue_time_ms: int


@dataclass(frozen=True, slots=True)
class Polling:
    """How long to wait for a query: the first pause, doubling up to ``max_delay`` seconds, within
    ``timeout_seconds`` overall (below the edge's 29 s integration timeout)."""

    first_delay: float = 0.2
    max_delay: float = 1.0
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        if not 0 < self.first_delay <= self.max_delay:
            raise ValueError("the first poll delay must be positive and at most the longest one")
        if self.timeout_seconds <= 0:
            raise ValueError("the query timeout must be positive")


class AthenaClient(Protocol):
    """The four Athena calls the adapter makes (boto3's client, or a test's stub)."""

    def start_query_execution(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def get_query_execution(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def get_query_results(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def stop_query_execution(self, **kwargs: Any) -> Mapping[str, Any]: ...


def execution_parameter(value: Any) -> str:
    """``value`` as the SQL literal Athena's ``ExecutionParameters`` take."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a report parameter")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a report parameter must be a finite number")
        text = repr(value).upper()
        # A DOUBLE literal needs an exponent (``0.5`` alone would be a DECIMAL in Trino).
        return text if "E" in text else f"{text}E0"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"a report parameter must be a string or a number, not {type(value).__name__}")


def convert(value: str | None, column_type: str) -> Any:
    """One cell of a result set, by its column's Athena type."""
    if value is None:
        return None
    kind = column_type.lower()
    if kind in _INTEGER_TYPES:
        return int(value)
    if kind in _FLOAT_TYPES:
        return float(value)
    if kind == "boolean":
        return value == "true"
    return value


class AthenaLake:
    def __init__(
        self,
        client: AthenaClient,
        *,
        workgroup: str,
        database: str,
        table: str,
        polling: Polling | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not workgroup:
            raise ValueError("the Athena workgroup is not set")
        for name in (database, table):
            if not _GLUE_NAME.fullmatch(name):
                raise ValueError(f"not a Glue database or table name: {name!r}")
        self._client = client
        self._workgroup = workgroup
        self._database = database
        self._table = f"{database}.{table}"
        self._polling = polling or Polling()
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._last: QueryStatistics | None = None

    @classmethod
    def connect(
        cls,
        *,
        workgroup: str,
        database: str,
        table: str,
        region: str,
        endpoint_url: str | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> AthenaLake:
        """The adapter on a real client (``endpoint_url`` only to reach an emulator)."""
        client = boto3.client("athena", region_name=region, endpoint_url=endpoint_url, config=CLIENT_CONFIG)
        return cls(
            client,
            workgroup=workgroup,
            database=database,
            table=table,
            polling=Polling(timeout_seconds=timeout_seconds),
        )

    @property
    def last_statistics(self) -> QueryStatistics | None:
        """The statistics of the latest query in this process (tools and the benchmark)."""
        with self._lock:
            return self._last

    # -- the port ---------------------------------------------------------------------------------
    def query(self, school_id: str, sql_name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        rows, _ = self.query_with_statistics(school_id, sql_name, params)
        return rows

    def query_with_statistics(
        self, school_id: str, sql_name: str, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], QueryStatistics]:
        report, values = report_sql.bind(school_id, sql_name, params)
        parameters = [execution_parameter(value) for value in values]

        started = self._call(
            "StartQueryExecution",
            self._client.start_query_execution,
            QueryString=report.sql(self._table),
            QueryExecutionContext={"Database": self._database},
            WorkGroup=self._workgroup,
            ExecutionParameters=parameters,
        )
        execution_id = str(started["QueryExecutionId"])
        execution = self._wait(execution_id)
        rows = self._results(execution_id)
        numbers = execution.get("Statistics", {})
        statistics = QueryStatistics(
            school_id=school_id,
            report=report.name,
            query_execution_id=execution_id,
            data_scanned_bytes=int(numbers.get("DataScannedInBytes", 0)),
            engine_time_ms=int(numbers.get("EngineExecutionTimeInMillis", 0)),
            total_time_ms=int(numbers.get("TotalExecutionTimeInMillis", 0)),
            queue_time_ms=int(numbers.get("QueryQueueTimeInMillis", 0)),
        )
        log.info(
            "athena query",
            extra={
                "report": report.name,
                "school_id": school_id,
                "query_execution_id": execution_id,
                "rows": len(rows),
                "data_scanned_bytes": statistics.data_scanned_bytes,
                "engine_time_ms": statistics.engine_time_ms,
                "total_time_ms": statistics.total_time_ms,
            },
        )
        with self._lock:
            self._last = statistics
        return rows, statistics

    # -- the steps --------------------------------------------------------------------------------
    def _wait(self, execution_id: str) -> Mapping[str, Any]:
        """Poll until the query finished; stop it when the overall timeout has passed."""
        polling = self._polling
        deadline = self._clock() + polling.timeout_seconds
        delay = polling.first_delay
        while True:
            found = self._call(
                "GetQueryExecution",
                self._client.get_query_execution,
                execution_id,
                QueryExecutionId=execution_id,
            )
            execution: Mapping[str, Any] = found["QueryExecution"]
            status = execution.get("Status", {})
            state = status.get("State")
            if state == "SUCCEEDED":
                return execution
            if state in FINISHED_BADLY:
                error = status.get("AthenaError", {})
                raise LakeUnavailable(
                    f"Athena query {execution_id} {state}: {status.get('StateChangeReason', 'no reason given')}"
                    f" (error type {error.get('ErrorType', '?')}, category {error.get('ErrorCategory', '?')})",
                    query_execution_id=execution_id,
                )
            remaining = deadline - self._clock()
            if remaining <= 0:
                self._stop(execution_id)
                raise LakeUnavailable(
                    f"Athena query {execution_id} did not finish within {polling.timeout_seconds:g} s "
                    f"(last state {state}); stopped",
                    query_execution_id=execution_id,
                )
            self._sleep(min(delay, remaining))
            delay = min(delay * 2, polling.max_delay)

    def _stop(self, execution_id: str) -> None:
        try:
            self._client.stop_query_execution(QueryExecutionId=execution_id)
        except (ClientError, BotoCoreError) as error:
            # The timeout is what the caller hears about; a query that could not be stopped still ends
            # at the workgroup's scan cutoff.
            log.warning(
                "could not stop a timed-out Athena query",
                extra={"query_execution_id": execution_id, "error": str(error)},
            )

    def _results(self, execution_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        columns: list[tuple[str, str]] = []
        token: str | None = None
        first_page = True
        while True:
            request: dict[str, Any] = {"QueryExecutionId": execution_id, "MaxResults": MAX_RESULTS_PER_PAGE}
            if token:
                request["NextToken"] = token
            page = self._call("GetQueryResults", self._client.get_query_results, execution_id, **request)
            result_set = page.get("ResultSet", {})
            data: Sequence[Mapping[str, Any]] = result_set.get("Rows", [])
            if first_page:
                info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = [(str(column["Name"]), str(column["Type"])) for column in info]
                data = self._without_header(execution_id, data, [name for name, _ in columns])
                first_page = False
            for row in data:
                cells = [cell.get("VarCharValue") for cell in row.get("Data", [])]
                if len(cells) != len(columns):
                    raise LakeUnavailable(
                        f"Athena query {execution_id}: a row of {len(cells)} values for {len(columns)} columns",
                        query_execution_id=execution_id,
                    )
                rows.append(
                    {name: convert(value, kind) for (name, kind), value in zip(columns, cells, strict=True)}
                )
            token = page.get("NextToken")
            if not token:
                return rows

    @staticmethod
    def _without_header(
        execution_id: str, data: Sequence[Mapping[str, Any]], names: list[str]
    ) -> Sequence[Mapping[str, Any]]:
        """A SELECT's first page starts with the column names as a row; anything else is a surprise
        worth failing on rather than a row of data silently lost."""
        if not data:
            return data
        header = [cell.get("VarCharValue") for cell in data[0].get("Data", [])]
        if header != names:
            raise LakeUnavailable(
                f"Athena query {execution_id}: the first row is not the header {names}",
                query_execution_id=execution_id,
            )
        return data[1:]

    @staticmethod
    def _call(
        operation: str,
        call: Callable[..., Mapping[str, Any]],
        execution_id: str | None = None,
        **request: Any,
    ) -> Mapping[str, Any]:
        try:
            return call(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "?")
            raise LakeUnavailable(
                f"Athena {operation} failed: {code}: {error}", query_execution_id=execution_id
            ) from error
        except BotoCoreError as error:
            raise LakeUnavailable(
                f"Athena {operation} failed: {type(error).__name__}: {error}", query_execution_id=execution_id
            ) from error
