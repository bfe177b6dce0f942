"""Routes that read and change one official grade: its current state (with an ETag), corrections,
retractions and its history. Changes need ``If-Match`` (the ETag read) and an ``Idempotency-Key``."""

import re
from typing import Annotated

from fastapi import APIRouter, Header, Response

from luca_grading.entrypoints.rest_auth import Caller, IdempotencyKey
from luca_grading.entrypoints.rest_guard import mark_replay
from luca_grading.entrypoints.rest_models import (
    ChangeOut,
    CorrectionBody,
    EvaluationHistoryOut,
    EvaluationOut,
    RetractionBody,
)
from luca_grading.entrypoints.rest_responses import READ, WRITE, problems
from luca_grading.service_layer.changes import ChangeRequest, Correction, GradeChanges
from luca_platform.rest_routes import WorkerRoute
from luca_platform.telemetry import context

_ETAG = re.compile(r'^\s*"v([0-9]{1,9})"\s*$')
PATH = "/v1/students/{student_id}/evaluations/{evaluation_id}"


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match names; None when absent. A tag of ours it cannot be (``*``, weak,
    garbage) names version 0, which never exists, so the change fails as stale (412)."""
    if if_match is None:
        return None
    found = _ETAG.match(if_match)
    return int(found.group(1)) if found else 0


def changes_router(changes: GradeChanges) -> APIRouter:
    router = APIRouter(tags=["evaluations"], route_class=WorkerRoute)
    IfMatch = Annotated[
        str | None,
        Header(alias="If-Match", description='the ETag of the version you change, e.g. "v2"'),
    ]

    def request(student_id: str, evaluation_id: str, if_match: str | None) -> ChangeRequest:
        return ChangeRequest(
            student_id=student_id,
            evaluation_id=evaluation_id,
            expected_version=expected_version(if_match),
            correlation_id=context.correlation_id.get() or "",
        )

    @router.get(PATH, response_model=EvaluationOut, responses=problems(*READ))
    def get_evaluation(
        student_id: str, evaluation_id: str, caller: Caller, response: Response
    ) -> EvaluationOut:
        evaluation = changes.get(caller, student_id, evaluation_id)
        response.headers["ETag"] = evaluation.etag
        return EvaluationOut.of(evaluation)

    @router.patch(PATH, response_model=EvaluationOut, responses=problems(*WRITE, 409, 412, 422, 428))
    def correct_evaluation(
        student_id: str,
        evaluation_id: str,
        body: CorrectionBody,
        caller: Caller,
        key: IdempotencyKey,
        response: Response,
        if_match: IfMatch = None,
    ) -> EvaluationOut:
        done = changes.correct(
            caller,
            request(student_id, evaluation_id, if_match),
            Correction(
                reason=body.reason, score=body.score, weight=body.weight, description=body.description
            ),
            key,
        )
        mark_replay(response, done.replayed)
        response.status_code = 200
        response.headers["ETag"] = done.value.etag
        return EvaluationOut.of(done.value)

    @router.post(
        f"{PATH}/retraction", response_model=EvaluationOut, responses=problems(*WRITE, 409, 412, 422, 428)
    )
    def retract_evaluation(
        student_id: str,
        evaluation_id: str,
        body: RetractionBody,
        caller: Caller,
        key: IdempotencyKey,
        response: Response,
        if_match: IfMatch = None,
    ) -> EvaluationOut:
        done = changes.retract(caller, request(student_id, evaluation_id, if_match), body.reason, key)
        mark_replay(response, done.replayed)
        response.status_code = 200
        response.headers["ETag"] = done.value.etag
        return EvaluationOut.of(done.value)

    @router.get(f"{PATH}/history", response_model=EvaluationHistoryOut, responses=problems(*READ))
    def evaluation_history(
        student_id: str,
        evaluation_id: str,
        caller: Caller,
        response: Response,
    ) -> EvaluationHistoryOut:
        evaluation, entries = changes.history(caller, student_id, evaluation_id)
        response.headers["ETag"] = evaluation.etag
        return EvaluationHistoryOut(
            evaluation=EvaluationOut.of(evaluation), changes=[ChangeOut.of(c) for c in entries]
        )

    return router
