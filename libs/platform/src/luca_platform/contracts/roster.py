"""Published contract: the school's roster (students, subjects, courses, terms). Owner: grading.

Readers: the grade processor (a student's course, a subject's existence), the reports (a school's
courses and each course's students, on the course index), the government sync (whether a term is
closed: closing a term is what the sync submits). The items are small and fixed, so the
codec itself is published: the owner writes with these builders, readers parse with these parsers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TermId
from luca_kernel.roster import Course, Student, Subject, Term
from luca_platform.contracts.base import ItemContract
from luca_platform.table import keys
from luca_platform.table.codec import parse_timestamp, timestamp

OWNER = "grading"
SCHEMA_VERSION = 1
STUDENT = ItemContract(
    "Student",
    OWNER,
    SCHEMA_VERSION,
    {"school_id": "string", "student_id": "string", "course_id": "string", "display_name": "string"},
    readers=("ingest", "analytics"),
)
SUBJECT = ItemContract(
    "Subject",
    OWNER,
    SCHEMA_VERSION,
    {"school_id": "string", "subject_id": "string", "name": "string"},
    readers=("ingest",),
)
COURSE = ItemContract(
    "Course",
    OWNER,
    SCHEMA_VERSION,
    {"school_id": "string", "course_id": "string", "name": "string"},
    readers=("analytics",),
)
TERM = ItemContract(
    "Term",
    OWNER,
    SCHEMA_VERSION,
    {"school_id": "string", "term_id": "string", "name": "string"},
    optional={"closed_at": "string", "closed_by": "string"},
    readers=("govsync",),
)
CONTRACTS = (STUDENT, SUBJECT, COURSE, TERM)

STUDENT_SK = "STUDENT"
COURSE_SK_PREFIX = f"COURSE{keys.SEP}"
SUBJECT_SK_PREFIX = f"SUBJECT{keys.SEP}"
TERM_SK_PREFIX = f"TERM{keys.SEP}"
# A course's roster on the course index: its students' sort keys start with this.
ROSTER_SK_PREFIX = f"STUDENT{keys.SEP}"


def student_pk(school_id: str, student_id: str) -> str:
    """A student's partition: the student record and everything recorded about the student."""
    return keys.school_key(school_id, "STUDENT", student_id)


def catalog_pk(school_id: str) -> str:
    """The school's catalog partition: its subjects, courses and terms."""
    return keys.school_key(school_id, "CATALOG")


def course_roster_pk(school_id: str, course_id: str) -> str:
    """A course's roster on the course index (GSI1)."""
    return keys.school_key(school_id, "COURSE", course_id)


def subject_sk(subject_id: str) -> str:
    return f"{SUBJECT_SK_PREFIX}{keys.part(subject_id)}"


def term_sk(term_id: str) -> str:
    return f"{TERM_SK_PREFIX}{keys.part(term_id)}"


def course_sk(course_id: str) -> str:
    return f"{COURSE_SK_PREFIX}{keys.part(course_id)}"


def student_item(student: Student) -> dict[str, Any]:
    s, st = student.school_id, student.student_id
    return {
        keys.TABLE_PARTITION_KEY: student_pk(s, st),
        keys.TABLE_SORT_KEY: STUDENT_SK,
        keys.COURSE_TERM_INDEX.partition_key: course_roster_pk(s, student.course_id),
        keys.COURSE_TERM_INDEX.sort_key: f"{ROSTER_SK_PREFIX}{keys.part(st)}",
        keys.TYPE_ATTRIBUTE: STUDENT.type_name,
        keys.SCHEMA_VERSION_ATTRIBUTE: SCHEMA_VERSION,
        "school_id": s,
        "student_id": st,
        "course_id": student.course_id,
        "display_name": student.display_name,
    }


def subject_item(subject: Subject) -> dict[str, Any]:
    return {
        keys.TABLE_PARTITION_KEY: catalog_pk(subject.school_id),
        keys.TABLE_SORT_KEY: subject_sk(subject.subject_id),
        keys.TYPE_ATTRIBUTE: SUBJECT.type_name,
        keys.SCHEMA_VERSION_ATTRIBUTE: SCHEMA_VERSION,
        "school_id": subject.school_id,
        "subject_id": subject.subject_id,
        "name": subject.name,
    }


def course_item(course: Course) -> dict[str, Any]:
    return {
        keys.TABLE_PARTITION_KEY: catalog_pk(course.school_id),
        keys.TABLE_SORT_KEY: course_sk(course.course_id),
        keys.TYPE_ATTRIBUTE: COURSE.type_name,
        keys.SCHEMA_VERSION_ATTRIBUTE: SCHEMA_VERSION,
        "school_id": course.school_id,
        "course_id": course.course_id,
        "name": course.name,
    }


def term_item(term: Term) -> dict[str, Any]:
    return {
        keys.TABLE_PARTITION_KEY: catalog_pk(term.school_id),
        keys.TABLE_SORT_KEY: term_sk(term.term_id),
        keys.TYPE_ATTRIBUTE: TERM.type_name,
        keys.SCHEMA_VERSION_ATTRIBUTE: SCHEMA_VERSION,
        "school_id": term.school_id,
        "term_id": term.term_id,
        "name": term.name,
        "closed_at": timestamp(term.closed_at) if term.closed_at else None,
        "closed_by": term.closed_by or None,
    }


def student_from(item: Mapping[str, Any]) -> Student:
    return Student(
        SchoolId(item["school_id"]),
        StudentId(item["student_id"]),
        CourseId(item["course_id"]),
        item["display_name"],
    )


def subject_from(item: Mapping[str, Any]) -> Subject:
    return Subject(SchoolId(item["school_id"]), SubjectId(item["subject_id"]), item["name"])


def course_from(item: Mapping[str, Any]) -> Course:
    return Course(SchoolId(item["school_id"]), CourseId(item["course_id"]), item["name"])


def term_from(item: Mapping[str, Any]) -> Term:
    closed = item.get("closed_at")
    return Term(
        SchoolId(item["school_id"]),
        TermId(item["term_id"]),
        item["name"],
        closed_at=parse_timestamp(closed) if closed else None,
        closed_by=item.get("closed_by") or "",
    )
