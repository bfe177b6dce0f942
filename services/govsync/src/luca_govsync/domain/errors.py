"""How a ministry call can fail, as the state machine sees it.

The class name is the error name: a Lambda task that raises ``MinistryUnavailable`` fails its state
with error ``MinistryUnavailable``, and the definition's Retry and Catch match those names. Transient
errors are retried with backoff; the others go to the DLQ at once. Nothing here is ever a success:
an answer we cannot read is an error, never an accepted batch.
"""

from __future__ import annotations


class MinistryError(Exception):
    """A ministry call that did not give a usable verdict on the batch."""

    transient = False
    # Whether the ministry may have recorded the call behind this error: the next attempt asks
    # for the verdict before it sends the batch again.
    may_have_landed = False

    def __init__(self, detail: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


class MinistryUnavailable(MinistryError):
    """5xx, a refused or reset connection, the ministry's maintenance page: try again later."""

    transient = True


class MinistryThrottled(MinistryError):
    """429: the ministry asks us to slow down (``retry_after`` seconds when it said so)."""

    transient = True


class MinistryTimeout(MinistryError):
    """No answer in time. The batch may or may not have landed; its client batch id makes a resend safe."""

    transient = True
    may_have_landed = True


class MinistryGarbled(MinistryError):
    """An answer we cannot trust: HTML or truncated JSON where JSON was due, the wrong schema, a record
    status we do not know, or results that do not match the records sent. Retried (the ministry
    deduplicates the batch id), and never counted as accepted."""

    transient = True
    may_have_landed = True


class MinistryRefused(MinistryError):
    """The ministry refused the batch as a whole for a reason a retry cannot fix (422, 409, 403, an
    unexpected status): straight to the DLQ for a person to look at."""


TRANSIENT_ERRORS: tuple[type[MinistryError], ...] = (
    MinistryUnavailable,
    MinistryThrottled,
    MinistryTimeout,
    MinistryGarbled,
)
PERMANENT_ERRORS: tuple[type[MinistryError], ...] = (MinistryRefused,)
