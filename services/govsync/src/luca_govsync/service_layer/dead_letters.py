"""The sync's DLQ: the batches the state machine gave up on, listed and redriven.

One use case for every caller: ``luca sync dlq|redrive`` (an operator, every school) through
``entrypoints.operations``, and ``GovSyncService.ListDeadLetters|RedriveDeadLetters`` (a school's
admin or a service acting for it, that school only) through ``service_layer.control``. A redrive
starts the executions (``SyncStarter.redrive``), then removes the messages it resent: a batch that
fails again is dead-lettered again, with a new message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from luca_govsync.domain.model import BatchRef, InvalidSyncRequest
from luca_govsync.service_layer.ports import DeadLetterQueue
from luca_govsync.service_layer.starter import Started, SyncStarter

log = logging.getLogger("luca.govsync.dead_letters")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A batch the state machine gave up on, as its DLQ message carries it."""

    ref: BatchRef
    message_id: str
    error: dict[str, Any]

    @property
    def correlation_id(self) -> str:
        """The request the batch was sent for when it failed (none in messages older than the id)."""
        return self.ref.correlation_id

    @classmethod
    def from_message(cls, message_id: str, body: str) -> DeadLetter:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise InvalidSyncRequest("a DLQ message is a JSON object")
        batch = {k: v for k, v in payload.items() if k not in ("error", "result")}
        return cls(BatchRef.from_json(batch), message_id, dict(payload.get("error") or {}))


@dataclass(frozen=True, slots=True)
class Redriven:
    started: list[Started]
    letters: list[DeadLetter]
    removed: int


class DeadLetters:
    def __init__(self, starter: SyncStarter, queue: DeadLetterQueue) -> None:
        self._starter, self._queue = starter, queue

    def list(self, school_id: str | None = None, period: str | None = None) -> list[DeadLetter]:
        """The DLQ's batches (of one school and period when given), oldest message order kept.
        A message that is not a batch reference is logged and left alone: nobody can redrive it."""
        letters = []
        for message_id, body in self._queue.messages():
            try:
                letter = DeadLetter.from_message(message_id, body)
            except (ValueError, TypeError) as error:  # JSONDecodeError and InvalidSyncRequest too
                log.warning(
                    "unreadable DLQ message left in place",
                    extra={"message_id": message_id, "error": str(error)[:200]},
                )
                continue
            if school_id is not None and letter.ref.school_id != school_id:
                continue
            if period and letter.ref.period != period:
                continue
            letters.append(letter)
        return letters

    def redrive(self, letters: Sequence[DeadLetter], by: str, correlation_id: str = "") -> Redriven:
        """Resends ``letters``' batches (on behalf of ``correlation_id``), then removes their messages."""
        if not letters:
            return Redriven([], [], 0)
        started = self._starter.redrive(
            [(letter.ref, letter.message_id) for letter in letters], by, correlation_id
        )
        removed = self._queue.remove({letter.message_id for letter in letters})
        return Redriven(started, list(letters), removed)
