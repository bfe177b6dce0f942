"""The ministry's records API, as the submit task calls it (contract: ``luca_govsync/ministry/openapi.yaml``).

One call, one verdict (or one answer to a change) or one typed error. The client does not retry:
the state machine does, with backoff, by the error's name (``luca_govsync.domain.errors``). The
only second request it makes on its own is after a 401, with a fresh token, once.

What counts as a verdict is strict (``ministry_answers``): a 200 whose body does not say, in the
contract's words, what happened to exactly what we sent is ``MinistryGarbled``, never a success.
Because the ministry deduplicates on the client batch id and on the client change id, resending
after any transient error is safe.

Logs carry the batch id, counts, status and latency only: the records are minors' grades.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace import Status as SpanStatus

from luca_govsync.adapters import ministry_requests as requests
from luca_govsync.adapters.ministry_answers import (
    MAX_DETAIL,
    change_outcome,
    failure,
    json_object,
    outcomes,
    parse_retry_after,
)
from luca_govsync.domain.changes import ChangeOutcome
from luca_govsync.domain.errors import (
    MinistryError,
    MinistryGarbled,
    MinistryRefused,
    MinistryTimeout,
    MinistryUnavailable,
)
from luca_govsync.domain.model import GradeRecord, RecordOutcome, RecordStatus
from luca_govsync.domain.tally import ChangeKind
from luca_govsync.ministry import TOKEN_PATH
from luca_platform.telemetry import context as request_context
from luca_platform.telemetry.propagation import XRAY_HEADER, xray_header

__all__ = ["MinistryClient", "MinistrySettings", "parse_retry_after"]

logger = logging.getLogger(__name__)

USER_AGENT = "luca-govsync"
CORRELATION_HEADER = "X-Correlation-Id"
# The API's proxy: the process's provider (the ADOT layer's, the local platform's) makes the spans.
tracer = trace.get_tracer("luca.govsync.ministry")


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

    # -- the calls --------------------------------------------------------------------------------------
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
        payload = requests.submission(client_batch_id, school_code, period, records)
        started = self._clock()
        context = {"client_batch_id": client_batch_id, "records": len(records)}
        try:
            response = self._authorized(
                "submit",
                "PUT",
                requests.batch_path(client_batch_id),
                json=payload,
                correlation_id=correlation_id,
            )
            if response.status_code != 200:
                raise failure(response, "submit", now=self._now())
            body = json_object(response, "submit")
            verdicts = outcomes(body, client_batch_id, records)
        except MinistryError as error:
            self._log_failure("submit", error, started, context)
            raise
        accepted = sum(outcome.status is RecordStatus.ACCEPTED for outcome in verdicts)
        logger.info(
            "ministry batch answered",
            extra={
                **context,
                "accepted": accepted,
                "rejected": len(verdicts) - accepted,
                "replayed": body["replayed"],
                "status": response.status_code,
                "latency_ms": self._elapsed_ms(started),
            },
        )
        return verdicts

    def amend(
        self,
        client_change_id: str,
        school_code: str,
        record: GradeRecord,
        *,
        correlation_id: str | None = None,
    ) -> ChangeOutcome:
        """The ministry's answer to replacing the record it holds with ``record`` (a later version).

        Raises a ``MinistryError`` subclass when there is no answer to trust, and ``ValueError``
        for a change we must not send at all (ids the contract does not allow, a first version)."""
        return self._change(ChangeKind.AMENDMENT, client_change_id, school_code, record, correlation_id)

    def retract(
        self,
        client_change_id: str,
        school_code: str,
        record: GradeRecord,
        *,
        correlation_id: str | None = None,
    ) -> ChangeOutcome:
        """The ministry's answer to withdrawing the record (retracted at ``record.version``)."""
        return self._change(ChangeKind.RETRACTION, client_change_id, school_code, record, correlation_id)

    def _change(
        self,
        kind: ChangeKind,
        client_change_id: str,
        school_code: str,
        record: GradeRecord,
        correlation_id: str | None,
    ) -> ChangeOutcome:
        payload = requests.change(kind, client_change_id, school_code, record)
        operation = "amend" if kind is ChangeKind.AMENDMENT else "retract"
        path = requests.change_request_path(kind, client_change_id, school_code, record)
        started = self._clock()
        context = {"client_change_id": client_change_id, "version": record.version}
        try:
            response = self._authorized(operation, "PUT", path, json=payload, correlation_id=correlation_id)
            if response.status_code != 200:
                raise failure(response, operation, now=self._now())
            answer = change_outcome(json_object(response, operation), client_change_id, kind, record)
        except MinistryError as error:
            self._log_failure(operation, error, started, context)
            raise
        logger.info(
            "ministry change answered",
            extra={
                **context,
                "operation": operation,
                "outcome": answer.status.value,
                "reason_code": answer.reason_code,
                "replayed": answer.replayed,
                "status": response.status_code,
                "latency_ms": self._elapsed_ms(started),
            },
        )
        return answer

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
            response = self._authorized(
                "fetch", "GET", requests.batch_path(client_batch_id), correlation_id=correlation_id
            )
            if response.status_code == 404:
                logger.info("ministry has no such batch", extra={**context, "status": 404})
                return None
            if response.status_code != 200:
                raise failure(response, "fetch", now=self._now())
            verdicts = outcomes(json_object(response, "fetch"), client_batch_id, records)
        except MinistryError as error:
            self._log_failure("fetch", error, started, context)
            raise
        logger.info(
            "ministry verdict read",
            extra={
                **context,
                "records": len(verdicts),
                "status": response.status_code,
                "latency_ms": self._elapsed_ms(started),
            },
        )
        return verdicts

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
                raise failure(response, "token", now=self._now())
            body = json_object(response, "token")
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
        self, operation: str, method: str, path: str, *, correlation_id: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One call with a bearer token; after a 401, once more with a new token."""
        token = self._bearer()
        response = self._send(
            operation, method, path, headers=requests.bearer(token), correlation_id=correlation_id, **kwargs
        )
        if response.status_code != 401:
            return response
        token = self._bearer(rejected=token)
        response = self._send(
            operation, method, path, headers=requests.bearer(token), correlation_id=correlation_id, **kwargs
        )
        if response.status_code == 401:
            raise MinistryRefused(f"{operation}: the ministry refused a freshly issued token", status=401)
        return response

    def _send(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        correlation_id: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One HTTP request in a client span. Every request (the token's too) names the request it
        serves (``X-Correlation-Id``: the caller's id, else the one bound in this context) and
        continues its trace (``X-Amzn-Trace-Id``, the X-Ray format whatever the global propagator)."""
        correlation = correlation_id or request_context.correlation_id.get()
        attributes: dict[str, str] = {"http.request.method": method, "luca.ministry.operation": operation}
        if correlation:
            attributes[request_context.CORRELATION_ATTRIBUTE] = correlation
        with tracer.start_as_current_span(
            f"ministry {operation}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            sent = dict(headers or {})
            if correlation:
                sent[CORRELATION_HEADER] = correlation
            trace_header = xray_header()
            if trace_header:
                sent[XRAY_HEADER] = trace_header
            try:
                response = self._request(operation, method, path, headers=sent, **kwargs)
            except MinistryError as error:
                span.set_status(SpanStatus(StatusCode.ERROR, type(error).__name__))
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(SpanStatus(StatusCode.ERROR))
            return response

    def _request(self, operation: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
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
            raise MinistryUnavailable(f"{operation}: {type(exc).__name__}: {exc}"[:MAX_DETAIL]) from exc

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
