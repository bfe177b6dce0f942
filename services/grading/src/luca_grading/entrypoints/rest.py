"""REST API for teachers, students and school admins (FastAPI, ``/v1``, OpenAPI at /v1/openapi.json).

Every response that is not a success is an RFC 9457 problem (``application/problem+json``).
The school is never read from the request: it comes from the verified bearer token.
"""

import json
import logging
import time
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from luca_grading.bootstrap import Container
from luca_grading.domain.model import BehaviorKind, BehaviorNote, BehaviorProfile, Evaluation, SubjectAverage
from luca_grading.service_layer.services import RecordBehaviorNote, RecordEvaluation
from luca_kernel.access import Principal
from luca_kernel.grading import GradingRule, Rounding, ScaleKind
from luca_kernel.ids import SubjectId
from luca_platform.problems import PROBLEM_JSON, TITLES
from luca_platform.rest import ProblemResponder, install_problem_handlers
from luca_platform.telemetry import context

log = logging.getLogger("luca.grading.rest")


# -- wire models ------------------------------------------------------------------------------------
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Score = Annotated[
    Decimal, Field(allow_inf_nan=False, max_digits=6, description="score on the school's scale")
]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]


class RecordEvaluationBody(Strict):
    student_id: Id
    course_id: Id
    subject_id: Id
    term_id: Id
    score: Score
    weight: Annotated[Decimal, Field(allow_inf_nan=False, gt=0, le=100)] | None = None
    description: Annotated[str, Field(max_length=2000)] = ""


class EvaluationOut(BaseModel):
    evaluation_id: str
    student_id: str
    course_id: str
    subject_id: str
    term_id: str
    score: str
    weight: str
    teacher_id: str
    recorded_at: str
    description: str

    @classmethod
    def of(cls, e: Evaluation) -> Self:
        return cls(
            evaluation_id=e.evaluation_id,
            student_id=e.student_id,
            course_id=e.course_id,
            subject_id=e.subject_id,
            term_id=e.term_id,
            score=str(e.score),
            weight=str(e.weight),
            teacher_id=e.teacher_id,
            recorded_at=e.recorded_at.isoformat(),
            description=e.description,
        )


class AverageOut(BaseModel):
    subject_id: str
    term_id: str
    weighted_average: str
    passing: bool
    evaluation_count: int

    @classmethod
    def of(cls, a: SubjectAverage) -> Self:
        return cls(
            subject_id=a.subject_id,
            term_id=a.term_id,
            weighted_average=str(a.weighted_average),
            passing=a.passing,
            evaluation_count=a.evaluation_count,
        )


class StudentEvaluationsOut(BaseModel):
    student_id: str
    evaluations: list[EvaluationOut]
    averages: list[AverageOut]


class StudentAverageOut(AverageOut):
    student_id: str


class CourseGradesOut(BaseModel):
    course_id: str
    term_id: str
    evaluations: list[EvaluationOut]
    averages: list[StudentAverageOut]


class RecordBehaviorNoteBody(Strict):
    student_id: Id
    course_id: Id
    kind: Literal["positive", "negative"]
    text: Annotated[str, Field(min_length=1, max_length=2000)]


class BehaviorNoteOut(BaseModel):
    note_id: str
    student_id: str
    course_id: str
    kind: str
    text: str
    teacher_id: str
    recorded_at: str

    @classmethod
    def of(cls, n: BehaviorNote) -> Self:
        return cls(
            note_id=n.note_id,
            student_id=n.student_id,
            course_id=n.course_id,
            kind=n.kind.value,
            text=n.text,
            teacher_id=n.teacher_id,
            recorded_at=n.recorded_at.isoformat(),
        )


class BehaviorProfileOut(BaseModel):
    student_id: str
    positive_count: int
    negative_count: int
    recent_notes: list[BehaviorNoteOut]

    @classmethod
    def of(cls, p: BehaviorProfile) -> Self:
        return cls(
            student_id=p.student_id,
            positive_count=p.positive_count,
            negative_count=p.negative_count,
            recent_notes=[BehaviorNoteOut.of(n) for n in p.recent_notes],
        )


