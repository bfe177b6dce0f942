"""The items the grading service owns in the platform's table, and their keys.

The table's shape and key conventions are the platform's (``luca_platform.table.keys``). Of the
item types below, those other services read are published contracts (``luca_platform.contracts``:
the roster, the rules, official grades and notes); the others are this service's private business.

| item type     | PK                                   | SK                                     | GSI1 (course/term)                         | GSI2 (school term)            | TTL |
|---------------|--------------------------------------|----------------------------------------|--------------------------------------------|-------------------------------|-----|
| Student       | SCHOOL#s#STUDENT#st                  | STUDENT                                | SCHOOL#s#COURSE#c / STUDENT#st             | -                             | no  |
| Subject       | SCHOOL#s#CATALOG                     | SUBJECT#sub                            | -                                          | -                             | no  |
| Course        | SCHOOL#s#CATALOG                     | COURSE#c                               | -                                          | -                             | no  |
| Term          | SCHOOL#s#CATALOG                     | TERM#t                                 | -                                          | -                             | no  |
| Assignment    | SCHOOL#s#TEACHER#tch                 | ASSIGN#c#sub                           | SCHOOL#s#COURSE#c / TEACHER#tch#sub        | -                             | no  |
| Evaluation    | SCHOOL#s#STUDENT#st                  | EVAL#term#sub#id (before: …#recorded_at#id) | SCHOOL#s#COURSE#c#TERM#t / SUBJECT#sub#STUDENT#st#id | SCHOOL#s#TERM#t / STUDENT#st#id | no  |
| EvaluationChange | SCHOOL#s#STUDENT#st               | EVALHIST#id#version(6 digits)          | -                                          | -                             | no  |
| BehaviorNote  | SCHOOL#s#STUDENT#st                  | NOTE#recorded_at#id                    | -                                          | -                             | no  |
| GradingRule   | SCHOOL#s#RULES                       | SUBJECT#sub                            | -                                          | -                             | no  |
| Idempotency   | SCHOOL#s#IDEMPOTENCY#scope#key       | IDEMPOTENCY                            | -                                          | SCHOOL#s#UNROOTED / its PK    | 30 days |

An Evaluation is changed in place (its version goes up by one per correction or retraction) and each
change appends an EvaluationChange in the same transaction: the history is never rewritten or deleted.
An Assignment lets a teacher grade one subject in one course; the course index lists a course's
teachers next to its students (their sort keys start differently).

Official grades and notes never expire in the hot table: they must survive until the quarterly
government sync and the school year, and the lake keeps everything anyway. Idempotency records are
re-derivable and expire (docs/decisions/0003-ttl-scope.md). Being keyed by the client's request key,
they are reached from nothing else, so they are also indexed under the school's unrooted partition
(``luca_platform.table.keys.unrooted_pk``): a school's export and erasure find them there.
Recording a grade and changing one write no Idempotency record: a grade's id derives from the
request that records it and the grade carries the body's fingerprint; a change's history entry
carries its request's key digest and fingerprint. Behaviour notes still use them.
"""

from __future__ import annotations

from luca_grading.domain.model import REQUEST_KEYED_PREFIX
from luca_platform.contracts import grades, roster, rules
from luca_platform.contracts.grades import school_term_pk
from luca_platform.contracts.roster import (
    COURSE_SK_PREFIX,
    ROSTER_SK_PREFIX,
    STUDENT_SK,
    SUBJECT_SK_PREFIX,
    TERM_SK_PREFIX,
    catalog_pk,
    course_roster_pk,
    course_sk,
    student_pk,
    subject_sk,
    term_sk,
)
from luca_platform.contracts.rules import rule_sk, rules_pk
from luca_platform.table.keys import SEP, part, school_key

OWNED_ITEM_TYPES: frozenset[str] = frozenset(
    {
        *(contract.type_name for contract in (*roster.CONTRACTS, *grades.CONTRACTS)),
        rules.RULE.type_name,
        "Idempotency",
        "Assignment",
        "EvaluationChange",
    }
)

