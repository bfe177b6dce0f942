"""The sync's executions on Step Functions (AWS, or the emulator's engine locally)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


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
        try:
            answer = self._client.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(payload, separators=(",", ":"))
            )
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
