"""The government sync's state machine: one definition, built here, deployed by the CDK app and run
by the local platform on the emulator's engine. Only its settings differ between the two (function
names, the DLQ, the retry policy); the states, retries and catches are the same.

    Mode ──(sync)──► Prepare ─┐
      └──(redrive)─► Given ───┴─► SubmitBatches (Map, bounded concurrency)
                                    │  Submit ──Retry transient ministry errors (backoff, jitter, cap)
                                    │    │ └─Catch anything else or retries exhausted─► DeadLetter (SQS)
                                    │    │                                                └─► RecordFailure
                                    │    └─► Held? ─(the school's breaker is open)─► Pause (Wait) ─► Submit
                                    │          └─(submitted)─► Submitted
                                  Report ─► Outcome ─(batches dead-lettered)─► Fail   (the alarm counts these)
                                              └─(otherwise)─► Succeed

Rejected records are not errors: the ministry's verdict is stored per record and reported.

The school's batches share a circuit breaker (``domain.breaker``): Submit passes the task the
breaker's policy, and a task the open breaker holds back calls nobody and answers how long to wait;
the Pause state waits that long (so no function sleeps) and Submit asks again. The policy follows the
retry policy (first interval, backoff, cap; its total delay is how long one batch may be held), so
there is nothing more to tune but the threshold; a threshold of 0 builds the same states with no
breaker, which is today's behaviour (every batch retries on its own).

The execution's input carries the ``correlation_id`` of the request that started it (the starter
always sets one); every state passes it on: Prepare and Given put it in each batch, so Submit,
DeadLetter (a message attribute and the body) and RecordFailure have it, and Report reads it from
the prepared state. The trace comes with the execution's ``traceHeader``, not the input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from luca_govsync.domain.breaker import BreakerPolicy
from luca_govsync.domain.errors import PERMANENT_ERRORS, TRANSIENT_ERRORS

# Lambda's own transient failures, retried the way AWS recommends for lambda:invoke tasks.
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
TASKS = ("prepare", "submit", "record_failure", "report")
DEAD_LETTERED = "BatchesDeadLettered"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a batch is retried on the ministry's transient errors. Production waits minutes; tests
    and the local platform pass short intervals through configuration, never another definition."""

    interval_seconds: int = 10
    backoff_rate: float = 2.0
    max_attempts: int = 8
    max_delay_seconds: int = 600
    jitter: str = "FULL"

    def __post_init__(self) -> None:
        if self.interval_seconds < 1 or self.max_attempts < 0 or self.backoff_rate < 1.0:
            raise ValueError(f"invalid retry policy {self}")
        if self.max_delay_seconds < self.interval_seconds:
            raise ValueError("max_delay_seconds must be at least interval_seconds")
        if self.jitter not in ("FULL", "NONE"):
            raise ValueError("jitter is FULL or NONE")

    def total_delay_seconds(self) -> int:
        """The longest a task waits between its attempts in total (jitter only shortens it)."""
        return sum(
            min(int(self.interval_seconds * self.backoff_rate**attempt), self.max_delay_seconds)
            for attempt in range(self.max_attempts)
        )

    def to_retrier(self, errors: tuple[str, ...]) -> dict[str, Any]:
        return {
            "ErrorEquals": list(errors),
            "IntervalSeconds": self.interval_seconds,
            "BackoffRate": self.backoff_rate,
            "MaxAttempts": self.max_attempts,
            "MaxDelaySeconds": self.max_delay_seconds,
            "JitterStrategy": self.jitter,
        }


@dataclass(frozen=True, slots=True)
class DefinitionSettings:
    functions: dict[str, str]  # task name (TASKS) -> function name or ARN
    dlq_url: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_concurrency: int = 4
    # Consecutive outage-class failures of a school's batches that open its breaker; 0: no breaker.
    breaker_threshold: int = 3
    comment: str = "Luca: a school's official grades of one period to the ministry, exactly once"

    def __post_init__(self) -> None:
        missing = set(TASKS) - set(self.functions)
        if missing:
            raise ValueError(f"no function for tasks {sorted(missing)}")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.breaker_threshold < 0:
            raise ValueError("breaker_threshold is 0 (no breaker) or more")

    def breaker(self) -> BreakerPolicy | None:
        """The breaker's policy, from the retry policy (see the module's docstring); None: none."""
        if not self.breaker_threshold:
            return None
        return breaker_policy(self.retry, self.breaker_threshold)


def breaker_policy(retry: RetryPolicy, threshold: int) -> BreakerPolicy:
    return BreakerPolicy(
        threshold=threshold,
        open_seconds=retry.interval_seconds,
        backoff_rate=retry.backoff_rate,
        max_open_seconds=retry.max_delay_seconds,
        pause_budget_seconds=retry.total_delay_seconds(),
    )


def _invoke(function: str, payload: dict[str, Any] | str) -> dict[str, Any]:
    parameters: dict[str, Any] = {"FunctionName": function}
    if isinstance(payload, str):
        parameters["Payload.$"] = payload
    else:
        parameters["Payload"] = payload
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": parameters,
        "ResultSelector": {"value.$": "$.Payload"},
    }


