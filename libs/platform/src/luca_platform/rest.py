"""How a service's REST API answers what goes wrong: RFC 9457 problems, the same in every service.

``install_problem_handlers`` maps the kernel's errors, tenant-boundary refusals, a dependency that is
down and routing errors; each service adds the handlers only it needs (its request validation, its
own dependencies) with ``problem_response``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from luca_kernel.errors import LucaError, TenantBoundaryViolation
from luca_platform.problems import DEPENDENCY_ERRORS, PROBLEM_JSON, http_status, problem_body

CorrelationSource = Callable[[Request | None], str | None]


def problem_response(
    request: Request | None,
    status: int,
    kind: str,
    detail: str,
    *,
    correlation_id: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = problem_body(
        status,
        kind,
        detail,
        instance=request.url.path if request is not None else None,
        correlation_id=correlation_id,
        errors=errors,
        extra=extra,
    )
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers) if headers else None
    )


class ProblemResponder:
    """``problem(request, status, kind, detail, ...)`` with the service's way of knowing the request's
    correlation id."""

    def __init__(self, correlation: CorrelationSource) -> None:
        self.correlation = correlation

    def __call__(
        self,
        request: Request | None,
        status: int,
        kind: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> JSONResponse:
        return problem_response(
            request,
            status,
            kind,
            detail,
            correlation_id=self.correlation(request),
            errors=errors,
            headers=headers,
            extra=extra,
        )


def install_problem_handlers(
    app: FastAPI,
    *,
    log: logging.Logger,
    correlation: CorrelationSource,
    boundary_detail: str,
    unavailable_detail: str,
    retry_after_seconds: int,
) -> None:
    def problem(request: Request, status: int, kind: str, detail: str, **kwargs: Any) -> JSONResponse:
        return problem_response(request, status, kind, detail, correlation_id=correlation(request), **kwargs)

    @app.exception_handler(LucaError)
    async def luca_error(request: Request, exc: LucaError) -> JSONResponse:
        status = http_status(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        errors = [{"field": exc.field, "reason": exc.reason.value}] if exc.field else None
        return problem(
            request, status, exc.reason.value, exc.detail, errors=errors, headers=headers, extra=exc.context
        )

    @app.exception_handler(TenantBoundaryViolation)
    async def boundary(request: Request, exc: TenantBoundaryViolation) -> JSONResponse:
        # A bug (or an attack past validation) named another school's key: loud in the log, and the
        # caller learns nothing of the key.
        log.error("tenant boundary violation refused", extra={"error": str(exc)})
        return problem(request, 403, "forbidden", boundary_detail)

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The table (or another AWS dependency) refused or is unreachable after the SDK's retries: a
        # retry may work; botocore's text is for the log only.
        log.warning("dependency unavailable", extra={"error": str(exc)})
        return problem(
            request,
            503,
            "dependency-unavailable",
            unavailable_detail,
            headers={"Retry-After": str(retry_after_seconds)},
        )

    for kind in DEPENDENCY_ERRORS:
        app.add_exception_handler(kind, unavailable)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's only 400 of its own is a JSON body it could not read (not UTF-8, say): malformed-json.
        kind = {400: "malformed-json", 404: "not-found", 405: "method-not-allowed"}.get(
            exc.status_code, "http-error"
        )
        detail = f"no route {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return problem(request, exc.status_code, kind, detail, headers=headers or None)


def allowed_methods(request: Request) -> str:
    """Every method some route of the app takes at this path: Starlette's own 405 names only the
    first route that matched the path, and FastAPI makes one route per method."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "\x00"})
        if match == Match.PARTIAL and getattr(route, "methods", None):
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


def without_fastapi_422(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without FastAPI's automatic 422 "Validation Error": our services answer request
    validation with a 400 problem, so that response would be a promise never kept."""
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            automatic = responses.get("422", {}).get("content", {}).get("application/json", {})
            if automatic.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                del responses["422"]
    return document


def serve_openapi(app: FastAPI, describe: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Serve FastAPI's document passed through ``describe`` (built once, on first request)."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(without_fastapi_422(plain()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
