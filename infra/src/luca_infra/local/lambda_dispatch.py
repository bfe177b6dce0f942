"""Lambda handlers run in this process: what the emulator's Step Functions engine and ``lambda.invoke``
hand an invocation to (``DISPATCHER``), behaving as the Lambda Python runtime does. Local-only; the
engine's setup and its patches to moto are ``stepfunctions``'.

How a dispatched invocation behaves, as the Lambda Python runtime does:

* the handler gets the JSON payload as ``event`` and a ``LambdaContext`` (function name and version,
  the ARN it was invoked by, memory, request id, log group and stream,
  ``get_remaining_time_in_millis()`` counted from the function's timeout);
* its return value is the response payload, JSON round-tripped (``Decimal`` becomes a number, as
  the runtime's encoder does); something JSON cannot carry is a ``Runtime.MarshalError``;
* an exception is a function error (``X-Amz-Function-Error: Unhandled``) with the payload
  ``{"errorMessage": str(e), "errorType": type(e).__name__, "requestId": …, "stackTrace": […]}``.
  Step Functions names the failed Task after ``errorType`` and puts the payload in ``Cause``, so a
  definition's ``Retry``/``Catch`` match our exception class names, locally as on AWS;
* a handler still running when the function's timeout runs out is a ``Sandbox.Timedout`` function
  error (the handler's thread cannot be killed: it runs on, and its result is dropped);
* ``SystemExit`` is ``Runtime.ExitError``; a function with no registered handler is
  ``Runtime.HandlerNotFound``; an unknown function is ``ResourceNotFoundException``, and a
  ``lambda:invoke`` Task fails with ``Lambda.ResourceNotFoundException``, all as on AWS (a
  bare-ARN Task fails with ``Exception``: moto's name);
* ``InvocationType="Event"`` runs the handler in the background (202), ``"DryRun"`` does not run it.

A handler never runs on moto's execution threads: an execution's Task calls the emulator over HTTP,
the emulator's request thread runs the handler on a thread of its own and always answers, so an
exception or a hang in a handler cannot stop the engine. Concurrent invocations (a ``Map`` with
``MaxConcurrency`` > 1) run concurrently, in one process: unlike Lambda's sandboxes they share the
handler module's globals (a warm app object, a Powertools ``Logger``'s appended keys), so handlers
must be thread-safe.
"""

from __future__ import annotations

import decimal
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace import Status as SpanStatus

from luca_platform.telemetry.propagation import context_from_xray

log = logging.getLogger("luca.local.stepfunctions")
# The invocation spans the ADOT Lambda layer makes in AWS; the platform's provider writes them.
tracer = trace.get_tracer("luca.local.lambda")

Handler = Callable[[Any, Any], Any]
"""An in-repo Lambda handler: ``handler(event, context)`` returns what JSON can carry."""


@dataclass(frozen=True)
class LambdaContext:
    """What the Lambda Python runtime passes a handler as ``context`` (the attributes handlers read)."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: float
    deadline: float = field(repr=False)  # time.monotonic() when the function's timeout runs out
    identity: Any = None
    client_context: Any = None
    trace_header: str | None = None  # the caller's X-Ray trace (a Step Functions execution's)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class LambdaDispatcher:
    """Which in-repo handler a function name runs on the emulator. Process-wide: see ``DISPATCHER``."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def register(self, function_name: str, handler: Handler) -> None:
        """Run ``handler`` for ``function_name`` (the name, not the ARN); replaces an earlier one."""
        with self._lock:
            self._handlers[function_name] = handler

    def unregister(self, function_name: str) -> None:
        with self._lock:
            self._handlers.pop(function_name, None)

    def handler_for(self, function_name: str) -> Handler | None:
        with self._lock:
            return self._handlers.get(function_name)

    def invoke(self, context: LambdaContext, event: Any) -> tuple[bytes, bool]:
        """Run the function's handler: (response payload, whether it is a function error). Never raises."""
        handler = self.handler_for(context.function_name)
        if handler is None:
            message = f"no handler registered for {context.function_name!r} (DISPATCHER.register)"
            return function_error("Runtime.HandlerNotFound", message, context), True
        outcome: list[tuple[bytes, bool]] = []
        # A thread of its own, so that a handler outliving the function's timeout is reported, not awaited.
        worker = threading.Thread(
            target=lambda: outcome.append(_run(handler, event, context)),
            name=f"lambda-{context.function_name}",
            daemon=True,
        )
        worker.start()
        worker.join(max(0.0, context.deadline - time.monotonic()))
        if outcome:
            return outcome[0]
        if not worker.is_alive():  # _run itself failed (an exception whose str() raises, say)
            return function_error("Runtime.Unknown", "the handler's outcome was lost", context), True
        log.warning("handler timed out", extra={"function": context.function_name})
        message = (
            f"RequestId: {context.aws_request_id} Error: "
            f"Task timed out after {context.timeout_seconds:.2f} seconds"
        )
        return function_error("Sandbox.Timedout", message, context), True


DISPATCHER = LambdaDispatcher()
"""The dispatcher the emulator's Lambda backend calls (after ``apply()``)."""


def _run(handler: Handler, event: Any, context: LambdaContext) -> tuple[bytes, bool]:
    """The handler's outcome, in an invocation span continuing the caller's trace (a new trace when
    the invocation carried none), as the ADOT Lambda layer's instrumentation does in AWS."""
    with tracer.start_as_current_span(
        context.function_name,
        context=context_from_xray(context.trace_header),
        kind=SpanKind.SERVER,
        attributes={
            "faas.name": context.function_name,
            "faas.invocation_id": context.aws_request_id,
            "cloud.resource_id": context.invoked_function_arn,
        },
    ) as span:
        payload, failed = _outcome(handler, event, context)
        if failed:
            span.set_status(SpanStatus(StatusCode.ERROR, "function error"))
        return payload, failed


def _outcome(handler: Handler, event: Any, context: LambdaContext) -> tuple[bytes, bool]:
    try:
        result = handler(event, context)
    except SystemExit as exit_:
        message = (
            f"RequestId: {context.aws_request_id} Error: Runtime exited with error: exit status {exit_.code}"
        )
        return function_error("Runtime.ExitError", message, context), True
    except BaseException as error:  # whatever the handler raises is the function's error, as on AWS
        frames = traceback.extract_tb(error.__traceback__)[1:]  # from the handler down, not this frame
        return function_error(type(error).__name__, str(error), context, traceback.format_list(frames)), True
    try:
        return json.dumps(result, default=_json_number).encode(), False
    except (TypeError, ValueError) as error:
        return function_error("Runtime.MarshalError", f"Unable to marshal response: {error}", context), True


def _json_number(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def function_error(
    error_type: str, message: str, context: LambdaContext, stack_trace: list[str] | None = None
) -> bytes:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": context.aws_request_id,
            "stackTrace": stack_trace or [],
        }
    ).encode()
