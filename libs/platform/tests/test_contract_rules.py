"""The buf.validate rules read off descriptors, as JSON Schema keywords and pydantic arguments; and
the ingest contract, where the edge's schema and protovalidate must refuse the same events."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import protovalidate
import pytest
from google.protobuf import json_format

from luca.analytics.v1 import analytics_pb2
from luca.grading.v1 import grading_pb2
from luca.ingest.v1 import ingest_pb2
from luca_platform.contract_rules import FieldConstraints, field_constraints, oneof_required, pydantic_field

RECORD = grading_pb2.RecordEvaluationRequest.DESCRIPTOR


def test_a_required_id_gives_its_pattern_and_lengths() -> None:
    rules = field_constraints(RECORD.fields_by_name["student_id"])

    assert rules == FieldConstraints(required=True, pattern="^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$", max_len=64)
    assert rules.json_schema() == {"pattern": rules.pattern, "minLength": 1, "maxLength": 64}
    assert rules.in_required_list
    assert pydantic_field(RECORD, "student_id") == {
        "pattern": rules.pattern,
        "min_length": 1,
        "max_length": 64,
    }


def test_a_field_without_rules_has_no_constraints() -> None:
    assert (
        field_constraints(grading_pb2.Evaluation.DESCRIPTOR.fields_by_name["student_id"])
        == FieldConstraints()
    )
    assert pydantic_field(RECORD, "weight") == {}


def test_an_optional_filter_lets_the_empty_value_through() -> None:
    rules = field_constraints(analytics_pb2.SubjectAveragesRequest.DESCRIPTOR.fields_by_name["term_id"])

    assert rules.empty_allowed
    assert not rules.in_required_list
    assert rules.full_pattern == "^$|^[0-9]{4}-T[1-4]$"
    assert rules.json_schema() == {"pattern": "^$|^[0-9]{4}-T[1-4]$"}


def test_repeated_and_numeric_bounds() -> None:
    events = field_constraints(ingest_pb2.SubmitEventsRequest.DESCRIPTOR.fields_by_name["events"])
    decimals = field_constraints(grading_pb2.GradingRule.DESCRIPTOR.fields_by_name["decimals"])

    assert events.json_schema() == {"minItems": 1, "maxItems": 10}
    assert events.in_required_list
    assert events.pydantic() == {"min_length": 1, "max_length": 10}
    assert decimals.json_schema() == {"minimum": 0, "maximum": 2}
    assert decimals.pydantic() == {"ge": 0, "le": 2}


def test_allowed_values_become_an_enum() -> None:
    version = field_constraints(ingest_pb2.StudentEvent.DESCRIPTOR.fields_by_name["schema_version"])

    assert version.allowed == (1,)
    assert version.json_schema()["enum"] == [1]
    with pytest.raises(ValueError, match="Literal"):
        version.pydantic()


def test_oneof_rules() -> None:
    assert oneof_required(ingest_pb2.StudentEvent.DESCRIPTOR.oneofs_by_name["kind"])


def _event(**change: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "evt-00000001",
        "student_id": "st-1",
        "course_id": "c-1",
        "subject_id": "math",
        "occurred_at": "2026-03-01T10:00:00Z",
        "schema_version": 1,
        "exercise_submission": {"exercise_id": "ex-1", "score": "6.5"},
    }
    event.update(change)
    return {k: v for k, v in event.items() if v is not None}


INVALID_BATCHES: dict[str, dict[str, Any]] = {
    "too many events": {"events": [_event(event_id=f"evt-{n:08d}") for n in range(11)]},
    "no events": {"events": []},
    "bad id": {"events": [_event(student_id="st 1")]},
    "too long id": {"events": [_event(course_id="c" * 65)]},
    "bad pattern": {"events": [_event(event_id="short")]},
    "missing required": {"events": [_event(occurred_at=None)]},
    "unknown schema version": {"events": [_event(schema_version=2)]},
    "too many answers": {
        "events": [
            _event(
                exercise_submission={
                    "exercise_id": "ex-1",
                    "answers": {"items": [{"question_id": "q", "correct": True}] * 201},
                }
            )
        ]
    },
}


@pytest.fixture(scope="module")
def batch_schema() -> dict[str, Any]:
    source = resources.files("luca.ingest.v1.schemas").joinpath("SubmitEventsRequest.schema.json")
    loaded: dict[str, Any] = json.loads(source.read_text())
    return loaded


@pytest.mark.parametrize("case", list(INVALID_BATCHES))
def test_the_edge_schema_and_protovalidate_refuse_the_same_batches(
    batch_schema: dict[str, Any], case: str
) -> None:
    document = INVALID_BATCHES[case]

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, batch_schema)
    message = json_format.ParseDict(document, ingest_pb2.SubmitEventsRequest())
    assert protovalidate.Validator().collect_violations(message)


def test_a_valid_batch_passes_both(batch_schema: dict[str, Any]) -> None:
    document = {"events": [_event()]}

    jsonschema.validate(document, batch_schema)
    message = json_format.ParseDict(document, ingest_pb2.SubmitEventsRequest())
    assert protovalidate.Validator().collect_violations(message) == []
