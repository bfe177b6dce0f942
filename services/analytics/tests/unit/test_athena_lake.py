"""The Athena lake adapter: what it asks Athena, how it waits, reads and converts, and how it fails.

Two doubles: moto's Athena (in process, ``mock_aws``), which records each query's text, execution
parameters and workgroup and serves results preloaded through moto's documented
``/moto-api/static/athena/query-results`` endpoint; and ``StubAthena`` below, a small scripted client
for what moto cannot do (a FAILED query, result pages, throttling). Waiting is measured with a fake
clock and sleep, never with real time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.moto_api import state_manager

from luca_analytics.adapters import report_sql
from luca_analytics.adapters.athena_lake import (
    AthenaLake,
    LakeUnavailable,
    Polling,
    QueryStatistics,
    convert,
    execution_parameter,
)

REGION = "us-east-1"
WORKGROUP = "luca-analytics"
DATABASE = "luca_lake"
TABLE = "grades"
RESULTS = "s3://athena-results/"
MOTO_RESULTS_API = "http://motoapi.amazonaws.com/moto-api/static/athena/query-results"
EXECUTION_MODEL = "athena::execution"


class FakeTime:
    """A clock that only moves when the adapter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def column(name: str, kind: str) -> dict[str, Any]:
    return {"Name": name, "Label": name, "Type": kind, "Nullable": "UNKNOWN"}


def row(*values: str | None) -> dict[str, Any]:
    return {"Data": [{} if value is None else {"VarCharValue": value} for value in values]}


