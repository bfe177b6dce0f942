"""A teacher's assignments, kept in memory for a few seconds: read on every teacher's read, changed
a few times a term.

What the cache may serve stale is bounded: for at most ``ttl_seconds`` after an admin removes an
assignment on another task (the task that made the change drops its entry at once), that teacher may
still read, record and change grades under it. Writes look a missing assignment up again before
refusing, so a new one is never refused. The bound is far below what group changes already take to
reach a signed-in user (their ID token, up to an hour).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from luca_grading.domain import access
from luca_grading.domain.model import Assignment
from luca_kernel.access import Principal
from luca_kernel.ids import SchoolId, TeacherId

Loader = Callable[[TeacherId], Sequence[Assignment]]


class AssignmentCache:
    def __init__(
        self, *, ttl_seconds: float, max_entries: int = 10_000, timer: Callable[[], float] | None = None
    ) -> None:
        if ttl_seconds < 0 or max_entries <= 0:
            raise ValueError("ttl_seconds must not be negative and max_entries must be positive")
        self._ttl = ttl_seconds
        self._max = max_entries
        self._timer = timer or time.monotonic
        self._entries: OrderedDict[tuple[SchoolId, TeacherId], tuple[float, tuple[Assignment, ...]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def assignments(self, school_id: SchoolId, teacher_id: TeacherId, load: Loader) -> tuple[Assignment, ...]:
        key = (school_id, teacher_id)
        now = self._timer()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(key)
                return entry[1]
        loaded = tuple(load(teacher_id))
        if self._ttl > 0:
            with self._lock:
                self._entries[key] = (now + self._ttl, loaded)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return loaded

    def of(self, principal: Principal, load: Loader) -> tuple[TeacherId | None, tuple[Assignment, ...]]:
        """The caller's teacher id and assignments; none for a name that cannot be a teacher id."""
        teacher = access.teacher_id_of(principal)
        if teacher is None:
            return None, ()
        return teacher, self.assignments(principal.school_id, teacher, load)

    def invalidate(self, school_id: SchoolId, teacher_id: TeacherId) -> None:
        with self._lock:
            self._entries.pop((school_id, teacher_id), None)
