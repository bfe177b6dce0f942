"""REST API for teachers, students and school admins (FastAPI, ``/v1``, OpenAPI at /v1/openapi.json).

Every response that is not a success is an RFC 9457 problem (``application/problem+json``).
The school is never read from the request: it comes from the verified bearer token.
"""

import json
import logging
import types
from typing import Annotated, Any, cast

from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from luca_grading.bootstrap import Container
from luca_grading.domain.model import BehaviorKind
from luca_grading.entrypoints import rest_bodies as bodies
from luca_grading.entrypoints import rest_openapi
from luca_grading.entrypoints.rest_admin import admin_router
from luca_grading.entrypoints.rest_auth import Caller, IdempotencyKey, principal
from luca_grading.entrypoints.rest_changes import changes_router
from luca_grading.entrypoints.rest_guard import RequestGuard, _correlation, _json_safe, mark_replay, problem
from luca_grading.entrypoints.rest_models import (
    BehaviorNoteOut,
    BehaviorProfileOut,
    CourseGradesOut,
    EvaluationOut,
    GradingRuleBody,
    GradingRuleOut,
    RecordBehaviorNoteBody,
    RecordEvaluationBody,
    StudentEvaluationsOut,
)
from luca_grading.entrypoints.rest_responses import READ, WRITE, problems, replayed
from luca_grading.entrypoints.rest_roster import roster_router
from luca_grading.service_layer.services import RecordBehaviorNote, RecordEvaluation
from luca_kernel.grading import GradingRule
from luca_kernel.ids import SubjectId
from luca_platform.rest import install_problem_handlers, serve_openapi
from luca_platform.rest_routes import WorkerRoute
from luca_platform.telemetry import context

log = logging.getLogger("luca.grading.rest")


