"""The gateway's error answers: RFC 9457 problems in the shape every service answers with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from luca_platform.problems import PROBLEM_JSON, problem_body


def problem(
    request: Request,
    status: int,
    kind: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """An RFC 9457 problem, in the one shape every service answers with."""
    body = problem_body(
        status,
        kind,
        detail,
        instance=request.url.path,
        correlation_id=request.scope.get("state", {}).get("correlation_id"),
        extra=extra,
    )
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))
