"""A service's gRPC server, set up the same way everywhere: a bounded worker pool, OpenTelemetry's
server interceptor, the standard health service (SERVING for the whole server and for the service)
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


def build_server(
    *,
    service_name: str | Sequence[str],
    register: Callable[[grpc.Server], None],
    address: str,
    workers: int,
    thread_name_prefix: str = "grpc",
    traced: bool = True,
    options: Sequence[tuple[str, Any]] = (),
) -> tuple[grpc.Server, int]:
    """A bound, not yet started server for ``service_name`` (one or several services; ``register``
    adds their servicers); returns it and the bound port (what a configured port 0 became)."""
    names = (service_name,) if isinstance(service_name, str) else tuple(service_name)
    interceptors = []
    if traced:
        from opentelemetry.instrumentation.grpc import server_interceptor

        interceptors.append(server_interceptor())
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
