"""What the ministry answered to a sync's amendments and retractions, counted (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ChangeKind(StrEnum):
    AMENDMENT = "amendment"  # a later version of a record the ministry accepted
    RETRACTION = "retraction"  # a record the ministry accepted, since retracted


@dataclass(frozen=True, slots=True)
class ChangeTally:
    """What the ministry answered to a changes batch's amendments and retractions, so far."""

    amendments_accepted: int = 0
    amendments_rejected: int = 0
    retractions_accepted: int = 0
    retractions_rejected: int = 0
    # Answers the ministry gave from its deduplication: a resend after an answer was lost.
    amendments_replayed: int = 0
    retractions_replayed: int = 0

    def to_json(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_json(cls, value: object) -> ChangeTally:
        if not isinstance(value, dict):
            return cls()
        return cls(**{name: int(value.get(name, 0)) for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class ChangeCounts:
    """One kind of change in a sync's report: sent, and how each ended (failed: in the DLQ)."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    replayed: int = 0

    def to_json(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}
