"""How the simulated ministry reads a grade batch or a change and judges them. Pure functions, no state.

Reading enforces the contract (``ministry/openapi.yaml``): a batch or a change that breaks it is
refused as a whole (422). Judging is per record and deterministic, so the same record always gets
the same verdict: a grade outside the national scale, a student the registry does not know, or a
share of records picked by a hash of their id. A change is judged against what the ministry holds
of its record: none, a retraction, a version not earlier than the change's.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from luca_govsync.ministry import GRADE_MAX, GRADE_MIN, ID_PATTERN, MAX_RECORDS_PER_BATCH, SCHOOL_CODE_PATTERN
from luca_govsync.simulator.faults import FaultPlan

BATCH_ID_PATTERN = re.compile(ID_PATTERN)
SCHOOL_CODE = re.compile(SCHOOL_CODE_PATTERN)
PERIOD_PATTERN = re.compile(r"^[0-9]{4}-T[1-4]$")
GRADE_PATTERN = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3})?$")
RECORD_FIELDS = ("record_id", "student_id", "course_id", "subject_id", "grade", "recorded_at")
_MAX_LENGTHS = {"record_id": 128, "student_id": 64, "course_id": 64, "subject_id": 64, "school_code": 64}

AMENDMENT_FIELDS = ("student_id", "course_id", "subject_id", "grade", "recorded_at")

GRADE_OUT_OF_RANGE = "GRADE_OUT_OF_RANGE"
UNKNOWN_STUDENT = "UNKNOWN_STUDENT"
ENROLLMENT_MISMATCH = "ENROLLMENT_MISMATCH"
RECORD_NOT_FOUND = "RECORD_NOT_FOUND"
RECORD_RETRACTED = "RECORD_RETRACTED"
STALE_VERSION = "STALE_VERSION"


class BatchInvalid(ValueError):
    """The batch breaks the contract; ``errors`` are (JSON pointer, what is wrong), no values."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{pointer}: {detail}" for pointer, detail in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class SubmittedRecord:
    record_id: str
    student_id: str
    course_id: str
    subject_id: str
    grade: str
    recorded_at: str
    version: int = 1


