"""The ministry's records API as an HTTP app (Starlette), with faults injected per call (the
amendments and retractions of records too: ``amend`` and ``retract`` are endpoints of the plan).

The ministry endpoints follow ``luca_govsync/ministry/openapi.yaml``. ``/_sim/*`` is the
simulator's own control surface and is no part of the ministry's API:

| method and path      | what it does                                                          |
|----------------------|-----------------------------------------------------------------------|
| GET /_sim/faults     | the fault plan in force (``throttle_next``: the 429s still owed)     |
| PUT /_sim/faults     | replace the plan (fields left out take defaults; ``outage_seconds``) |
| GET /_sim/ledger     | accepted records and applied changes, duplicates (``?entries=true``) |
| GET /_sim/stats      | calls by endpoint and answer status, batches and changes, replays     |
| GET /_sim/requests   | the latest requests received: endpoint, correlation id, trace header |
| DELETE /_sim/tokens  | forget every token, as if they had all expired                        |
| POST /_sim/reset     | forget everything; back to the plan the simulator started with       |
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime
from http import HTTPStatus
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from luca_govsync.ministry import BATCHES_PATH, CHANGE_PATHS, RECORDS_PATH, TOKEN_PATH
from luca_govsync.simulator.answers import (
    MAINTENANCE_PAGE,
    Answer,
    garbage,
    problem,
    transient_error,
)
from luca_govsync.simulator.faults import Endpoint, Fate, FaultPlan, InvalidFaultPlan
from luca_govsync.simulator.rules import BATCH_ID_PATTERN, BatchInvalid, read_batch, read_change
from luca_govsync.simulator.state import BatchConflict, ChangeConflict, SchoolForbidden, SimulatedMinistry

logger = logging.getLogger(__name__)

_HOLD_SLICE_SECONDS = 0.05
_RECORD = RECORDS_PATH + "/{school_code}/{period}/{record_id}"


def create_app(ministry: SimulatedMinistry | None = None, *, plan: FaultPlan | None = None) -> Starlette:
    """The simulator's ASGI app around ``ministry`` (a fresh one with ``plan`` when not given)."""
    books = ministry or SimulatedMinistry(plan)

    async def ministry_call(
        request: Request, endpoint: Endpoint, handle: Callable[[Request, bytes, bool], Answer]
    ) -> Response:
        started = time.monotonic()
        generation = books.generation
        body = await request.body()
        books.receive(endpoint, request.method, request.url.path, request.headers)
        fate = books.fate(endpoint)
        response = await _answer(books, request, body, fate, handle)
        books.count_call(endpoint, response.status_code, generation=generation)
        logger.debug(
            "ministry call",
            extra={
                "endpoint": endpoint,
                "status": response.status_code,
                "latency_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return response

    async def token(request: Request) -> Response:
        return await ministry_call(request, "token", lambda r, b, _: _issue_token(books, r, b))

    async def submit(request: Request) -> Response:
        return await ministry_call(request, "submit", lambda r, b, record: _submit(books, r, b, record))

    async def fetch(request: Request) -> Response:
        return await ministry_call(request, "fetch", lambda r, _b, _r: _fetch(books, r))

    async def batch(request: Request) -> Response:
        return await (submit(request) if request.method == "PUT" else fetch(request))

    async def amend(request: Request) -> Response:
        return await ministry_call(
            request, "amend", lambda r, b, record: _change(books, r, b, record, "amendment")
        )

    async def retract(request: Request) -> Response:
        return await ministry_call(
            request, "retract", lambda r, b, record: _change(books, r, b, record, "retraction")
        )

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                books.set_plan(
                    FaultPlan.from_json(json.loads(await request.body() or b"{}"), now=books.now())
                )
            except (InvalidFaultPlan, json.JSONDecodeError) as exc:
                return problem(422, "invalid-fault-plan", str(exc)).response()
        return JSONResponse(books.plan.to_json())

    async def ledger(request: Request) -> Response:
        entries = request.query_params.get("entries", "").lower() in {"1", "true", "yes"}
        return JSONResponse(books.ledger(entries=entries))

    async def stats(_request: Request) -> Response:
        return JSONResponse(books.stats())

    async def received(_request: Request) -> Response:
        return JSONResponse({"requests": books.received()})

    async def tokens(_request: Request) -> Response:
        return JSONResponse({"revoked": books.revoke_tokens()})

    async def reset(_request: Request) -> Response:
        books.reset()
        return JSONResponse({"reset": True, "plan": books.plan.to_json()})

    async def http_error(_request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        slug = {404: "not-found", 405: "method-not-allowed"}.get(status, "error")
        return problem(status, slug, HTTPStatus(status).phrase, headers=headers).response()

    async def crash(_request: Request, exc: Exception) -> Response:
        # A bug in the simulator, not a simulated fault: the details go to the log.
        logger.error("simulator failure", exc_info=exc)
        return problem(500, "simulator-failure", "the simulator failed; see its log").response()

    app = Starlette(
        routes=[
            Route(TOKEN_PATH, token, methods=["POST"]),
            Route(BATCHES_PATH + "/{client_batch_id}", batch, methods=["PUT", "GET"]),
            Route(f"{_RECORD}/{CHANGE_PATHS['amendment']}/{{client_change_id}}", amend, methods=["PUT"]),
            Route(f"{_RECORD}/{CHANGE_PATHS['retraction']}/{{client_change_id}}", retract, methods=["PUT"]),
            Route("/_sim/faults", faults, methods=["GET", "PUT"]),
            Route("/_sim/ledger", ledger, methods=["GET"]),
            Route("/_sim/stats", stats, methods=["GET"]),
            Route("/_sim/requests", received, methods=["GET"]),
            Route("/_sim/tokens", tokens, methods=["DELETE"]),
            Route("/_sim/reset", reset, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: crash},
    )
    app.state.ministry = books
    return app


async def _answer(
    books: SimulatedMinistry,
    request: Request,
    body: bytes,
    fate: Fate,
    handle: Callable[[Request, bytes, bool], Answer],
) -> Response:
    plan = books.plan
    if fate.delay_seconds:
        await _hold(books, fate.delay_seconds)
    if fate.outage:
        return HTMLResponse(MAINTENANCE_PAGE, status_code=503, headers=_retry_after(books, plan))
    if fate.throttled:
        return problem(
            429, "too-many-requests", "request rate exceeded; slow down", headers=_retry_after(books, plan)
        ).response()
    if fate.error_status is not None:
        return transient_error(fate.error_status, as_html=fate.error_as_html)
    if fate.timeout == "before":
        await _hold(books, plan.hang_seconds)
        return transient_error(504, as_html=False)
    record = fate.garbage is None or plan.garbage_processed
    answer = handle(request, body, record)
    if fate.timeout == "after":
        await _hold(books, plan.hang_seconds)
    if fate.garbage is not None and answer.status == 200:
        return garbage(answer.body, fate.garbage)
    return answer.response()


async def _hold(books: SimulatedMinistry, seconds: float) -> None:
    """Sleep, but let a stopping server or a reset cut it short."""
    deadline = time.monotonic() + seconds
    generation = books.generation
    while not books.released.is_set() and books.generation == generation:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, _HOLD_SLICE_SECONDS))


def _retry_after(books: SimulatedMinistry, plan: FaultPlan) -> dict[str, str]:
    if plan.retry_after_as_date:
        # HTTP-dates have whole seconds: round up so the client never waits too little.
        moment = books.now() + timedelta(seconds=plan.retry_after_seconds + 1)
        return {"Retry-After": format_datetime(moment.replace(microsecond=0), usegmt=True)}
    return {"Retry-After": str(plan.retry_after_seconds)}


# -- the ministry's endpoints ------------------------------------------------------------------------
def _issue_token(books: SimulatedMinistry, request: Request, body: bytes) -> Answer:
    credentials = _basic_credentials(request.headers.get("authorization", ""))
    if credentials is None:
        return _oauth_problem(401, "invalid_client", "client authentication (HTTP Basic) is required")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return _oauth_problem(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
    form = parse_qs(body.decode("utf-8", errors="replace"))
    if form.get("grant_type") != ["client_credentials"]:
        return _oauth_problem(
            400, "unsupported_grant_type", "only grant_type=client_credentials is supported"
        )
    issued = books.issue_token(*credentials)
    if issued is None:
        return _oauth_problem(401, "invalid_client", "unknown client or wrong secret")
    access_token, ttl = issued
    return Answer(
        200,
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": "grades.write grades.read",
        },
        {"Cache-Control": "no-store"},
    )


def _oauth_problem(status: int, error: str, detail: str) -> Answer:
    headers = {"WWW-Authenticate": 'Basic realm="ministry"'} if status == 401 else {}
    return problem(
        status, error.replace("_", "-"), detail, headers=headers, error=error, error_description=detail
    )


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, separator, secret = decoded.partition(":")
    return (client_id, secret) if separator else None


def _bearer_client(books: SimulatedMinistry, request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return books.token_client(token.strip())


def _invalid_token() -> Answer:
    return problem(
        401,
        "invalid-token",
        "the access token is missing, unknown or expired",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _submit(books: SimulatedMinistry, request: Request, body: bytes, record: bool) -> Answer:
    client_id = _bearer_client(books, request)
    if client_id is None:
        return _invalid_token()
    client_batch_id = request.path_params["client_batch_id"]
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return problem(400, "malformed-body", "the body is not JSON")
    try:
        if not BATCH_ID_PATTERN.match(client_batch_id):
            raise BatchInvalid([("", "the client batch id must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")])
        batch = read_batch(parsed)
    except BatchInvalid as exc:
        books.count_refusal()
        return problem(
            422,
            "invalid-batch",
            f"the batch is invalid ({len(exc.errors)} error(s)); nothing was recorded",
            errors=[{"pointer": pointer, "detail": detail} for pointer, detail in exc.errors],
        )
    try:
        return Answer(200, books.submit(client_id, client_batch_id, batch, record=record))
    except BatchConflict:
        return problem(
            409,
            "batch-conflict",
            "this client batch id was already used with a different payload; nothing was recorded",
        )
    except SchoolForbidden:
        return problem(403, "school-forbidden", "this client may not submit grades for this school")


def _fetch(books: SimulatedMinistry, request: Request) -> Answer:
    client_id = _bearer_client(books, request)
    if client_id is None:
        return _invalid_token()
    verdict = books.stored_verdict(client_id, request.path_params["client_batch_id"])
    if verdict is None:
        return problem(404, "batch-not-found", "no batch under this id")
    return Answer(200, verdict)


def _change(books: SimulatedMinistry, request: Request, body: bytes, record: bool, kind: str) -> Answer:
    client_id = _bearer_client(books, request)
    if client_id is None:
        return _invalid_token()
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return problem(400, "malformed-body", "the body is not JSON")
    try:
        change = read_change(kind, dict(request.path_params), parsed)
    except BatchInvalid as exc:
        books.count_refusal()
        return problem(
            422,
            "invalid-change",
            f"the {kind} is invalid ({len(exc.errors)} error(s)); nothing was applied",
            errors=[{"pointer": pointer, "detail": detail} for pointer, detail in exc.errors],
        )
    try:
        return Answer(
            200, books.change(client_id, request.path_params["client_change_id"], change, record=record)
        )
    except ChangeConflict:
        return problem(
            409,
            "change-conflict",
            "this client change id was already used for another change; nothing was applied",
        )
    except SchoolForbidden:
        return problem(403, "school-forbidden", "this client may not change grades for this school")
