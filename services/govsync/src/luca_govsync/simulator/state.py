"""The simulated ministry's books: tokens, stored verdicts, the ledger of accepted records, stats.

One lock guards everything, so the HTTP app (on uvicorn's thread) and a test (on its own thread)
can read and change the books safely. Nothing here sleeps or does I/O.

The ledger is the point of the simulator: it counts how many times each record
(school, period, record id) was accepted. A client that never submits a record twice keeps every
count at one; ``duplicates`` counts the records accepted more than once.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from luca_govsync.simulator.faults import Endpoint, Fate, FaultPlan, draw
from luca_govsync.simulator.rules import RecordVerdict, SubmittedBatch, judge

DEFAULT_CLIENT_ID = "luca"
DEFAULT_CLIENT_SECRET = "luca-simulator-secret"  # noqa: S105 - the simulator's well-known local credential
SCOPES = "grades.write grades.read"


class BatchConflict(Exception):
    """The batch id was used before with a different payload."""


class SchoolForbidden(Exception):
    """The client may not submit for this school."""


@dataclass(frozen=True, slots=True)
class StoredBatch:
    client_id: str
    school_code: str
    period: str
    fingerprint: str
    received_at: str
    results: tuple[RecordVerdict, ...]

    def verdict(self, client_batch_id: str, *, replayed: bool) -> dict[str, Any]:
        return {
            "client_batch_id": client_batch_id,
            "received_at": self.received_at,
            "replayed": replayed,
            "results": [result.to_json() for result in self.results],
        }


class SimulatedMinistry:
    """The ministry's state and rules, behind one lock."""

    def __init__(
        self,
        plan: FaultPlan | None = None,
        *,
        clients: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._clients = dict(clients or {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET})
        self._initial_plan = plan or FaultPlan()
        self._released = threading.Event()
        self._generation = 0
        self._reset(self._initial_plan)

    # -- faults ---------------------------------------------------------------------------------------
    @property
    def plan(self) -> FaultPlan:
        with self._lock:
            return self._plan.with_throttle_next(self._throttle_remaining)

    def set_plan(self, plan: FaultPlan) -> FaultPlan:
        """Replace the plan; a plan with a seed restarts the random sequence from it."""
        with self._lock:
            self._plan = plan
            self._throttle_remaining = plan.throttle_next
            if plan.seed is not None:
                self._rng = random.Random(plan.seed)
            return plan

    def fate(self, endpoint: Endpoint) -> Fate:
        with self._lock:
            fate, self._throttle_remaining = draw(
                self._plan, self._rng, endpoint, now=self.now(), throttle_remaining=self._throttle_remaining
            )
            for kind, happened in (
                ("outage", fate.outage),
                ("throttle", fate.throttled),
                ("error", fate.error_status is not None),
                ("timeout_before", fate.timeout == "before"),
                ("timeout_after", fate.timeout == "after"),
                ("garbage", fate.garbage is not None),
            ):
                if happened:
                    self._faults[kind] += 1
            return fate

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    @property
    def released(self) -> threading.Event:
        """Set when the server stops: requests held by a timeout fault answer at once."""
        return self._released

    @property
    def generation(self) -> int:
        """How many resets so far: a request that began before a reset is let go and not counted."""
        return self._generation

    # -- auth -----------------------------------------------------------------------------------------
    def issue_token(self, client_id: str, client_secret: str) -> tuple[str, int] | None:
        """A new token and its lifetime in seconds, or None for unknown credentials."""
        with self._lock:
            expected = self._clients.get(client_id)
            if expected is None or not secrets.compare_digest(expected, client_secret):
                return None
            token = secrets.token_urlsafe(24)
            ttl = self._plan.token_ttl_seconds
            self._tokens[token] = (client_id, self._clock() + ttl)
            self._tokens_issued += 1
            return token, ttl

    def token_client(self, token: str) -> str | None:
        """The client a live token was issued to; None when unknown or expired."""
        with self._lock:
            entry = self._tokens.get(token)
            if entry is None:
                return None
            client_id, expires_at = entry
            if self._clock() >= expires_at:
                del self._tokens[token]
                return None
            return client_id

    def revoke_tokens(self) -> int:
        """Forget every token (what an expiry looks like to a client that still holds one)."""
        with self._lock:
            revoked = len(self._tokens)
            self._tokens.clear()
            return revoked

    # -- batches --------------------------------------------------------------------------------------
    def submit(
        self, client_id: str, client_batch_id: str, batch: SubmittedBatch, *, record: bool = True
    ) -> dict[str, Any]:
        """The verdict on a batch. A known batch id with the same payload gives the stored verdict
        (``replayed``); with another payload, ``BatchConflict``. ``record=False`` judges the batch
        without recording anything (the answer the ministry would have given)."""
        fingerprint = batch.fingerprint()
        with self._lock:
            if batch.school_code in self._plan.forbidden_schools:
                raise SchoolForbidden(batch.school_code)
            stored = self._batches.get((client_id, client_batch_id))
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    self._conflicts += 1
                    raise BatchConflict(client_batch_id)
                if record:
                    self._replays += 1
                return stored.verdict(client_batch_id, replayed=True)
            results = tuple(judge(item, self._plan) for item in batch.records)
            received_at = self.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
            fresh = StoredBatch(client_id, batch.school_code, batch.period, fingerprint, received_at, results)
            if record:
                self._batches[(client_id, client_batch_id)] = fresh
                self._batches_processed += 1
                for result in results:
                    if result.status == "accepted":
                        self._ledger[(batch.school_code, batch.period, result.record_id)] += 1
            return fresh.verdict(client_batch_id, replayed=False)

    def stored_verdict(self, client_id: str, client_batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            stored = self._batches.get((client_id, client_batch_id))
            return None if stored is None else stored.verdict(client_batch_id, replayed=True)

    # -- the books ------------------------------------------------------------------------------------
    def count_call(self, endpoint: str, status: int, *, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._calls[endpoint][str(status)] += 1

    def count_refusal(self) -> None:
        with self._lock:
            self._refused += 1

    def ledger(self, *, entries: bool = False) -> dict[str, Any]:
        """What the ministry accepted: totals, per school and period, and the duplicates."""
        with self._lock:
            by_school: dict[str, dict[str, Any]] = {}
            duplicates = []
            for (school, period, record_id), count in sorted(self._ledger.items()):
                school_books = by_school.setdefault(school, {"records": 0, "periods": {}})
                school_books["records"] += 1
                school_books["periods"][period] = school_books["periods"].get(period, 0) + 1
                if count > 1:
                    duplicates.append(
                        {
                            "school_code": school,
                            "period": period,
                            "record_id": record_id,
                            "acceptances": count,
                        }
                    )
            out: dict[str, Any] = {
                "records": len(self._ledger),
                "acceptances": sum(self._ledger.values()),
                "duplicates": len(duplicates),
                "duplicate_records": duplicates,
                "by_school": by_school,
            }
            if entries:
                out["entries"] = [
                    {"school_code": school, "period": period, "record_id": record_id, "acceptances": count}
                    for (school, period, record_id), count in sorted(self._ledger.items())
                ]
            return out

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": {endpoint: dict(statuses) for endpoint, statuses in sorted(self._calls.items())},
                "batches_processed": self._batches_processed,
                "replays": self._replays,
                "conflicts": self._conflicts,
                "refused": self._refused,
                "tokens_issued": self._tokens_issued,
                "faults": dict(self._faults),
            }

    def reset(self) -> None:
        """Forget every batch, token, ledger entry and count; back to the plan the simulator began with."""
        with self._lock:
            self._generation += 1
            self._reset(self._initial_plan)

    def _reset(self, plan: FaultPlan) -> None:
        self._plan = plan
        self._rng = random.Random(plan.seed)
        self._throttle_remaining = plan.throttle_next
        self._tokens: dict[str, tuple[str, float]] = {}
        self._batches: dict[tuple[str, str], StoredBatch] = {}
        self._ledger: Counter[tuple[str, str, str]] = Counter()
        self._calls: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._faults: Counter[str] = Counter()
        self._batches_processed = 0
        self._replays = 0
        self._conflicts = 0
        self._refused = 0
        self._tokens_issued = 0
