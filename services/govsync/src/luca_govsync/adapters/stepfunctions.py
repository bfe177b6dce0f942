"""The sync's executions on Step Functions (AWS, or the emulator's engine locally).

A start is a producer span, and the execution continues its trace: ``StartExecution`` gets the
span as its ``traceHeader`` (X-Ray format), which Step Functions hands to each Lambda task as the
invocation's trace context (the local engine does the same), so one trace runs from the start to
the ministry's calls.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from luca_platform.telemetry.propagation import id_attributes, xray_header

tracer = trace.get_tracer("luca.govsync.executions")


class StepFunctionsExecutions:
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client, self._arn = client, state_machine_arn

    def _execution_arn(self, name: str) -> str:
        # arn:aws:states:region:account:stateMachine:NAME -> ...:execution:NAME:execution-name
        prefix, _, machine = self._arn.rpartition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"

    def start(self, name: str, payload: dict[str, object]) -> tuple[str, bool]:
        # AWS answers a repeated start of a running execution (same name and input) with that
        # execution, and a finished one's name with ExecutionAlreadyExists: look first, so the
        # caller learns whether this call started anything.
        if self.status(name) is not None:
            return self._execution_arn(name), False
        with tracer.start_as_current_span(
            "StepFunctions StartExecution",
            kind=SpanKind.PRODUCER,
            # The run's ids from its input: a start from a tool or the schedule has none bound.
            attributes={
                "aws.step_functions.execution.name": name,
                **id_attributes(
                    str(payload.get("correlation_id") or ""), str(payload.get("school_id") or "")
                ),
            },
        ):
            request: dict[str, Any] = {
                "stateMachineArn": self._arn,
                "name": name,
                "input": json.dumps(payload, separators=(",", ":")),
            }
            header = xray_header()
            if header:  # none without a tracer provider: the execution starts its own trace
                request["traceHeader"] = header
            try:
                answer = self._client.start_execution(**request)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                    return self._execution_arn(name), False
                raise
        return str(answer["executionArn"]), True

    def status(self, name: str) -> str | None:
        try:
            answer = self._client.describe_execution(executionArn=self._execution_arn(name))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "ResourceNotFound"):
                return None
            raise
        return str(answer["status"])

    def describe(self, name: str) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self._client.describe_execution(executionArn=self._execution_arn(name))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "ResourceNotFound"):
                return None
            raise
        return answer
