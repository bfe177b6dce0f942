"""The simulated ministry's books: tokens, stored verdicts, the ledger of accepted records, stats.

One lock guards everything, so the HTTP app (on uvicorn's thread) and a test (on its own thread)
can read and change the books safely. Nothing here sleeps or does I/O.

The ledger is the point of the simulator: it counts how many times each record
(school, period, record id) was accepted, and how many times each change (an amendment or a
retraction of a record, at a version) was applied. A client that never sends anything twice keeps
every count at one; ``duplicates`` counts what was accepted or applied more than once. Next to it,
what the ministry holds of each record: its version, grade, and whether it was retracted.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from luca_govsync.simulator.faults import Endpoint, Fate, FaultPlan, draw
from luca_govsync.simulator.rules import (
    HeldRecord,
    RecordVerdict,
    SubmittedBatch,
    SubmittedChange,
    judge,
    judge_change,
)

DEFAULT_CLIENT_ID = "luca"
DEFAULT_CLIENT_SECRET = "luca-simulator-secret"  # noqa: S105 - the simulator's well-known local credential
SCOPES = "grades.write grades.read"
RECEIVED_KEPT = 1000  # the latest requests a test can read back (``received``)


class BatchConflict(Exception):
    """The batch id was used before with a different payload."""


class SchoolForbidden(Exception):
    """The client may not submit for this school."""


class ChangeConflict(Exception):
    """The change id was used before for another change."""


@dataclass(frozen=True, slots=True)
class StoredChange:
    fingerprint: str
    received_at: str
    change: SubmittedChange
    result: RecordVerdict

    def answer(self, client_change_id: str, *, replayed: bool) -> dict[str, Any]:
        return {
            "client_change_id": client_change_id,
            "record_id": self.change.record_id,
            "kind": self.change.kind,
            "version": self.change.version,
            **{k: v for k, v in self.result.to_json().items() if k != "record_id"},
            "received_at": self.received_at,
            "replayed": replayed,
        }


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
                for item, result in zip(batch.records, results, strict=True):
                    if result.status == "accepted":
                        key = (batch.school_code, batch.period, result.record_id)
                        self._ledger[key] += 1
                        self._held[key] = HeldRecord(item.version, item.grade)
            return fresh.verdict(client_batch_id, replayed=False)

    def change(
        self, client_id: str, client_change_id: str, change: SubmittedChange, *, record: bool = True
    ) -> dict[str, Any]:
        """The answer to an amendment or a retraction, deduplicated like a batch: a known change id
        with the same change gives the first answer (``replayed``), with another, ``ChangeConflict``.
        An accepted change is applied to what the ministry holds of the record, once."""
        fingerprint = change.fingerprint()
        with self._lock:
            if change.school_code in self._plan.forbidden_schools:
                raise SchoolForbidden(change.school_code)
            stored = self._changes.get((client_id, client_change_id))
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    self._conflicts += 1
                    raise ChangeConflict(client_change_id)
                if record:
                    self._change_replays += 1
                return stored.answer(client_change_id, replayed=True)
            key = (change.school_code, change.period, change.record_id)
            held = self._held.get(key)
            result = judge_change(change, held, self._plan)
            received_at = self.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
            fresh = StoredChange(fingerprint, received_at, change, result)
            if record:
                self._changes[(client_id, client_change_id)] = fresh
                self._changes_processed += 1
                if result.status == "accepted" and held is not None:
                    self._applied[(*key, change.kind, change.version)] += 1
                    self._held[key] = (
                        HeldRecord(change.version, change.value("grade"))
                        if change.kind == "amendment"
                        else HeldRecord(change.version, held.grade, retracted=True)
                    )
            return fresh.answer(client_change_id, replayed=False)

    def stored_verdict(self, client_id: str, client_batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            stored = self._batches.get((client_id, client_batch_id))
            return None if stored is None else stored.verdict(client_batch_id, replayed=True)

    # -- the books ------------------------------------------------------------------------------------
    def count_call(self, endpoint: str, status: int, *, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._calls[endpoint][str(status)] += 1

    def receive(self, endpoint: str, method: str, path: str, headers: Mapping[str, str]) -> None:
        """Notes a request as it arrived, before any fault: who it said it was for (the caller's
        correlation id) and which trace it continued. Never its body: the records are minors' grades."""
        with self._lock:
            self._received.append(
                {
                    "endpoint": endpoint,
                    "method": method,
                    "path": path,
                    "correlation_id": headers.get("x-correlation-id", ""),
                    "trace_header": headers.get("x-amzn-trace-id", ""),
                }
            )

    def received(self) -> list[dict[str, str]]:
        """The latest requests received (at most ``RECEIVED_KEPT``), oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._received]

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
                "changes": self._change_books(),
                "retracted": sum(1 for held in self._held.values() if held.retracted),
            }
            if entries:
                out["entries"] = [
                    {
                        "school_code": school,
                        "period": period,
                        "record_id": record_id,
                        "acceptances": count,
                        "version": self._held[(school, period, record_id)].version,
                        "grade": self._held[(school, period, record_id)].grade,
                        "retracted": self._held[(school, period, record_id)].retracted,
                    }
                    for (school, period, record_id), count in sorted(self._ledger.items())
                ]
            return out

    def _change_books(self) -> dict[str, Any]:
        """Changes applied, by kind: how many, to how many records, and any applied twice."""
        books: dict[str, Any] = {}
        for kind, name in (("amendment", "amendments"), ("retraction", "retractions")):
            applied = {key: count for key, count in self._applied.items() if key[3] == kind}
            books[name] = {
                "applied": sum(applied.values()),
                "records": len({key[:3] for key in applied}),
                "duplicates": sum(1 for count in applied.values() if count > 1),
            }
        books["duplicate_changes"] = [
            {"school_code": s, "period": p, "record_id": r, "kind": k, "version": v, "applications": count}
            for (s, p, r, k, v), count in sorted(self._applied.items())
            if count > 1
        ]
        return books

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": {endpoint: dict(statuses) for endpoint, statuses in sorted(self._calls.items())},
                "batches_processed": self._batches_processed,
                "replays": self._replays,
                "changes_processed": self._changes_processed,
                "change_replays": self._change_replays,
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
        self._held: dict[tuple[str, str, str], HeldRecord] = {}
        self._changes: dict[tuple[str, str], StoredChange] = {}
        self._applied: Counter[tuple[str, str, str, str, int]] = Counter()
        self._calls: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._faults: Counter[str] = Counter()
        self._batches_processed = 0
        self._replays = 0
        self._changes_processed = 0
        self._change_replays = 0
        self._conflicts = 0
        self._refused = 0
        self._tokens_issued = 0
        self._received: deque[dict[str, str]] = deque(maxlen=RECEIVED_KEPT)
