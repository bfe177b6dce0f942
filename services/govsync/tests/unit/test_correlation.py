"""The request's correlation id through a sync: the definition's states, the tasks, the audit trail,
the ministry's calls; and the start's trace handed to the execution (``traceHeader``)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from opentelemetry import trace
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.trace import TracerProvider

from luca_govsync.adapters.stepfunctions import StepFunctionsExecutions
from luca_govsync.definition import TASKS, DefinitionSettings, build_definition
from luca_govsync.domain.errors import MinistryRefused
from luca_govsync.domain.model import BatchRef, SyncKey
from luca_govsync.service_layer.starter import SyncStarter

KEY = SyncKey("school-a", "2025-T1")
CORRELATION = "corr-ops-42"


def definition() -> dict[str, Any]:
    functions = {task: f"luca-govsync-{task}" for task in TASKS}
    return build_definition(DefinitionSettings(functions=functions, dlq_url="https://sqs.example/dlq"))


def test_every_state_hands_the_correlation_id_on() -> None:
    states = definition()["States"]
    batch_states = states["SubmitBatches"]["ItemProcessor"]["States"]

    # The lambdas that get named fields get the id by name; Submit and DeadLetter get the whole batch.
    assert states["Prepare"]["Parameters"]["Payload"]["correlation_id.$"] == "$.correlation_id"
    assert states["Report"]["Parameters"]["Payload"]["correlation_id.$"] == "$.correlation_id"
    assert states["Given"]["Parameters"]["correlation_id.$"] == "$.correlation_id"
    assert batch_states["Submit"]["Parameters"]["Payload"]["batch.$"] == "$"
    dead_letter = batch_states["DeadLetter"]["Parameters"]
    assert dead_letter["MessageBody.$"] == "$"
    assert dead_letter["MessageAttributes"]["correlation_id"] == {
        "DataType": "String",
        "StringValue.$": "$.correlation_id",
    }
    assert batch_states["RecordFailure"]["Parameters"]["Payload"]["batch.$"] == "$"


def test_prepare_puts_the_id_in_every_batch_and_the_tasks_in_every_audit_entry_and_ministry_call(
    world,
) -> None:
    tasks, _, _, store, ministry = world

    prepared = tasks.prepare(KEY, "sync-1", "ops@school-a", CORRELATION)
    # Through JSON, as the state machine carries them.
    refs = [BatchRef.from_json(batch) for batch in prepared.to_json()["batches"]]  # type: ignore[union-attr]
    for ref in refs:
        tasks.submit(ref)
    tasks.report(KEY, "sync-1", CORRELATION)

    assert prepared.to_json()["correlation_id"] == CORRELATION
    assert {ref.correlation_id for ref in refs} == {CORRELATION}
    assert ministry.correlation_ids == [CORRELATION] * len(refs)
    assert [entry.step for entry in store.trail] == ["prepare", "submit", "submit", "submit", "report"]
    assert {entry.correlation_id for entry in store.trail} == {CORRELATION}


def test_a_dead_lettered_batch_is_audited_with_its_request(world) -> None:
    tasks, _, _, store, ministry = world
    ref = tasks.prepare(KEY, "sync-1", "schedule", CORRELATION).batches[0]
    ministry.failures = [MinistryRefused("403 school not enrolled", status=403)]

    with pytest.raises(MinistryRefused):
        tasks.submit(ref)
    tasks.record_failure(ref, "MinistryRefused", "403")

    assert [entry.step for entry in store.trail] == ["prepare", "submit", "dead-letter"]
    assert {entry.correlation_id for entry in store.trail} == {CORRELATION}


@pytest.mark.parametrize(("given", "kept"), [(CORRELATION, True), ("", False), ("bad id\n", False)])
def test_a_start_carries_the_callers_valid_id_or_a_new_one(
    terms, executions, world, given: str, kept: bool
) -> None:
    _, grades, _, store, _ = world
    starter = SyncStarter(executions=executions, terms=terms, grades=grades, store=store)

    (started,) = starter.start("2025-T1", ["school-a"], "ops@school-a", given)

    carried = executions.started[started.execution_name]["correlation_id"]
    assert (carried == given) is kept
    assert carried  # never empty: the definition's states read it


class RecordingStepFunctions:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "ExecutionDoesNotExist"}}, "DescribeExecution")

    def start_execution(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return {"executionArn": f"arn:aws:states:us-east-1:1:execution:sm:{request['name']}"}


def test_the_start_hands_its_trace_to_the_execution_as_its_trace_header() -> None:
    client = RecordingStepFunctions()
    executions = StepFunctionsExecutions(client, "arn:aws:states:us-east-1:1:stateMachine:sm")
    tracer = TracerProvider(id_generator=AwsXRayIdGenerator()).get_tracer("test")

    with tracer.start_as_current_span("operator asks") as root:
        executions.start("run-1", {"school_id": "school-a", "correlation_id": CORRELATION})

    (request,) = client.requests
    trace_id = trace.format_trace_id(root.get_span_context().trace_id)
    assert request["traceHeader"].startswith(f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent=")
    assert "Sampled=1" in request["traceHeader"]
