"""The ministry's records API, as the submit task calls it (contract: ``luca_govsync/ministry/openapi.yaml``).

One call, one verdict or one typed error. The client does not retry: the state machine does, with
backoff, by the error's name (``luca_govsync.domain.errors``). The only second request it makes
on its own is after a 401, with a fresh token, once.

What counts as a verdict is strict: a 200 whose body does not say, in the contract's words, what
happened to exactly the records we sent is ``MinistryGarbled``, never a success. Because the
ministry deduplicates on the client batch id, resending after any transient error is safe.

Logs carry the batch id, counts, status and latency only: the records are minors' grades.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx

from luca_govsync.domain.errors import (
    MinistryError,
    MinistryGarbled,
    MinistryRefused,
    MinistryThrottled,
    MinistryTimeout,
    MinistryUnavailable,
)
from luca_govsync.domain.model import GradeRecord, RecordOutcome, RecordStatus
from luca_govsync.ministry import BATCHES_PATH, MAX_RECORDS_PER_BATCH, TOKEN_PATH

logger = logging.getLogger(__name__)

USER_AGENT = "luca-govsync"
CORRELATION_HEADER = "X-Correlation-Id"
# Step Functions keeps an error's cause; the ministry's prose is cut so it stays a cause, not a page.
_MAX_DETAIL = 300
_STATUSES = {status.value: status for status in RecordStatus}


@dataclass(frozen=True, slots=True)
class MinistrySettings:
    """Where the ministry is and how long we wait for it."""

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0
    # A cached token is replaced this long before it expires (at most half its lifetime).
    token_refresh_margin_seconds: float = 60.0
    max_connections: int = 10

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("the ministry's base_url must be an http(s) URL")
        if not self.client_id or not self.client_secret:
            raise ValueError("the ministry's client id and secret are required")
        if self.timeout_seconds <= 0 or self.connect_timeout_seconds <= 0:
            raise ValueError("timeouts must be positive")
        if self.token_refresh_margin_seconds < 0 or self.max_connections < 1:
            raise ValueError("token_refresh_margin_seconds >= 0 and max_connections >= 1")


@dataclass(slots=True)
class _CachedToken:
    value: str
    fresh_until: float


class MinistryClient:
    """Submits grade batches and reads stored verdicts; pooled connections, explicit timeouts.

    ``ssl_context`` verifies the ministry's certificate (the system's trust store when None; a
    context with the ministry's CA or a client certificate when it asks for one). ``transport``
    replaces the network (``httpx.MockTransport`` in unit tests); ``clock`` is monotonic seconds
    (token freshness) and ``now`` the wall clock (``Retry-After`` dates).
    """

    def __init__(
        self,
        settings: MinistrySettings,
        *,
        ssl_context: ssl.SSLContext | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._now = now
        self._token: _CachedToken | None = None
        self._token_lock = threading.Lock()
        self._http = httpx.Client(
            base_url=settings.base_url,
            transport=transport,
            verify=ssl_context if ssl_context is not None else True,
            timeout=httpx.Timeout(
                settings.timeout_seconds,
                connect=min(settings.connect_timeout_seconds, settings.timeout_seconds),
            ),
            limits=httpx.Limits(
                max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections
            ),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    # -- the two calls -----------------------------------------------------------------------------------
    def submit(
        self,
        client_batch_id: str,
        school_code: str,
        period: str,
        records: Sequence[GradeRecord],
        *,
        correlation_id: str | None = None,
    ) -> list[RecordOutcome]:
        """The ministry's verdict on one batch: one outcome per record, in the order sent.

        Raises a ``MinistryError`` subclass when there is no verdict to trust, and ``ValueError``
        for a batch we must not send at all (empty, too big, a record twice, another period).
        """
        _check_batch(client_batch_id, period, records)
        payload = {
            "school_code": school_code,
            "period": period,
            "records": [
                {
                    "record_id": record.record_id,
                    "student_id": record.student_id,
                    "course_id": record.course_id,
                    "subject_id": record.subject_id,
                    "grade": record.score,
                    "recorded_at": record.recorded_at,
                }
                for record in records
            ],
        }
        started = self._clock()
        context = {"client_batch_id": client_batch_id, "records": len(records)}
        try:
            response = self._authorized(
                "PUT", _batch_path(client_batch_id), json=payload, correlation_id=correlation_id
            )
            if response.status_code != 200:
                raise _failure(response, "submit", now=self._now())
            body = _json_object(response, "submit")
            outcomes = _outcomes(body, client_batch_id, records)
        except MinistryError as error:
            self._log_failure("submit", error, started, context)
            raise
        accepted = sum(outcome.status is RecordStatus.ACCEPTED for outcome in outcomes)
        logger.info(
            "ministry batch answered",
            extra={
                **context,
                "accepted": accepted,
                "rejected": len(outcomes) - accepted,
                "replayed": body["replayed"],
                "status": response.status_code,
                "latency_ms": self._elapsed_ms(started),
            },
        )
        return outcomes

    def fetch(
        self,
        client_batch_id: str,
        *,
        records: Sequence[GradeRecord] | None = None,
        correlation_id: str | None = None,
    ) -> list[RecordOutcome] | None:
        """The stored verdict of a batch, or None when the ministry has none under this id.

        With ``records`` (the batch as sent) the verdict must cover exactly them, and outcomes carry
        their student ids and order; without, outcomes come in the ministry's order with an empty
        ``student_id`` (the ministry does not echo it).
        """
        started = self._clock()
        context = {"client_batch_id": client_batch_id}
        try:
            response = self._authorized("GET", _batch_path(client_batch_id), correlation_id=correlation_id)
            if response.status_code == 404:
                logger.info("ministry has no such batch", extra={**context, "status": 404})
                return None
            if response.status_code != 200:
                raise _failure(response, "fetch", now=self._now())
            outcomes = _outcomes(_json_object(response, "fetch"), client_batch_id, records)
        except MinistryError as error:
            self._log_failure("fetch", error, started, context)
            raise
        logger.info(
            "ministry verdict read",
            extra={
                **context,
                "records": len(outcomes),
                "status": response.status_code,
                "latency_ms": self._elapsed_ms(started),
            },
        )
        return outcomes

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MinistryClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- tokens --------------------------------------------------------------------------------------
    def _bearer(self, rejected: str | None = None) -> str:
        """The cached token while it is fresh; a new one when it is not, or when ``rejected`` is it."""
        with self._token_lock:
            cached = self._token
            if cached is not None and cached.value != rejected and self._clock() < cached.fresh_until:
                return cached.value
            self._token = self._new_token()
            return self._token.value

    def _new_token(self) -> _CachedToken:
        started = self._clock()
        try:
            response = self._send(
                "token",
                "POST",
                TOKEN_PATH,
                auth=(self.settings.client_id, self.settings.client_secret),
                data={"grant_type": "client_credentials"},
            )
            if response.status_code != 200:
                raise _failure(response, "token", now=self._now())
            body = _json_object(response, "token")
            value, token_type, expires_in = (
                body.get(key) for key in ("access_token", "token_type", "expires_in")
            )
            if not isinstance(value, str) or not value:
                raise MinistryGarbled("token: the answer has no access_token", status=200)
            if not isinstance(token_type, str) or token_type.lower() != "bearer":
                raise MinistryGarbled("token: the token is not a bearer token", status=200)
            if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
                raise MinistryGarbled("token: expires_in is missing or not a positive number", status=200)
        except MinistryError as error:
            self._log_failure("token", error, started, {})
            raise
        margin = min(self.settings.token_refresh_margin_seconds, expires_in / 2)
        logger.info(
            "ministry token issued", extra={"expires_in": expires_in, "latency_ms": self._elapsed_ms(started)}
        )
        return _CachedToken(value, started + expires_in - margin)

    # -- HTTP ----------------------------------------------------------------------------------------
    def _authorized(
        self, method: str, path: str, *, correlation_id: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One call with a bearer token; after a 401, once more with a new token."""
        operation = "submit" if method == "PUT" else "fetch"
        headers = {CORRELATION_HEADER: correlation_id} if correlation_id else {}
        token = self._bearer()
        response = self._send(operation, method, path, headers={**headers, **_auth(token)}, **kwargs)
        if response.status_code != 401:
            return response
        token = self._bearer(rejected=token)
        response = self._send(operation, method, path, headers={**headers, **_auth(token)}, **kwargs)
        if response.status_code == 401:
            raise MinistryRefused(f"{operation}: the ministry refused a freshly issued token", status=401)
        return response

    def _send(self, operation: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise MinistryTimeout(
                f"{operation}: no answer within {self.settings.timeout_seconds:g}s ({type(exc).__name__})"
            ) from exc
        except httpx.DecodingError as exc:
            raise MinistryGarbled(
                f"{operation}: the answer could not be decoded ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise MinistryUnavailable(f"{operation}: {type(exc).__name__}: {exc}"[:_MAX_DETAIL]) from exc

    def _elapsed_ms(self, started: float) -> float:
        return round((self._clock() - started) * 1000, 1)

    def _log_failure(
        self, operation: str, error: MinistryError, started: float, context: dict[str, Any]
    ) -> None:
        logger.warning(
            "ministry call failed",
            extra={
                **context,
                "operation": operation,
                "error": type(error).__name__,
                "status": error.status,
                "retry_after": error.retry_after,
                "latency_ms": self._elapsed_ms(started),
            },
        )


# -- classification --------------------------------------------------------------------------------
def _failure(response: httpx.Response, operation: str, *, now: datetime) -> MinistryError:
    """The error a non-200 answer stands for (the 401 retry and the GET's 404 are handled before)."""
    status = response.status_code
    what = _describe(response)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
        return MinistryThrottled(f"{operation}: 429 {what}", status=status, retry_after=retry_after)
    if status >= 500:
        return MinistryUnavailable(f"{operation}: {status} {what}", status=status)
    return MinistryRefused(f"{operation}: {status} {what}", status=status)


def _describe(response: httpx.Response) -> str:
    """The ministry's own words for an error: the problem's title and detail, or what the body was."""
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type:
        return "(an HTML page: the ministry's maintenance or gateway page)"
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "(no problem body)" if not response.content else "(an unreadable body)"
    if not isinstance(body, dict):
        return "(a body that is not a problem)"
    parts = [str(body[key]) for key in ("title", "detail") if isinstance(body.get(key), str) and body[key]]
    if isinstance(body.get("type"), str) and body["type"] not in {"", "about:blank"}:
        parts.append(f"[{body['type']}]")
    return " ".join(parts)[:_MAX_DETAIL] or "(an empty problem)"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # an HTTP-date is GMT even when it does not say so properly
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def _json_object(response: httpx.Response, operation: str) -> dict[str, Any]:
    """A 200's body as a JSON object, or ``MinistryGarbled``."""
    if "html" in response.headers.get("content-type", "").lower():
        raise MinistryGarbled(f"{operation}: an HTML page where JSON was due", status=response.status_code)
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MinistryGarbled(
            f"{operation}: the answer is not valid JSON (truncated?)", status=response.status_code
        ) from exc
    if not isinstance(body, dict):
        raise MinistryGarbled(f"{operation}: the answer is not a JSON object", status=response.status_code)
    return body


def _outcomes(
    body: dict[str, Any], client_batch_id: str, records: Sequence[GradeRecord] | None
) -> list[RecordOutcome]:
    """The outcomes a verdict gives, checked against the contract and against the records sent."""

    def garbled(detail: str) -> MinistryGarbled:
        return MinistryGarbled(f"verdict on {client_batch_id}: {detail}", status=200)

    if body.get("client_batch_id") != client_batch_id:
        raise garbled("the verdict names another batch")
    if not isinstance(body.get("replayed"), bool) or not isinstance(body.get("received_at"), str):
        raise garbled("replayed or received_at missing or mistyped")
    results = body.get("results")
    if not isinstance(results, list):
        raise garbled("results missing or not a list")
    sent = {record.record_id: record for record in records} if records is not None else None
    outcomes: dict[str, RecordOutcome] = {}
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            raise garbled(f"result {index} is not an object")
        record_id, status = result.get("record_id"), result.get("status")
        reason_code, reason = result.get("reason_code", ""), result.get("reason", "")
        if not isinstance(record_id, str) or not record_id:
            raise garbled(f"result {index} has no record_id")
        if status not in _STATUSES:
            raise garbled(f"result {index} has a status the contract does not define")
        if not isinstance(reason_code, str) or not isinstance(reason, str):
            raise garbled(f"result {index} has a mistyped reason")
        if status == RecordStatus.REJECTED and not reason_code:
            raise garbled(f"result {index} is a rejection without a reason_code")
        if sent is not None and record_id not in sent:
            raise garbled(f"result {index} is for a record that was not sent")
        if record_id in outcomes:
            raise garbled(f"result {index} repeats a record")
        student_id = sent[record_id].student_id if sent is not None else ""
        outcomes[record_id] = RecordOutcome(record_id, student_id, _STATUSES[status], reason_code, reason)
    if sent is None:
        return list(outcomes.values())
    if missing := len(sent) - len(outcomes):
        raise garbled(f"{missing} record(s) sent have no result")
    return [outcomes[record.record_id] for record in records or ()]


def _check_batch(client_batch_id: str, period: str, records: Sequence[GradeRecord]) -> None:
    if not client_batch_id or "/" in client_batch_id:
        raise ValueError("a client batch id is a non-empty path segment")
    if not records:
        raise ValueError("a batch holds at least one record")
    if len(records) > MAX_RECORDS_PER_BATCH:
        raise ValueError(f"a batch holds at most {MAX_RECORDS_PER_BATCH} records, not {len(records)}")
    if len({record.record_id for record in records}) != len(records):
        raise ValueError("a record id appears twice in the batch")
    if any(record.period != period for record in records):
        raise ValueError("every record of a batch belongs to the batch's period")


def _batch_path(client_batch_id: str) -> str:
    return f"{BATCHES_PATH}/{client_batch_id}"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
