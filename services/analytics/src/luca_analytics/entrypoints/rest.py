"""REST API of the per-school reports, for school admins through the gateway (FastAPI, ``/v1``).

``GET /v1/analytics/<report>`` (one route per report, its parameters and answer documented by
``rest_documents``) with the report's query parameters. The school comes from the
verified bearer token. A ``school_id`` query parameter is accepted only to refuse it when it names
another school (403, no rows); any parameter the report does not take, or a repeated one, is a 400:
nothing unexpected is silently dropped. Every 4xx is an RFC 9457 problem (``application/problem+json``).
"""

# No ``from __future__ import annotations``: FastAPI resolves the ``Caller`` dependency declared
# inside ``create_app`` from the live annotation.
import logging
import math
import types
from collections.abc import Mapping
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from luca_analytics.bootstrap import Container
from luca_analytics.entrypoints import rest_documents
from luca_analytics.service_layer.reports import LakeUnavailable, Reports
from luca_kernel.access import Principal
from luca_kernel.errors import InvalidInput
from luca_platform.rest import ProblemResponder, install_problem_handlers, serve_openapi

log = logging.getLogger("luca.analytics.rest")
CORRELATION_HEADER = "x-correlation-id"

# The parameters each report takes (besides ``school_id``, which may only name the caller's school).
REPORT_PARAMETERS: Mapping[str, frozenset[str]] = {
    "subject-averages": frozenset({"term_id"}),
    "students-below-passing": frozenset({"term_id", "subject_id"}),
    "behavior-trend": frozenset({"from_month", "to_month"}),
    "grade-distribution": frozenset({"term_id", "subject_id", "bucket_width"}),
}


def _correlation(request: Request | None) -> str | None:
    return request.headers.get(CORRELATION_HEADER) if request is not None else None


problem = ProblemResponder(_correlation)


def _parameters(request: Request, report: str) -> dict[str, str]:
    allowed = REPORT_PARAMETERS[report] | {"school_id"}
    found: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            raise InvalidInput(f"{report} takes no parameter {name[:64]!r}", field=name[:64])
        if name in found:
            raise InvalidInput(f"{name} given more than once", field=name)
        if value == "":
            # ``?term_id=`` is a value that breaks the parameter's pattern, not an absent parameter.
            raise InvalidInput(f"{name} is empty", field=name)
        found[name] = value
    return found


def _width(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput("bucket_width must be a number", field="bucket_width") from None
    if not math.isfinite(value):
        raise InvalidInput("bucket_width must be a finite number", field="bucket_width")
    return value


def _run(reports: Reports, report: str, principal: Principal, p: dict[str, str]) -> dict[str, Any]:
    school = p.get("school_id", "")
    if report == "subject-averages":
        averages = reports.subject_averages(principal, term_id=p.get("term_id", ""), school_id=school)
        return {
            "averages": [
                {
                    "subject_id": a.subject_id,
                    "term_id": a.term_id,
                    "weighted_average": a.weighted_average,
                    "grades": a.grades,
                    "students": a.students,
                }
                for a in averages
            ]
        }
    if report == "students-below-passing":
        students = reports.students_below_passing(
            principal, term_id=p.get("term_id", ""), subject_id=p.get("subject_id", ""), school_id=school
        )
        return {
            "students": [
                {
                    "student_id": s.student_id,  # null: a pseudonym no roster student produces
                    "identified": s.identified,
                    "subject_id": s.subject_id,
                    "weighted_average": s.weighted_average,
                    "passing_grade": s.passing_grade,
                    "grades": s.grades,
                }
                for s in students
            ]
        }
    if report == "behavior-trend":
        months = reports.behavior_trend(
            principal, from_month=p.get("from_month", ""), to_month=p.get("to_month", ""), school_id=school
        )
        return {
            "months": [{"month": m.month, "positive": m.positive, "negative": m.negative} for m in months]
        }
    buckets = reports.grade_distribution(
        principal,
        term_id=p.get("term_id", ""),
        subject_id=p.get("subject_id", ""),
        bucket_width=_width(p["bucket_width"]) if "bucket_width" in p else 0.0,
        school_id=school,
    )
    return {
        "buckets": [{"from_score": b.from_score, "to_score": b.to_score, "grades": b.grades} for b in buckets]
    }


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="Luca analytics API",
        version="1.0.0",
        description="Per-school reports over the grades lake: the caller's school, from its token.",
        openapi_url="/v1/analytics/openapi.json",
        docs_url=None,
        redoc_url=None,
    )

    def principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
        return container.authenticator.authenticate(authorization)

    Caller = Annotated[Principal, Depends(principal)]

    install_problem_handlers(
        app,
        log=log,
        correlation=_correlation,
        boundary_detail="not part of your school",
        unavailable_detail=LakeUnavailable.detail,
        retry_after_seconds=5,
    )

    @app.exception_handler(LakeUnavailable)
    async def unavailable(request: Request, exc: LakeUnavailable) -> JSONResponse:
        log.warning(
            "lake unavailable", extra={"error": str(exc), "query_execution_id": exc.query_execution_id}
        )
        return problem(request, 503, "lake-unavailable", exc.detail, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "reason": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return problem(request, 400, "validation", "the request does not match the schema", errors=errors)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """The load balancer's check: the process serves requests (it touches no lake or table)."""
        return {"status": "ok"}

    def route(name: str) -> None:
        def report(request: Request, caller: Caller) -> dict[str, Any]:
            found = _run(container.reports, name, caller, _parameters(request, name))
            return {"report": name, "school_id": caller.school_id, **found}

        app.add_api_route(
            f"/v1/analytics/{name}",
            report,
            methods=["GET"],
            response_model=rest_documents.ANSWERS[name],
            summary=f"The {name.replace('-', ' ')} report of the caller's school",
            operation_id=name.replace("-", "_"),
            tags=["analytics"],
            responses=rest_documents.responses(),
            openapi_extra=rest_documents.openapi_extra(name),
        )

    for name in REPORT_PARAMETERS:
        route(name)
    serve_openapi(app, lambda document: document)

    return app


def openapi_document() -> dict[str, Any]:
    """The served document, without a running service (the public API's document is built from it)."""
    # Routes only capture the container; nothing is called until a request arrives.
    return create_app(cast(Container, types.SimpleNamespace(reports=None, authenticator=None))).openapi()
