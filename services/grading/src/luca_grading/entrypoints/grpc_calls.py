"""How every grading RPC runs: the caller authenticated from metadata, the correlation id bound,
errors turned into rich statuses, and the call measured. Each servicer translates messages only."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import grpc

from luca_grading.bootstrap import Container
from luca_kernel.access import Principal
from luca_kernel.errors import Forbidden, LucaError, TenantBoundaryViolation
from luca_platform.grpc_server import abort
from luca_platform.problems import (
    DEPENDENCY_ERRORS,
    DEPENDENCY_UNAVAILABLE,
    error_status,
    grpc_code,
    status_for,
)
from luca_platform.telemetry import context as request_context

log = logging.getLogger("luca.grading.grpc")
ERROR_DOMAIN = "grading.luca.school"
R = TypeVar("R")


class CallRunner:
    def __init__(self, container: Container, service_name: str, error_domain: str = ERROR_DOMAIN) -> None:
        self._container = container
        self._service_name = service_name
        self._domain = error_domain

    def run(
        self,
        method: str,
        context: grpc.ServicerContext,
        work: Callable[[Principal], R],
        fields: Mapping[str, str] | None = None,
    ) -> R:
        """Runs ``work`` for the authenticated caller; ``fields`` renames an error's field to the
        request's field path."""
        metadata = {k.lower(): v for k, v in context.invocation_metadata() if isinstance(v, str)}
        correlation = request_context.sanitize_correlation_id(
            metadata.get(request_context.CORRELATION_HEADER)
        )
        context.send_initial_metadata(((request_context.CORRELATION_HEADER, correlation),))
        started = time.perf_counter()
        school = "unauthenticated"
        status = "OK"
        with request_context.RequestScope(correlation, route_name=f"/{self._service_name}/{method}"):
            try:
                principal = self._container.authenticator.authenticate(metadata.get("authorization"))
                school = principal.school_id
                request_context.school_id.set(school)
                return work(principal)
            except LucaError as error:
                status = grpc_code(error).name
                field = (fields or {}).get(error.field or "")
                abort(context, status_for(error, domain=self._domain, field=field))
            except TenantBoundaryViolation as error:
                # A bug (or an attack past validation) built another school's key: logged loudly,
                # answered as a generic Forbidden with its details, nothing of the key.
                status = "PERMISSION_DENIED"
                log.error("tenant boundary violation refused", extra={"error": str(error)})
                refused = Forbidden("that resource is not part of your school")
                abort(context, status_for(refused, domain=self._domain))
            except DEPENDENCY_ERRORS as error:
                # The table (or STS) refused or is unreachable after the SDK's retries: the caller
                # may retry; botocore's text is for the log only.
                status = "UNAVAILABLE"
                log.warning("table unavailable", extra={"error": str(error)})
                abort(
                    context,
                    error_status(
                        grpc.StatusCode.UNAVAILABLE,
                        DEPENDENCY_UNAVAILABLE,
                        "the school's records are unavailable; try again shortly",
                        domain=self._domain,
                    ),
                )
            finally:
                latency = (time.perf_counter() - started) * 1000
                self._container.metrics.record(
                    school_id=school, route=f"grpc:{method}", latency_ms=latency, status=_http_like(status)
                )


def _http_like(status: str) -> int:
    return {
        "OK": 200,
        "INVALID_ARGUMENT": 400,
        "UNAUTHENTICATED": 401,
        "PERMISSION_DENIED": 403,
        "NOT_FOUND": 404,
        "FAILED_PRECONDITION": 422,
        "UNAVAILABLE": 503,
    }.get(status, 500)
