"""The faults the ministry simulator injects, and how each call's fate is drawn from them.

A ``FaultPlan`` is plain data: what can go wrong and how often. ``draw`` turns a plan and a seeded
random generator into one call's ``Fate``. Every targeted call draws the same number of values in
the same order, so a seeded simulator answers the same sequence of calls the same way.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Endpoint = Literal["token", "submit", "fetch", "amend", "retract"]
ENDPOINTS: tuple[Endpoint, ...] = ("token", "submit", "fetch", "amend", "retract")
GARBAGE_KINDS: tuple[str, ...] = (
    "html",  # an HTML page with status 200
    "truncated",  # the right JSON, cut off half-way
    "wrong_schema",  # well-formed JSON of another shape
    "unknown_status",  # a record status the contract does not define
    "missing_result",  # one record fewer than were sent (a change's answer: no record id)
    "wrong_batch_id",  # the verdict of another batch (a change's answer: another change's)
)
TRANSIENT_STATUSES: tuple[int, ...] = (500, 502, 503)
TimeoutKind = Literal["before", "after"]


class InvalidFaultPlan(ValueError):
    """A fault plan that cannot be applied (unknown field, a rate outside 0-1, ...)."""


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What goes wrong, and how often. Rates are chances per call (0-1) on the ``endpoints`` listed.

    Precedence within one call: outage, 429, transient error, timeout before processing, then the
    batch is processed, then a timeout after processing or a garbage answer.
    """

    seed: int | None = None
    # Which ministry endpoints the random faults, latency and outages hit.
    endpoints: frozenset[str] = frozenset(ENDPOINTS)
    latency_seconds: float = 0.0
    jitter_seconds: float = 0.0
    # 500/502/503; a share of them come as an HTML page instead of a problem body.
    error_rate: float = 0.0
    error_html_share: float = 0.3
    # The server holds the request for ``hang_seconds``: "before" without recording the batch,
    # "after" having recorded it (the case that proves a resend is never counted twice).
    timeout_before_rate: float = 0.0
    timeout_after_rate: float = 0.0
    hang_seconds: float = 30.0
    # 429 bursts: ``throttle_next`` calls from now, and bursts of ``throttle_burst`` started at random.
    throttle_next: int = 0
    throttle_rate: float = 0.0
    throttle_burst: int = 3
    retry_after_seconds: int = 1
    retry_after_as_date: bool = False
    # Every call inside [start, end) answers 503 with the maintenance page.
    outage_start: datetime | None = None
    outage_end: datetime | None = None
    # A 200 whose body cannot be trusted; whether the ministry recorded the batch behind it.
    garbage_rate: float = 0.0
    garbage_kinds: tuple[str, ...] = GARBAGE_KINDS
    garbage_processed: bool = True
    token_ttl_seconds: int = 3600
    # Deterministic rejections (a replay gets the stored verdict anyway): students the registry
    # does not know, and a share of records chosen by a hash of their id.
    unknown_students: frozenset[str] = frozenset()
    reject_rate: float = 0.0
    # Schools this client may not submit for (403).
    forbidden_schools: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in (
            "error_rate",
            "error_html_share",
            "timeout_before_rate",
            "timeout_after_rate",
            "throttle_rate",
            "garbage_rate",
            "reject_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidFaultPlan(f"{name} must be between 0 and 1, not {value}")
        for name in ("latency_seconds", "jitter_seconds", "hang_seconds"):
            if getattr(self, name) < 0:
                raise InvalidFaultPlan(f"{name} must not be negative")
        if self.throttle_next < 0 or self.throttle_burst < 1 or self.retry_after_seconds < 0:
            raise InvalidFaultPlan("throttle_next >= 0, throttle_burst >= 1 and retry_after_seconds >= 0")
        if self.token_ttl_seconds < 1:
            raise InvalidFaultPlan("token_ttl_seconds must be at least 1")
        if unknown := set(self.endpoints) - set(ENDPOINTS):
            raise InvalidFaultPlan(f"unknown endpoints {sorted(unknown)}; known: {list(ENDPOINTS)}")
        if unknown := set(self.garbage_kinds) - set(GARBAGE_KINDS):
            raise InvalidFaultPlan(f"unknown garbage kinds {sorted(unknown)}; known: {list(GARBAGE_KINDS)}")
        if self.garbage_rate > 0 and not self.garbage_kinds:
            raise InvalidFaultPlan("garbage_rate needs at least one garbage kind")
        if (self.outage_start is None) != (self.outage_end is None):
            raise InvalidFaultPlan("an outage needs both outage_start and outage_end")
        for name in ("outage_start", "outage_end"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise InvalidFaultPlan(f"{name} needs a time zone")
        if (
            self.outage_start is not None
            and self.outage_end is not None
            and self.outage_end <= self.outage_start
        ):
            raise InvalidFaultPlan("an outage ends after it starts")

    def in_outage(self, now: datetime) -> bool:
        return (
            self.outage_start is not None
            and self.outage_end is not None
            and (self.outage_start <= now < self.outage_end)
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, now: datetime | None = None) -> FaultPlan:
        """A plan from its JSON form. Fields left out take their defaults (a PUT replaces the plan).
        ``outage_seconds: N`` is a shorthand for an outage from ``now`` for N seconds."""
        if not isinstance(data, Mapping):
            raise InvalidFaultPlan("a fault plan is a JSON object")
        known = {field.name for field in fields(cls)}
        values = dict(data)
        outage_seconds = values.pop("outage_seconds", None)
        if unknown := set(values) - known:
            raise InvalidFaultPlan(f"unknown fault plan fields {sorted(unknown)}")
        parsed: dict[str, Any] = {}
        try:
            for name, value in values.items():
                parsed[name] = _field_from_json(name, value)
            if outage_seconds is not None:
                start = now or datetime.now(UTC)
                parsed["outage_start"] = start
                parsed["outage_end"] = start + timedelta(seconds=_number("outage_seconds", outage_seconds))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InvalidFaultPlan):
                raise
            raise InvalidFaultPlan(str(exc)) from exc
        return cls(**parsed)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            out[field.name] = value
        return out

    def with_throttle_next(self, remaining: int) -> FaultPlan:
        return replace(self, throttle_next=remaining)


_INTS = {"throttle_next", "throttle_burst", "retry_after_seconds", "token_ttl_seconds"}
_BOOLS = {"retry_after_as_date", "garbage_processed"}
_SETS = {"endpoints", "unknown_students", "forbidden_schools"}


def _field_from_json(name: str, value: Any) -> Any:
    if name == "seed":
        return None if value is None else _integer(name, value)
    if name in _INTS:
        return _integer(name, value)
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise InvalidFaultPlan(f"{name} must be true or false")
        return value
    if name in _SETS:
        return frozenset(_strings(name, value))
    if name == "garbage_kinds":
        return tuple(_strings(name, value))
    if name in {"outage_start", "outage_end"}:
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidFaultPlan(f"{name} must be an ISO 8601 date-time")
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return _number(name, value)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidFaultPlan(f"{name} must be a number")
    return float(value)


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidFaultPlan(f"{name} must be an integer")
    return value


def _strings(name: str, value: Any) -> Iterable[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise InvalidFaultPlan(f"{name} must be a list of strings")
    return value


@dataclass(frozen=True, slots=True)
class Fate:
    """What happens to one call."""

    delay_seconds: float = 0.0
    outage: bool = False
    throttled: bool = False
    error_status: int | None = None
    error_as_html: bool = False
    timeout: TimeoutKind | None = None
    garbage: str | None = None


def draw(
    plan: FaultPlan, rng: random.Random, endpoint: Endpoint, *, now: datetime, throttle_remaining: int
) -> tuple[Fate, int]:
    """One call's fate and the 429s still owed after it. A call on an endpoint the plan targets
    always draws the same eight values in the same order; other calls draw none."""
    if endpoint not in plan.endpoints:
        return Fate(), throttle_remaining
    jitter, throttle, error, status_pick, html, timeout, garbage, kind_pick = (rng.random() for _ in range(8))
    delay = plan.latency_seconds + jitter * plan.jitter_seconds
    if plan.in_outage(now):
        return Fate(delay_seconds=delay, outage=True), throttle_remaining
    if throttle_remaining > 0:
        return Fate(delay_seconds=delay, throttled=True), throttle_remaining - 1
    if throttle < plan.throttle_rate:
        return Fate(delay_seconds=delay, throttled=True), plan.throttle_burst - 1
    if error < plan.error_rate:
        status = TRANSIENT_STATUSES[int(status_pick * len(TRANSIENT_STATUSES))]
        return Fate(
            delay_seconds=delay, error_status=status, error_as_html=html < plan.error_html_share
        ), throttle_remaining
    if timeout < plan.timeout_before_rate:
        return Fate(delay_seconds=delay, timeout="before"), throttle_remaining
    if timeout < plan.timeout_before_rate + plan.timeout_after_rate:
        return Fate(delay_seconds=delay, timeout="after"), throttle_remaining
    if garbage < plan.garbage_rate:
        kind = plan.garbage_kinds[int(kind_pick * len(plan.garbage_kinds))]
        return Fate(delay_seconds=delay, garbage=kind), throttle_remaining
    return Fate(delay_seconds=delay), throttle_remaining
