"""What every grading use case checks the same way: ids, idempotency keys, names, request fingerprints,
and the answer of an idempotent write."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from luca_grading.service_layer.ports import IdempotencyRecord
from luca_kernel.errors import IdempotencyKeyReused, InvalidInput

T = TypeVar("T")

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
MAX_TEXT = 2000
MAX_REASON = 500


def check_id(value: str, field: str) -> str:
    # fullmatch: a pattern's "$" also matches before a trailing newline, which the contract refuses.
    if not ID_PATTERN.fullmatch(value or ""):
        raise InvalidInput(
            f"{field} must be 1-64 characters of letters, digits, '_', '.', ':' or '-'", field=field
        )
    return value


def check_idempotency_key(value: str, field: str) -> str:
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(value or ""):
        raise InvalidInput(
            f"{field} must be 8-128 characters of letters, digits, '_', '.', ':' or '-' (a UUID is ideal)",
            field=field,
        )
    return value


def check_name(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= 200:
        raise InvalidInput("name must be 1-200 characters", field="name")
    return value


def check_reason(value: str) -> str:
    """Every change to an official record says why: required, and short enough to read."""
    value = (value or "").strip()
    if not 1 <= len(value) <= MAX_REASON:
        raise InvalidInput(f"reason is required (1-{MAX_REASON} characters)", field="reason")
    return value


def fingerprint(payload: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Recorded(Generic[T]):
    value: T
    replayed: bool


def replay(
    record: IdempotencyRecord | None, request_fingerprint: str, load: Callable[[str], T | None]
) -> Recorded[T] | None:
    """The first result for an idempotency key already used with this body; None for a new key."""
    if record is None:
        return None
    if record.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different request", field="idempotency_key"
        )
    first = load(record.result_ref)
    if first is None:  # pragma: no cover - written in the same transaction as the record
        raise IdempotencyKeyReused("the first request with this key left no result")
    return Recorded(first, replayed=True)
