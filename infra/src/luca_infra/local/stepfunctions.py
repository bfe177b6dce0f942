"""The emulator's Step Functions engine, with Lambda tasks run by in-repo handlers in this process.

Local-only: nothing here is deployed. On AWS a state machine's Lambda tasks run in Lambda; on the
local platform the emulator (moto, see ``emulator``) interprets the same definition and every Lambda
invocation, from a Task state or from ``lambda.invoke`` through the SDK, is handed to the Python
handler registered for the function's name on ``DISPATCHER``. No Docker, no code upload: the
function record that ``create_function`` makes only gives the function a name, an ARN, a timeout.

Use, in the process that runs the emulator (handlers registered anywhere else are never called)::

    emulator.start()
    enable_execution(emulator.url)        # before any state machine or function is created
    arn = create_function(lambda_client, iam_client, "luca-govsync-submit", timeout_seconds=60)
    DISPATCHER.register("luca-govsync-submit", handlers.submit)

How a dispatched invocation behaves as the Lambda Python runtime does is ``lambda_dispatch``'s.

What this moto (5.2.5) interprets, probed against the emulator (``test_stepfunctions_engine.py``
checks the rows marked ✓ with tests; "fix" names a patch this module applies in ``apply()``):

| feature | locally | notes |
|---|---|---|
| ``lambda:invoke`` (``FunctionName``, ``Payload.$``), bare function ARN ✓ | yes, dispatched | output ``{"StatusCode", "ExecutedVersion", "Payload"}`` (no ``SdkHttpMetadata``) / the handler's value |
| function error → Error = ``errorType``, Cause = payload JSON ✓ | yes | moto already reads ``errorType``; the dispatcher writes it |
| Task ``TimeoutSeconds`` | yes | ``States.Timeout`` |
| ``Map`` inline: ``ItemsPath``, ``ItemSelector``/``Parameters``, ``ItemProcessor``/``Iterator``, ``MaxConcurrency`` ✓ | yes | concurrency limit honoured; 0 = unbounded; results in item order |
| ``Map`` ``Items`` / any ``QueryLanguage: JSONata`` | **no** | JSONata needs Java (jpype): fails with ``States.Runtime``. JSONPath only |
| ``Retry``: ``IntervalSeconds``, ``BackoffRate``, ``MaxAttempts``, ``MaxDelaySeconds``, ``JitterStrategy: FULL`` ✓ | yes, in real time | waits are real ``sleep``s; FULL jitter waits uniform(0, interval) |
| ``IntervalSeconds`` 0 or 0.5, ``BackoffRate`` < 1 ✓ | rejected at create | ``InvalidDefinition``, as AWS: intervals are whole seconds ≥ 1, so keep tests' ``MaxAttempts`` small |
| Task integrations call the emulator back over HTTP | **fix** ``pinned-callback-port`` | on ``localhost:MOTO_PORT``, which the last emulator started sets (and a stopped one leaves behind): now the emulator given to ``enable_execution`` |
| the interpreter's API errors (``InvalidDefinition``, ``InvalidExecutionInput``…) ✓ | **fix** ``interpreter-error-codes`` | moto sent them with an empty error code: the SDK's modelled exceptions never matched |
| ``Catch`` with ``ResultPath`` ✓, ``States.ALL``, ``States.TaskFailed`` | yes | ``{"Error", "Cause"}`` |
| ``sqs:sendMessage`` ✓ (``MessageBody`` object → JSON text, ``MessageAttributes`` with ``StringValue.$``) | yes | its errors are all named ``SQS.SdkClientException``, unlike AWS: catch them with ``States.ALL`` |
| ``dynamodb:putItem`` ✓, ``updateItem`` ✓, ``getItem`` | yes | errors as AWS: ``DynamoDB.ConditionalCheckFailedException`` |
| ``States.Format``, ``States.JsonToString``, ``States.ArrayLength`` ✓, ``States.Array``, ``States.UUID``, ``States.Hash`` | yes | |
| ``Pass``, ``Choice`` (incl. ``And``/``IsPresent``/``StringMatches``), ``Succeed``, ``Fail`` (incl. ``ErrorPath``) ✓, ``Parallel``, ``Wait`` | yes | |
| ``StartExecution`` without a name ✓ | **fix** ``generated-execution-names`` | moto named every such execution ``None``: the second one failed with ``ExecutionAlreadyExists``. Now a UUID, as AWS |
| same name + same input while running ✓ | same execution ARN | input compared as text, byte for byte |
| same name, other input or after it ended ✓ | ``ExecutionAlreadyExists`` | as AWS (Standard workflows) |
| ``DescribeExecution`` ✓, ``ListExecutions`` + ``statusFilter`` ✓, ``GetExecutionHistory`` ✓ | yes | history ignores ``maxResults``/``reverseOrder``: all events, oldest first |
| ``StopExecution`` | partly | status stays ``RUNNING`` until the current state returns, then ``ABORTED``; ``error``/``cause`` dropped |
| ``StartExecution`` ``traceHeader`` ✓ | **fix** ``execution-trace-header`` | moto's API dropped it (the engine keeps one): now kept, and ``DescribeExecution`` answers it |
| the execution's trace into its Lambda tasks ✓ | **fix** ``lambda-task-trace-header`` | AWS hands a task the execution's trace as the invocation's trace context; here each ``lambda:invoke`` carries it as ``X-Amzn-Trace-Id``, and the dispatcher runs the handler in a span continuing it (what the ADOT layer's Lambda instrumentation does) |
| Lambda function timeout | **dispatcher** | ``Sandbox.Timedout``; AWS documents ``Lambda.Unknown`` for this: match timeouts with ``States.TaskFailed``, or set the Task's ``TimeoutSeconds`` (``States.Timeout`` in both) |

moto also logs every failed state (retried or caught too) as an ERROR with the whole state's repr;
``enable_execution`` raises that one logger's level: the failure is in the execution's history.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import threading
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

from luca_infra.local.lambda_dispatch import (
    DISPATCHER,
    Handler,
    LambdaContext,
    LambdaDispatcher,
)
from luca_platform.telemetry.propagation import XRAY_HEADER

log = logging.getLogger("luca.local.stepfunctions")
# Re-exported: the engine's users register handlers here.
__all__ = [
    "DISPATCHER",
    "EngineError",
    "Handler",
    "LambdaContext",
    "LambdaDispatcher",
    "apply",
    "create_function",
    "enable_execution",
    "wait_for_execution",
]
DEFAULT_TIMEOUT_SECONDS = 3  # Lambda's own default
ROLE_NAME = "luca-local-dispatched-function"
_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
_ENGINE_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
# Logs every failed state at ERROR, including those a Retry or Catch handles (see module docstring).
_NOISY_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"


class EngineError(RuntimeError):
    pass


# -- patches to moto, applied once per process ---------------------------------------------------------
_applied: set[str] = set()
_callback_port: str | None = None  # the port of the emulator given to enable_execution


def apply() -> tuple[str, ...]:
    """Patch moto for the local engine (idempotent); returns the names of the patches in force.

    When moto's internals no longer look as expected a patch is skipped with a warning, never
    half-applied; ``enable_execution`` then refuses to run without the dispatcher.
    """
    for name, patch in _PATCHES.items():
        if name in _applied:
            continue
        try:
            patch()
        except (ImportError, AttributeError) as error:
            log.warning("engine patch skipped", extra={"patch": name, "reason": repr(error)})
            continue
        _applied.add(name)
    return tuple(sorted(_applied))


def _dispatch_lambda_invoke() -> None:
    """moto's Docker-less Lambda backend answers every invoke with a canned string: run the handler."""
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda_simple.models import LambdaSimpleBackend

    original = LambdaSimpleBackend.invoke
    if getattr(original, "__luca_fix__", False):
        return

    @functools.wraps(original)
    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        function = self.get_function(function_name, qualifier)  # unknown: ResourceNotFoundException
        try:
            event = json.loads(body) if body else {}
        except ValueError as error:
            raise LambdaClientError(
                "InvalidRequestContentException", f"Could not parse request body into json: {error}"
            ) from error
        invoked_arn = function_name if function_name.startswith("arn:") else function.function_arn
        if qualifier and not function_name.startswith("arn:"):
            invoked_arn = f"{invoked_arn}:{qualifier}"
        request_id = str(uuid.uuid4())
        timeout = float(function.timeout)
        context = LambdaContext(
            function_name=function.function_name,
            function_version=str(function.version),
            invoked_function_arn=invoked_arn,
            memory_limit_in_mb=int(function.memory_size),
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{function.function_name}",
            log_stream_name=f"local/[{function.version}]{request_id.replace('-', '')}",
            timeout_seconds=timeout,
            deadline=time.monotonic() + timeout,
            trace_header=_header(headers, XRAY_HEADER),
        )
        invocation_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            threading.Thread(target=DISPATCHER.invoke, args=(context, event), daemon=True).start()
            return b""
        payload, failed = DISPATCHER.invoke(context, event)
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-executed-version"] = str(function.version)
        return payload

    invoke.__luca_fix__ = True  # type: ignore[attr-defined]
    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


