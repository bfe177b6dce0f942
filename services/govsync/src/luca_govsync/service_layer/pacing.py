"""Whether a batch may call the ministry now, by its school's breaker, and what its call told the
breaker. The submit task asks before it calls and reports after; the waiting itself is the state
machine's (a Wait state), never a sleep in the function.

The breaker only ever holds calls back: it fails open (the batch calls, logged) when its state
cannot be read or settled, since a breaker must never cost a batch; and a batch held for its whole pause budget is no longer held, so it goes through its own
retries and, if the ministry is still down, to the DLQ as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from luca_govsync.domain import breaker as b
from luca_govsync.domain.breaker import Admission, BreakerContention, BreakerPolicy
from luca_govsync.domain.model import BatchRef
from luca_govsync.service_layer.ports import BreakerStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Paused:
    """The batch did not call the ministry: it waits ``wait_seconds`` (a Wait state), then asks again."""

    number: int
    client_batch_id: str
    wait_seconds: int
    paused_seconds: int  # held so far, this wait included

    def to_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "client_batch_id": self.client_batch_id,
            "status": "paused",
            "wait_seconds": self.wait_seconds,
            "paused_seconds": self.paused_seconds,
        }


def probe_name(ref: BatchRef) -> str:
    """Which batch holds the probe: unique within the breaker's school and period."""
    return f"{ref.sync_id}#{ref.number}"


class Pacing:
    def __init__(self, store: BreakerStore, *, lease_seconds: float, clock: Callable[[], float]) -> None:
        """``lease_seconds``: how long a probe may take before another batch may probe (at least one
        ministry call's longest answer); ``clock``: wall-clock epoch seconds, shared by every batch."""
        self._store, self._lease, self._clock = store, lease_seconds, clock

    def admit(self, ref: BatchRef, policy: BreakerPolicy, paused_seconds: int) -> Admission:
        budget_left = policy.pause_budget_seconds - paused_seconds
        if budget_left <= 0:
            return Admission()  # held long enough: its own retries decide now
        batch, now = probe_name(ref), self._clock()
        try:
            admission = self._store.transition(
                ref.school_id, ref.period, lambda current: b.admit(current, policy, batch, now, self._lease)
            )
        except Exception as error:
            _failed_open("admit", ref, error)
            return Admission()
        if admission.call:
            return admission
        return Admission(wait_seconds=min(admission.wait_seconds, budget_left))

    def record(self, ref: BatchRef, policy: BreakerPolicy, error: BaseException | None) -> None:
        """What the batch's call told about the ministry: an outage-class error, or an answer."""
        batch, now = probe_name(ref), self._clock()
        outage = error is not None and b.is_outage(error)
        try:
            self._store.transition(
                ref.school_id,
                ref.period,
                lambda current: (
                    b.failed(current, policy, batch, now) if outage else b.answered(current),
                    None,
                ),
            )
        except Exception as error:
            _failed_open("record", ref, error)


def _failed_open(step: str, ref: BatchRef, error: Exception) -> None:
    level = logging.INFO if isinstance(error, BreakerContention) else logging.WARNING
    log.log(level, "breaker %s failed open", step, extra={"batch": ref.number, "error": repr(error)[:300]})