# -- the app --------------------------------------------------------------------------------------
def create_app(container: Container) -> FastAPI:
    service = container.service
    app = FastAPI(
        title="Luca grading API",
        version="1.0.0",
        description="Grades, grading rules and behavior notes of one school: the caller's, from its token.",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )

    # Each sync handler runs in one worker thread; its result is checked on the loop (rest_routes).
    app.router.route_class = WorkerRoute
    app.state.container = container

    install_problem_handlers(
        app,
        log=log,
        correlation=_correlation,
        boundary_detail="that resource is not part of your school",
        unavailable_detail="the school's records are unavailable; try again shortly",
        retry_after_seconds=2,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _json_safe(list(exc.errors()))
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(request, 400, "malformed-json", "the body is not valid JSON", errors=errors)
        missing_key = any(e["loc"][:2] == ["header", "Idempotency-Key"] for e in errors)
        detail = (
            "an Idempotency-Key header (8-128 characters) is required"
            if missing_key
            else "the request does not match the schema"
        )
        return problem(request, 400, "validation", detail, errors=errors)

    @app.exception_handler(json.JSONDecodeError)
    async def bad_json(request: Request, exc: json.JSONDecodeError) -> JSONResponse:
        return problem(request, 400, "malformed-json", "the body is not valid JSON")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # The busiest routes answer their declared model's JSON directly (rest_bodies): no model per
    # grade, no second check of the list.
    @app.post(
        "/v1/evaluations",
        status_code=201,
        response_model=EvaluationOut,
        tags=["evaluations"],
        responses={**problems(*WRITE, 409, 422), **replayed(EvaluationOut)},
    )
    def record_evaluation(body: RecordEvaluationBody, caller: Caller, key: IdempotencyKey) -> Response:
        recorded = service.record_evaluation(
            caller,
            RecordEvaluation(
                student_id=body.student_id,
                course_id=body.course_id,
                subject_id=body.subject_id,
                term_id=body.term_id,
                score=body.score,
                weight=body.weight,
                description=body.description,
                correlation_id=context.correlation_id.get() or "",
            ),
            key,
        )
        return bodies.recorded_response(bodies.evaluation(recorded.value), recorded.replayed)

    @app.get(
        "/v1/students/{student_id}/evaluations",
        response_model=StudentEvaluationsOut,
        tags=["evaluations"],
        responses=problems(*READ),
    )
    def student_evaluations(
        student_id: str,
        caller: Caller,
        term_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        subject_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    ) -> Response:
        report = service.student_report(caller, student_id, term_id, subject_id)
        return bodies.json_response(
            {
                "student_id": student_id,
                "evaluations": [bodies.evaluation(e) for e in report.evaluations],
                "averages": [bodies.average(a) for a in report.averages],
            }
        )

    @app.get(
        "/v1/courses/{course_id}/terms/{term_id}/grades",
        response_model=CourseGradesOut,
        tags=["evaluations"],
        responses=problems(*READ),
    )
    def course_grades(
        course_id: str,
        term_id: str,
        caller: Caller,
        subject_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    ) -> Response:
        report = service.course_report(caller, course_id, term_id, subject_id)
        return bodies.json_response(
            {
                "course_id": course_id,
                "term_id": term_id,
                "evaluations": [bodies.evaluation(e) for e in report.evaluations],
                "averages": [bodies.student_average(student, a) for student, a in report.averages],
            }
        )

    @app.post(
        "/v1/behavior-notes",
        status_code=201,
        response_model=BehaviorNoteOut,
        tags=["behavior"],
        responses={**problems(*WRITE, 422), **replayed(BehaviorNoteOut)},
    )
    def record_behavior_note(
        body: RecordBehaviorNoteBody, caller: Caller, key: IdempotencyKey, response: Response
    ) -> BehaviorNoteOut:
        recorded = service.record_behavior_note(
            caller,
            RecordBehaviorNote(
                student_id=body.student_id,
                course_id=body.course_id,
                kind=BehaviorKind(body.kind),
                text=body.text,
            ),
            key,
        )
        mark_replay(response, recorded.replayed)
        return BehaviorNoteOut.of(recorded.value)

    @app.get(
        "/v1/students/{student_id}/behavior-profile",
        response_model=BehaviorProfileOut,
        tags=["behavior"],
        responses=problems(*READ),
    )
    def behavior_profile(student_id: str, caller: Caller) -> BehaviorProfileOut:
        return BehaviorProfileOut.of(service.behavior_profile(caller, student_id))

    @app.get(
        "/v1/grading-rules/{subject_id}",
        response_model=GradingRuleOut,
        tags=["rules"],
        responses=problems(*READ),
    )
    async def get_rule(subject_id: str, caller: Caller) -> GradingRuleOut:
        # A warm rule is answered on the loop: a worker thread's trip would cost more than the read.
        rule = service.warm_rule(caller, subject_id)
        if rule is None:
            rule = await run_in_threadpool(service.rule_for, caller, subject_id)  # loads from the store
        return GradingRuleOut.of(rule)

    @app.put(
        "/v1/grading-rules/{subject_id}",
        response_model=GradingRuleOut,
        tags=["rules"],
        responses=problems(*WRITE, 422),
    )
    def put_rule(subject_id: str, body: GradingRuleBody, caller: Caller) -> GradingRuleOut:
        rule = GradingRule(
            subject_id=SubjectId(subject_id),
            scale=body.scale,
            passing_grade=body.passing_grade,
            rounding=body.rounding,
            decimals=body.decimals,
            default_weight=body.default_weight,
        )
        return GradingRuleOut.of(service.put_rule(caller, rule))

    app.include_router(changes_router(container.changes))
    app.include_router(admin_router(container.admin))
    app.include_router(roster_router(container.listings, principal))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not bad input: keep the body a problem and the details in the log only.
        log.exception("unhandled error")
        return problem(request, 500, "internal", "an unexpected error occurred; it has been logged")

    app.add_middleware(RequestGuard, container=container)
    serve_openapi(app, rest_openapi.describe)
    return app


def openapi_document() -> dict[str, Any]:
    """The served document, without a running service (the public API's document is built from it)."""
    # Routes only capture the use cases; nothing is called until a request arrives.
    unbound = types.SimpleNamespace(service=None, changes=None, admin=None, listings=None)
    return create_app(cast(Container, unbound)).openapi()