def _generated_execution_names() -> None:
    """moto's interpreter names an unnamed execution ``None``; AWS gives it a UUID."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original: Any = StepFunctionsParserBackend.start_execution  # typed str, called with None too
    if getattr(original, "__luca_fix__", False):
        return
    validate_name = StepFunctionsParserBackend._validate_name  # the mock backend's own check

    @functools.wraps(original)
    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        if name:
            validate_name(self, name)
        return original(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    start_execution.__luca_fix__ = True  # type: ignore[attr-defined]
    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


def _interpreter_error_codes() -> None:
    """The interpreter's exceptions (``InvalidDefinition``, ``InvalidExecutionInput``, ``TaskDoesNotExist``…)
    declare their AWS error code as ``code``, but moto's base class serializes ``TYPE``: every one
    reached the SDK with an empty code, so ``except sfn.exceptions.InvalidDefinition`` never matched."""
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser import api

    for error_type in vars(api).values():
        if (
            isinstance(error_type, type)
            and issubclass(error_type, AWSError)
            and error_type.TYPE is None
            and isinstance(error_type.__dict__.get("code"), str)
        ):
            error_type.TYPE = error_type.__dict__["code"]


def _pinned_callback_port() -> None:
    """Tasks call the emulator back on ``localhost:MOTO_PORT``, a variable every emulator started in
    the process sets, and none clears when it stops (a test's own emulator, a platform stopped and
    started again): the engine calls back the emulator ``enable_execution`` was given instead."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.moto_server_port
    if getattr(original, "__luca_fix__", False):
        return

    def moto_server_port() -> str:
        return _callback_port or original()

    moto_server_port.__luca_fix__ = True  # type: ignore[attr-defined]
    boto_client.moto_server_port = moto_server_port