def _lambda_retry() -> dict[str, Any]:
    return {
        "ErrorEquals": list(LAMBDA_SERVICE_ERRORS),
        "IntervalSeconds": 1,
        "BackoffRate": 2.0,
        "MaxAttempts": 3,
        "JitterStrategy": "FULL",
    }


def build_definition(settings: DefinitionSettings) -> dict[str, Any]:
    """The Amazon States Language document, as a dict."""
    functions = settings.functions
    transient = tuple(error.__name__ for error in TRANSIENT_ERRORS)
    breaker = settings.breaker()
    # The whole state goes as the batch: after a pause it holds the task's last answer (``result``),
    # which says how long the batch has been held so far.
    submit = _invoke(
        functions["submit"], {"batch.$": "$", **({"breaker": breaker.to_json()} if breaker else {})}
    )
    submit.update(
        {
            "ResultPath": "$.result",
            "Retry": [settings.retry.to_retrier(transient), _lambda_retry()],
            # Exhausted retries, permanent refusals, a broken manifest: the batch goes to the DLQ.
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "DeadLetter"}],
            "Next": "Held",
        }
    )
    held = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.result.value.wait_seconds", "IsPresent": True, "Next": "Pause"}],
        "Default": "Submitted",
    }
    # The wait is the state machine's, so a held batch costs no function time while it waits.
    pause = {"Type": "Wait", "SecondsPath": "$.result.value.wait_seconds", "Next": "Submit"}
    submitted = {"Type": "Pass", "OutputPath": "$.result.value", "End": True}
    dead_letter = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {
            "QueueUrl": settings.dlq_url,
            "MessageBody.$": "$",
            "MessageAttributes": {
                "school_id": {"DataType": "String", "StringValue.$": "$.school_id"},
                "period": {"DataType": "String", "StringValue.$": "$.period"},
                # Every batch carries the id of the request that sent it (prepare's or the redrive's).
                "correlation_id": {"DataType": "String", "StringValue.$": "$.correlation_id"},
            },
        },
        "ResultPath": None,
        "Retry": [
            {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 5}
        ],
        "Next": "RecordFailure",
    }
    record_failure = _invoke(
        functions["record_failure"],
        {
            "batch.$": "$",
            "error.$": "$.error.Error",
            "cause.$": "$.error.Cause",
        },
    )
    record_failure.update({"Retry": [_lambda_retry()], "OutputPath": "$.value", "End": True})

    prepare = _invoke(
        functions["prepare"],
        {
            "school_id.$": "$.school_id",
            "period.$": "$.period",
            "sync_id.$": "$$.Execution.Name",
            "started_by.$": "$.started_by",
            "correlation_id.$": "$.correlation_id",
        },
    )
    prepare.update({"ResultPath": "$.prepared", "OutputPath": "$.prepared.value", "Retry": [_lambda_retry()]})
    prepare["Next"] = "SubmitBatches"

    report = _invoke(
        functions["report"],
        {
            "school_id.$": "$.school_id",
            "period.$": "$.period",
            "sync_id.$": "$.sync_id",
            "correlation_id.$": "$.correlation_id",
        },
    )
    report.update({"OutputPath": "$.value", "Retry": [_lambda_retry()], "Next": "Outcome"})

    return {
        "Comment": settings.comment,
        "StartAt": "Mode",
        "States": {
            "Mode": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.mode", "IsPresent": True},
                            {"Variable": "$.mode", "StringEquals": "redrive"},
                        ],
                        "Next": "Given",
                    }
                ],
                "Default": "Prepare",
            },
            "Prepare": prepare,
            # A redrive names the batches (from the DLQ) and the sync they belong to.
            "Given": {
                "Type": "Pass",
                "Parameters": {
                    "school_id.$": "$.school_id",
                    "period.$": "$.period",
                    "sync_id.$": "$.sync_id",
                    "batches.$": "$.batches",
                    "correlation_id.$": "$.correlation_id",
                },
                "Next": "SubmitBatches",
            },
            "SubmitBatches": {
                "Type": "Map",
                "ItemsPath": "$.batches",
                "MaxConcurrency": settings.max_concurrency,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Submit",
                    "States": {
                        "Submit": submit,
                        "Held": held,
                        "Pause": pause,
                        "Submitted": submitted,
                        "DeadLetter": dead_letter,
                        "RecordFailure": record_failure,
                    },
                },
                "ResultPath": None,
                "Next": "Report",
            },
            "Report": report,
            "Outcome": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.batches_failed", "NumericGreaterThan": 0, "Next": DEAD_LETTERED}],
                "Default": "Done",
            },
            DEAD_LETTERED: {
                "Type": "Fail",
                "Error": DEAD_LETTERED,
                "Cause": "Some batches failed for good and wait in the DLQ: see the sync's report, then redrive.",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def definition_json(settings: DefinitionSettings) -> str:
    return json.dumps(build_definition(settings), indent=2, sort_keys=False)


__all__ = [
    "DEAD_LETTERED",
    "PERMANENT_ERRORS",
    "TASKS",
    "BreakerPolicy",
    "DefinitionSettings",
    "RetryPolicy",
    "breaker_policy",
    "build_definition",
    "definition_json",
]
