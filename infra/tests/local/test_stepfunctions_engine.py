"""The local Step Functions engine: the emulator interprets a definition, its Lambda tasks run our handlers.

Each test builds a small state machine, runs it on the session's emulator and checks what AWS would
show: outputs, error names and causes, history events, queue messages and table items. Handlers are
registered under function names of their own (moto's state is process-wide). Retry intervals are
real seconds (AWS allows no less than 1), so the retrying tests keep ``MaxAttempts`` small.
"""

from __future__ import annotations

import decimal
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger
from opentelemetry import trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from luca_infra.local.emulator import Emulator
from luca_infra.local.stepfunctions import (
    DISPATCHER,
    Handler,
    apply,
    create_function,
    enable_execution,
    wait_for_execution,
)

pytestmark = pytest.mark.emulator

ROLE_ARN = "arn:aws:iam::123456789012:role/luca-local-sync"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
RELEASE_SECONDS = 10  # the longest a test's handler waits for the test to let it go


class RosterTemporarilyUnavailable(Exception):
    """A transient error of the kind a definition retries."""


class RecordRejected(Exception):
    """A permanent error of the kind a definition catches."""


class SchoolNotFound(LookupError):
    pass


@dataclass
class Engine:
    sfn: Any
    lambda_: Any
    iam: Any
    sqs: Any
    dynamodb: Any

    def machine(self, definition: dict[str, Any]) -> str:
        return str(
            self.sfn.create_state_machine(
                name=f"engine-test-{uuid.uuid4().hex[:10]}",
                definition=json.dumps(definition),
                roleArn=ROLE_ARN,
            )["stateMachineArn"]
        )

    def start(self, machine: str, execution_input: Any, name: str | None = None) -> str:
        request = {"stateMachineArn": machine, "input": json.dumps(execution_input)}
        if name is not None:
            request["name"] = name
        return str(self.sfn.start_execution(**request)["executionArn"])

    def run(self, machine: str, execution_input: Any) -> tuple[str, dict[str, Any]]:
        """Start an execution and wait for its end: (execution ARN, DescribeExecution)."""
        execution = self.start(machine, execution_input)
        return execution, wait_for_execution(self.sfn, execution, timeout_seconds=30)

    def history(self, execution: str) -> list[dict[str, Any]]:
        return list(self.sfn.get_execution_history(executionArn=execution)["events"])

    def event_types(self, execution: str) -> list[str]:
        return [event["type"] for event in self.history(execution)]


@dataclass(frozen=True)
class Function:
    name: str
    arn: str


@pytest.fixture(scope="module", autouse=True)
def _botocore_untraced() -> Iterator[None]:
    """These tests compare invocation payloads byte for byte. A test elsewhere in the session may have
    instrumented botocore process-wide (the grading service's tracing, started in process), and the
    instrumentation adds trace headers to every Lambda payload, as it does in AWS: not here."""
    instrumentor = BotocoreInstrumentor()
    traced = instrumentor.is_instrumented_by_opentelemetry
    if traced:
        instrumentor.uninstrument()
    yield
    if traced:
        instrumentor.instrument()


@pytest.fixture(scope="module")
def engine(emulator: Emulator) -> Engine:
    enable_execution(emulator.url)

    def client(service: Any) -> Any:
        return boto3.client(service, region_name=emulator.region, endpoint_url=emulator.url)

    return Engine(client("stepfunctions"), client("lambda"), client("iam"), client("sqs"), client("dynamodb"))


@pytest.fixture
def dispatched(engine: Engine) -> Iterator[Callable[..., Function]]:
    """``dispatched(handler, timeout_seconds=3)``: a function record of its own, run by ``handler``."""
    names: list[str] = []

    def make(handler: Handler, *, timeout_seconds: int = 3) -> Function:
        name = f"engine-test-{uuid.uuid4().hex[:10]}"
        arn = create_function(engine.lambda_, engine.iam, name, timeout_seconds=timeout_seconds)
        DISPATCHER.register(name, handler)
        names.append(name)
        return Function(name, arn)

    yield make
    for name in names:
        DISPATCHER.unregister(name)


