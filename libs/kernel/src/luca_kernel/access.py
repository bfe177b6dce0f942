"""Who is calling: a principal (built only from a verified token) and the roles it may hold.

A Principal's school is the one its token carries; no service takes the school from anywhere else.
What each role may do is each service's own policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from luca_kernel.ids import SchoolId, StudentId


class Role(StrEnum):
    TEACHER = "teachers"
    STUDENT = "students"
    ADMIN = "admins"
    # An internal service acting for exactly one school (see the grading README: internal callers).
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Principal:
    school_id: SchoolId
    subject: str
    roles: frozenset[Role]
    student_id: StudentId | None = None
    username: str = ""

    @property
    def actor_id(self) -> str:
        """Who to record as the author of a change (teacher id, service name)."""
        return self.username or self.subject

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))
