"""The government sync for its internal clients: start a school's sync, see where it stands, list
its runs and its failed batches. Who may do what is decided here, from a verified principal:
a school's admins and services acting for that school, for their own school only.
"""

from __future__ import annotations

from dataclasses import dataclass

from luca_govsync.domain.model import BatchState, BatchStatus, SyncKey, SyncProgress, parse_period
from luca_govsync.service_layer.ports import Executions, GradeSource, SyncStore, Terms
from luca_govsync.service_layer.starter import Started, SyncStarter
from luca_kernel.access import Principal, Role
from luca_kernel.errors import Forbidden


class SyncNotFound(LookupError):
    pass


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
        self, *, executions: Executions, store: SyncStore, terms: Terms, grades: GradeSource
    ) -> None:
        self._starter = SyncStarter(executions, terms=terms, grades=grades, store=store)
        self._store = store

    def start(self, principal: Principal, period: str, school_id: str) -> StartedSync:
        school = target_school(principal, school_id)
        (started,) = self._starter.start(parse_period(period), [school], principal.actor_id)
        return StartedSync(started, self._store.progress(school, period))

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
