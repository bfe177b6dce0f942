"""What recording a grade checks before its one write, kept in memory per task: a course's roster,
a term's state, whether a subject exists.

Like the rule cache: keyed by school first, bounded in size, each entry kept at most ``ttl_seconds``.
What it may serve stale is bounded and one-sided:

- a *refusal* is never served from memory: a student not on the cached roster, an unknown term or
  subject is looked up again before the request is refused, so a student, term or subject an admin
  has just added is accepted at once;
- an *acceptance* may be up to ``ttl_seconds`` old when the change was made on another task (the
  task that makes a change drops its entries at once): a grade may be recorded for a student moved
  out of the course, or in a term closed, that recently. Such a grade is an ordinary grade: listed,
  in the lake, correctable and retractable by an admin, and sent by the government sync's next start
  of the period (it sends any grade the ministry does not hold). A closed term stays closed (terms
  never reopen), so a cached closure is never wrong.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TypeVar

from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TermId
from luca_kernel.roster import Subject, Term

V = TypeVar("V")


class RosterCache:
    def __init__(
        self, *, ttl_seconds: float, max_entries: int = 10_000, timer: Callable[[], float] | None = None
    ) -> None:
        if ttl_seconds < 0 or max_entries <= 0:
            raise ValueError("ttl_seconds must not be negative and max_entries must be positive")
        self._ttl = ttl_seconds
        self._max = max_entries
        self._timer = timer or time.monotonic
        # Least recently used first; each value carries the moment it expires.
        self._entries: OrderedDict[tuple[SchoolId, str, str], tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def enrolled(
        self,
        school_id: SchoolId,
        course_id: CourseId,
        student_id: StudentId,
        load: Callable[[CourseId], Iterable[StudentId]],
    ) -> bool:
        roster = self._value(
            (school_id, "course", course_id),
            lambda: frozenset(load(course_id)),
            lambda students: student_id in students,
        )
        return student_id in roster

    def term(
        self, school_id: SchoolId, term_id: TermId, load: Callable[[TermId], Term | None]
    ) -> Term | None:
        return self._value((school_id, "term", term_id), lambda: load(term_id), lambda term: term is not None)

    def subject_exists(
        self, school_id: SchoolId, subject_id: SubjectId, load: Callable[[SubjectId], Subject | None]
    ) -> bool:
        return self._value(
            (school_id, "subject", subject_id), lambda: load(subject_id) is not None, lambda known: known
        )

    def forget_courses(self, school_id: SchoolId) -> None:
        """A student added or moved: every roster of the school may have changed."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == school_id and k[1] == "course"]:
                del self._entries[key]

    def forget_term(self, school_id: SchoolId, term_id: TermId) -> None:
        with self._lock:
            self._entries.pop((school_id, "term", term_id), None)

    def _value(self, key: tuple[SchoolId, str, str], load: Callable[[], V], usable: Callable[[V], bool]) -> V:
        """The cached value if fresh and ``usable`` (an acceptance), else a fresh load."""
        now = self._timer()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(key)
                cached: V = entry[1]  # type: ignore[assignment]
                if usable(cached):
                    return cached
        value = load()
        if self._ttl > 0:
            with self._lock:
                self._entries[key] = (now + self._ttl, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return value
