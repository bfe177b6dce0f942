"""The published data contracts themselves: what ``ItemContract.check`` promises, the roster and rules
codecs, the school prefix on every key they build, and the guard that keeps keys inside a school."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import pytest

from luca_kernel.errors import TenantBoundaryViolation
from luca_kernel.grading import DEFAULT_SUBJECT, GradingRule, Rounding, ScaleKind
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId
from luca_kernel.roster import Course, Student, Subject
from luca_kernel.rule_cache import RuleCache
from luca_platform.aws import AwsClients
from luca_platform.contracts import ContractViolation, ItemContract, exercise_results, grades, roster, rules
from luca_platform.table import guard, keys
from luca_platform.table.codec import from_wire, to_wire

SCHOOL_A, SCHOOL_AB = SchoolId("school-a"), SchoolId("school-ab")
ALL_CONTRACTS: tuple[ItemContract, ...] = (
    *roster.CONTRACTS,
    rules.RULE,
    *grades.CONTRACTS,
    *exercise_results.CONTRACTS,
)
SERVICES = frozenset({"grading", "ingest", "govsync", "analytics"})

EXAMPLE = ItemContract(
    "Example",
    "grading",
    2,
    {"name": "string", "count": "integer", "score": "number", "flag": "boolean"},
    optional={"note": "string"},
)


def good_example(**overrides: Any) -> dict[str, Any]:
    item = {
        "type": "Example",
        "schema_version": 2,
        "name": "x",
        "count": 3,
        "score": Decimal("6.5"),
        "flag": False,
        "extra": "owners may add what they do not publish",
    }
    item.update(overrides)
    return item


def round_trip(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as a reader gets it back from the table."""
    return from_wire(to_wire(item))


# -- ItemContract.check ---------------------------------------------------------------------------
def test_a_good_item_keeps_the_contract() -> None:
    EXAMPLE.check(good_example())
    EXAMPLE.check(good_example(note="optional", score=7, count=Decimal(3)))
    EXAMPLE.check(round_trip(good_example()))


def test_a_bad_item_is_refused_naming_every_broken_promise() -> None:
    bad = {
        "type": "Other",
        "schema_version": 1,
        "name": 5,
        "score": True,  # a boolean is not a number, though Python says it is an int
        "flag": "yes",
        "note": 7,
    }
    with pytest.raises(ContractViolation) as raised:
        EXAMPLE.check(bad)
    message = str(raised.value)
    assert message.startswith("Example v2: ")
    for problem in (
        "type is 'Other', not 'Example'",
        "schema_version is not 2",
        "name is not a string",
        "missing count",
        "score is not a number",
        "flag is not a boolean",
        "note is not a string",
    ):
        assert problem in message
    assert message.count(";") == 6


def test_a_none_required_attribute_is_missing_and_a_none_optional_one_is_absent() -> None:
    with pytest.raises(ContractViolation, match="missing name"):
        EXAMPLE.check(good_example(name=None))
    EXAMPLE.check(good_example(note=None))


def test_a_contract_violation_is_a_value_error() -> None:
    assert issubclass(ContractViolation, ValueError)


# -- the published contracts ----------------------------------------------------------------------
def test_every_published_contract_names_its_type_owner_readers_and_identity() -> None:
    names = [contract.type_name for contract in ALL_CONTRACTS]
    assert len(names) == len(set(names))
    for contract in ALL_CONTRACTS:
        assert contract.owner in SERVICES
        assert contract.readers, f"{contract.type_name} is published but nobody reads it"
        assert set(contract.readers) <= SERVICES - {contract.owner}
        assert contract.required.get("school_id") == "string"
        assert not set(contract.required) & set(contract.optional)


def test_the_government_sync_reads_only_what_the_grades_contract_requires() -> None:
    assert set(grades.SYNC_ATTRIBUTES) <= set(grades.EVALUATION.required) | set(grades.EVALUATION.optional)


