"""``luca trace``: one request's spans (across processes), log lines and lake row, locally and on a stage."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from rich.console import Console

from luca_infra import stage_resources
from luca_infra.cli import trace as trace_cli
from luca_platform.telemetry import context
from luca_platform.telemetry.tracing import ContextSpanProcessor, JsonLinesSpanExporter

XRAY = AwsXRayPropagator()


def _process(service: str, path: Path) -> Any:
    """One local process: its own provider, appending to the shared span file."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"luca-{service}"}))
    provider.add_span_processor(ContextSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
    return provider.get_tracer(service)


def _log(path: Path, **line: Any) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A request through three processes (gateway → grading → Lambda), plus one unrelated request."""
    spans, logs = tmp_path / "traces.jsonl", tmp_path / "logs.jsonl"
    gateway, grading, function = (_process(s, spans) for s in ("gateway", "grading", "grade-processor"))
    carrier: dict[str, str] = {}
    with (
        context.RequestScope("corr-1"),
        gateway.start_as_current_span("POST /v1/grades", kind=SpanKind.SERVER) as edge,
    ):
        edge.set_attribute("http.route", "/v1/grades")
        XRAY.inject(carrier)
    trace_id = format(edge.get_span_context().trace_id, "032x")
    parent = XRAY.extract(carrier)
    with (
        context.RequestScope("corr-1"),
        grading.start_as_current_span("grade", context=parent, kind=SpanKind.SERVER),
    ):
        context.school_id.set("school-a")
        XRAY.inject(carrier)
    # The Lambda's span continues the trace with no correlation bound (a botocore span, say).
    with function.start_as_current_span(
        "DynamoDB.PutItem", context=XRAY.extract(carrier), kind=SpanKind.CLIENT
    ):
        pass
    with context.RequestScope("corr-other"), gateway.start_as_current_span("GET /v1/other"):
        pass
    now = datetime.now(UTC)
    stamp = lambda seconds: (now + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")  # noqa: E731
    _log(
        logs,
        timestamp=stamp(3),
        service="grade-processor",
        message="stored",
        trace_id=trace_id,
        correlation_id=None,
    )
    _log(logs, timestamp=stamp(1), service="luca-gateway", message="accepted", correlation_id="corr-1")
    _log(
        logs,
        timestamp=stamp(2),
        service="grading",
        message="graded",
        correlation_id="corr-1",
        school_id="school-a",
    )
    _log(logs, timestamp=stamp(0), service="grading", message="unrelated", correlation_id="corr-other")
    logs.open("a").write('{"torn line\n')
    return tmp_path


def _run(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    trace_cli.add_parser(parser.add_subparsers(dest="command"))
    out, err = io.StringIO(), io.StringIO()
    code = trace_cli.run(
        parser.parse_args(["trace", *argv]),
        console=Console(file=out, width=200, color_system=None),
        err=Console(file=err, width=200, color_system=None),
    )
    return code, out.getvalue(), err.getvalue()


def _names(nodes: list[dict[str, Any]]) -> list[Any]:
    return [[n["service"], n["name"], _names(n["children"])] for n in nodes]


def test_json_gives_one_tree_across_three_processes_and_the_lines_in_time_order(state_dir: Path) -> None:
    code, out, _ = _run("corr-1", "--json", "--state-dir", str(state_dir))
    assert code == 0
    document = json.loads(out)
    assert set(document) == {"correlation_id", "traces", "logs", "lake_rows"}
    (only,) = document["traces"]  # the unrelated request's trace is not there
    assert _names(only["spans"]) == [
        [
            "luca-gateway",
            "POST /v1/grades",
            [["luca-grading", "grade", [["luca-grade-processor", "DynamoDB.PutItem", []]]]],
        ]
    ]
    root = only["spans"][0]
    assert root["attributes"]["http.route"] == "/v1/grades"
    assert root["duration_ms"] >= 0
    # The line with only the trace id is there; the other request's and the torn line are not.
    assert [line["message"] for line in document["logs"]] == ["accepted", "graded", "stored"]
    assert document["lake_rows"] == []


def test_the_timeline_prints_the_tree_the_lines_and_the_lake_note(state_dir: Path) -> None:
    code, out, _ = _run("corr-1", "--state-dir", str(state_dir))
    assert code == 0
    tree = out[: out.index("log lines")]
    assert tree.index("POST /v1/grades") < tree.index("grade ") < tree.index("DynamoDB.PutItem")
    assert "luca-grade-processor" in tree
    assert "http.route=/v1/grades" in tree
    assert "3 log lines" in out
    assert out.index("accepted") < out.index("graded") < out.index("stored")
    assert "lake not read: the platform is not running" in out


def test_an_id_nothing_recorded_exits_1(state_dir: Path) -> None:
    code, out, err = _run("corr-nobody", "--state-dir", str(state_dir))
    assert code == 1
    assert out == ""
    assert "nothing recorded for correlation id corr-nobody" in err


def test_an_id_that_is_not_one_is_refused_before_any_query(state_dir: Path) -> None:
    code, _, err = _run('x" or correlation_id = "y', "--state-dir", str(state_dir))
    assert code == 2
    assert "not a correlation id" in err


# -- the lake ------------------------------------------------------------------------------------------------
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        yield


def _parquet(s3: Any, bucket: str, key: str, rows: dict[str, list[Any]]) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table(rows), buffer)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


def test_the_lake_row_is_found_by_its_correlation_id_in_the_schools_partition(aws: None) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    prefix = f"{trace_cli.LAKE_PREFIX}/school_id=school-a/year=2025/month=03"
    _parquet(
        s3, "lake", f"{prefix}/part-1.parquet", {"grade_id": ["g1", "g2"], "correlation_id": ["corr-1", "c2"]}
    )
    _parquet(s3, "lake", f"{prefix}/part-2.parquet", {"grade_id": ["g3"], "correlation_id": ["corr-1"]})
    other = f"{trace_cli.LAKE_PREFIX}/school_id=school-b/year=2025/month=03/part-3.parquet"
    _parquet(s3, "lake", other, {"grade_id": ["g9"], "correlation_id": ["corr-1"]})  # another school's

    rows = trace_cli.lake_rows(s3, "lake", "corr-1", {"school-a"}, since=None)
    assert sorted(r["grade_id"] for r in rows or []) == ["g1", "g3"]

    _parquet(s3, "lake", f"{prefix}/part-1.parquet", {"grade_id": ["g1"]})
    _parquet(s3, "lake", f"{prefix}/part-2.parquet", {"grade_id": ["g3"]})
    assert trace_cli.lake_rows(s3, "lake", "corr-1", {"school-a"}, since=None) is None  # no column yet
    # A school with no file since the request: nothing landed, which is not "no column".
    assert trace_cli.lake_rows(s3, "lake", "corr-1", {"school-c"}, since=None) == []


# -- a deployed stage --------------------------------------------------------------------------------------
XRAY_SEGMENT = {
    "id": "70de5b6f19ff9a0a",
    "name": "luca-grading",
    "trace_id": "1-581cf771-a006649127e371903a2de979",
    "start_time": 1478293361.271,
    "end_time": 1478293361.449,
    "annotations": {"luca_correlation_id": "corr-9"},
    "http": {"request": {"method": "POST"}, "response": {"status": 201}},
    "subsegments": [
        {
            "id": "53995c3f42cd8ad8",
            "name": "DynamoDB",
            "start_time": 1478293361.3,
            "end_time": 1478293361.4,
            "namespace": "aws",
            "aws": {"operation": "PutItem"},
            "fault": True,
        }
    ],
}


def test_x_ray_segments_become_a_tree_with_the_operation_and_status() -> None:
    spans = trace_cli.spans_from_xray([json.dumps(XRAY_SEGMENT)])
    timeline = trace_cli.build_timeline("corr-9", spans, [])
    ((trace_id, members),) = timeline.traces.items()
    assert len(members) == 2
    assert trace_id == "581cf771a006649127e371903a2de979"
    (root,) = timeline.document()["traces"][0]["spans"]
    (call,) = root["children"]
    assert (root["attributes"]["http.response.status_code"], root["duration_ms"]) == (201, 178.0)
    assert (call["attributes"]["aws.operation"], call["status"]) == ("PutItem", "ERROR")
    assert trace_cli.xray_filter("corr-9") == 'annotation.luca_correlation_id = "corr-9"'


def test_the_stage_path_reads_its_resources_logs_and_traces(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    region = "eu-west-1"
    stage_resources.publish(
        boto3.client("ssm", region_name=region),
        stage_resources.StageResources(
            stage="prod",
            region=region,
            table_name="t",
            tenant_role_arn="arn:aws:iam::123456789012:role/t",
            events_queue_url="q",
            events_dlq_url="d",
            govsync_state_machine_arn="s",
            govsync_dlq_url="g",
            govsync_manifest_bucket="m",
            lake_bucket="",
            log_groups={stage_resources.LOG_GRADING: "/luca/prod/grading"},
        ),
    )
    logs = boto3.client("logs", region_name=region)
    logs.create_log_group(logGroupName="/luca/prod/grading")
    logs.create_log_stream(logGroupName="/luca/prod/grading", logStreamName="task-1")
    now = int(datetime.now(UTC).timestamp() * 1000)
    lines = [
        {"message": "graded", "correlation_id": "corr-9", "service": "grading", "level": "INFO"},
        {"message": "someone else", "correlation_id": "corr-8", "service": "grading"},
        {"message": "by trace", "trace_id": "1-581cf771-a006649127e371903a2de979", "service": "grading"},
    ]
    logs.put_log_events(
        logGroupName="/luca/prod/grading",
        logStreamName="task-1",
        logEvents=[{"timestamp": now + i, "message": json.dumps(line)} for i, line in enumerate(lines)],
    )
    # moto answers GetTraceSummaries with a filter expression with a 500 ("not implemented"): the
    # X-Ray half is the segment parsing above; the rest runs against moto.
    seen: dict[str, Any] = {}

    def xray_spans(_xray: Any, correlation_id: str, start: datetime, end: datetime) -> list[Any]:
        seen.update(correlation_id=correlation_id, window=end - start)
        return trace_cli.spans_from_xray([json.dumps(XRAY_SEGMENT)])

    monkeypatch.setattr(trace_cli, "xray_spans", xray_spans)
    code, out, err = _run("corr-9", "--stage", "prod", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert seen["correlation_id"] == "corr-9"
    assert [line["message"] for line in document["logs"]] == ["graded", "by trace"]
    assert document["logs"][0]["log_group"] == "/luca/prod/grading"
    assert document["traces"][0]["spans"][0]["name"] == "luca-grading"


def test_an_unknown_stage_says_so(aws: None) -> None:
    code, _, err = _run("corr-9", "--stage", "nowhere")
    assert code == 1
    assert "no /luca/nowhere/resources parameter" in err


def test_the_insights_query_names_the_id_and_the_trace_ids() -> None:
    query = trace_cli.insights_query("corr-9", ["581cf771a006649127e371903a2de979"])
    assert 'filter correlation_id = "corr-9" or trace_id = "581cf771a006649127e371903a2de979"' in query
