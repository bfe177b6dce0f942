"""The single-table design: key names, indexes, TTL and the key builders for every item type.

This module is the one definition of the table's shape. The CDK app (infra/), the local platform's
provisioner and this service's repository all read it; nothing else spells a key.

Every partition key — on the table and on every index — starts with ``SCHOOL#<school_id>#``. That is
what lets IAM's ``dynamodb:LeadingKeys`` condition confine a per-school session to its own school
(see README "Tenant isolation"), and what the repository checks before every call.

| item type     | PK                                   | SK                                     | GSI1 (course/term)                         | GSI2 (school term)            | TTL |
|---------------|--------------------------------------|----------------------------------------|--------------------------------------------|-------------------------------|-----|
| Student       | SCHOOL#s#STUDENT#st                  | STUDENT                                | SCHOOL#s#COURSE#c / STUDENT#st             | -                             | no  |
| Subject       | SCHOOL#s#CATALOG                     | SUBJECT#sub                            | -                                          | -                             | no  |
| Course        | SCHOOL#s#CATALOG                     | COURSE#c                               | -                                          | -                             | no  |
| Evaluation    | SCHOOL#s#STUDENT#st                  | EVAL#term#sub#recorded_at#id           | SCHOOL#s#COURSE#c#TERM#t / SUBJECT#sub#STUDENT#st#id | SCHOOL#s#TERM#t / STUDENT#st#id | no  |
| BehaviorNote  | SCHOOL#s#STUDENT#st                  | NOTE#recorded_at#id                    | -                                          | -                             | no  |
| GradingRule   | SCHOOL#s#RULES                       | SUBJECT#sub                            | -                                          | -                             | no  |
| Idempotency   | SCHOOL#s#IDEMPOTENCY#scope#key       | IDEMPOTENCY                            | -                                          | -                             | 30 days |
| ExerciseResult| SCHOOL#s#STUDENT#st                  | EXERCISE#event_id                      | -                                          | -                             | 30 days |
| GovSyncRun    | SCHOOL#s#GOVSYNC#period              | RUN#sync_id                            | -                                          | -                             | no  |
| GovSyncBatch  | SCHOOL#s#GOVSYNC#period              | BATCH#sync_id#number                   | -                                          | -                             | no  |
| GovSyncRecord | SCHOOL#s#GOVSYNC#period              | RECORD#record_id                       | -                                          | -                             | no  |
| GovSyncAudit  | SCHOOL#s#GOVSYNC#period              | AUDIT#at#step#id                       | -                                          | -                             | no  |

A school's sync of one period keeps its whole state in one partition (runs, batch states, the
ministry's verdict per record, the audit trail), so its progress is one Query; the audit trail is
the record of what was sent to the government, so none of it expires.

Only re-derivable, high-volume items carry ``expires_at``: idempotency records, and the exercise
results of the burst path (practice, not official grades; the event itself is their idempotency
key, so their sort key is derived from the event id alone and a resent or redelivered event lands on
the same item). Official grades and notes never expire in the hot table: they must survive until the
quarterly government sync and the school year, and the lake keeps everything anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE_PARTITION_KEY = "PK"
TABLE_SORT_KEY = "SK"
TTL_ATTRIBUTE = "expires_at"
STREAM_VIEW = "NEW_AND_OLD_IMAGES"
IDEMPOTENCY_TTL_SECONDS = 30 * 24 * 3600
EXERCISE_RESULT_TTL_SECONDS = 30 * 24 * 3600

SEP = "#"


@dataclass(frozen=True, slots=True)
class IndexDesign:
    """A global secondary index: its name, key attributes and projection (all attributes)."""

    name: str
    partition_key: str
    sort_key: str
    purpose: str


COURSE_TERM_INDEX = IndexDesign(
    name="GSI1",
    partition_key="GSI1PK",
    sort_key="GSI1SK",
    purpose="a course's grades in a term (teacher view); a course's roster",
)
SCHOOL_TERM_INDEX = IndexDesign(
    name="GSI2",
    partition_key="GSI2PK",
    sort_key="GSI2SK",
    purpose="every grade of a school in a term (government sync)",
)
INDEXES: tuple[IndexDesign, ...] = (COURSE_TERM_INDEX, SCHOOL_TERM_INDEX)

# Attribute names whose values are keys: all strings.
KEY_ATTRIBUTES: tuple[str, ...] = (
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    *(name for index in INDEXES for name in (index.partition_key, index.sort_key)),
)


def _check_part(value: str) -> str:
    if not value or SEP in value:
        raise ValueError(f"key part {value!r} is empty or contains {SEP!r}")
    return value


def school_prefix(school_id: str) -> str:
    """The prefix every partition key of the school starts with (including the trailing '#')."""
    return f"SCHOOL{SEP}{_check_part(school_id)}{SEP}"


def student_pk(school_id: str, student_id: str) -> str:
    return f"{school_prefix(school_id)}STUDENT{SEP}{_check_part(student_id)}"


def catalog_pk(school_id: str) -> str:
    return f"{school_prefix(school_id)}CATALOG"


def rules_pk(school_id: str) -> str:
    return f"{school_prefix(school_id)}RULES"


def idempotency_pk(school_id: str, scope: str, key: str) -> str:
    return f"{school_prefix(school_id)}IDEMPOTENCY{SEP}{_check_part(scope)}{SEP}{_check_part(key)}"


def course_term_pk(school_id: str, course_id: str, term_id: str) -> str:
    return (
        f"{school_prefix(school_id)}COURSE{SEP}{_check_part(course_id)}{SEP}TERM{SEP}{_check_part(term_id)}"
    )


def course_roster_pk(school_id: str, course_id: str) -> str:
    return f"{school_prefix(school_id)}COURSE{SEP}{_check_part(course_id)}"


def school_term_pk(school_id: str, term_id: str) -> str:
    return f"{school_prefix(school_id)}TERM{SEP}{_check_part(term_id)}"


STUDENT_SK = "STUDENT"
IDEMPOTENCY_SK = "IDEMPOTENCY"


def subject_sk(subject_id: str) -> str:
    return f"SUBJECT{SEP}{_check_part(subject_id)}"


def course_sk(course_id: str) -> str:
    return f"COURSE{SEP}{_check_part(course_id)}"


def evaluation_sk(term_id: str, subject_id: str, recorded_at: str, evaluation_id: str) -> str:
    return (
        f"EVAL{SEP}{_check_part(term_id)}{SEP}{_check_part(subject_id)}{SEP}"
        f"{_check_part(recorded_at)}{SEP}{_check_part(evaluation_id)}"
    )


def evaluation_sk_prefix(term_id: str | None = None, subject_id: str | None = None) -> str:
    prefix = f"EVAL{SEP}"
    if term_id:
        prefix += f"{_check_part(term_id)}{SEP}"
        if subject_id:
            prefix += f"{_check_part(subject_id)}{SEP}"
    return prefix


def note_sk(recorded_at: str, note_id: str) -> str:
    return f"NOTE{SEP}{_check_part(recorded_at)}{SEP}{_check_part(note_id)}"


NOTE_SK_PREFIX = f"NOTE{SEP}"
EXERCISE_SK_PREFIX = f"EXERCISE{SEP}"


def exercise_result_sk(event_id: str) -> str:
    return f"{EXERCISE_SK_PREFIX}{_check_part(event_id)}"


def govsync_pk(school_id: str, period: str) -> str:
    """The partition of one school's government sync of one period."""
    return f"{school_prefix(school_id)}GOVSYNC{SEP}{_check_part(period)}"