class GradingRuleBody(Strict):
    scale: ScaleKind = ScaleKind.CHILEAN
    passing_grade: Annotated[Decimal, Field(allow_inf_nan=False)]
    rounding: Rounding = Rounding.HALF_UP
    decimals: Annotated[int, Field(ge=0, le=2)] = 1
    default_weight: Annotated[Decimal, Field(allow_inf_nan=False, gt=0, le=100)] = Decimal("1")


class GradingRuleOut(BaseModel):
    subject_id: str
    scale: str
    passing_grade: str
    rounding: str
    decimals: int
    default_weight: str
    updated_at: str | None

    @classmethod
    def of(cls, r: GradingRule) -> Self:
        return cls(
            subject_id=r.subject_id,
            scale=r.scale.value,
            passing_grade=str(r.passing_grade),
            rounding=r.rounding.value,
            decimals=r.decimals,
            default_weight=str(r.default_weight),
            updated_at=r.updated_at.isoformat() if r.updated_at else None,
        )


class NamedBody(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]


class StudentBody(Strict):
    course_id: Id
    display_name: Annotated[str, Field(min_length=1, max_length=200)]


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    correlation_id: str | None = None
    errors: list[dict[str, Any]] | None = None


# -- problems -------------------------------------------------------------------------------------
def _correlation(_request: Request | None) -> str | None:
    # The request guard binds the id (the edge's, or a fresh one) before any handler runs.
    return context.correlation_id.get()


problem = ProblemResponder(_correlation)


