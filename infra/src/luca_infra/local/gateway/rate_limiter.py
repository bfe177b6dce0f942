"""The gateway's throttling: a token bucket per school behind one for the whole stage.

The local twin of the API stage's throttle, the usage plans and the per-school limiter
(docs/decisions/0006-per-school-throttling.md); the stage's limits and each school's tier come from
``definitions.throttling``, the same definition the edge's usage plans are made from. A school the
configuration does not name (one created with ``luca schools create`` while the platform runs) gets
the tier whose usage plan holds its API key, looked up once a minute at most (``resolve``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from luca_infra.definitions import ThrottlingDefinition, TierDefinition


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket's shape: ``rate`` tokens per second refill, at most ``burst`` banked."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")

    @classmethod
    def of_tier(cls, tier: TierDefinition) -> RateLimit:
        return cls(tier.rate, tier.burst)


@dataclass(slots=True)
class _Bucket:
    limit: RateLimit
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Spend one token; 0.0 when allowed, else the seconds until one is available."""
        self.tokens = min(float(self.limit.burst), self.tokens + (now - self.updated) * self.limit.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.limit.rate

    def full_at(self, now: float) -> bool:
        return self.tokens + (now - self.updated) * self.limit.rate >= self.limit.burst


class SchoolRateLimiter:
    """Per-school token buckets (tiers by school, a default for the rest) behind one stage bucket.

    The stage bucket mirrors the API stage's throttle; the school buckets mirror usage plans and
    the per-school limiter that AWS needs because a Cognito authorizer alone cannot key usage plans.
    """

    def __init__(
        self,
        default: RateLimit,
        *,
        stage: RateLimit | None = None,
        tiers: Mapping[str, RateLimit] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_schools: int = 100_000,
        resolve: Callable[[str], RateLimit | None] | None = None,
        resolve_ttl_seconds: float = 60.0,
    ) -> None:
        self._default = default
        self._tiers = dict(tiers or {})
        self._resolve = resolve
        self._resolve_ttl = resolve_ttl_seconds
        # school -> (its looked-up limit or None, when it was looked up)
        self._resolved: dict[str, tuple[RateLimit | None, float]] = {}
        self._clock = clock
        self._max_schools = max_schools
        self._lock = threading.Lock()
        self._schools: dict[str, _Bucket] = {}
        self._stage = _Bucket(stage, float(stage.burst), clock()) if stage else None

    @classmethod
    def from_definition(
        cls,
        throttling: ThrottlingDefinition,
        *,
        tiers: Mapping[str, RateLimit] | None = None,
        resolve: Callable[[str], RateLimit | None] | None = None,
    ) -> SchoolRateLimiter:
        return cls(
            RateLimit.of_tier(throttling.tier(throttling.default_tier)),
            stage=RateLimit(throttling.stage_rate_limit, throttling.stage_burst_limit),
            tiers=tiers,
            resolve=resolve,
        )

    def limit_for(self, school_id: str) -> RateLimit:
        configured = self._tiers.get(school_id)
        if configured is not None:
            return configured
        if self._resolve is not None and self.needs_lookup(school_id):
            self.look_up(school_id)
        resolved = self._resolved.get(school_id)
        return (resolved[0] or self._default) if resolved else self._default

    def needs_lookup(self, school_id: str) -> bool:
        """Whether ``take`` would look the school's tier up (a blocking call: do it off the loop)."""
        if self._resolve is None or school_id in self._tiers:
            return False
        resolved = self._resolved.get(school_id)
        return resolved is None or self._clock() - resolved[1] >= self._resolve_ttl

    def look_up(self, school_id: str) -> None:
        if self._resolve is None:
            return
        try:
            limit = self._resolve(school_id)
        except Exception:  # the emulator busy or restarting: keep what was known, try again later
            limit = self._resolved.get(school_id, (None, 0.0))[0]
        self._resolved[school_id] = (limit, self._clock())

    def take(self, school_id: str) -> float:
        """Spend a request for ``school_id``: 0.0 when allowed, else seconds to wait before retrying."""
        with self._lock:
            now = self._clock()
            if self._stage is not None:
                wait = self._stage.take(now)
                if wait:
                    return wait
            bucket = self._schools.get(school_id)
            limit = self._limit_known(school_id)
            if bucket is None:
                self._evict_idle(now)
                bucket = self._schools[school_id] = _Bucket(limit, float(limit.burst), now)
            elif bucket.limit != limit:  # the school's tier was found (or changed) since
                bucket.limit = limit
            return bucket.take(now)

    def _limit_known(self, school_id: str) -> RateLimit:
        """The limit from what is known now, never looking anything up (``take`` runs on the loop)."""
        configured = self._tiers.get(school_id)
        if configured is not None:
            return configured
        resolved = self._resolved.get(school_id)
        return (resolved[0] or self._default) if resolved else self._default

    def _evict_idle(self, now: float) -> None:
        # A full bucket carries no state worth keeping: forgetting it changes no decision.
        if len(self._schools) < self._max_schools:
            return
        for school in [s for s, b in self._schools.items() if b.full_at(now)]:
            del self._schools[school]


def retry_after_seconds(wait: float) -> int:
    """``Retry-After`` is whole seconds (RFC 9110 §10.2.3); never tell a client to retry at once."""
    return max(1, math.ceil(wait))
