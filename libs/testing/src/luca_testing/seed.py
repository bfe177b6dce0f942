"""Seeding a school's roster and rules as their owner writes them: through the published contracts.

Suites of services that only read these items (the grade processor, the reports, the government
sync) seed them with this instead of depending on the grading service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from luca_kernel.grading import GradingRule
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TermId
from luca_kernel.roster import Course, Student, Subject, Term
from luca_platform.aws import AwsClients
from luca_platform.contracts import roster, rules
from luca_platform.table import guard
from luca_platform.table.codec import to_wire


class SchoolSeed:
    """Writes one school's catalog, students and rules with that school's own client."""

    def __init__(self, clients: AwsClients, table_name: str, school_id: str) -> None:
        self._client = clients.dynamodb_for(school_id)
        self._table = table_name
        self.school_id = SchoolId(school_id)

    def put(self, item: dict[str, Any]) -> None:
        guard.check_item(self.school_id, item)
        self._client.put_item(TableName=self._table, Item=to_wire(item))

    def course(self, course_id: str, name: str = "") -> SchoolSeed:
        self.put(
            roster.course_item(Course(self.school_id, CourseId(course_id), name or f"Course {course_id}"))
        )
        return self

    def subject(self, subject_id: str, name: str = "") -> SchoolSeed:
        self.put(
            roster.subject_item(Subject(self.school_id, SubjectId(subject_id), name or subject_id.title()))
        )
        return self

    def student(self, student_id: str, course_id: str, name: str = "") -> SchoolSeed:
        student = Student(
            self.school_id, StudentId(student_id), CourseId(course_id), name or f"Student {student_id}"
        )
        self.put(roster.student_item(student))
        return self

    def term(self, term_id: str, name: str = "", *, closed_at: datetime | None = None) -> SchoolSeed:
        term = Term(
            self.school_id,
            TermId(term_id),
            name or f"Term {term_id}",
            closed_at=closed_at,
            closed_by="seed" if closed_at else "",
        )
        self.put(roster.term_item(term))
        return self

    def rule(self, rule: GradingRule) -> SchoolSeed:
        self.put(rules.rule_item(self.school_id, rule))
        return self
