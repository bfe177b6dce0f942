"""The grade processor with fake adapters: outcomes per record, one read and one write per batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ingest_support import FakeStore, FixedBatchRules, event_body
from luca_ingest.adapters.contract import decode_event
from luca_ingest.service_layer.processor import GradeProcessor, IncomingRecord, Status
from luca_kernel.grading import GradingRule, ScaleKind
from luca_kernel.ids import SchoolId, SubjectId
from luca_testing.fakes import FixedRules

NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore(
        students={"school-a": {"st-1": "1A", "st-2": "1A", "st-3": "2B"}, "school-b": {"st-9": "3C"}},
        subjects={"school-a": {"math", "art"}, "school-b": {"math"}},
    )


@pytest.fixture
def rules() -> FixedRules:
    percent = GradingRule(
        SubjectId("math"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal("60"), decimals=0
    )
    return FixedRules({("school-b", "math"): percent})


def processor(store: FakeStore, rules: FixedRules) -> GradeProcessor:
    return GradeProcessor(store, FixedBatchRules(rules), decode_event, clock=lambda: NOW)


def record(body: dict | str, school: str | None = "school-a", rid: str | None = None) -> IncomingRecord:
    text = body if isinstance(body, str) else json.dumps(body)
    return IncomingRecord(record_id=rid or f"m-{abs(hash(text)) % 10**8}", body=text, school_id=school)


def test_events_of_several_schools_are_graded_by_each_schools_rule_and_stored_in_one_write(
    store: FakeStore, rules: FixedRules
) -> None:
    records = [
        record(event_body("st-1", score="6.5"), rid="m1"),
        record(event_body("st-2", answers=[True, True, True, False, False]), rid="m2"),  # 60% -> 4.0
        record(event_body("st-9", course="3C", answers=[True, True, True, False]), "school-b", rid="m3"),
    ]
    outcome = processor(store, rules).process(records)

    assert {rid: o.status for rid, o in outcome.records.items()} == dict.fromkeys(
        ["m1", "m2", "m3"], Status.STORED
    )
    scores = {key[0]: result.score for school in store.stored.values() for key, result in school.items()}
    assert scores == {"st-1": Decimal("6.5"), "st-2": Decimal("4.0"), "st-9": Decimal("75")}
    assert sorted(store.snapshots) == [("school-a", 2), ("school-b", 1)]
    assert sorted(store.writes) == [("school-a", 2), ("school-b", 1)]
    assert (store.read_calls, store.write_calls, outcome.write_calls) == (1, 1, 1)
    assert set(outcome.school_seconds) == {"school-a", "school-b"}


def test_the_same_event_twice_in_a_batch_is_written_once(store: FakeStore, rules: FixedRules) -> None:
    body = event_body("st-1")
    outcome = processor(store, rules).process([record(body, rid="m1"), record(body, rid="m2")])

    assert outcome.records["m1"].status is Status.STORED
    assert outcome.records["m2"].status is Status.DUPLICATE
    assert store.writes == [("school-a", 1)]
    assert len(store.stored["school-a"]) == 1


def test_an_event_already_stored_is_a_duplicate_and_writes_nothing(
    store: FakeStore, rules: FixedRules
) -> None:
    body = event_body("st-1")
    processor(store, rules).process([record(body, rid="m1")])
    store.writes.clear()

    again = processor(store, rules).process([record(body, rid="m1-redelivered")])

    assert again.records["m1-redelivered"].status is Status.DUPLICATE
    assert store.writes == []
    assert again.write_calls == 0


def test_a_result_stored_meanwhile_by_another_invocation_is_a_duplicate(
    store: FakeStore, rules: FixedRules
) -> None:
    raced, fresh = event_body("st-1"), event_body("st-2")
    store.stored_meanwhile.add(("school-a", "st-1", raced["event_id"]))

    outcome = processor(store, rules).process([record(raced, rid="m1"), record(fresh, rid="m2")])

    assert outcome.records["m1"].status is Status.DUPLICATE
    assert outcome.records["m2"].status is Status.STORED


@pytest.mark.parametrize(
    ("body", "school", "reason"),
    [
        ("{not json", "school-a", "malformed"),
        (event_body("st-1", school_id="school-b"), "school-a", "malformed"),  # a school in the body
        (event_body("st-1", score="6.555"), "school-a", "malformed"),  # the contract allows 2 decimals
        (event_body("st-1", score="6.55"), "school-a", "invalid"),  # the school's rule keeps 1
        (event_body("st-1", schema_version=2), "school-a", "unsupported_schema_version"),
        (event_body("st-1"), None, "no_school_attribute"),
        (event_body("st-404"), "school-a", "unknown_student"),
        (event_body("st-3"), "school-a", "student_not_in_course"),
        (event_body("st-1", subject="latin"), "school-a", "unknown_subject"),
        (event_body("st-1", score="7.5"), "school-a", "score_out_of_scale"),
        (event_body("st-1", occurred_at="2099-01-01T00:00:00Z"), "school-a", "invalid"),
        (event_body("st-9", course="3C"), "school-a", "unknown_student"),  # another school's student
    ],
)
def test_an_unprocessable_record_fails_alone_with_its_reason(
    store: FakeStore, rules: FixedRules, body: dict | str, school: str | None, reason: str
) -> None:
    good = event_body("st-2")
    outcome = processor(store, rules).process([record(body, school, rid="bad"), record(good, rid="good")])

    assert outcome.records["bad"].status is Status.FAILED
    assert outcome.records["bad"].reason == reason
    assert outcome.records["bad"].permanent
    assert outcome.records["good"].status is Status.STORED
    assert outcome.failed == ["bad"]
    assert [key[0] for key in store.stored["school-a"]] == ["st-2"]


def test_a_school_whose_read_fails_is_retried_while_the_other_school_is_stored(
    store: FakeStore, rules: FixedRules
) -> None:
    store.fail_reads_for.add("school-b")
    outcome = processor(store, rules).process(
        [
            record(event_body("st-1"), rid="a1"),
            record(event_body("st-9", course="3C", score="80"), "school-b", rid="b1"),
        ]
    )

    assert outcome.records["a1"].status is Status.STORED
    assert outcome.records["b1"].status is Status.FAILED
    assert outcome.records["b1"].reason == "transient"
    assert not outcome.records["b1"].permanent


def test_a_failed_write_fails_every_record_it_carried_as_transient_and_nothing_else(
    store: FakeStore, rules: FixedRules
) -> None:
    # One write carries every school's results: if it fails, they all come back (and are recognised
    # as duplicates where a retry finds them stored); a record settled without a write is unaffected.
    store.fail_writes_for.add("school-b")
    outcome = processor(store, rules).process(
        [
            record(event_body("st-1"), rid="a1"),
            record(event_body("st-9", course="3C", score="80"), "school-b", rid="b1"),
            record(event_body("st-404"), rid="bad"),
        ]
    )

    assert {rid: (o.status, o.reason) for rid, o in outcome.records.items()} == {
        "a1": (Status.FAILED, "transient"),
        "b1": (Status.FAILED, "transient"),
        "bad": (Status.FAILED, "unknown_student"),
    }
    assert store.stored == {}


def test_a_repeat_of_a_failed_record_fails_with_it(store: FakeStore, rules: FixedRules) -> None:
    body = event_body("st-404")
    outcome = processor(store, rules).process([record(body, rid="m1"), record(body, rid="m2")])
    assert outcome.failed == ["m1", "m2"]


def test_a_dry_run_reports_outcomes_and_writes_nothing(store: FakeStore, rules: FixedRules) -> None:
    outcome = processor(store, rules).process(
        [record(event_body("st-1"), rid="ok"), record(event_body("st-404"), rid="bad")], write=False
    )
    assert outcome.records["ok"].status is Status.STORED
    assert outcome.records["bad"].reason == "unknown_student"
    assert store.writes == []
    assert store.stored == {}


def test_grading_uses_each_schools_own_rule(store: FakeStore, rules: FixedRules) -> None:
    # The same answers: 75% correct is 5.1 on school A's Chilean default and 75 on school B's percentage scale.
    answers = [True, True, True, False]
    processor(store, rules).process(
        [
            record(event_body("st-1", answers=answers), rid="a"),
            record(event_body("st-9", course="3C", answers=answers), "school-b", rid="b"),
        ]
    )
    assert [r.score for r in store.stored["school-a"].values()] == [Decimal("5.1")]
    assert [r.score for r in store.stored["school-b"].values()] == [Decimal("75")]
    assert all(r.event.school_id == SchoolId("school-b") for r in store.stored["school-b"].values())


def test_a_students_submission_naming_another_student_is_refused(store: FakeStore, rules: FixedRules) -> None:
    own, classmate = event_body("st-1"), event_body("st-2")
    records = [
        IncomingRecord("own", json.dumps(own), "school-a", submitted_by_student="st-1"),
        IncomingRecord("classmate", json.dumps(classmate), "school-a", submitted_by_student="st-1"),
        IncomingRecord("teacher", json.dumps(event_body("st-2")), "school-a"),  # no student behind the token
    ]
    outcome = processor(store, rules).process(records)

    assert outcome.records["own"].status is Status.STORED
    assert outcome.records["teacher"].status is Status.STORED
    assert outcome.records["classmate"].status is Status.FAILED
    assert outcome.records["classmate"].reason == "student_not_the_submitter"
    assert outcome.records["classmate"].permanent
