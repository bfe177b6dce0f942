"""Requests the sync's state does not allow yet. They are ``InvalidSyncRequest``s (tools that
refuse a bad request refuse these too), with a ``reason`` the gRPC API reports as a failed
precondition."""

from __future__ import annotations

from luca_govsync.domain.model import InvalidSyncRequest


class SyncPreconditionFailed(InvalidSyncRequest):
    """A well-formed request the sync's state does not allow yet; ``reason`` names the condition."""

    reason = "FAILED_PRECONDITION"


class TermNotClosed(SyncPreconditionFailed):
    """The term is open (or the school has no such term): closing a term is what the sync submits,
    so an open term's grades, still changing, are never sent. Nothing was started."""

    reason = "TERM_NOT_CLOSED"

    def __init__(self, period: str, not_closed: dict[str, str]) -> None:
        # not_closed: school -> "open" or "unknown" (no such term in the school's catalog)
        self.period = period
        self.not_closed = dict(sorted(not_closed.items()))
        named = ", ".join(
            f"{school} ({'no such term' if why == 'unknown' else 'still open'})"
            for school, why in self.not_closed.items()
        )
        super().__init__(
            f"term {period} is not closed for {named}: an admin closes the term, then its sync can start"
        )


class SyncUnsettled(SyncPreconditionFailed):
    """Batches of an earlier run of the period have not settled (dead-lettered, or being redriven):
    another run could send their records under new batch ids, so it waits for the redrive."""

    reason = "SYNC_UNSETTLED"

    def __init__(self, school_id: str, period: str, unsettled: int) -> None:
        self.school_id, self.period, self.unsettled = school_id, period, unsettled
        super().__init__(
            f"{unsettled} batch(es) of {school_id}'s {period} sync have not settled "
            "(dead-lettered or being redriven): redrive them before another run of the period"
        )