def header(columns: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return row(*(c["Name"] for c in columns))


AVERAGE_COLUMNS = [
    column("subject_id", "varchar"),
    column("term_id", "varchar"),
    column("weighted_average", "double"),
    column("grades", "bigint"),
    column("students", "bigint"),
]


# -- moto ----------------------------------------------------------------------------------------------
@pytest.fixture
def athena(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for variable, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(variable, value)
    with mock_aws():
        client = boto3.client("athena", region_name=REGION)
        client.create_work_group(
            Name=WORKGROUP,
            Configuration={
                "ResultConfiguration": {"OutputLocation": RESULTS},
                "EnforceWorkGroupConfiguration": True,
            },
        )
        try:
            yield client
        finally:
            state_manager.unset_transition(EXECUTION_MODEL)


def preload(*results: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    """Queue result sets (rows including the header row, columns) for the next queries."""
    body = {
        "region": REGION,
        "results": [{"rows": rows, "column_info": columns} for rows, columns in results],
    }
    response = requests.post(MOTO_RESULTS_API, json=body, timeout=5)
    assert response.status_code == 201


def lake_on(client: Any, time: FakeTime | None = None, **polling: float) -> AthenaLake:
    clock = time or FakeTime()
    return AthenaLake(
        client,
        workgroup=WORKGROUP,
        database=DATABASE,
        table=TABLE,
        polling=Polling(**polling) if polling else None,
        sleep=clock.sleep,
        clock=clock.clock,
    )


def executions(client: Any) -> list[dict[str, Any]]:
    ids = client.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    return [client.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]


def test_a_report_runs_in_the_workgroup_with_the_school_bound_first(athena: Any) -> None:
    preload(
        (
            [
                header(AVERAGE_COLUMNS),
                row("math", "2025-T1", "5.25", "6", "3"),
                row("lang", "2025-T1", "5.5", "2", "2"),
            ],
            AVERAGE_COLUMNS,
        )
    )
    lake = lake_on(athena)

    rows = lake.query("school-a", "subject_averages", {"term_id": "2025-T1"})

    assert rows == [
        {"subject_id": "math", "term_id": "2025-T1", "weighted_average": 5.25, "grades": 6, "students": 3},
        {"subject_id": "lang", "term_id": "2025-T1", "weighted_average": 5.5, "grades": 2, "students": 2},
    ]
    (execution,) = executions(athena)
    assert execution["Query"] == report_sql.query("subject_averages").sql(f"{DATABASE}.{TABLE}")
    assert "school-a" not in execution["Query"]  # bound, never formatted in
    assert execution["ExecutionParameters"] == ["'school-a'", "'2025-T1'", "'2025-T1'"]
    assert execution["WorkGroup"] == WORKGROUP
    assert execution["QueryExecutionContext"] == {"Database": DATABASE}
    statistics = lake.last_statistics
    assert statistics is not None
    assert (statistics.school_id, statistics.report, statistics.query_execution_id) == (
        "school-a",
        "subject_averages",
        execution["QueryExecutionId"],
    )


def test_parameters_are_bound_as_typed_literals_in_the_reports_order(athena: Any) -> None:
    lake = lake_on(athena)

    lake.query("school-a", "behavior_trend", {"from_month": 202503, "to_month": 202504})
    lake.query("school-a", "grade_distribution", {"term_id": "2025-T1", "subject_id": ""})

    trend, distribution = sorted(executions(athena), key=lambda e: e["Query"].count("?"))
    assert trend["ExecutionParameters"] == ["'school-a'", "202503", "202504"]
    # The school, then the filters in text order; an empty filter is ''. Every ``?`` is in a WHERE
    # clause (Athena takes them nowhere else).
    assert distribution["ExecutionParameters"] == ["'school-a'", "'2025-T1'", "'2025-T1'", "''", "''"]


def test_no_rows_is_an_empty_answer(athena: Any) -> None:
    assert lake_on(athena).query("school-a", "subject_averages", {"term_id": ""}) == []


def test_the_adapter_polls_with_a_bounded_backoff_until_the_query_succeeds(athena: Any) -> None:
    # Each state lasts three polls: QUEUED, QUEUED, RUNNING, RUNNING, RUNNING... then SUCCEEDED.
    state_manager.set_transition(EXECUTION_MODEL, {"progression": "manual", "times": 3})
    preload(([header(AVERAGE_COLUMNS), row("math", "2025-T1", "4.0", "1", "1")], AVERAGE_COLUMNS))
    time = FakeTime()
    lake = lake_on(athena, time, first_delay=0.2, max_delay=1.0, timeout_seconds=20)

    rows = lake.query("school-a", "subject_averages", {"term_id": ""})

    assert [r["subject_id"] for r in rows] == ["math"]
    assert time.sleeps == [0.2, 0.4, 0.8, 1.0, 1.0]


def test_a_query_past_the_timeout_is_stopped_and_reported_unavailable(athena: Any) -> None:
    state_manager.set_transition(EXECUTION_MODEL, {"progression": "manual", "times": 10**6})
    time = FakeTime()
    lake = lake_on(athena, time, first_delay=0.5, max_delay=2.0, timeout_seconds=5)

    with pytest.raises(LakeUnavailable, match="did not finish within 5 s") as raised:
        lake.query("school-a", "subject_averages", {"term_id": ""})

    (execution,) = executions(athena)
    assert execution["Status"]["State"] == "CANCELLED"  # StopQueryExecution reached Athena
    assert raised.value.query_execution_id == execution["QueryExecutionId"]
    assert sum(time.sleeps) == pytest.approx(5.0)  # never waits past the timeout
    assert max(time.sleeps) <= 2.0


def test_an_athena_error_is_unavailable_not_the_callers_fault(athena: Any) -> None:
    lake = AthenaLake(athena, workgroup="no-such-workgroup", database=DATABASE, table=TABLE)

    with pytest.raises(LakeUnavailable, match="StartQueryExecution failed: InvalidRequestException"):
        lake.query("school-a", "subject_averages", {"term_id": ""})


CRAFTED_SCHOOLS = [
    "",
    "school-a' OR '1'='1",
    "school-a'; DROP TABLE grades; --",
    "school a",
    "school/../school-b",
    "school-a\n",
    "*",
    "x" * 65,
]


@pytest.mark.parametrize("school", CRAFTED_SCHOOLS)
def test_a_crafted_school_id_is_refused_before_any_call(athena: Any, school: str) -> None:
    with pytest.raises(ValueError, match="not a school id"):
        lake_on(athena).query(school, "subject_averages", {"term_id": ""})

    assert athena.list_query_executions()["QueryExecutionIds"] == []


def test_the_school_is_never_a_request_parameter(athena: Any) -> None:
    with pytest.raises(ValueError, match="not a query parameter"):
        lake_on(athena).query("school-a", "subject_averages", {"term_id": "", "school_id": "school-b"})

    assert athena.list_query_executions()["QueryExecutionIds"] == []


# -- a scripted client -----------------------------------------------------------------------------------
class StubAthena:
    """Answers from a script and records every call (operation, request)."""

    def __init__(
        self,
        *,
        states: Sequence[str] = ("SUCCEEDED",),
        pages: Sequence[Mapping[str, Any]] = (),
        reason: str = "",
        statistics: Mapping[str, int] | None = None,
        start_error: ClientError | None = None,
    ) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._states = list(states)
        self._pages = list(pages)
        self._reason = reason
        self._statistics = dict(statistics or {})
        self._start_error = start_error

    def start_query_execution(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("start", kwargs))
        if self._start_error is not None:
            raise self._start_error
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("get", kwargs))
        state = self._states.pop(0) if len(self._states) > 1 else self._states[0]
        status: dict[str, Any] = {"State": state}
        if self._reason:
            status["StateChangeReason"] = self._reason
            status["AthenaError"] = {"ErrorCategory": 2, "ErrorType": 1006}
        return {
            "QueryExecution": {"QueryExecutionId": "q-1", "Status": status, "Statistics": self._statistics}
        }

    def get_query_results(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("results", kwargs))
        return self._pages.pop(0)

    def stop_query_execution(self, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append(("stop", kwargs))
        return {}

    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]


def stub_lake(stub: StubAthena, time: FakeTime | None = None, **polling: float) -> AthenaLake:
    return lake_on(stub, time, **polling)


def test_a_failed_query_is_unavailable_with_athenas_reason() -> None:
    stub = StubAthena(states=("QUEUED", "RUNNING", "FAILED"), reason="TABLE_NOT_FOUND: grades")

    with pytest.raises(LakeUnavailable, match="q-1 FAILED: TABLE_NOT_FOUND") as raised:
        stub_lake(stub).query("school-a", "subject_averages", {"term_id": ""})

    assert raised.value.query_execution_id == "q-1"
    assert "results" not in stub.operations()
    assert "stop" not in stub.operations()  # it already ended


def test_a_cancelled_query_is_unavailable() -> None:
    stub = StubAthena(states=("CANCELLED",))
    with pytest.raises(LakeUnavailable, match="CANCELLED"):
        stub_lake(stub).query("school-a", "subject_averages", {"term_id": ""})


def test_the_stub_times_out_and_stops_the_query() -> None:
    stub = StubAthena(states=("RUNNING",))
    time = FakeTime()

    with pytest.raises(LakeUnavailable, match="did not finish"):
        stub_lake(stub, time, first_delay=0.25, max_delay=1.0, timeout_seconds=3).query(
            "school-a", "subject_averages", {"term_id": ""}
        )

    assert stub.calls[-1] == ("stop", {"QueryExecutionId": "q-1"})
    assert time.sleeps == [0.25, 0.5, 1.0, 1.0, 0.25]


def test_throttling_beyond_the_retries_is_unavailable() -> None:
    throttled = ClientError(
        {"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "StartQueryExecution"
    )
    stub = StubAthena(start_error=throttled)

    with pytest.raises(LakeUnavailable, match="TooManyRequestsException"):
        stub_lake(stub).query("school-a", "subject_averages", {"term_id": ""})
    assert stub.operations() == ["start"]


def test_results_are_read_page_by_page_skipping_only_the_first_pages_header() -> None:
    columns = [column("year", "integer"), column("month", "integer"), column("positive", "bigint")]
    meta = {"ResultSetMetadata": {"ColumnInfo": columns}}
    pages = [
        {"ResultSet": {"Rows": [header(columns), row("2025", "3", "2")], **meta}, "NextToken": "t-2"},
        {"ResultSet": {"Rows": [row("2025", "4", "0")], **meta}, "NextToken": "t-3"},
        {"ResultSet": {"Rows": [row("2025", "5", None)], **meta}},
    ]
    stub = StubAthena(
        pages=pages, statistics={"DataScannedInBytes": 4096, "EngineExecutionTimeInMillis": 812}
    )
    lake = stub_lake(stub)

    rows = lake.query("school-a", "behavior_trend", {"from_month": 0, "to_month": 999999})

    assert rows == [
        {"year": 2025, "month": 3, "positive": 2},
        {"year": 2025, "month": 4, "positive": 0},
        {"year": 2025, "month": 5, "positive": None},
    ]
    requests_made = [request for operation, request in stub.calls if operation == "results"]
    assert [r.get("NextToken") for r in requests_made] == [None, "t-2", "t-3"]
    assert all(r["MaxResults"] == 1000 for r in requests_made)
    assert lake.last_statistics == QueryStatistics(
        school_id="school-a",
        report="behavior_trend",
        query_execution_id="q-1",
        data_scanned_bytes=4096,
        engine_time_ms=812,
        total_time_ms=0,
        queue_time_ms=0,
    )


def test_a_first_row_that_is_not_the_header_is_refused_not_dropped() -> None:
    columns = [column("bucket", "integer"), column("grades", "bigint")]
    pages = [{"ResultSet": {"Rows": [row("3", "7")], "ResultSetMetadata": {"ColumnInfo": columns}}}]

    with pytest.raises(LakeUnavailable, match="not the header"):
        stub_lake(StubAthena(pages=pages)).query(
            "school-a",
            "grade_distribution",
            {"term_id": "2025-T1", "subject_id": "", "low": 1.0, "width": 0.5},
        )


def test_the_request_the_stub_received() -> None:
    columns = [column("bucket", "integer"), column("grades", "bigint")]
    meta = {"ResultSetMetadata": {"ColumnInfo": columns}}
    stub = StubAthena(pages=[{"ResultSet": {"Rows": [header(columns)], **meta}}])

    stub_lake(stub).query(
        "school-a",
        "grade_distribution",
        {"term_id": "2025-T1", "subject_id": "math"},
    )

    operation, request = stub.calls[0]
    assert operation == "start"
    assert request == {
        "QueryString": report_sql.query("grade_distribution").sql(f"{DATABASE}.{TABLE}"),
        "QueryExecutionContext": {"Database": DATABASE},
        "WorkGroup": WORKGROUP,
        "ExecutionParameters": [
            "'school-a'",
            "'2025-T1'",
            "'2025-T1'",
            "'math'",
            "'math'",
        ],
    }


# -- literals and conversion -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("school-a", "'school-a'"),
        ("", "''"),
        ("O'Higgins", "'O''Higgins'"),
        ("''; --", "'''''; --'"),
        (202503, "202503"),
        (0, "0"),
        (0.5, "0.5E0"),
        (1e-05, "1E-05"),
        (1e22, "1E+22"),
    ],
)
def test_execution_parameters_are_sql_literals(value: Any, literal: str) -> None:
    assert execution_parameter(value) == literal


@pytest.mark.parametrize("value", [True, None, b"bytes", ["a"], float("nan"), float("inf")])
def test_anything_else_is_not_a_parameter(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        execution_parameter(value)


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("42", "integer", 42),
        ("9007199254740993", "bigint", 9007199254740993),
        ("3", "smallint", 3),
        ("5.25", "double", 5.25),
        ("4.50", "decimal", 4.5),
        ("math", "varchar", "math"),
        ("true", "boolean", True),
        (None, "bigint", None),
        (None, "varchar", None),
    ],
)
def test_values_are_converted_by_column_type(value: str | None, kind: str, expected: Any) -> None:
    converted = convert(value, kind)
    assert converted == expected
    assert type(converted) is type(expected)


def test_configured_names_are_checked_before_they_reach_the_sql() -> None:
    with pytest.raises(ValueError, match="not a Glue"):
        AthenaLake(StubAthena(), workgroup=WORKGROUP, database="luca_lake; DROP", table=TABLE)
    with pytest.raises(ValueError, match="workgroup"):
        AthenaLake(StubAthena(), workgroup="", database=DATABASE, table=TABLE)
