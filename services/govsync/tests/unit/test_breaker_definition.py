"""The breaker in the one definition: Submit hands the task the policy (from the retry policy), a
held batch waits in a Wait state and asks again; threshold 0 is today's behaviour. And the submit
handler reads both the new payload and the batch alone (executions of an older definition)."""

from __future__ import annotations

from typing import Any

import pytest

from luca_govsync.definition import (
    TASKS,
    BreakerPolicy,
    DefinitionSettings,
    RetryPolicy,
    breaker_policy,
    build_definition,
)
from luca_govsync.entrypoints import handlers
from luca_govsync.service_layer.pacing import Paused
from luca_govsync.service_layer.tasks import Submitted

RETRY = RetryPolicy(interval_seconds=10, backoff_rate=2.0, max_attempts=8, max_delay_seconds=600)


def batch_states(**settings: Any) -> dict[str, Any]:
    functions = {task: f"luca-govsync-{task}" for task in TASKS}
    document = build_definition(
        DefinitionSettings(functions=functions, dlq_url="https://sqs/dlq", **settings)
    )
    states: dict[str, Any] = document["States"]["SubmitBatches"]["ItemProcessor"]["States"]
    return states


def test_submit_hands_the_task_the_breaker_policy_derived_from_the_retry_policy() -> None:
    states = batch_states(retry=RETRY, breaker_threshold=3)
    policy = BreakerPolicy.from_json(states["Submit"]["Parameters"]["Payload"]["breaker"])
    assert policy == BreakerPolicy(
        threshold=3, open_seconds=10, backoff_rate=2.0, max_open_seconds=600, pause_budget_seconds=1830
    )
    assert RETRY.total_delay_seconds() == 10 + 20 + 40 + 80 + 160 + 320 + 600 + 600
    assert breaker_policy(RETRY, 3) == policy


def test_a_held_batch_waits_in_the_state_machine_then_asks_again() -> None:
    states = batch_states(retry=RETRY)
    submit = states["Submit"]
    assert submit["Next"] == "Held"
    assert submit["ResultPath"] == "$.result"
    assert submit["Catch"][0]["Next"] == "DeadLetter"  # retries exhausted: the DLQ, as before
    assert states["Held"]["Choices"] == [
        {"Variable": "$.result.value.wait_seconds", "IsPresent": True, "Next": "Pause"}
    ]
    assert states["Pause"] == {"Type": "Wait", "SecondsPath": "$.result.value.wait_seconds", "Next": "Submit"}
    assert states["Submitted"] == {"Type": "Pass", "OutputPath": "$.result.value", "End": True}


def test_threshold_zero_builds_the_same_states_with_no_breaker() -> None:
    with_breaker, without = batch_states(retry=RETRY), batch_states(retry=RETRY, breaker_threshold=0)
    assert set(with_breaker) == set(without)
    assert without["Submit"]["Parameters"]["Payload"] == {"batch.$": "$"}
    with pytest.raises(ValueError, match="breaker_threshold"):
        batch_states(breaker_threshold=-1)


class Tasks:
    def __init__(self, answer: Submitted | Paused) -> None:
        self.answer, self.calls = answer, []

    def submit(self, ref: Any, policy: Any, paused: int) -> Submitted | Paused:
        self.calls.append((ref.number, policy, paused))
        return self.answer


class App:
    def __init__(self, tasks: Tasks) -> None:
        self.tasks = tasks


BATCH = {
    "school_id": "school-a",
    "period": "2025-T1",
    "sync_id": "sync-1",
    "number": 2,
    "client_batch_id": "cb-2",
    "manifest_key": "school-a/2025-T1/sync-1/batch-00002.json",
    "records": 10,
}


class Context:
    function_name = "luca-govsync-submit"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:luca-govsync-submit"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> Context:
    return Context()


@pytest.fixture
def tasks() -> Any:
    def install(answer: Submitted | Paused) -> Tasks:
        fake = Tasks(answer)
        handlers.use(App(fake))  # type: ignore[arg-type]
        return fake

    yield install
    handlers.use(None)


def test_the_handler_passes_the_policy_and_how_long_the_batch_was_held(
    tasks: Any, lambda_context: Any
) -> None:
    fake = tasks(Paused(2, "cb-2", 4, 12))
    policy = breaker_policy(RETRY, 3)
    held_before = {**BATCH, "result": {"value": Paused(2, "cb-2", 4, 8).to_json()}}

    answer = handlers.submit({"batch": held_before, "breaker": policy.to_json()}, lambda_context)

    assert (answer["wait_seconds"], answer["paused_seconds"]) == (4, 12)
    assert fake.calls == [(2, policy, 8)]


def test_the_handler_still_takes_the_batch_alone_with_no_breaker(tasks: Any, lambda_context: Any) -> None:
    fake = tasks(Submitted(2, "cb-2", 10, 0))
    assert handlers.submit(dict(BATCH), lambda_context)["status"] == "done"
    assert handlers.submit({"batch": dict(BATCH)}, lambda_context)["accepted"] == 10
    assert fake.calls == [(2, None, 0), (2, None, 0)]
