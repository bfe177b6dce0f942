"""The state machine's Lambda tasks: decode the input, call the task, return JSON.

One handler per task (``prepare``, ``submit``, ``record_failure``, ``report``) and the schedule's
starter (``start_scheduled``), one composition root (``bootstrap.build``, ``bootstrap.build_starter``),
built on the first invocation and kept warm. Log keys are appended per thread: in Lambda one
invocation runs at a time, but the local engine runs a Map's iterations concurrently in one process,
and their keys must not mix. A ministry error is raised as it is: its class name is the error name
the definition's Retry and Catch match.

Each task runs for the request that started the sync: its ``correlation_id`` (from the input, or
the batch) is bound for the task's work (``luca_platform.telemetry.context``: the ministry client
sends it), put on every log line, and on the task's span. Tracing uses the OpenTelemetry API only,
as the grade processor does: no provider is configured here (the ADOT Lambda layer's in AWS, the
local platform's locally). The task's span is a child of the invocation's context, which in AWS is
the execution's trace (Step Functions passes its trace header to Lambda; the local engine
emulates it), so the ministry's calls join the trace of the sync's start.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from opentelemetry import trace
from opentelemetry.trace import Span

from luca_govsync.bootstrap import GovSyncApp, Schools, SyncStarter, build, build_starter
from luca_govsync.config import GovSyncSettings, StarterSettings
from luca_govsync.domain.breaker import BreakerPolicy
from luca_govsync.domain.model import (
    BatchRef,
    InvalidSyncRequest,
    SyncKey,
    period_before,
    valid_correlation_id,
)
from luca_govsync.entrypoints.operations import report_json
from luca_govsync.service_layer.pacing import Paused
from luca_platform.telemetry.propagation import bound, id_attributes, ids_of

SERVICE = "govsync"
logger = Logger(service=SERVICE)
tracer = trace.get_tracer("luca.govsync.tasks")
T = TypeVar("T")
_app: GovSyncApp | None = None
_starter: tuple[SyncStarter, Schools] | None = None


def _fresh_thread_keys(
    handler: Callable[[dict[str, Any], LambdaContext], T],
) -> Callable[[dict[str, Any], LambdaContext], T]:
    @functools.wraps(handler)
    def wrapped(event: dict[str, Any], context: LambdaContext) -> T:
        logger.thread_safe_clear_keys()
        return handler(event, context)

    return wrapped


def app() -> GovSyncApp:
    global _app
    if _app is None:
        _app = build(GovSyncSettings.from_environment())
    return _app


def scheduled_starter() -> tuple[SyncStarter, Schools]:
    global _starter
    if _starter is None:
        _starter = build_starter(StarterSettings.from_environment())
    return _starter


def use(built: GovSyncApp | None, starter: tuple[SyncStarter, Schools] | None = None) -> None:
    """Install (or clear) the compositions the handlers use: the local platform and tests call this
    (their process hosts other things, so the function's settings cannot be its environment)."""
    global _app, _starter
    _app, _starter = built, starter


@contextmanager
def _task(name: str, correlation_id: str, school_id: str, **keys: Any) -> Iterator[Span]:
    """The task's span, with the request's ids bound and on every log line of this invocation."""
    with (
        bound(correlation_id, school_id),
        tracer.start_as_current_span(
            f"govsync {name}",
            attributes={**id_attributes(correlation_id, school_id), "faas.name": name},
        ) as span,
    ):
        logger.thread_safe_append_keys(
            correlation_id=correlation_id or None, school_id=school_id, **keys, **ids_of(span)
        )
        yield span


def _correlation(value: object) -> str:
    """The input's correlation id; a new one if it has none (an execution started by hand)."""
    return valid_correlation_id(value) or str(uuid.uuid4())


def _key(event: dict[str, Any]) -> SyncKey:
    try:
        return SyncKey(str(event["school_id"]), str(event["period"]))
    except KeyError as exc:
        raise InvalidSyncRequest(f"the task input has no {exc.args[0]}") from exc


@logger.inject_lambda_context(clear_state=True)
@_fresh_thread_keys
def prepare(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    key = _key(event)
    correlation = _correlation(event.get("correlation_id"))
    with _task("prepare", correlation, key.school_id, period=key.period, sync_id=event.get("sync_id")):
        prepared = app().tasks.prepare(
            key, str(event.get("sync_id", "")), str(event.get("started_by") or "schedule"), correlation
        )
        logger.info("prepared", extra={"batches": len(prepared.batches), "records": prepared.records_total})
    return prepared.to_json()


@logger.inject_lambda_context(clear_state=True)
@_fresh_thread_keys
def submit(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``{"batch": <the Map item's state>, "breaker": <policy>}``; a definition without a breaker
    sends no ``breaker``, and one older still sent the batch itself."""
    batch = event["batch"] if isinstance(event.get("batch"), dict) else event
    ref = BatchRef.from_json(batch)
    policy = BreakerPolicy.from_json(event.get("breaker"))
    with _task(
        "submit", ref.correlation_id, ref.school_id, period=ref.period, sync_id=ref.sync_id, batch=ref.number
    ):
        try:
            answer = app().tasks.submit(ref, policy, _paused_seconds(batch))
        except Exception as error:
            logger.warning(
                "batch not submitted", extra={"error": type(error).__name__, "detail": str(error)[:300]}
            )
            raise
        if isinstance(answer, Paused):
            logger.info(
                "batch held by the breaker",
                extra={"wait_seconds": answer.wait_seconds, "paused_seconds": answer.paused_seconds},
            )
        else:
            logger.info("batch submitted", extra={"accepted": answer.accepted, "rejected": answer.rejected})
    return answer.to_json()


def _paused_seconds(batch: dict[str, Any]) -> int:
    """How long the breaker has held the batch so far: its last answer's, when it was held."""
    result = batch.get("result")
    value = result.get("value") if isinstance(result, dict) else None
    held = value.get("paused_seconds") if isinstance(value, dict) else None
    return held if isinstance(held, int) and not isinstance(held, bool) and held > 0 else 0


@logger.inject_lambda_context(clear_state=True)
@_fresh_thread_keys
def record_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ref = BatchRef.from_json({k: v for k, v in dict(event["batch"]).items() if k not in ("error", "result")})
    with _task(
        "record_failure",
        ref.correlation_id,
        ref.school_id,
        period=ref.period,
        sync_id=ref.sync_id,
        batch=ref.number,
    ):
        logger.error("batch dead-lettered", extra={"error": event.get("error")})
        return app().tasks.record_failure(
            ref, str(event.get("error", "")), str(event.get("cause", ""))[:2000]
        )


@logger.inject_lambda_context(clear_state=True)
@_fresh_thread_keys
def report(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    key = _key(event)
    sync_id = str(event.get("sync_id", ""))
    correlation = _correlation(event.get("correlation_id"))
    with _task("report", correlation, key.school_id, period=key.period, sync_id=sync_id):
        progress = app().tasks.report(key, sync_id, correlation)
        summary = report_json(progress)
        # Rejections name students: counts only in the log (the table keeps the rest).
        personal = ("rejected", "changes_rejected")
        logger.info("sync reported", extra={k: v for k, v in summary.items() if k not in personal})
    return summary


@logger.inject_lambda_context(clear_state=True)
@_fresh_thread_keys
def start_scheduled(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The quarterly schedule's target: the term that just ended, for every school on the list whose
    term is closed. A school whose sync of that period exists already is not started again; one
    whose term is still open (or unknown, or whose earlier run waits for a redrive) is named in
    ``not_started`` and logged as a warning: an admin starts it once the term is closed."""
    sync_starter, schools = scheduled_starter()
    fired = _fired_at(event)
    period = period_before(fired.year, fired.month)
    # The schedule is nobody's request: this start mints the id its executions carry.
    correlation = str(uuid.uuid4())
    with (
        bound(correlation, None),
        tracer.start_as_current_span(
            "govsync start_scheduled", attributes={**id_attributes(correlation, None), "luca.period": period}
        ) as span,
    ):
        logger.thread_safe_append_keys(correlation_id=correlation, **ids_of(span))
        started, not_started = sync_starter.start_scheduled(period, schools(), correlation)
        summary: dict[str, Any] = {
            "period": period,
            "correlation_id": correlation,
            "started": [s.execution_name for s in started if s.started],
        }
        summary["already"] = [s.execution_name for s in started if not s.started]
        summary["not_started"] = not_started
        logger.info("scheduled sync", extra=summary)
        if not_started:
            logger.warning("schools not synced on schedule", extra={"period": period, "schools": not_started})
    return summary


def _fired_at(event: dict[str, Any]) -> datetime:
    """EventBridge Scheduler passes its <aws.scheduler.scheduled-time> in the input we configure."""
    value = event.get("scheduled_time") if isinstance(event, dict) else None
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            logger.warning("unreadable scheduled_time; using now", extra={"scheduled_time": value[:40]})
    return datetime.now(UTC)