def _json_safe(errors: list[Any]) -> list[dict[str, Any]]:
    safe = []
    for error in errors:
        safe.append(
            {
                "loc": [str(p) for p in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return safe


# -- request guard (pure ASGI: size, content type, correlation id, metrics) --------------------------
class RequestGuard:
    """Checks what must be checked before a body is parsed, and measures every request."""

    def __init__(self, app: ASGIApp, *, container: Container) -> None:
        self.app = app
        self.container = container
        self.max_body = container.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        correlation = context.sanitize_correlation_id(headers.get(context.CORRELATION_HEADER))
        scope.setdefault("state", {})["correlation_id"] = correlation
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-correlation-id", correlation.encode()),
                ]
            await send(message)

        with context.RequestScope(correlation, route_name=scope.get("path")):
            rejection = self._reject(scope, headers)
            try:
                if rejection is not None:
                    await rejection(scope, receive, send_with_id)
                else:
                    await self.app(scope, self._limited(receive), send_with_id)
            except _BodyTooLarge:
                await self._too_large()(scope, receive, send_with_id)
            finally:
                self._measure(scope, started, status_holder["status"])

    def _reject(self, scope: Scope, headers: dict[str, str]) -> ASGIApp | None:
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return None
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return self._too_large()
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return problem(None, 415, "unsupported-media-type", "send the request body as application/json")
        return None

    def _too_large(self) -> ASGIApp:
        return problem(None, 413, "content-too-large", f"request body exceeds {self.max_body} bytes")

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge
            return message

        return wrapped

    def _measure(self, scope: Scope, started: float, status: int) -> None:
        route = scope.get("route")
        route_path = getattr(route, "path", None) or "unmatched"
        if not str(scope.get("path", "")).startswith("/v1/") or route_path.endswith("openapi.json"):
            return
        school = scope.get("state", {}).get("school_id") or "unauthenticated"
        # The handler ran in a worker thread: its context changes do not flow back here.
        context.school_id.set(school)
        context.route.set(route_path)
        latency_ms = (time.perf_counter() - started) * 1000
        self.container.metrics.record(
            school_id=school, route=route_path, latency_ms=latency_ms, status=status
        )
        log.info(
            "request",
            extra={"method": scope["method"], "status": status, "latency_ms": round(latency_ms, 2)},
        )


class _BodyTooLarge(Exception):
    pass


def mark_replay(response: Response, replayed: bool) -> None:
    """A replayed idempotent write answers 200 (not 201) and says so in a header."""
    if replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"


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
        # Every operation may answer these as RFC 9457 problems; the contract test holds us to it.
        responses={
            status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": TITLES[status]}
            for status in (400, 401, 403, 404, 413, 415, 422, 429)
        },
    )

    def principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
        found = container.authenticator.authenticate(authorization)
        request.state.school_id = found.school_id
        context.school_id.set(found.school_id)
        return found

    Caller = Annotated[Principal, Depends(principal)]
    IdempotencyKey = Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=8,
            max_length=128,
            description="client-generated key; a retry with the same key returns the first result",
        ),
    ]

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

    @app.post("/v1/evaluations", status_code=201, response_model=EvaluationOut, tags=["evaluations"])
    def record_evaluation(
        body: RecordEvaluationBody, caller: Caller, key: IdempotencyKey, response: Response
    ) -> EvaluationOut:
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
            ),
            key,
        )
        mark_replay(response, recorded.replayed)
        return EvaluationOut.of(recorded.value)

    @app.get(
        "/v1/students/{student_id}/evaluations", response_model=StudentEvaluationsOut, tags=["evaluations"]
    )
    def student_evaluations(
        student_id: str,
        caller: Caller,
        term_id: Annotated[str | None, Query(max_length=64)] = None,
        subject_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> StudentEvaluationsOut:
        report = service.student_report(caller, student_id, term_id, subject_id)
        return StudentEvaluationsOut(
            student_id=student_id,
            evaluations=[EvaluationOut.of(e) for e in report.evaluations],
            averages=[AverageOut.of(a) for a in report.averages],
        )

    @app.get(
        "/v1/courses/{course_id}/terms/{term_id}/grades", response_model=CourseGradesOut, tags=["evaluations"]
    )
    def course_grades(
        course_id: str,
        term_id: str,
        caller: Caller,
        subject_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> CourseGradesOut:
        report = service.course_report(caller, course_id, term_id, subject_id)
        return CourseGradesOut(
            course_id=course_id,
            term_id=term_id,
            evaluations=[EvaluationOut.of(e) for e in report.evaluations],
            averages=[
                StudentAverageOut(student_id=student, **AverageOut.of(average).model_dump())
                for student, average in report.averages
            ],
        )

    @app.post("/v1/behavior-notes", status_code=201, response_model=BehaviorNoteOut, tags=["behavior"])
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
        "/v1/students/{student_id}/behavior-profile", response_model=BehaviorProfileOut, tags=["behavior"]
    )
    def behavior_profile(student_id: str, caller: Caller) -> BehaviorProfileOut:
        return BehaviorProfileOut.of(service.behavior_profile(caller, student_id))

    @app.get("/v1/grading-rules/{subject_id}", response_model=GradingRuleOut, tags=["rules"])
    def get_rule(subject_id: str, caller: Caller) -> GradingRuleOut:
        return GradingRuleOut.of(service.rule_for(caller, subject_id))

    @app.put("/v1/grading-rules/{subject_id}", response_model=GradingRuleOut, tags=["rules"])
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

    @app.put("/v1/courses/{course_id}", tags=["roster"])
    def put_course(course_id: str, body: NamedBody, caller: Caller) -> dict[str, str]:
        course = service.put_course(caller, course_id, body.name)
        return {"course_id": course.course_id, "name": course.name}

    @app.put("/v1/subjects/{subject_id}", tags=["roster"])
    def put_subject(subject_id: str, body: NamedBody, caller: Caller) -> dict[str, str]:
        subject = service.put_subject(caller, subject_id, body.name)
        return {"subject_id": subject.subject_id, "name": subject.name}

    @app.put("/v1/students/{student_id}", tags=["roster"])
    def put_student(student_id: str, body: StudentBody, caller: Caller) -> dict[str, str]:
        student = service.put_student(caller, student_id, body.course_id, body.display_name)
        return {"student_id": student.student_id, "course_id": student.course_id}

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not bad input: keep the body a problem and the details in the log only.
        log.exception("unhandled error")
        return problem(request, 500, "internal", "an unexpected error occurred; it has been logged")

    app.add_middleware(RequestGuard, container=container)
    return app