@pytest.fixture
def queue(engine: Engine) -> str:
    return str(engine.sqs.create_queue(QueueName=f"engine-test-{uuid.uuid4().hex[:10]}")["QueueUrl"])


def invoke_task(function: str, **fields: Any) -> dict[str, Any]:
    """A ``lambda:invoke`` Task passing the state's input, its output the handler's value."""
    task = {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": function, "Payload.$": "$"},
        "OutputPath": "$.Payload",
    }
    task.update(fields)
    return task


def queued(engine: Engine, queue_url: str) -> list[dict[str, Any]]:
    return list(
        engine.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
    )


class Attempts:
    """Counts a handler's calls per key, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[Any, int] = {}

    def next(self, key: Any) -> int:
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]


# -- Map, Retry, Catch --------------------------------------------------------------------------------
def test_map_calls_the_handler_per_item_at_most_max_concurrency_at_a_time(
    engine: Engine, dispatched: Callable[..., Function]
) -> None:
    lock, active, peak, overlapped = threading.Lock(), [0], [0], threading.Event()

    def grade_school(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            if active[0] >= 2:
                overlapped.set()
        try:
            overlapped.wait(RELEASE_SECONDS)  # the first call waits for a second one to run beside it
            return {"school": event["school"], "index": event["index"], "period": event["period"]}
        finally:
            with lock:
                active[0] -= 1

    function = dispatched(grade_school)
    machine = engine.machine(
        {
            "StartAt": "Schools",
            "States": {
                "Schools": {
                    "Type": "Map",
                    "ItemsPath": "$.schools",
                    "MaxConcurrency": 2,
                    "ItemSelector": {
                        "school.$": "$$.Map.Item.Value",
                        "index.$": "$$.Map.Item.Index",
                        "period.$": "$.period",
                    },
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Grade",
                        "States": {"Grade": invoke_task(function.name, End=True)},
                    },
                    "End": True,
                }
            },
        }
    )
    schools = [f"school-{n}" for n in range(5)]

    execution, described = engine.run(machine, {"schools": schools, "period": "2025-T1"})

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == [
        {"school": school, "index": index, "period": "2025-T1"} for index, school in enumerate(schools)
    ]
    assert overlapped.is_set()  # two items ran at once…
    assert peak[0] == 2  # …and never more
    types = engine.event_types(execution)
    assert types.count("MapIterationSucceeded") == 5
    assert types.count("TaskSucceeded") == 5


def test_a_transient_error_is_retried_until_the_handler_succeeds(
    engine: Engine, dispatched: Callable[..., Function]
) -> None:
    attempts = Attempts()

    def fetch_roster(event: dict[str, Any], context: Any) -> dict[str, Any]:
        attempt = attempts.next(event["school"])
        if attempt <= 2:
            raise RosterTemporarilyUnavailable(f"attempt {attempt}: the ministry is busy")
        return {"school": event["school"], "attempt": attempt}

    function = dispatched(fetch_roster)
    retry = {
        "ErrorEquals": ["RosterTemporarilyUnavailable"],
        "IntervalSeconds": 1,
        "BackoffRate": 2.0,
        "MaxAttempts": 3,
        "MaxDelaySeconds": 1,
        "JitterStrategy": "FULL",
    }
    machine = engine.machine(
        {"StartAt": "Fetch", "States": {"Fetch": invoke_task(function.name, Retry=[retry], End=True)}}
    )

    execution, described = engine.run(machine, {"school": "school-a"})

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"school": "school-a", "attempt": 3}
    history = engine.history(execution)
    failures = [event["taskFailedEventDetails"] for event in history if event["type"] == "TaskFailed"]
    assert [failure["error"] for failure in failures] == ["RosterTemporarilyUnavailable"] * 2
    assert [json.loads(failure["cause"])["errorMessage"] for failure in failures] == [
        "attempt 1: the ministry is busy",
        "attempt 2: the ministry is busy",
    ]
    assert [event["type"] for event in history].count("TaskScheduled") == 3


def test_exhausted_retries_end_in_the_catch(engine: Engine, dispatched: Callable[..., Function]) -> None:
    attempts = Attempts()

    def fetch_roster(event: dict[str, Any], context: Any) -> None:
        raise RosterTemporarilyUnavailable(f"attempt {attempts.next('only')}")

    function = dispatched(fetch_roster)
    retry = {"ErrorEquals": ["RosterTemporarilyUnavailable"], "IntervalSeconds": 1, "MaxAttempts": 1}
    catch = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "GaveUp"}
    machine = engine.machine(
        {
            "StartAt": "Fetch",
            "States": {
                "Fetch": invoke_task(function.name, Retry=[retry], Catch=[catch], Next="Done"),
                "GaveUp": {"Type": "Pass", "End": True},
                "Done": {"Type": "Succeed"},
            },
        }
    )

    _, described = engine.run(machine, {"school": "school-a"})

    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["school"] == "school-a"
    assert output["error"]["Error"] == "RosterTemporarilyUnavailable"
    assert json.loads(output["error"]["Cause"])["errorMessage"] == "attempt 2"  # the first try and one retry
    assert attempts.counts == {"only": 2}


def test_a_permanent_error_is_caught_and_sent_to_the_queue_with_its_item(
    engine: Engine, dispatched: Callable[..., Function], queue: str
) -> None:
    attempts = Attempts()

    def submit(event: dict[str, Any], context: Any) -> dict[str, Any]:
        attempts.next(event["record"])
        if event["record"] == "r-2":
            raise RecordRejected(f"record {event['record']} has no student number")
        return {"record": event["record"], "accepted": True}

    function = dispatched(submit)
    retry = {"ErrorEquals": ["RosterTemporarilyUnavailable"], "IntervalSeconds": 1, "MaxAttempts": 2}
    catch = {"ErrorEquals": ["RecordRejected"], "ResultPath": "$.error", "Next": "DeadLetter"}
    machine = engine.machine(
        {
            "StartAt": "Records",
            "States": {
                "Records": {
                    "Type": "Map",
                    "ItemsPath": "$.records",
                    "MaxConcurrency": 2,
                    "ItemSelector": {"record.$": "$$.Map.Item.Value", "school_id.$": "$.school_id"},
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Submit",
                        "States": {
                            "Submit": invoke_task(function.name, Retry=[retry], Catch=[catch], End=True),
                            "DeadLetter": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::sqs:sendMessage",
                                "Parameters": {
                                    "QueueUrl": queue,
                                    "MessageBody": {
                                        "record.$": "$.record",
                                        "error.$": "$.error.Error",
                                        "cause.$": "$.error.Cause",
                                    },
                                    "MessageAttributes": {
                                        "school_id": {"DataType": "String", "StringValue.$": "$.school_id"}
                                    },
                                },
                                "ResultPath": None,
                                "Next": "Rejected",
                            },
                            "Rejected": {
                                "Type": "Pass",
                                "Parameters": {"record.$": "$.record", "accepted": False},
                                "End": True,
                            },
                        },
                    },
                    "End": True,
                }
            },
        }
    )

    _, described = engine.run(machine, {"records": ["r-1", "r-2", "r-3"], "school_id": "school-a"})

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == [
        {"record": "r-1", "accepted": True},
        {"record": "r-2", "accepted": False},
        {"record": "r-3", "accepted": True},
    ]
    assert attempts.counts == {"r-1": 1, "r-2": 1, "r-3": 1}  # a RecordRejected is not retried
    [message] = queued(engine, queue)
    body = json.loads(message["Body"])
    assert body["record"] == "r-2"
    assert body["error"] == "RecordRejected"
    cause = json.loads(body["cause"])
    assert cause["errorType"] == "RecordRejected"
    assert cause["errorMessage"] == "record r-2 has no student number"
    assert message["MessageAttributes"]["school_id"]["StringValue"] == "school-a"


@pytest.mark.parametrize(
    "retrier",
    [
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 0},
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 0.5},
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 0.5},
    ],
    ids=["zero-interval", "fractional-interval", "backoff-below-1"],
)
def test_retriers_aws_refuses_are_refused_when_the_machine_is_created(
    engine: Engine, retrier: dict[str, Any]
) -> None:
    definition = {
        "StartAt": "Task",
        "States": {"Task": invoke_task("anything", Retry=[retrier], End=True)},
    }

    with pytest.raises(engine.sfn.exceptions.InvalidDefinition):
        engine.machine(definition)


# -- errors as AWS names them -------------------------------------------------------------------------
@pytest.mark.parametrize("resource", ["lambda:invoke", "function ARN"])
def test_a_handler_exception_fails_the_task_with_its_class_name(
    engine: Engine, dispatched: Callable[..., Function], resource: str
) -> None:
    def look_up_school(event: dict[str, Any], context: Any) -> None:
        raise SchoolNotFound(f"school {event['school']} is unknown")

    function = dispatched(look_up_school)
    task = (
        invoke_task(function.name, End=True)
        if resource == "lambda:invoke"
        else {"Type": "Task", "Resource": function.arn, "End": True}
    )
    machine = engine.machine({"StartAt": "LookUp", "States": {"LookUp": task}})

    execution, described = engine.run(machine, {"school": "s-9"})

    assert described["status"] == "FAILED"
    assert described["error"] == "SchoolNotFound"
    cause = json.loads(described["cause"])
    assert cause["errorType"] == "SchoolNotFound"
    assert cause["errorMessage"] == "school s-9 is unknown"
    assert any("look_up_school" in line for line in cause["stackTrace"])
    failed_type, details = (
        ("TaskFailed", "taskFailedEventDetails")
        if resource == "lambda:invoke"
        else ("LambdaFunctionFailed", "lambdaFunctionFailedEventDetails")
    )
    [failed] = [event for event in engine.history(execution) if event["type"] == failed_type]
    assert failed[details]["error"] == "SchoolNotFound"
    assert engine.event_types(execution)[-1] == "ExecutionFailed"


def test_return_values_come_back_json_round_tripped(
    engine: Engine, dispatched: Callable[..., Function]
) -> None:
    def summarise(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"grades": (decimal.Decimal("15"), decimal.Decimal("12.5")), "school": event["school"]}

    function = dispatched(summarise)
    machine = engine.machine(
        {
            "StartAt": "Invoke",
            "States": {
                "Invoke": {
                    "Type": "Task",
                    "Resource": LAMBDA_INVOKE,
                    "Parameters": {"FunctionName": function.name, "Payload.$": "$"},
                    "ResultSelector": {"payload.$": "$.Payload", "status.$": "$.StatusCode"},
                    "ResultPath": "$.invoked",
                    "Next": "Direct",
                },
                "Direct": {
                    "Type": "Task",
                    "Resource": function.arn,
                    "InputPath": "$.invoked.payload",
                    "ResultPath": "$.direct",
                    "End": True,
                },
            },
        }
    )

    _, described = engine.run(machine, {"school": "school-a"})

    expected = {"grades": [15, 12.5], "school": "school-a"}
    assert json.loads(described["output"]) == {
        "school": "school-a",
        "invoked": {"payload": expected, "status": 200},
        "direct": expected,
    }


def test_the_sdk_invoke_runs_the_handler_with_a_lambda_context(
    engine: Engine, dispatched: Callable[..., Function]
) -> None:
    seen: list[Any] = []

    def echo(event: Any, context: Any) -> Any:
        seen.append(context)
        return {"event": event, "remaining_ms": context.get_remaining_time_in_millis()}

    function = dispatched(echo, timeout_seconds=5)

    by_name = engine.lambda_.invoke(FunctionName=function.name, Payload=json.dumps({"a": [1, 2]}))
    by_arn = engine.lambda_.invoke(FunctionName=function.arn, Payload=b"[]")

    assert "FunctionError" not in by_name
    assert by_name["StatusCode"] == 200
    answered = json.loads(by_name["Payload"].read())
    assert answered["event"] == {"a": [1, 2]}
    assert 0 < answered["remaining_ms"] <= 5000
    assert json.loads(by_arn["Payload"].read())["event"] == []
    first, second = seen
    assert first.function_name == function.name
    assert first.invoked_function_arn == function.arn == second.invoked_function_arn
    assert first.function_version == "$LATEST"
    assert first.log_group_name == f"/aws/lambda/{function.name}"
    assert first.aws_request_id != second.aws_request_id


def test_powertools_handlers_accept_the_context(engine: Engine, dispatched: Callable[..., Function]) -> None:
    logger = Logger(service="engine-test")

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.info("handled")
        return {"ok": event["ok"]}

    function = dispatched(handler)

    response = engine.lambda_.invoke(FunctionName=function.name, Payload=b'{"ok": true}')

    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"ok": True}


def _raises(event: Any, context: Any) -> None:
    raise SchoolNotFound("no such school")


def _exits(event: Any, context: Any) -> None:
    raise SystemExit(3)


def _unserializable(event: Any, context: Any) -> dict[str, Any]:
    return {"at": datetime(2025, 1, 1, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        (_raises, "SchoolNotFound", "no such school"),
        (_exits, "Runtime.ExitError", "Runtime exited with error: exit status 3"),
        (_unserializable, "Runtime.MarshalError", "Unable to marshal response"),
    ],
    ids=["exception", "exit", "unserializable-result"],
)
def test_a_failing_handler_is_a_function_error(
    engine: Engine, dispatched: Callable[..., Function], handler: Handler, error_type: str, message: str
) -> None:
    function = dispatched(handler)

    response = engine.lambda_.invoke(FunctionName=function.name, Payload=b"{}")

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == error_type
    assert message in payload["errorMessage"]


def test_a_function_without_a_handler_or_record_fails_as_on_aws(engine: Engine) -> None:
    name = f"engine-test-{uuid.uuid4().hex[:10]}"
    create_function(engine.lambda_, engine.iam, name)

    response = engine.lambda_.invoke(FunctionName=name, Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.HandlerNotFound"
    with pytest.raises(engine.lambda_.exceptions.ResourceNotFoundException):
        engine.lambda_.invoke(FunctionName=f"{name}-missing", Payload=b"{}")
    machine = engine.machine(
        {"StartAt": "Call", "States": {"Call": invoke_task(f"{name}-missing", End=True)}}
    )
    _, described = engine.run(machine, {})
    assert (described["status"], described["error"]) == ("FAILED", "Lambda.ResourceNotFoundException")


def test_event_invocations_run_in_the_background_and_dry_runs_not_at_all(
    engine: Engine, dispatched: Callable[..., Function]
) -> None:
    ran = threading.Event()
    calls: list[Any] = []

    def notify(event: dict[str, Any], context: Any) -> None:
        calls.append(event)
        ran.set()

    function = dispatched(notify)

    dry = engine.lambda_.invoke(FunctionName=function.name, InvocationType="DryRun", Payload=b'{"n": 0}')
    queued_call = engine.lambda_.invoke(
        FunctionName=function.name, InvocationType="Event", Payload=b'{"n": 1}'
    )

    assert dry["StatusCode"] == 204
    assert queued_call["StatusCode"] == 202
    assert ran.wait(RELEASE_SECONDS)
    assert calls == [{"n": 1}]


def test_failing_handlers_leave_the_engine_running(
    engine: Engine, dispatched: Callable[..., Function]
) -> None:
    handlers = {"raises": _raises, "exits": _exits, "unserializable": _unserializable}

    def run_kind(event: dict[str, Any], context: Any) -> Any:
        return handlers[event["kind"]](event, context)

    router = dispatched(run_kind)
    catch = {"ErrorEquals": ["States.ALL"], "Next": "Caught"}
    machine = engine.machine(
        {
            "StartAt": "Kinds",
            "States": {
                "Kinds": {
                    "Type": "Map",
                    "ItemsPath": "$.kinds",
                    "MaxConcurrency": 3,
                    "ItemSelector": {"kind.$": "$$.Map.Item.Value"},
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Run",
                        "States": {
                            "Run": invoke_task(router.name, Catch=[catch], End=True),
                            "Caught": {"Type": "Pass", "Parameters": {"error.$": "$.Error"}, "End": True},
                        },
                    },
                    "End": True,
                }
            },
        }
    )

    _, failing = engine.run(machine, {"kinds": list(handlers)})
    _, after = engine.run(machine, {"kinds": []})

    assert failing["status"] == "SUCCEEDED"
    assert json.loads(failing["output"]) == [
        {"error": "SchoolNotFound"},
        {"error": "Runtime.ExitError"},
        {"error": "Runtime.MarshalError"},
    ]
    assert after["status"] == "SUCCEEDED"
    assert json.loads(after["output"]) == []


def test_a_handler_outliving_the_function_timeout_is_a_timeout_error(
    engine: Engine, dispatched: Callable[..., Function]
) -> None:
    released = threading.Event()

    def stuck(event: dict[str, Any], context: Any) -> dict[str, Any]:
        released.wait(RELEASE_SECONDS)
        return {"late": True}

    function = dispatched(stuck, timeout_seconds=1)
    machine = engine.machine({"StartAt": "Stuck", "States": {"Stuck": invoke_task(function.name, End=True)}})
    try:
        _, described = engine.run(machine, {})
    finally:
        released.set()

    assert described["status"] == "FAILED"
    assert described["error"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in json.loads(described["cause"])["errorMessage"]


# -- the other states and integrations ----------------------------------------------------------------
def test_pass_intrinsics_and_choice_route_to_succeed_or_fail(engine: Engine) -> None:
    machine = engine.machine(
        {
            "StartAt": "Describe",
            "States": {
                "Describe": {
                    "Type": "Pass",
                    "Parameters": {
                        "label.$": "States.Format('{} sent {} grades', $.school, $.count)",
                        "grades_json.$": "States.JsonToString($.grades)",
                        "grade_count.$": "States.ArrayLength($.grades)",
                    },
                    "Next": "Enough",
                },
                "Enough": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.grade_count", "NumericGreaterThanEquals": 2, "Next": "Done"}],
                    "Default": "TooFew",
                },
                "Done": {"Type": "Succeed"},
                "TooFew": {"Type": "Fail", "Error": "TooFewGrades", "Cause": "fewer than 2 grades"},
            },
        }
    )

    execution, enough = engine.run(machine, {"school": "school-a", "count": 2, "grades": [15, 12]})
    _, too_few = engine.run(machine, {"school": "school-a", "count": 1, "grades": [15]})

    assert enough["status"] == "SUCCEEDED"
    assert json.loads(enough["output"]) == {
        "label": "school-a sent 2 grades",
        "grades_json": "[15,12]",
        "grade_count": 2,
    }
    assert engine.event_types(execution) == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "ChoiceStateEntered",
        "ChoiceStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]
    assert (too_few["status"], too_few["error"], too_few["cause"]) == (
        "FAILED",
        "TooFewGrades",
        "fewer than 2 grades",
    )


def test_dynamodb_put_and_update_items_from_states(engine: Engine) -> None:
    table = f"engine-test-{uuid.uuid4().hex[:10]}"
    engine.dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"pk": {"S.$": "States.Format('SYNC#{}#{}', $.school, $.period)"}}
    machine = engine.machine(
        {
            "StartAt": "Record",
            "States": {
                "Record": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:putItem",
                    "Parameters": {
                        "TableName": table,
                        "Item": {
                            **key,
                            "status": {"S": "STARTED"},
                            "batches": {"N.$": "States.Format('{}', $.batches)"},
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    },
                    "ResultPath": None,
                    "Next": "Finish",
                },
                "Finish": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:updateItem",
                    "Parameters": {
                        "TableName": table,
                        "Key": key,
                        "UpdateExpression": "SET #status = :done",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {":done": {"S": "DONE"}},
                        "ReturnValues": "ALL_NEW",
                    },
                    "ResultSelector": {"status.$": "$.Attributes.status.S"},
                    "End": True,
                },
            },
        }
    )
    sync = {"school": "school-a", "period": "2025-T1", "batches": 3}

    _, first = engine.run(machine, sync)
    _, again = engine.run(machine, sync)

    assert first["status"] == "SUCCEEDED"
    assert json.loads(first["output"]) == {"status": "DONE"}
    assert engine.dynamodb.scan(TableName=table)["Items"] == [
        {"pk": {"S": "SYNC#school-a#2025-T1"}, "status": {"S": "DONE"}, "batches": {"N": "3"}}
    ]
    assert (again["status"], again["error"]) == ("FAILED", "DynamoDB.ConditionalCheckFailedException")


# -- executions -----------------------------------------------------------------------------------------
def test_execution_names_follow_aws_rules(engine: Engine, dispatched: Callable[..., Function]) -> None:
    released = threading.Event()

    def wait_for_release(event: dict[str, Any], context: Any) -> dict[str, Any]:
        released.wait(RELEASE_SECONDS)
        return {"synced": event["school"]}

    function = dispatched(wait_for_release)
    machine = engine.machine({"StartAt": "Sync", "States": {"Sync": invoke_task(function.name, End=True)}})
    sync = {"school": "school-a"}
    try:
        first = engine.start(machine, sync, name="school-a-2025-T1")
        again = engine.start(machine, sync, name="school-a-2025-T1")
        with pytest.raises(engine.sfn.exceptions.ExecutionAlreadyExists):
            engine.start(machine, {"school": "school-b"}, name="school-a-2025-T1")
        running = engine.sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
    finally:
        released.set()
    wait_for_execution(engine.sfn, first, timeout_seconds=30)

    assert again == first  # same name and input while running: the same execution
    assert [execution["executionArn"] for execution in running] == [first]
    with pytest.raises(engine.sfn.exceptions.ExecutionAlreadyExists):
        engine.start(machine, sync, name="school-a-2025-T1")  # the name stays taken once it ended
    unnamed = [engine.start(machine, sync), engine.start(machine, sync)]
    for execution in unnamed:
        wait_for_execution(engine.sfn, execution, timeout_seconds=30)
    names = {engine.sfn.describe_execution(executionArn=execution)["name"] for execution in unnamed}
    assert len(names) == 2
    assert all(uuid.UUID(name) for name in names)
    succeeded = engine.sfn.list_executions(stateMachineArn=machine, statusFilter="SUCCEEDED")["executions"]
    assert {execution["executionArn"] for execution in succeeded} == {first, *unnamed}
    assert engine.sfn.list_executions(stateMachineArn=machine, statusFilter="FAILED")["executions"] == []
    described = engine.sfn.describe_execution(executionArn=first)
    assert (described["name"], json.loads(described["input"]), json.loads(described["output"])) == (
        "school-a-2025-T1",
        sync,
        {"synced": "school-a"},
    )


def test_tasks_call_back_the_engine_emulator_whatever_moto_port_says(
    engine: Engine, dispatched: Callable[..., Function], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on, as a stopped emulator leaves behind
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("MOTO_PORT", str(probe.getsockname()[1]))
    function = dispatched(lambda event, context: {"seen": event})
    machine = engine.machine({"StartAt": "Call", "States": {"Call": invoke_task(function.name, End=True)}})

    _, described = engine.run(machine, {"school": "school-a"})

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"seen": {"school": "school-a"}}


# -- known gaps, pinned so that a moto upgrade that closes them is noticed ------------------------------
def test_jsonata_is_not_interpreted(engine: Engine) -> None:
    machine = engine.machine(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Double",
            "States": {"Double": {"Type": "Pass", "Output": "{% $states.input.n * 2 %}", "End": True}},
        }
    )

    _, described = engine.run(machine, {"n": 2})

    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")


def test_apply_is_idempotent(engine: Engine) -> None:
    patches = (
        "dispatched-lambda-invoke",
        "execution-trace-header",
        "generated-execution-names",
        "interpreter-error-codes",
        "lambda-task-trace-header",
        "pinned-callback-port",
    )

    assert apply() == patches
    assert apply() == patches


# -- the execution's trace into its tasks -----------------------------------------------------------------
TRACE = "5759e988bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
TRACE_HEADER = f"Root=1-{TRACE[:8]}-{TRACE[8:]};Parent={PARENT};Sampled=1"


def _traced_task(dispatched: Callable[..., Function], seen: list[tuple[str | None, str, str]]) -> Function:
    def handler(event: Any, context: Any) -> dict[str, str]:
        current = trace.get_current_span().get_span_context()
        seen.append((context.trace_header, trace.format_trace_id(current.trace_id), event["item"]))
        return {"done": event["item"]}

    return dispatched(handler)


def _map_machine(engine: Engine, function: Function) -> str:
    task = {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": function.arn, "Payload": {"item.$": "$"}},
        "OutputPath": "$.Payload",
        "End": True,
    }
    return engine.machine(
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 2,
                    "ItemProcessor": {"StartAt": "Task", "States": {"Task": task}},
                    "End": True,
                }
            },
        }
    )


def test_the_executions_trace_header_is_every_lambda_tasks_parent(
    engine: Engine, dispatched: Callable[..., Function], spans: InMemorySpanExporter
) -> None:
    seen: list[tuple[str | None, str, str]] = []
    function = _traced_task(dispatched, seen)
    machine = _map_machine(engine, function)

    execution = engine.sfn.start_execution(
        stateMachineArn=machine, input=json.dumps({"items": ["a", "b", "c"]}), traceHeader=TRACE_HEADER
    )["executionArn"]
    described = wait_for_execution(engine.sfn, execution, timeout_seconds=30)

    assert described["status"] == "SUCCEEDED"
    assert described["traceHeader"] == TRACE_HEADER
    # Every Map iteration's invocation got the header, and the handler ran inside the trace it names
    assert sorted(seen) == [(TRACE_HEADER, TRACE, item) for item in ("a", "b", "c")]
    invocations = [span for span in spans.get_finished_spans() if span.name == function.name]
    assert len(invocations) == 3
    for span in invocations:
        assert trace.format_trace_id(span.context.trace_id) == TRACE
        assert span.parent is not None
        assert trace.format_span_id(span.parent.span_id) == PARENT


def test_an_execution_started_without_a_trace_gives_its_tasks_none(
    engine: Engine, dispatched: Callable[..., Function], spans: InMemorySpanExporter
) -> None:
    seen: list[tuple[str | None, str, str]] = []
    function = _traced_task(dispatched, seen)
    machine = _map_machine(engine, function)

    _, described = engine.run(machine, {"items": ["a"]})

    assert described["status"] == "SUCCEEDED"
    assert "traceHeader" not in described
    ((header, trace_id, _),) = seen
    assert header is None
    assert trace_id != TRACE  # the invocation started a trace of its own
    (invocation,) = [span for span in spans.get_finished_spans() if span.name == function.name]
    assert invocation.parent is None