def _header(headers: Any, name: str) -> str | None:
    """A request header, whatever the case the client sent it in."""
    # The emulator hands werkzeug's headers (case-insensitive, not a Mapping) or a plain dict.
    if not hasattr(headers, "items"):
        return None
    wanted = name.lower()
    value = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
    return value if isinstance(value, str) and value else None


# Execution ARN -> the trace header it was started with (what the tasks' invocations carry).
_EXECUTION_TRACES: dict[str, str] = {}
_task_trace = threading.local()


def _execution_trace_header() -> None:
    """moto's ``StartExecution`` action drops ``traceHeader`` (its engine would keep it) and its
    ``DescribeExecution`` never answers one: both as AWS, here."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    original_start: Any = StepFunctionResponse.start_execution
    if getattr(original_start, "__luca_fix__", False):
        return
    original_describe: Any = StepFunctionResponse.describe_execution

    @functools.wraps(original_start)
    def start_execution(self: Any) -> Any:
        header = self._get_param("traceHeader")
        backend = self.stepfunction_backend
        if not header or not isinstance(backend, StepFunctionsParserBackend):
            return original_start(self)
        execution = backend.start_execution(
            self._get_param("stateMachineArn"),
            self._get_param("name"),
            self._get_param("input", if_none="{}"),
            header,
        )
        _EXECUTION_TRACES[execution.exec_arn] = header
        from moto.core.responses import ActionResult

        return ActionResult({"executionArn": execution.exec_arn, "startDate": execution.start_date})

    @functools.wraps(original_describe)
    def describe_execution(self: Any) -> Any:
        answer = original_describe(self)
        header = _EXECUTION_TRACES.get(self._get_param("executionArn"))
        result = getattr(answer, "result", None)
        if header and isinstance(result, dict):
            result["traceHeader"] = header
        return answer

    start_execution.__luca_fix__ = True  # type: ignore[attr-defined]
    StepFunctionResponse.start_execution = start_execution  # type: ignore[method-assign]
    StepFunctionResponse.describe_execution = describe_execution  # type: ignore[method-assign]


def _lambda_task_trace_header() -> None:
    """A Lambda task's invocation carries its execution's trace header (``X-Amzn-Trace-Id``), which
    the dispatcher hands the handler's invocation span as its parent."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils as utils

    original_integration = utils.execute_lambda_function_integration
    if getattr(original_integration, "__luca_fix__", False):
        return
    original_invoke = utils._invoke_lambda_function

    @functools.wraps(original_integration)
    def execute_lambda_function_integration(
        env: Any, parameters: Any, region: Any, state_credentials: Any
    ) -> None:
        execution_arn = env.states.context_object.context_object_data["Execution"]["Id"]
        _task_trace.header = _EXECUTION_TRACES.get(execution_arn)
        try:
            original_integration(env, parameters, region, state_credentials)
        finally:
            _task_trace.header = None

    @functools.wraps(original_invoke)
    def invoke_lambda_function(parameters: dict[str, Any], region: str, state_credentials: Any) -> Any:
        header = getattr(_task_trace, "header", None)
        if not header:
            return original_invoke(parameters, region, state_credentials)
        client: Any = utils.boto_client_for(
            service="lambda", region=region, state_credentials=state_credentials
        )

        def add_header(request: Any, **_: Any) -> None:
            request.headers[XRAY_HEADER] = header

        client.meta.events.register("before-sign.lambda.Invoke", add_header)
        response = client.invoke(**parameters)
        response["Payload"] = utils._from_payload(response["Payload"])
        return response

    execute_lambda_function_integration.__luca_fix__ = True  # type: ignore[attr-defined]
    utils.execute_lambda_function_integration = execute_lambda_function_integration
    utils._invoke_lambda_function = invoke_lambda_function


