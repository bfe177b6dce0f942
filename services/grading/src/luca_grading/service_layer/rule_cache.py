"""In-memory cache of grading rules per (school, subject), bounded in size and age.

Rules change a few times a year and are read on every grade; the seed design keeps them in the
container's memory. A change made through this instance invalidates the school's entries at once;
other instances converge within ``ttl_seconds`` (the bound on staleness).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cachetools import TTLCache

from luca_grading.domain.model import DEFAULT_SUBJECT, GradingRule, SchoolId, SubjectId, default_rule


class RuleCache:
    def __init__(
        self, *, ttl_seconds: float, max_entries: int = 10_000, timer: Callable[[], float] | None = None
    ):
        self._entries: TTLCache[tuple[SchoolId, SubjectId], GradingRule] = TTLCache(
            maxsize=max_entries, ttl=ttl_seconds, timer=timer or time.monotonic
        )
        self._lock = threading.Lock()

    def cached(self, school_id: SchoolId, subject_id: SubjectId) -> GradingRule | None:
        """The rule if it is warm, without loading anything."""
        with self._lock:
            return self._entries.get((school_id, subject_id))

    def rule_for(
        self, school_id: SchoolId, subject_id: SubjectId, load: Callable[[SubjectId], GradingRule | None]
    ) -> GradingRule:
        """The rule in force: the subject's own, else the school default, else the platform default."""
        key = (school_id, subject_id)
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None:
            return cached
        rule = load(subject_id)
        if rule is None and subject_id != DEFAULT_SUBJECT:
            school_default = load(DEFAULT_SUBJECT)
            if school_default is not None:
                rule = GradingRule(
                    subject_id=subject_id,
                    scale=school_default.scale,
                    passing_grade=school_default.passing_grade,
                    rounding=school_default.rounding,
                    decimals=school_default.decimals,
                    default_weight=school_default.default_weight,
                    updated_at=school_default.updated_at,
                )
        if rule is None:
            rule = default_rule(subject_id)
        with self._lock:
            self._entries[key] = rule
        return rule

    def invalidate_school(self, school_id: SchoolId) -> None:
        # A school default change affects every subject that falls back to it.
        with self._lock:
            for key in [k for k in self._entries if k[0] == school_id]:
                self._entries.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
