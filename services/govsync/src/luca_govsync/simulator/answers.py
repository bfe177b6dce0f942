"""What the simulated ministry answers: a JSON answer or an RFC 9457 problem, and what a faulty
ministry sends instead (maintenance pages, gateway errors, 200s whose body cannot be trusted)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response

PROBLEM_JSON = "application/problem+json"
MAINTENANCE_PAGE = """<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><title>Servicio en mantenci\u00f3n</title></head>
<body><h1>Estamos en mantenci\u00f3n</h1>
<p>El servicio de registro de calificaciones no est\u00e1 disponible. Intente m\u00e1s tarde.</p></body></html>
"""
_GATEWAY_PAGE = "<html><head><title>{status} {phrase}</title></head><body><center><h1>{status} {phrase}</h1></center><hr><center>nginx</center></body></html>\n"
_GARBAGE_HTML = (
    "<html><body><h1>Sesi\u00f3n expirada</h1><p>Ingrese nuevamente al portal.</p></body></html>\n"
)


@dataclass(slots=True)
class Answer:
    """What the ministry means to answer, before faults may spoil it."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"

    def response(self) -> Response:
        return JSONResponse(
            self.body, status_code=self.status, headers=self.headers, media_type=self.media_type
        )


def problem(
    status: int,
    slug: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Answer:
    """An RFC 9457 problem."""
    body = {
        "type": f"/problems/{slug}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extensions,
    }
    return Answer(status, body, headers or {}, PROBLEM_JSON)


def transient_error(status: int, *, as_html: bool) -> Response:
    phrase = HTTPStatus(status).phrase
    if as_html:
        return HTMLResponse(_GATEWAY_PAGE.format(status=status, phrase=phrase), status_code=status)
    detail = {
        500: "the records service failed",
        502: "the records service gave the gateway no valid answer",
        503: "the records service is overloaded",
        504: "the records service did not answer the gateway in time",
    }[status]
    return problem(status, phrase.lower().replace(" ", "-"), detail).response()


def garbage(body: dict[str, Any], kind: str) -> Response:
    """A 200 whose body cannot be trusted, built from the answer it spoils."""
    if kind == "html":
        return HTMLResponse(_GARBAGE_HTML, status_code=200)
    if kind == "truncated":
        text = json.dumps(body)
        return Response(text[: max(1, len(text) // 2)], status_code=200, media_type="application/json")
    spoiled = json.loads(json.dumps(body))
    results = spoiled.get("results")
    if kind == "unknown_status" and results:
        results[0]["status"] = "pending_review"
    elif kind == "unknown_status" and "status" in spoiled:  # a change's answer
        spoiled["status"] = "pending_review"
    elif kind == "missing_result" and results:
        results.pop()
    elif kind == "missing_result" and "record_id" in spoiled:
        del spoiled["record_id"]
    elif kind == "wrong_batch_id" and "client_batch_id" in spoiled:
        spoiled["client_batch_id"] = "other-" + spoiled["client_batch_id"]
    elif kind == "wrong_batch_id" and "client_change_id" in spoiled:
        spoiled["client_change_id"] = "other-" + spoiled["client_change_id"]
    else:  # wrong_schema, and any kind that does not fit this answer (a token, say)
        spoiled = {"ok": True, "data": spoiled}
    return JSONResponse(spoiled, status_code=200)