GOVSYNC_RUN_PREFIX = f"RUN{SEP}"
GOVSYNC_BATCH_PREFIX = f"BATCH{SEP}"
GOVSYNC_RECORD_PREFIX = f"RECORD{SEP}"
GOVSYNC_AUDIT_PREFIX = f"AUDIT{SEP}"


def govsync_run_sk(sync_id: str) -> str:
    return f"{GOVSYNC_RUN_PREFIX}{_check_part(sync_id)}"


def govsync_batch_sk(sync_id: str, number: int) -> str:
    return f"{GOVSYNC_BATCH_PREFIX}{_check_part(sync_id)}{SEP}{number:05d}"


def govsync_record_sk(record_id: str) -> str:
    return f"{GOVSYNC_RECORD_PREFIX}{_check_part(record_id)}"


def govsync_audit_sk(at: str, step: str, audit_id: str) -> str:
    return f"{GOVSYNC_AUDIT_PREFIX}{_check_part(at)}{SEP}{_check_part(step)}{SEP}{_check_part(audit_id)}"


def create_table_request(table_name: str) -> dict[str, object]:
    """The DynamoDB CreateTable request for this design (on-demand, stream on, all-attribute GSIs).

    The local platform and emulator-backed tests create the table with it; the CDK app builds the
    same shape from the constants above (an infra test compares the two).
    """
    key_names = KEY_ATTRIBUTES
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in key_names],
        "KeySchema": [
            {"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": TABLE_SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in INDEXES
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW},
    }


def time_to_live_request(table_name: str) -> dict[str, object]:
    return {
        "TableName": table_name,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    }
