"""The circuit breaker a school's batches share, so that they back off together while the ministry
is down instead of each retrying on its own.

One breaker per school and period (its item is in the sync's partition). It is a plain value: the
transitions below are pure functions of (breaker, policy, batch, now) returning the next breaker, and
the store applies them with optimistic locking, so concurrent batches never lose an update.

    CLOSED ──threshold consecutive outage-class failures──► OPEN (until reopens_at)
    OPEN ──a batch asks after reopens_at──► HALF_OPEN (that batch probes; the others wait)
    HALF_OPEN ──the probe answered──► CLOSED      HALF_OPEN ──the probe failed──► OPEN (interval x backoff)
    any ──any answer from the ministry──► CLOSED

Nothing here ever counts a batch as submitted: only the ministry's verdict does (``tasks.submit``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from luca_govsync.domain.errors import (
    MinistryError,
    MinistryThrottled,
    MinistryTimeout,
    MinistryUnavailable,
)

# What says the ministry cannot take calls now (an answer of any other kind says it can).
OUTAGE_ERRORS: tuple[type[MinistryError], ...] = (MinistryUnavailable, MinistryTimeout, MinistryThrottled)


def is_outage(error: BaseException) -> bool:
    return isinstance(error, OUTAGE_ERRORS)


class BreakerContention(Exception):
    """The breaker changed under every attempt to apply a transition (the caller fails open)."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When the breaker opens, how long it stays open, and how long one batch may be held by it.

    The intervals follow the state machine's retry policy (first interval, backoff, cap), so the
    school's batches back off together on the schedule each would have followed alone; the pause
    budget is that policy's total delay, after which a batch is no longer held and goes through its
    own retries (and so to the DLQ if the ministry is still down)."""

    threshold: int
    open_seconds: int
    backoff_rate: float
    max_open_seconds: int
    pause_budget_seconds: int

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.open_seconds < 1 or self.backoff_rate < 1.0:
            raise ValueError(f"invalid breaker policy {self}")
        if self.max_open_seconds < self.open_seconds or self.pause_budget_seconds < 0:
            raise ValueError(f"invalid breaker policy {self}")

    def interval(self, failed_probes: int) -> int:
        """How long the breaker stays open after it opened and ``failed_probes`` probes failed."""
        return min(int(self.open_seconds * self.backoff_rate**failed_probes), self.max_open_seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "open_seconds": self.open_seconds,
            "backoff_rate": self.backoff_rate,
            "max_open_seconds": self.max_open_seconds,
            "pause_budget_seconds": self.pause_budget_seconds,
        }

    @classmethod
    def from_json(cls, value: object) -> BreakerPolicy | None:
        """The policy the state machine passes the submit task; None (no breaker) when it passes none."""
        if not isinstance(value, dict):
            return None
        try:
            return cls(
                threshold=int(value["threshold"]),
                open_seconds=int(value["open_seconds"]),
                backoff_rate=float(value["backoff_rate"]),
                max_open_seconds=int(value["max_open_seconds"]),
                pause_budget_seconds=int(value["pause_budget_seconds"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a breaker policy: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Breaker:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0  # consecutive outage-class failures (closed)
    failed_probes: int = 0  # probes failed since it opened: the backoff's exponent
    until: float = 0.0  # open: when a probe may go; half-open: when the probe's lease ends (epoch s)
    probe: str = ""  # the batch probing (half-open)
    version: int = 0  # the store's optimistic lock


@dataclass(frozen=True, slots=True)
class Admission:
    """Call the ministry now (``probe``: as the one batch testing it), or wait ``wait_seconds``."""

    wait_seconds: int = 0
    probe: bool = False

    @property
    def call(self) -> bool:
        return self.wait_seconds == 0


def _seconds(delta: float) -> int:
    # Step Functions waits whole seconds; never 0, which would make a busy loop of task invocations.
    return max(1, math.ceil(delta))


def admit(
    breaker: Breaker, policy: BreakerPolicy, batch: str, now: float, lease_seconds: float
) -> tuple[Breaker, Admission]:
    """May ``batch`` call the ministry now? A probe holds a lease, so a probe that dies unreported
    (its function timed out) does not keep the others waiting beyond it."""
    if breaker.state is BreakerState.CLOSED:
        return breaker, Admission()
    probe_due = now >= breaker.until
    if breaker.state is BreakerState.HALF_OPEN and breaker.probe == batch:
        probe_due = True  # the probe itself, invoked again (a retried invocation)
    if not probe_due:
        wait = breaker.until - now
        if breaker.state is BreakerState.HALF_OPEN:
            # The probe usually answers long before its lease ends: look again soon.
            wait = min(wait, policy.interval(0))
        return breaker, Admission(wait_seconds=_seconds(wait))
    probing = replace(breaker, state=BreakerState.HALF_OPEN, probe=batch, until=now + lease_seconds)
    return probing, Admission(probe=True)


def answered(breaker: Breaker) -> Breaker:
    """The ministry answered a call (a verdict, a refusal, anything but an outage): it is up."""
    if breaker.state is BreakerState.CLOSED and breaker.failures == 0:
        return breaker
    return replace(breaker, state=BreakerState.CLOSED, failures=0, failed_probes=0, until=0.0, probe="")


def failed(breaker: Breaker, policy: BreakerPolicy, batch: str, now: float) -> Breaker:
    """A call of ``batch`` met an outage-class error."""
    if breaker.state is BreakerState.CLOSED:
        failures = breaker.failures + 1
        if failures < policy.threshold:
            return replace(breaker, failures=failures)
        return replace(
            breaker, state=BreakerState.OPEN, failures=0, failed_probes=0, until=now + policy.interval(0)
        )
    if breaker.state is BreakerState.HALF_OPEN and breaker.probe == batch:
        failed_probes = breaker.failed_probes + 1
        return replace(
            breaker,
            state=BreakerState.OPEN,
            failed_probes=failed_probes,
            until=now + policy.interval(failed_probes),
            probe="",
        )
    # A call already in flight when the breaker opened: it tells nothing new.
    return breaker
