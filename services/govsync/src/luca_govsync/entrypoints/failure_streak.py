"""How many of the government sync's executions failed in a row: the metric behind
``Luca-StepFunction-Failure-Alert``.

An EventBridge rule sends every terminal "Step Functions Execution Status Change" of the state
machine here. The handler lists the state machine's executions (``ListExecutions`` answers newest
first, by start date), skips the ones still running, and counts the failed ones (FAILED, TIMED_OUT,
ABORTED) until the first that succeeded; it publishes that count (EMF, ``GovSyncConsecutiveFailures``)
and the alarm fires at 3.

Stateless on purpose: the count is recomputed from Step Functions' own record on every event, so
there is no counter that a lost, duplicated or reordered event could corrupt. A rerun that succeeds
is the newest finished execution, so the count drops to 0 on its event. "In a row" is by start date:
executions that run at the same time (one per school) are ordered by when they started, not when
they ended. At most ``MAX_EXAMINED`` executions are read; a longer run is reported as that many.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

SERVICE = "govsync"
METRIC = "GovSyncConsecutiveFailures"
STATE_MACHINE_ARN_ENV = "LUCA_STATE_MACHINE_ARN"
FAILED = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
SUCCEEDED = "SUCCEEDED"
# Far above the alarm's 3; bounds the calls when a long outage failed thousands of executions.
MAX_EXAMINED = 1000
PAGE_SIZE = 100

logger = Logger(service=SERVICE)
# The namespace comes from POWERTOOLS_METRICS_NAMESPACE (the stack sets it); no I/O here.
metrics = Metrics(service=SERVICE)
_client: SFNClient | None = None


def trailing_failures(executions: Iterable[Mapping[str, Any]], *, limit: int = MAX_EXAMINED) -> int:
    """The run of failed executions at the head of ``executions`` (newest first), running ones skipped.

    Stops at the first success; an execution whose status this does not know (a future one, or
    PENDING_REDRIVE) is neither a failure nor a success and is skipped like a running one.
    """
    count = 0
    for examined, execution in enumerate(executions, start=1):
        status = execution.get("status")
        if status == SUCCEEDED:
            break
        if status in FAILED:
            count += 1
        if examined >= limit:
            break
    return count


def consecutive_failures(client: SFNClient, state_machine_arn: str, *, limit: int = MAX_EXAMINED) -> int:
    """``trailing_failures`` over the state machine's executions, read page by page as needed."""
    pages = client.get_paginator("list_executions").paginate(
        stateMachineArn=state_machine_arn, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    executions = (execution for page in pages for execution in page["executions"])
    return trailing_failures(executions, limit=limit)


def _stepfunctions() -> SFNClient:
    global _client
    if _client is None:
        _client = boto3.client("stepfunctions")
    return _client


def use(client: SFNClient | None) -> None:
    """Install (or clear) the Step Functions client: tests and the local platform call this."""
    global _client
    _client = client


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The function's own state machine, not the event's: the role may list only that one.
    state_machine_arn = os.environ[STATE_MACHINE_ARN_ENV]
    detail = event.get("detail") or {}
    count = consecutive_failures(_stepfunctions(), state_machine_arn)
    metrics.add_metric(name=METRIC, unit=MetricUnit.Count, value=count)
    logger.info(
        "consecutive failed executions",
        extra={
            "consecutive_failures": count,
            "execution_arn": detail.get("executionArn"),
            "execution_status": detail.get("status"),
        },
    )
    return {"consecutive_failures": count}
