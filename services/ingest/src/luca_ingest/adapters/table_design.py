"""The items the grade processor owns in the platform's table, and their keys.

| item type      | PK                  | SK                | TTL     |
|----------------|---------------------|-------------------|---------|
| ExerciseResult | SCHOOL#s#STUDENT#st | EXERCISE#event_id | 30 days |

Exercise results are practice, not official grades, and re-derivable, so they expire
(docs/decisions/0003-ttl-scope.md); the lake keeps them. The event is its own idempotency key: the
sort key comes from the event id alone, so a resent or redelivered event lands on the same item.
They live in the student's partition (the roster contract's ``student_pk``). The lake and the
operators' tools read them under a published contract (``luca_platform.contracts.exercise_results``),
which therefore also holds their keys.
"""

from __future__ import annotations

from luca_platform.contracts.exercise_results import EXERCISE_RESULT, EXERCISE_SK_PREFIX, exercise_result_sk

OWNED_ITEM_TYPES: frozenset[str] = frozenset({EXERCISE_RESULT.type_name})

EXERCISE_RESULT_TTL_SECONDS = 30 * 24 * 3600

__all__ = ["EXERCISE_RESULT_TTL_SECONDS", "EXERCISE_SK_PREFIX", "OWNED_ITEM_TYPES", "exercise_result_sk"]
