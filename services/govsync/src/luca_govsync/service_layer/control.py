"""The government sync for its internal clients: start a school's sync, see where it stands, list
its runs and its failed batches, list and redrive its dead letters. Who may do what is decided
here, from a verified principal: a school's admins and services acting for that school, for their
own school only.

Redriving is an operator's act, and over this API the operator is the school's: its admins, or an
internal tool holding a service token for the school. Teachers and students may not (PERMISSION
DENIED), and nobody reaches another school's dead letters here: the DLQ is shared, so listing
filters on the caller's school and a redrive naming another school's message is refused before
anything starts. Redriving every school at once is the platform operators' ``luca sync redrive``,
with AWS credentials (CloudTrail records who), not this API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from luca_govsync.domain.model import BatchState, BatchStatus, SyncKey, SyncProgress, parse_period
from luca_govsync.service_layer.dead_letters import DeadLetter, DeadLetters, Redriven
from luca_govsync.service_layer.ports import DeadLetterQueue, Executions, GradeSource, SyncStore, Terms
from luca_govsync.service_layer.starter import Started, SyncStarter
from luca_kernel.access import Principal, Role
from luca_kernel.errors import Forbidden


class SyncNotFound(LookupError):
    pass


class DeadLettersUnavailable(RuntimeError):
    """This deployment was given no DLQ to read (its settings name none)."""


@dataclass(frozen=True, slots=True)
class StartedSync:
    started: Started
    progress: SyncProgress | None


def target_school(principal: Principal, school_id: str) -> str:
    """The school a request may act on: the caller's own (an empty school means it), never another."""
    if not principal.has(Role.ADMIN, Role.SERVICE):
        raise Forbidden("only a school's admins (or a service acting for the school) may manage its sync")
    school = school_id or principal.school_id
    if school != principal.school_id:
        raise Forbidden("you may only manage your own school's sync")
    return school


class SyncControl:
    def __init__(
        self,
        *,
        executions: Executions,
        store: SyncStore,
        terms: Terms,
        grades: GradeSource,
        dead_letter_queue: DeadLetterQueue | None = None,
    ) -> None:
        self._starter = SyncStarter(executions, terms=terms, grades=grades, store=store)
        self._store = store
        self._dead_letters = (
            None if dead_letter_queue is None else DeadLetters(self._starter, dead_letter_queue)
        )

    def start(
        self, principal: Principal, period: str, school_id: str, correlation_id: str = ""
    ) -> StartedSync:
        school = target_school(principal, school_id)
        (started,) = self._starter.start(parse_period(period), [school], principal.actor_id, correlation_id)
        return StartedSync(started, self._store.progress(school, period))

    def dead_letters(self, principal: Principal, school_id: str, period: str = "") -> list[DeadLetter]:
        """The caller's school's batches in the DLQ (of one period when given)."""
        school = target_school(principal, school_id)
        return self._queue().list(school, parse_period(period) if period else None)

    def redrive(
        self, principal: Principal, school_id: str, message_ids: Sequence[str], correlation_id: str = ""
    ) -> Redriven:
        """Resends the named dead letters (all of the school's when none is named). Every named
        message must be one of the school's dead letters, or nothing is redriven."""
        school = target_school(principal, school_id)
        queue = self._queue()
        everyone = queue.list()
        if message_ids:
            by_id = {letter.message_id: letter for letter in everyone}
            missing = sorted(set(message_ids) - set(by_id))
            if missing:
                raise SyncNotFound(f"no dead letter {missing[0]} in the DLQ")
            letters = [by_id[message_id] for message_id in dict.fromkeys(message_ids)]
            if any(letter.ref.school_id != school for letter in letters):
                raise Forbidden("you may only redrive your own school's dead letters")
        else:
            letters = [letter for letter in everyone if letter.ref.school_id == school]
        return queue.redrive(letters, principal.actor_id, correlation_id)

    def _queue(self) -> DeadLetters:
        if self._dead_letters is None:
            raise DeadLettersUnavailable("this deployment reads no DLQ")
        return self._dead_letters

    def progress(self, principal: Principal, period: str, school_id: str) -> SyncProgress:
        # The key validates the period and the school id before the store is read, as the other calls do.
        key = SyncKey(target_school(principal, school_id), parse_period(period))
        progress = self._store.progress(key.school_id, key.period)
        if progress is None:
            raise SyncNotFound(f"no sync of {key.period} for {key.school_id} yet")
        return progress

    def list_syncs(self, principal: Principal, period: str, school_id: str) -> list[SyncProgress]:
        school = target_school(principal, school_id)
        key = SyncKey(school, parse_period(period))
        found = []
        for sync_id in self._store.sync_ids(key.school_id, key.period):
            progress = self._store.progress(key.school_id, key.period, sync_id)
            if progress is not None:
                found.append(progress)
        return found

    def failed_batches(self, principal: Principal, period: str, school_id: str) -> list[BatchState]:
        return [
            batch
            for progress in self.list_syncs(principal, period, school_id)
            for batch in progress.batches
            if batch.status is BatchStatus.FAILED
        ]