# -- roster ---------------------------------------------------------------------------------------
STUDENT = Student(SCHOOL_A, StudentId("st-1"), CourseId("1A"), "Ana Rojas")
SUBJECT = Subject(SCHOOL_A, SubjectId("math"), "Matemática")
COURSE = Course(SCHOOL_A, CourseId("1A"), "Primero A")


@pytest.mark.parametrize(
    ("value", "build", "parse", "contract"),
    [
        (STUDENT, roster.student_item, roster.student_from, roster.STUDENT),
        (SUBJECT, roster.subject_item, roster.subject_from, roster.SUBJECT),
        (COURSE, roster.course_item, roster.course_from, roster.COURSE),
    ],
    ids=["student", "subject", "course"],
)
def test_roster_items_keep_their_contract_and_round_trip(
    value: Any, build: Any, parse: Any, contract: Any
) -> None:
    item = build(value)
    contract.check(item)
    contract.check(round_trip(item))
    assert parse(item) == value
    assert parse(round_trip(item)) == value


def test_roster_keys_start_with_the_school_prefix() -> None:
    prefix = keys.school_prefix(SCHOOL_A)
    for item in (roster.student_item(STUDENT), roster.subject_item(SUBJECT), roster.course_item(COURSE)):
        for attribute in keys.PARTITION_KEY_ATTRIBUTES:
            if attribute in item:
                assert item[attribute].startswith(prefix), attribute
    for key in (
        roster.student_pk(SCHOOL_A, "st-1"),
        roster.catalog_pk(SCHOOL_A),
        roster.course_roster_pk(SCHOOL_A, "1A"),
        rules.rules_pk(SCHOOL_A),
        grades.school_term_pk(SCHOOL_A, "2025-T1"),
    ):
        assert key.startswith(prefix)
        guard.check_key(SCHOOL_A, key)


def test_a_student_is_on_the_course_roster_index() -> None:
    item = roster.student_item(STUDENT)
    assert item[keys.COURSE_TERM_INDEX.partition_key] == roster.course_roster_pk(SCHOOL_A, "1A")
    assert item[keys.COURSE_TERM_INDEX.sort_key].startswith(roster.ROSTER_SK_PREFIX)
    assert roster.course_item(COURSE)[keys.TABLE_SORT_KEY].startswith(roster.COURSE_SK_PREFIX)


@pytest.mark.parametrize("forged", ["st#1", "", "a#SCHOOL#b"])
def test_a_key_part_that_could_forge_another_key_is_refused(forged: str) -> None:
    with pytest.raises(ValueError, match="key part"):
        roster.student_pk(SCHOOL_A, forged)
    with pytest.raises(ValueError, match="key part"):
        keys.school_prefix(forged)


# -- rules ----------------------------------------------------------------------------------------
PERCENT = GradingRule(
    subject_id=SubjectId("art"),
    scale=ScaleKind.PERCENTAGE,
    passing_grade=Decimal("60"),
    rounding=Rounding.HALF_EVEN,
    decimals=0,
    default_weight=Decimal("2"),
    updated_at=datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
)


@pytest.mark.parametrize("rule", [PERCENT, GradingRule(subject_id=DEFAULT_SUBJECT)], ids=["full", "default"])
def test_rule_items_keep_their_contract_and_round_trip(rule: GradingRule) -> None:
    item = rules.rule_item(SCHOOL_A, rule)
    rules.RULE.check(item)
    rules.RULE.check(round_trip(item))
    assert rules.rule_from(item) == rule
    assert rules.rule_from(round_trip(item)) == rule
    assert item[keys.TABLE_PARTITION_KEY] == rules.rules_pk(SCHOOL_A)
    assert item[keys.TABLE_PARTITION_KEY].startswith(keys.school_prefix(SCHOOL_A))


