"""A sync's report counts its amendments and retractions, on the wire (gRPC) as in the domain."""

from luca_govsync.domain.model import (
    BatchKind,
    BatchRef,
    BatchState,
    BatchStatus,
    SyncProgress,
    SyncStatus,
)
from luca_govsync.domain.tally import ChangeTally
from luca_govsync.entrypoints.grpc_server import report_pb


def batch(number: int, status: BatchStatus, records: int, retractions: int, tally: ChangeTally) -> BatchState:
    ref = BatchRef(
        school_id="school-a",
        period="2025-T1",
        sync_id="govsync-school-a-2025-T1-update-x",
        number=number,
        client_batch_id=f"b-{number}",
        manifest_key=f"school-a/2025-T1/s/batch-{number}.json",
        records=records,
        kind=BatchKind.CHANGES,
        retractions=retractions,
    )
    return BatchState(ref=ref, status=status, changes=tally)


def test_the_report_counts_amendments_and_retractions_and_what_is_left_in_the_dlq() -> None:
    progress = SyncProgress(
        school_id="school-a",
        period="2025-T1",
        sync_id="govsync-school-a-2025-T1-update-x",
        status=SyncStatus.FAILED,
        batches=(
            batch(
                1,
                BatchStatus.DONE,
                5,
                1,
                ChangeTally(
                    amendments_accepted=3,
                    amendments_rejected=1,
                    retractions_accepted=1,
                    amendments_replayed=1,
                ),
            ),
            # Dead-lettered after two answers: the other three changes are failed, not lost.
            batch(2, BatchStatus.FAILED, 5, 2, ChangeTally(amendments_accepted=1, retractions_accepted=1)),
        ),
        records_total=0,
        accepted=0,
        rejected=(),
    )

    message = report_pb(progress)

    assert (message.amendments.sent, message.amendments.accepted, message.amendments.rejected) == (7, 4, 1)
    assert (message.amendments.failed, message.amendments.replayed) == (2, 1)
    assert (message.retractions.sent, message.retractions.accepted, message.retractions.failed) == (3, 2, 1)
