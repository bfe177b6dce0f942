"""A service's gRPC server, set up the same way everywhere: a bounded worker pool, OpenTelemetry's
server interceptor, every request checked against its contract's rules (``grpc_validation``), the
standard health service (SERVING for the whole server and for the service)
and reflection, bound but not started; and how a servicer ends a call with a rich status."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any, NoReturn

import grpc
from google.rpc import status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from luca_platform.grpc_validation import REASON, Authenticate, RequestValidation


def build_server(
    *,
    service_name: str | Sequence[str],
    register: Callable[[grpc.Server], None],
    authenticate: Authenticate,
    address: str,
    workers: int,
    thread_name_prefix: str = "grpc",
    traced: bool = True,
    options: Sequence[tuple[str, Any]] = (),
    error_domain: str = "luca.school",
    invalid_reason: str = REASON,
) -> tuple[grpc.Server, int]:
    """A bound, not yet started server for ``service_name`` (one or several services; ``register``
    adds their servicers); returns it and the bound port (what a configured port 0 became).
    ``authenticate`` is the servicers' token check: a request its contract refuses is checked with it
    first, so a caller without a valid token is UNAUTHENTICATED whatever it sent.
    ``error_domain`` and ``invalid_reason`` are the ErrorInfo of a request its contract's rules refuse."""
    names = (service_name,) if isinstance(service_name, str) else tuple(service_name)
    interceptors: list[grpc.ServerInterceptor] = []
    if traced:
        from opentelemetry.instrumentation.grpc import server_interceptor

        interceptors.append(server_interceptor())
    # After tracing, so a refused request still has its span.
    interceptors.append(RequestValidation(error_domain, authenticate, invalid_reason))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=thread_name_prefix),
        interceptors=interceptors,
        options=list(options),
    )
    register(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"could not bind the gRPC server to {address}")
    return server, port


def abort(context: grpc.ServicerContext, status: status_pb2.Status) -> NoReturn:
    """End the call with ``status`` and its details (trailing ``grpc-status-details-bin``)."""
    context.abort_with_status(rpc_status.to_status(status))
    raise AssertionError("unreachable: abort_with_status raises")
