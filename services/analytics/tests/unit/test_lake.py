"""A table change becomes a lake row, or is skipped with its reason; no minor's data leaks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from luca_analytics.adapters import lake_schema
from luca_analytics.domain.lake import (
    SEQUENCE_DIGITS,
    LakeRow,
    Skip,
    SkipReason,
    flatten,
    sequence_key,
    student_key,
)

KEY = b"test-pseudonym-key"
CHANGED = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)


def evaluation(**overrides: object) -> dict[str, object]:
    item: dict[str, object] = {
        "PK": "SCHOOL#school-a#STUDENT#st-1",
        "SK": "EVAL#2025-T1#math#2025-03-01T10:00:00.000000Z#ev-1",
        "type": "Evaluation",
        "schema_version": Decimal(1),
        "school_id": "school-a",
        "evaluation_id": "ev-1",
        "student_id": "st-1",
        "course_id": "1A",
        "subject_id": "math",
        "term_id": "2025-T1",
        "score": Decimal("5.5"),
        "weight": Decimal("2"),
        "teacher_id": "teacher-7",
        "recorded_at": "2025-03-01T10:00:00.000000Z",
        "description": "Prueba de fracciones de Martina",
    }
    item.update(overrides)
    return item


def test_an_evaluation_becomes_a_row_partitioned_by_school_and_month() -> None:
    row = flatten("INSERT", evaluation(), CHANGED, KEY)

    assert isinstance(row, LakeRow)
    assert (row.school_id, row.year, row.month) == ("school-a", 2025, 3)
    assert (row.item_type, row.change, row.record_id) == ("evaluation", "INSERT", "ev-1")
    assert (row.score, row.weight, row.term_id, row.subject_id) == (5.5, 2.0, "2025-T1", "math")
    assert row.occurred_at == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    assert row.changed_at == CHANGED


def test_the_student_is_a_keyed_pseudonym_and_no_free_text_or_staff_id_is_kept() -> None:
    row = flatten("MODIFY", evaluation(), CHANGED, KEY)

    assert isinstance(row, LakeRow)
    assert row.student_key == student_key(KEY, "school-a", "st-1")
    assert row.student_key != student_key(b"another-key", "school-a", "st-1")
    assert row.student_key != student_key(KEY, "school-b", "st-1")  # no linking across schools
    values = " ".join(str(getattr(row, name)) for name in LakeRow.__slots__)
    for secret in ("st-1", "Martina", "fracciones", "teacher-7"):
        assert secret not in values


def test_a_behavior_note_keeps_its_kind_not_its_text() -> None:
    note = {
        "type": "BehaviorNote",
        "schema_version": 1,
        "school_id": "school-a",
        "note_id": "n-1",
        "student_id": "st-1",
        "course_id": "1A",
        "kind": "negative",
        "text": "Llegó tarde y molestó a Tomás",
        "teacher_id": "teacher-7",
        "recorded_at": "2025-04-10T08:00:00.000000Z",
    }
    row = flatten("INSERT", note, CHANGED, KEY)

    assert isinstance(row, LakeRow)
    assert (row.item_type, row.behavior_kind, row.score, row.month) == ("behavior_note", "negative", None, 4)
    assert "Tomás" not in repr(row)


def test_an_exercise_result_keeps_its_score_and_whether_it_passed() -> None:
    result = {
        "type": "ExerciseResult",
        "schema_version": 1,
        "school_id": "school-a",
        "event_id": "evt-1",
        "student_id": "st-1",
        "course_id": "1A",
        "subject_id": "math",
        "occurred_at": "2025-05-05T09:00:00.000000Z",
        "score": Decimal("3.2"),
        "passing": False,
        "expires_at": 1_800_000_000,
    }
    row = flatten("INSERT", result, CHANGED, KEY)

    assert isinstance(row, LakeRow)
    assert (row.item_type, row.score, row.passing, row.term_id) == ("exercise_result", 3.2, False, "")


def test_a_version_1_evaluation_is_version_1_and_not_retracted() -> None:
    row = flatten("INSERT", evaluation(), CHANGED, KEY)

    assert isinstance(row, LakeRow)
    assert (row.version, row.retracted, row.source_schema_version) == (1, False, 1)


def test_a_correction_is_a_row_with_its_version() -> None:
    corrected = evaluation(schema_version=Decimal(2), version=Decimal(3), score=Decimal("6.1"))
    row = flatten("MODIFY", corrected, CHANGED, KEY, "1100000000017454423042")

    assert isinstance(row, LakeRow)
    assert (row.change, row.version, row.retracted, row.score, row.weight) == ("MODIFY", 3, False, 6.1, 2.0)
    assert row.source_schema_version == 2
    # What the change's author wrote stays out of the lake, like every free text.
    changed = evaluation(schema_version=2, version=2, change_reason="typo de Martina", updated_by="teacher-7")
    assert "Martina" not in repr(flatten("MODIFY", changed, CHANGED, KEY))


def test_a_retraction_is_a_tombstone_without_the_grade() -> None:
    retracted = evaluation(
        schema_version=2, version=Decimal(2), retracted=True, change_reason="entered twice"
    )
    row = flatten("MODIFY", retracted, CHANGED, KEY)

    assert isinstance(row, LakeRow)
    assert (row.version, row.retracted, row.score, row.weight) == (2, True, None, None)
    assert (row.record_id, row.subject_id, row.term_id) == ("ev-1", "math", "2025-T1")


def test_other_facts_are_version_1_and_never_retracted() -> None:
    note = {
        "type": "BehaviorNote",
        "schema_version": 1,
        "school_id": "school-a",
        "note_id": "n-1",
        "student_id": "st-1",
        "course_id": "1A",
        "kind": "positive",
        "recorded_at": "2025-04-10T08:00:00.000000Z",
        "version": 7,
        "retracted": True,
    }
    row = flatten("INSERT", note, CHANGED, KEY)

    assert isinstance(row, LakeRow)
    assert (row.version, row.retracted) == (1, False)


def test_the_sequence_number_is_padded_so_its_text_orders_like_the_number() -> None:
    early = flatten("MODIFY", evaluation(), CHANGED, KEY, "999")
    late = flatten("MODIFY", evaluation(), CHANGED, KEY, "1100000000017454423009")
    assert isinstance(early, LakeRow)
    assert isinstance(late, LakeRow)
    assert len(early.sequence_number) == len(late.sequence_number) == SEQUENCE_DIGITS
    assert early.sequence_number < late.sequence_number
    assert int(late.sequence_number) == 1100000000017454423009
    # None, or not a sequence number: empty, which sorts before any.
    for raw in ("", "12a", "١٢", "9" * (SEQUENCE_DIGITS + 1)):
        assert sequence_key(raw) == ""


@pytest.mark.parametrize(
    ("change", "image", "reason"),
    [
        ("REMOVE", evaluation(), SkipReason.REMOVE),
        ("INSERT", {"type": "Student", "schema_version": 1}, SkipReason.NOT_A_FACT),
        ("INSERT", {"type": "GovSyncAudit"}, SkipReason.NOT_A_FACT),
        ("INSERT", {"type": "Homework", "schema_version": 1}, SkipReason.UNKNOWN_TYPE),
        ("INSERT", {"no": "type"}, SkipReason.UNKNOWN_TYPE),
        ("INSERT", evaluation(schema_version=3, version=2), SkipReason.UNKNOWN_SCHEMA_VERSION),
        ("INSERT", evaluation(schema_version="one"), SkipReason.UNKNOWN_SCHEMA_VERSION),
        ("INSERT", evaluation(recorded_at="yesterday"), SkipReason.MALFORMED),
        ("INSERT", evaluation(score="a lot"), SkipReason.MALFORMED),
        ("INSERT", {k: v for k, v in evaluation().items() if k != "student_id"}, SkipReason.MALFORMED),
        ("INSERT", None, SkipReason.MALFORMED),
        # The grade lifecycle's private items: history, assignments, terms.
        ("INSERT", {"type": "EvaluationChange", "schema_version": 1}, SkipReason.NOT_A_FACT),
        ("INSERT", {"type": "Assignment", "schema_version": 1}, SkipReason.NOT_A_FACT),
        ("MODIFY", {"type": "Term", "schema_version": 1}, SkipReason.NOT_A_FACT),
        # Version 2 requires a version, a positive whole number; retracted is a boolean or absent.
        ("INSERT", evaluation(schema_version=Decimal(2)), SkipReason.MALFORMED),
        ("MODIFY", evaluation(schema_version=2, version=Decimal(0)), SkipReason.MALFORMED),
        ("MODIFY", evaluation(schema_version=2, version=Decimal("1.5")), SkipReason.MALFORMED),
        ("MODIFY", evaluation(schema_version=2, version=Decimal("Infinity")), SkipReason.MALFORMED),
        ("MODIFY", evaluation(schema_version=2, version="2"), SkipReason.MALFORMED),
        ("MODIFY", evaluation(schema_version=2, version=True), SkipReason.MALFORMED),
        ("MODIFY", evaluation(schema_version=2, version=Decimal(2), retracted="false"), SkipReason.MALFORMED),
    ],
)
def test_what_is_not_a_lake_fact_is_skipped_with_its_reason(
    change: str, image: dict[str, object] | None, reason: SkipReason
) -> None:
    skipped = flatten(change, image, CHANGED, KEY)

    assert isinstance(skipped, Skip)
    assert skipped.reason is reason


def test_the_lake_schema_is_the_contract_and_the_partitions_are_the_path() -> None:
    names = [c.name for c in lake_schema.columns()]
    assert set(names) == set(LakeRow.__slots__)
    assert [c.name for c in lake_schema.partition_columns()] == ["school_id", "year", "month"]
    assert not {"school_id", "year", "month"} & set(lake_schema.file_schema().names)
    assert lake_schema.partition_path("school-a", 2025, 3) == "school_id=school-a/year=2025/month=03"


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="key"):
        student_key(b"", "school-a", "st-1")


@pytest.mark.parametrize(
    ("item_type", "image"),
    [
        ("evaluation", evaluation(correlation_id="corr-graded")),
        (
            "exercise_result",
            {
                "type": "ExerciseResult",
                "schema_version": Decimal(1),
                "school_id": "school-a",
                "event_id": "evt-1",
                "student_id": "st-1",
                "course_id": "1A",
                "subject_id": "math",
                "occurred_at": "2025-03-01T10:00:00Z",
                "score": Decimal("6"),
                "passing": True,
                "correlation_id": "corr-graded",
            },
        ),
    ],
)
def test_a_row_carries_the_correlation_id_of_the_request_that_wrote_its_item(
    item_type: str, image: dict[str, object]
) -> None:
    row = flatten("INSERT", image, CHANGED, KEY)

    assert isinstance(row, LakeRow)
    assert (row.item_type, row.correlation_id) == (item_type, "corr-graded")
    assert "correlation_id" in lake_schema.file_schema().names


@pytest.mark.parametrize("stored", [None, "", 42, "x" * 129])
def test_an_item_without_a_usable_correlation_id_gives_an_empty_one(stored: object) -> None:
    image = evaluation() if stored is None else evaluation(correlation_id=stored)

    row = flatten("INSERT", image, CHANGED, KEY)

    assert isinstance(row, LakeRow)
    assert row.correlation_id == ""