_PATCHES: dict[str, Callable[[], None]] = {
    "dispatched-lambda-invoke": _dispatch_lambda_invoke,
    "pinned-callback-port": _pinned_callback_port,
    "generated-execution-names": _generated_execution_names,
    "interpreter-error-codes": _interpreter_error_codes,
    "execution-trace-header": _execution_trace_header,
    "lambda-task-trace-header": _lambda_task_trace_header,
}


# -- setting the engine up -------------------------------------------------------------------------------
def enable_execution(emulator_url: str) -> None:
    """Make the emulator run state machines and send Lambda invocations to ``DISPATCHER``.

    Call it right after the emulator starts: moto keeps state machines and functions created before
    in other backends, where the engine does not see them. The emulator must run in this process.
    """
    global _callback_port
    patches = apply()
    if not {"dispatched-lambda-invoke", "pinned-callback-port"} <= set(patches):
        raise EngineError("this moto's engine cannot be set up for in-process handlers (see the log)")
    request = urllib.request.Request(  # noqa: S310 - the emulator's URL, http on loopback
        f"{emulator_url.rstrip('/')}/moto-api/config",
        data=json.dumps(_ENGINE_CONFIG).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()
    from moto.core.config import default_user_config

    if not default_user_config.get("stepfunctions", {}).get("execute_state_machine"):
        raise EngineError(
            f"the emulator at {emulator_url} does not run in this process: handlers registered here "
            "would never be called"
        )
    port = urllib.parse.urlsplit(emulator_url).port
    _callback_port = str(port) if port else None
    logging.getLogger(_NOISY_LOGGER).setLevel(logging.CRITICAL)


def create_function(
    lambda_client: Any,
    iam_client: Any,
    name: str,
    *,
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
    memory_mb: int = 128,
) -> str:
    """The function's ARN, after creating its record (and the role it needs) unless it exists.

    The code uploaded is a placeholder that never runs: ``DISPATCHER`` runs the handler registered
    for ``name``. An existing function is left as it is.
    """
    try:
        role_arn = iam_client.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    except iam_client.exceptions.NoSuchEntityException:
        try:
            role_arn = iam_client.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=_TRUST_POLICY)[
                "Role"
            ]["Arn"]
        except iam_client.exceptions.EntityAlreadyExistsException:  # created meanwhile
            role_arn = iam_client.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    try:
        return str(lambda_client.get_function(FunctionName=name)["Configuration"]["FunctionArn"])
    except lambda_client.exceptions.ResourceNotFoundException:
        pass
    try:
        created = lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role_arn,
            Handler="placeholder.handler",
            Code={"ZipFile": _placeholder_zip()},
            Timeout=timeout_seconds,
            MemorySize=memory_mb,
        )
    except lambda_client.exceptions.ResourceConflictException:  # created meanwhile
        return str(lambda_client.get_function(FunctionName=name)["Configuration"]["FunctionArn"])
    return str(created["FunctionArn"])


def _placeholder_zip() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(
            "placeholder.py",
            "def handler(event, context):\n    raise RuntimeError('dispatched in process, never run')\n",
        )
    return archive.getvalue()


def wait_for_execution(
    sfn_client: Any, execution_arn: str, *, timeout_seconds: float = 60.0, poll_seconds: float = 0.05
) -> dict[str, Any]:
    """``DescribeExecution`` once the execution has left ``RUNNING``; ``TimeoutError`` if it does not."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        described: dict[str, Any] = sfn_client.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{execution_arn} still running after {timeout_seconds} s")
        time.sleep(poll_seconds)