class _FakeDynamo:
    def __init__(self, items: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
        self.items = {key: to_wire(item) for key, item in items.items()}
        self.gets: list[dict[str, Any]] = []

    def get_item(self, *, TableName: str, Key: Mapping[str, Any]) -> dict[str, Any]:
        key = from_wire(Key)
        self.gets.append(key)
        found = self.items.get((key[keys.TABLE_PARTITION_KEY], key[keys.TABLE_SORT_KEY]))
        return {"Item": found} if found else {}


class _FakeClients:
    def __init__(self, dynamo: _FakeDynamo) -> None:
        self.dynamo = dynamo
        self.schools: list[str] = []

    def dynamodb_for(self, school_id: str) -> _FakeDynamo:
        self.schools.append(school_id)
        return self.dynamo


def test_table_rules_read_the_rule_in_force_with_the_schools_client_and_cache_it() -> None:
    school_default = GradingRule(subject_id=DEFAULT_SUBJECT, passing_grade=Decimal("4.5"))
    stored = {
        (rules.rules_pk(SCHOOL_A), rules.rule_sk("art")): rules.rule_item(SCHOOL_A, PERCENT),
        (rules.rules_pk(SCHOOL_A), rules.rule_sk("*")): rules.rule_item(SCHOOL_A, school_default),
    }
    clients = _FakeClients(_FakeDynamo(stored))
    table = rules.TableRules(cast(AwsClients, clients), "table", RuleCache(ttl_seconds=60))
    assert table.rule_for(SCHOOL_A, "art") == PERCENT
    assert table.rule_for(SCHOOL_A, "art") == PERCENT
    assert table.reads == 1
    history = table.rule_for(SCHOOL_A, "history")
    assert (history.subject_id, history.passing_grade) == ("history", Decimal("4.5"))
    assert table.rule_for(SCHOOL_AB, "art").passing_grade == Decimal("4.0")  # nothing stored for AB
    assert set(clients.schools) == {SCHOOL_A, SCHOOL_AB}
    for key in clients.dynamo.gets:
        assert key[keys.TABLE_PARTITION_KEY] in {rules.rules_pk(SCHOOL_A), rules.rules_pk(SCHOOL_AB)}


# -- the school-prefix guard ----------------------------------------------------------------------
def test_the_guard_admits_the_schools_own_keys() -> None:
    item = roster.student_item(STUDENT)
    guard.check_item(SCHOOL_A, item)
    guard.check_item(SCHOOL_A, {keys.SCHOOL_TERM_INDEX.partition_key: grades.school_term_pk(SCHOOL_A, "T1")})
    guard.check_key(SCHOOL_A, roster.catalog_pk(SCHOOL_A))


@pytest.mark.parametrize("other", ["school-b", "school-ab", "school-", "SCHOOL-A"])
def test_the_guard_refuses_another_schools_keys_including_a_prefix_extension(other: str) -> None:
    with pytest.raises(TenantBoundaryViolation):
        guard.check_key(SCHOOL_A, roster.catalog_pk(other))
    with pytest.raises(TenantBoundaryViolation):
        guard.check_item(
            SCHOOL_A, roster.student_item(Student(SchoolId(other), StudentId("st-1"), CourseId("1A"), "X"))
        )


@pytest.mark.parametrize("attribute", keys.PARTITION_KEY_ATTRIBUTES)
def test_the_guard_checks_every_partition_key_attribute(attribute: str) -> None:
    item = roster.student_item(STUDENT)
    item[attribute] = roster.catalog_pk(SCHOOL_AB)
    with pytest.raises(TenantBoundaryViolation) as raised:
        guard.check_item(SCHOOL_A, item)
    assert SCHOOL_AB not in str(raised.value)  # another tenant's id never reaches a log


def test_the_guard_refuses_a_key_without_a_partition_key_and_unprefixed_keys() -> None:
    with pytest.raises(TenantBoundaryViolation):
        guard.check_item(SCHOOL_A, {keys.TABLE_PARTITION_KEY: None, keys.TABLE_SORT_KEY: "STUDENT"})
    with pytest.raises(TenantBoundaryViolation):
        guard.check_key(SCHOOL_A, "school-a#STUDENT#st-1")
    with pytest.raises(TenantBoundaryViolation):
        guard.check_key(SCHOOL_A, "SCHOOL#school-a")  # no trailing separator: could be school-ab's
