"""The grading rule in force for a (school, subject), kept in memory, bounded in size and age.

Rules change a few times a year and are read on every grade, so each process keeps them warm. The
rule in force is the subject's own, else the school's default (subject ``*``), else the platform's.
A change made through this instance invalidates the school's entries at once; other instances
converge within ``ttl_seconds`` (the bound on staleness).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

from luca_kernel.grading import DEFAULT_SUBJECT, GradingRule, default_rule
from luca_kernel.ids import SchoolId, SubjectId

RuleLoader = Callable[[SubjectId], GradingRule | None]


class RuleCache:
    def __init__(
        self, *, ttl_seconds: float, max_entries: int = 10_000, timer: Callable[[], float] | None = None
    ) -> None:
        if ttl_seconds <= 0 or max_entries <= 0:
            raise ValueError("ttl_seconds and max_entries must be positive")
        self._ttl = ttl_seconds
        self._max = max_entries
        self._timer = timer or time.monotonic
        # Least recently used first; each value carries the moment it expires.
        self._entries: OrderedDict[tuple[SchoolId, SubjectId], tuple[float, GradingRule]] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, school_id: SchoolId, subject_id: SubjectId) -> GradingRule | None:
        """The rule if it is warm, without loading anything."""
        with self._lock:
            return self._fresh((school_id, subject_id))

    def rule_for(self, school_id: SchoolId, subject_id: SubjectId, load: RuleLoader) -> GradingRule:
        """The rule in force: the subject's own, else the school default, else the platform default."""
        key = (school_id, subject_id)
        with self._lock:
            cached = self._fresh(key)
        if cached is not None:
            return cached
        rule = load(subject_id)
        if rule is None and subject_id != DEFAULT_SUBJECT:
            school_default = load(DEFAULT_SUBJECT)
            if school_default is not None:
                rule = replace(school_default, subject_id=subject_id)
        if rule is None:
            rule = default_rule(subject_id)
        with self._lock:
            self._entries[key] = (self._timer() + self._ttl, rule)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return rule

    def invalidate_school(self, school_id: SchoolId) -> None:
        # A school default change affects every subject that falls back to it.
        with self._lock:
            for key in [k for k in self._entries if k[0] == school_id]:
                del self._entries[key]

    def _fresh(self, key: tuple[SchoolId, SubjectId]) -> GradingRule | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, rule = entry
        if self._timer() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return rule

    def __len__(self) -> int:
        with self._lock:
            now = self._timer()
            return sum(1 for expires, _ in self._entries.values() if now < expires)
