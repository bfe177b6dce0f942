"""Protobuf scalars of the grading API to and from domain values (timestamps, exact decimals)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from google.protobuf import timestamp_pb2

from luca.common.v1 import common_pb2
from luca.grading.v1 import grading_pb2
from luca_grading.domain.model import Evaluation
from luca_kernel.errors import InvalidInput
from luca_kernel.grading import parse_decimal


def timestamp_pb(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def decimal_pb(value: Decimal) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=str(value))


def required_decimal(message: common_pb2.Decimal, field: str) -> Decimal:
    if not message.value:
        raise InvalidInput(f"{field} is required", field=field)
    return parse_decimal(message.value, field_name=field)


def optional_decimal(message: common_pb2.Decimal, field: str) -> Decimal | None:
    """An unset decimal (no value) means "keep it"; a set one must parse."""
    return parse_decimal(message.value, field_name=field) if message.value else None


def evaluation_pb(e: Evaluation) -> grading_pb2.Evaluation:
    return grading_pb2.Evaluation(
        evaluation_id=e.evaluation_id,
        student_id=e.student_id,
        course_id=e.course_id,
        subject_id=e.subject_id,
        term_id=e.term_id,
        score=decimal_pb(e.score),
        weight=decimal_pb(e.weight),
        teacher_id=e.teacher_id,
        recorded_at=timestamp_pb(e.recorded_at),
        description=e.description,
        version=e.version,
        retracted=e.retracted,
        updated_at=timestamp_pb(e.updated_at),
    )
