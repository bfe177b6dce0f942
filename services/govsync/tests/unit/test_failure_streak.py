"""The consecutive-failures count behind Luca-StepFunction-Failure-Alert: the trailing run of failed
executions (newest first, running ones skipped, a success ends it), read from ListExecutions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from luca_govsync.entrypoints import failure_streak
from luca_govsync.entrypoints.failure_streak import consecutive_failures, trailing_failures

ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:luca-government-sync"
START = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)


def run(*statuses: str) -> list[dict[str, Any]]:
    return [{"status": status} for status in statuses]


@pytest.mark.parametrize(
    ("newest_first", "expected"),
    [
        ((), 0),
        (("SUCCEEDED",), 0),
        (("FAILED",), 1),
        (("FAILED", "TIMED_OUT", "ABORTED"), 3),
        (("FAILED", "FAILED", "SUCCEEDED", "FAILED", "FAILED"), 2),
        # A rerun that succeeded is the newest finished execution: the streak is over.
        (("SUCCEEDED", "FAILED", "FAILED", "FAILED"), 0),
        # Running executions have no outcome yet: neither part of the run nor an end to it.
        (("RUNNING", "FAILED", "RUNNING", "FAILED", "FAILED", "SUCCEEDED"), 3),
        (("PENDING_REDRIVE", "FAILED"), 1),
    ],
)
def test_counts_the_failures_before_the_latest_success(newest_first: tuple[str, ...], expected: int) -> None:
    assert trailing_failures(run(*newest_first)) == expected


def test_a_very_long_run_is_capped_at_the_examined_limit() -> None:
    assert trailing_failures(run(*["FAILED"] * 50), limit=10) == 10


def test_stops_reading_at_the_first_success() -> None:
    read: list[str] = []

    def executions() -> Any:
        for status in ("FAILED", "SUCCEEDED", "FAILED"):
            read.append(status)
            yield {"status": status}

    assert trailing_failures(executions()) == 1
    assert read == ["FAILED", "SUCCEEDED"]


def _execution(n: int, status: str) -> dict[str, Any]:
    started = START - timedelta(minutes=n)
    execution: dict[str, Any] = {
        "executionArn": f"{ARN.replace(':stateMachine:', ':execution:')}:run-{n}",
        "stateMachineArn": ARN,
        "name": f"run-{n}",
        "status": status,
        "startDate": started,
    }
    if status != "RUNNING":
        execution["stopDate"] = started + timedelta(seconds=30)
    return execution


def test_reads_list_executions_page_by_page_until_the_run_ends() -> None:
    client = boto3.client("stepfunctions", region_name="eu-west-1")
    with Stubber(client) as stub:
        stub.add_response(
            "list_executions",
            {
                "executions": [_execution(0, "RUNNING"), _execution(1, "FAILED"), _execution(2, "FAILED")],
                "nextToken": "page-2",
            },
            {"stateMachineArn": ARN, "maxResults": failure_streak.PAGE_SIZE},
        )
        stub.add_response(
            "list_executions",
            {"executions": [_execution(3, "ABORTED"), _execution(4, "SUCCEEDED")], "nextToken": "page-3"},
            {"stateMachineArn": ARN, "maxResults": failure_streak.PAGE_SIZE, "nextToken": "page-2"},
        )
        # No third page is stubbed: reading it would raise.
        assert consecutive_failures(client, ARN) == 3
        stub.assert_no_pending_responses()


def test_the_handler_publishes_the_count_as_a_metric(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(failure_streak.STATE_MACHINE_ARN_ENV, ARN)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Luca/Test")
    client = boto3.client("stepfunctions", region_name="eu-west-1")
    failure_streak.use(client)
    monkeypatch.setattr(failure_streak.metrics, "namespace", "Luca/Test")
    try:
        with Stubber(client) as stub:
            stub.add_response(
                "list_executions",
                {"executions": [_execution(n, "FAILED") for n in range(3)] + [_execution(3, "SUCCEEDED")]},
                {"stateMachineArn": ARN, "maxResults": failure_streak.PAGE_SIZE},
            )
            event = {
                "source": "aws.states",
                "detail-type": "Step Functions Execution Status Change",
                "detail": {"executionArn": _execution(0, "FAILED")["executionArn"], "status": "FAILED"},
            }
            answer = failure_streak.handler(event, _Context())
    finally:
        failure_streak.use(None)
    assert answer == {"consecutive_failures": 3}
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    (metric,) = [d for d in documents if failure_streak.METRIC in d]
    assert metric[failure_streak.METRIC] == [3.0]
    (directive,) = metric["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Luca/Test"
    assert ["service"] in directive["Dimensions"]


class _Context:
    function_name = "luca-govsync-failure-streak"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:luca-govsync-failure-streak"
    aws_request_id = "req-1"