@dataclass(frozen=True, slots=True)
class SubmittedBatch:
    school_code: str
    period: str
    records: tuple[SubmittedRecord, ...]

    def fingerprint(self) -> str:
        """Equal for equal payloads; the order of the records does not count."""
        rows = sorted(
            [*(getattr(record, name) for name in RECORD_FIELDS), str(record.version)]
            for record in self.records
        )
        canonical = json.dumps([self.school_code, self.period, rows], separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RecordVerdict:
    record_id: str
    status: str
    reason_code: str = ""
    reason: str = ""

    def to_json(self) -> dict[str, str]:
        out = {"record_id": self.record_id, "status": self.status}
        if self.reason_code:
            out["reason_code"] = self.reason_code
            out["reason"] = self.reason
        return out


def read_batch(body: Any) -> SubmittedBatch:
    """The batch in ``body`` (parsed JSON), or ``BatchInvalid`` listing every breach of the contract."""
    if not isinstance(body, dict):
        raise BatchInvalid([("", "the body must be a JSON object")])
    errors: list[tuple[str, str]] = []
    for extra in sorted(set(body) - {"school_code", "period", "records"}):
        errors.append((f"/{extra}", "unknown field"))
    school_code = _text(body, "school_code", "", errors)
    period = _text(body, "period", "", errors)
    if period and not PERIOD_PATTERN.match(period):
        errors.append(("/period", "must be a term such as 2025-T1"))
    records_json = body.get("records")
    records: list[SubmittedRecord] = []
    if not isinstance(records_json, list) or not records_json:
        errors.append(("/records", "must be a non-empty array"))
    elif len(records_json) > MAX_RECORDS_PER_BATCH:
        errors.append(("/records", f"at most {MAX_RECORDS_PER_BATCH} records per batch"))
    else:
        seen: set[str] = set()
        for index, item in enumerate(records_json):
            record_id = item.get("record_id") if isinstance(item, dict) else None
            if isinstance(record_id, str) and record_id in seen:
                errors.append((f"/records/{index}/record_id", "record id repeated in the batch"))
            elif isinstance(record_id, str):
                seen.add(record_id)
            record = _record(item, f"/records/{index}", errors)
            if record is not None:
                records.append(record)
    if errors:
        raise BatchInvalid(errors)
    return SubmittedBatch(school_code=school_code, period=period, records=tuple(records))


def _record(item: Any, pointer: str, errors: list[tuple[str, str]]) -> SubmittedRecord | None:
    if not isinstance(item, dict):
        errors.append((pointer, "a record must be a JSON object"))
        return None
    before = len(errors)
    for extra in sorted(set(item) - {*RECORD_FIELDS, "version"}):
        errors.append((f"{pointer}/{extra}", "unknown field"))
    values = {name: _text(item, name, pointer, errors) for name in RECORD_FIELDS}
    _check_grade_fields(values, pointer, errors)
    version = _version(item, pointer, errors, minimum=1) if "version" in item else 1
    return None if len(errors) > before else SubmittedRecord(**values, version=version)


def _check_grade_fields(values: dict[str, str], pointer: str, errors: list[tuple[str, str]]) -> None:
    if values["grade"] and not GRADE_PATTERN.match(values["grade"]):
        errors.append((f"{pointer}/grade", "must be a decimal string such as 6.5"))
    if values["recorded_at"]:
        try:
            moment = datetime.fromisoformat(values["recorded_at"])
        except ValueError:
            errors.append((f"{pointer}/recorded_at", "must be an RFC 3339 date-time"))
        else:
            if moment.tzinfo is None:
                errors.append((f"{pointer}/recorded_at", "must carry a time zone offset"))


def _version(item: dict[str, Any], pointer: str, errors: list[tuple[str, str]], *, minimum: int) -> int:
    value = item.get("version")
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        errors.append((f"{pointer}/version", f"required, an integer of at least {minimum}"))
        return 0
    return value


@dataclass(frozen=True, slots=True)
class SubmittedChange:
    """An amendment (with the record's later version in full) or a retraction of one record."""

    kind: str  # "amendment" or "retraction"
    school_code: str
    period: str
    record_id: str
    version: int
    values: tuple[tuple[str, str], ...] = ()  # an amendment's fields, in AMENDMENT_FIELDS order

    def fingerprint(self) -> str:
        canonical = json.dumps(
            [self.kind, self.school_code, self.period, self.record_id, self.version, self.values],
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def value(self, name: str) -> str:
        return dict(self.values).get(name, "")


def read_change(kind: str, path: dict[str, str], body: Any) -> SubmittedChange:
    """The change in the path and ``body`` (parsed JSON), or ``BatchInvalid`` listing every breach."""
    errors: list[tuple[str, str]] = []
    for name, pattern in (
        ("school_code", SCHOOL_CODE),
        ("period", PERIOD_PATTERN),
        ("record_id", BATCH_ID_PATTERN),
        ("client_change_id", BATCH_ID_PATTERN),
    ):
        if not pattern.match(path.get(name, "")):
            errors.append(("", f"the path's {name} does not match the contract's pattern"))
    if not isinstance(body, dict):
        raise BatchInvalid([*errors, ("", "the body must be a JSON object")])
    allowed = {"version", *AMENDMENT_FIELDS} if kind == "amendment" else {"version"}
    for extra in sorted(set(body) - allowed):
        errors.append((f"/{extra}", "unknown field"))
    version = _version(body, "", errors, minimum=2)
    values: dict[str, str] = {}
    if kind == "amendment":
        values = {name: _text(body, name, "", errors) for name in AMENDMENT_FIELDS}
        _check_grade_fields(values, "", errors)
    if errors:
        raise BatchInvalid(errors)
    return SubmittedChange(
        kind,
        path["school_code"],
        path["period"],
        path["record_id"],
        version,
        tuple((name, values[name]) for name in AMENDMENT_FIELDS if name in values),
    )


@dataclass(frozen=True, slots=True)
class HeldRecord:
    """What the ministry holds of one record: its version, its grade, whether it was retracted."""

    version: int
    grade: str
    retracted: bool = False


def judge_change(change: SubmittedChange, held: HeldRecord | None, plan: FaultPlan) -> RecordVerdict:
    """The ministry's answer to a change of what it holds (the same inputs, the same answer)."""
    if held is None:
        return RecordVerdict(change.record_id, "rejected", RECORD_NOT_FOUND, "no such record was accepted")
    if held.retracted:
        return RecordVerdict(change.record_id, "rejected", RECORD_RETRACTED, "the record was retracted")
    if change.version <= held.version:
        return RecordVerdict(
            change.record_id,
            "rejected",
            STALE_VERSION,
            f"version {change.version} is not later than the version held ({held.version})",
        )
    if change.kind == "amendment":
        if not Decimal(GRADE_MIN) <= Decimal(change.value("grade")) <= Decimal(GRADE_MAX):
            return RecordVerdict(
                change.record_id,
                "rejected",
                GRADE_OUT_OF_RANGE,
                f"grade outside the {GRADE_MIN}-{GRADE_MAX} scale",
            )
        if change.value("student_id") in plan.unknown_students:
            return RecordVerdict(
                change.record_id, "rejected", UNKNOWN_STUDENT, "the student is not in the national registry"
            )
    return RecordVerdict(change.record_id, "accepted")


def _text(container: dict[str, Any], name: str, pointer: str, errors: list[tuple[str, str]]) -> str:
    value = container.get(name)
    if not isinstance(value, str) or not value:
        errors.append((f"{pointer}/{name}", "required, a non-empty string"))
        return ""
    if len(value) > _MAX_LENGTHS.get(name, 64):
        errors.append((f"{pointer}/{name}", f"at most {_MAX_LENGTHS.get(name, 64)} characters"))
        return ""
    return value


def judge(record: SubmittedRecord, plan: FaultPlan) -> RecordVerdict:
    """The ministry's verdict on one record: the same record and plan, the same verdict."""
    if not Decimal(GRADE_MIN) <= Decimal(record.grade) <= Decimal(GRADE_MAX):
        return RecordVerdict(
            record.record_id,
            "rejected",
            GRADE_OUT_OF_RANGE,
            f"grade outside the {GRADE_MIN}-{GRADE_MAX} scale",
        )
    if record.student_id in plan.unknown_students:
        return RecordVerdict(
            record.record_id, "rejected", UNKNOWN_STUDENT, "the student is not in the national registry"
        )
    if plan.reject_rate and _share(record.record_id) < plan.reject_rate:
        return RecordVerdict(
            record.record_id, "rejected", ENROLLMENT_MISMATCH, "the student is not enrolled in this course"
        )
    return RecordVerdict(record.record_id, "accepted")


def _share(record_id: str) -> float:
    """A stable number in [0, 1) for a record id (the same on every run and machine)."""
    return int.from_bytes(hashlib.sha256(record_id.encode()).digest()[:8], "big") / 2**64
