"""Every gRPC request checked against its contract's protovalidate rules before a servicer sees it.

One server interceptor, installed by ``build_server`` on every service, so no RPC can forget it. A
request that breaks a rule ends with INVALID_ARGUMENT, ErrorInfo (reason ``VALIDATION``, the
service's domain, ``field`` = the first violation) and a google.rpc BadRequest naming every
violated field by its path in the request (``rule.subject_id``, ``events[3].event_id``).

Unary requests only: the streaming methods are reflection's, whose messages carry no rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
import protovalidate
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from luca_kernel.errors import Reason, Unauthenticated
from luca_platform.problems import status_for

REASON = Reason.VALIDATION.name
# Verifies the ``authorization`` metadata (None: absent); raises Unauthenticated when it is not valid.
Authenticate = Callable[[str | None], object]


class RequestValidation(grpc.ServerInterceptor):
    """Validates each unary request; ``domain`` and ``reason`` are the service's ErrorInfo domain
    and its reason for a bad argument (the kernel's ``VALIDATION`` unless the service has its own);
    ``authenticate`` is the service's own token check, run before a refusal."""

    def __init__(self, domain: str, authenticate: Authenticate, reason: str = REASON) -> None:
        self._domain = domain
        self._reason = reason
        self._authenticate = authenticate
        # Built once: it compiles (and caches) each message type's rules on first use.
        self._validator = protovalidate.Validator()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._checked(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._checked(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _checked(self, behaviour: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
        def run(request: Any, context: grpc.ServicerContext) -> Any:
            violations = self._validator.collect_violations(request)
            if violations:
                self._authenticated(context)
                context.abort_with_status(
                    rpc_status.to_status(
                        invalid_request(violations, domain=self._domain, reason=self._reason)
                    )
                )
            return behaviour(request, context)

        return run

    def _authenticated(self, context: grpc.ServicerContext) -> None:
        """Ends the call UNAUTHENTICATED (the servicers' status) unless its token is valid."""
        authorization = next(
            (
                v
                for k, v in context.invocation_metadata()
                if k.lower() == "authorization" and isinstance(v, str)
            ),
            None,
        )
        try:
            self._authenticate(authorization)
        except Unauthenticated as error:
            context.abort_with_status(rpc_status.to_status(status_for(error, domain=self._domain)))


def invalid_request(
    violations: Sequence[protovalidate.Violation], *, domain: str, reason: str = REASON
) -> status_pb2.Status:
    """The INVALID_ARGUMENT status for ``violations``, each named by its field path."""
    # One entry per field: a value can break several rules at once (too short and off-pattern).
    by_field: dict[str, list[str]] = {}
    for violation in violations:
        by_field.setdefault(field_path(violation), []).append(violation.proto.message or "")
    named = [(path, "; ".join(texts)) for path, texts in by_field.items()]
    message = "; ".join(f"{path}: {text}" if path else text for path, text in named)
    info = any_pb2.Any()
    info.Pack(
        error_details_pb2.ErrorInfo(
            reason=reason, domain=domain, metadata={"field": named[0][0]} if named[0][0] else {}
        )
    )
    bad = any_pb2.Any()
    bad.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=path, description=text)
                for path, text in named
            ]
        )
    )
    return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[info, bad])


def field_path(violation: protovalidate.Violation) -> str:
    """``items[0].question_id``: the violated field as the request spells it (a oneof's name for a
    oneof rule)."""
    # protovalidate's own message types (not google.protobuf's): a subscript is a oneof value.
    field = violation.proto.field
    names: list[str] = []
    for element in field.elements if field is not None else ():
        subscript = f"[{element.subscript.value}]" if element.subscript is not None else ""
        names.append(f"{element.field_name}{subscript}")
    # A wrapper's lone `value` (luca.common.v1.Decimal's) is reported as the wrapper field the
    # caller set: `score`, as the servicers have always named it, not `score.value`.
    if len(names) > 1 and names[-1] == "value":
        names.pop()
    return ".".join(names)