IDEMPOTENCY_TTL_SECONDS = 30 * 24 * 3600
IDEMPOTENCY_SK = "IDEMPOTENCY"
NOTE_SK_PREFIX = f"NOTE{SEP}"
ASSIGNMENT_SK_PREFIX = f"ASSIGN{SEP}"
# A course's teachers on the course index, next to its students (ROSTER_SK_PREFIX).
COURSE_TEACHER_SK_PREFIX = f"TEACHER{SEP}"
HISTORY_SK_PREFIX = f"EVALHIST{SEP}"

__all__ = [
    "ASSIGNMENT_SK_PREFIX",
    "COURSE_SK_PREFIX",
    "COURSE_TEACHER_SK_PREFIX",
    "HISTORY_SK_PREFIX",
    "IDEMPOTENCY_SK",
    "IDEMPOTENCY_TTL_SECONDS",
    "NOTE_SK_PREFIX",
    "OWNED_ITEM_TYPES",
    "ROSTER_SK_PREFIX",
    "STUDENT_SK",
    "SUBJECT_SK_PREFIX",
    "TERM_SK_PREFIX",
    "assignment_sk",
    "catalog_pk",
    "course_roster_pk",
    "course_sk",
    "course_teacher_sk",
    "course_term_pk",
    "evaluation_sk",
    "evaluation_sk_prefix",
    "history_sk",
    "history_sk_prefix",
    "idempotency_pk",
    "is_request_keyed",
    "note_sk",
    "rule_sk",
    "rules_pk",
    "school_term_pk",
    "student_pk",
    "subject_sk",
    "teacher_pk",
    "term_sk",
]


def idempotency_pk(school_id: str, scope: str, key: str) -> str:
    return school_key(school_id, "IDEMPOTENCY", scope, key)


def course_term_pk(school_id: str, course_id: str, term_id: str) -> str:
    """A course's grades in a term, on the course index (GSI1)."""
    return school_key(school_id, "COURSE", course_id, "TERM", term_id)


def evaluation_sk(term_id: str, subject_id: str, recorded_at: str, evaluation_id: str) -> str:
    """A grade recorded since ids derive from the request (``is_request_keyed``) sits at a key its
    retry can name without knowing when the first attempt arrived; older grades keep their key,
    which holds their recording time."""
    if is_request_keyed(evaluation_id):
        return SEP.join(("EVAL", part(term_id), part(subject_id), part(evaluation_id)))
    return SEP.join(("EVAL", part(term_id), part(subject_id), part(recorded_at), part(evaluation_id)))


def is_request_keyed(evaluation_id: str) -> bool:
    # Random ids (uuid4 hex) never hold the separator.
    return evaluation_id.startswith(REQUEST_KEYED_PREFIX)


def evaluation_sk_prefix(term_id: str | None = None, subject_id: str | None = None) -> str:
    prefix = f"EVAL{SEP}"
    if term_id:
        prefix += f"{part(term_id)}{SEP}"
        if subject_id:
            prefix += f"{part(subject_id)}{SEP}"
    return prefix


def note_sk(recorded_at: str, note_id: str) -> str:
    return SEP.join(("NOTE", part(recorded_at), part(note_id)))


def teacher_pk(school_id: str, teacher_id: str) -> str:
    """A teacher's partition: the teacher's assignments."""
    return school_key(school_id, "TEACHER", teacher_id)


def assignment_sk(course_id: str, subject_id: str) -> str:
    return SEP.join(("ASSIGN", part(course_id), part(subject_id)))


def course_teacher_sk(teacher_id: str, subject_id: str) -> str:
    return SEP.join(("TEACHER", part(teacher_id), part(subject_id)))


def history_sk_prefix(evaluation_id: str) -> str:
    return f"{HISTORY_SK_PREFIX}{part(evaluation_id)}{SEP}"


def history_sk(evaluation_id: str, version: int) -> str:
    # Zero-padded so the entries of one evaluation sort by version.
    return f"{history_sk_prefix(evaluation_id)}{version:06d}"
