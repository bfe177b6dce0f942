"""The sync's tasks against in-memory ports: prepare, submit, failure, report, and exactly-once."""

from __future__ import annotations

from dataclasses import replace

import pytest

from luca_govsync.domain.errors import MinistryGarbled, MinistryRefused, MinistryTimeout, MinistryUnavailable
from luca_govsync.domain.model import (
    BatchRef,
    BatchStatus,
    InvalidSyncRequest,
    SyncKey,
    SyncStatus,
    client_batch_id,
    period_before,
)
from luca_govsync.service_layer.tasks import manifest_key

KEY = SyncKey("school-a", "2025-T1")


def test_prepare_chunks_the_periods_grades_into_manifests_under_the_school(world) -> None:
    tasks, _, manifests, store, _ = world

    prepared = tasks.prepare(KEY, "govsync-school-a-2025-T1", "schedule")

    assert [b.records for b in prepared.batches] == [10, 10, 5]
    assert all(b.manifest_key.startswith("school-a/2025-T1/") for b in prepared.batches)
    sent = [r.record_id for b in prepared.batches for r in manifests.get(b.manifest_key)]
    assert sent == sorted(f"ev-{n:04d}" for n in range(25))  # every grade, once, in a stable order
    assert prepared.batches[0].client_batch_id == client_batch_id("school-a", "2025-T1", sent[:10])
    assert manifest_key("school-a", "2025-T1", "s1", 3) == "school-a/2025-T1/s1/batch-00003.json"
    assert {b.status for b in store.batch_states("school-a", "2025-T1", prepared.sync_id)} == {
        BatchStatus.PENDING
    }
    assert [e.step for e in store.trail] == ["prepare"]
    assert store.trail[0].actor == "schedule"


def test_submit_stores_the_verdicts_and_rejections_keep_their_reason(world) -> None:
    tasks, _, _, store, ministry = world
    prepared = tasks.prepare(KEY, "sync-1", "ops@school-a")

    for ref in prepared.batches:
        tasks.submit(ref)
    report = tasks.report(KEY, "sync-1")

    assert report.status is SyncStatus.COMPLETED_WITH_FAILURES  # some records were rejected
    rejected = {o.record_id for o in report.rejected}
    assert rejected == {f"ev-{n:04d}" for n in range(25) if n % 7 == 3}
    assert all(o.reason_code == "UNKNOWN_STUDENT" for o in report.rejected)
    assert report.accepted == 25 - len(rejected)
    assert sum(ministry.accepted.values()) == report.accepted
    assert [e.step for e in store.trail] == ["prepare", "submit", "submit", "submit", "report"]


def test_a_failed_attempt_is_recorded_raised_and_the_retry_lands_once(world) -> None:
    tasks, _, _, store, ministry = world
    ministry.failures = [MinistryUnavailable("503 maintenance", status=503)]
    ref = tasks.prepare(KEY, "sync-1", "schedule").batches[0]

    with pytest.raises(MinistryUnavailable):
        tasks.submit(ref)
    state = store.batch_states("school-a", "2025-T1", "sync-1")[0]
    assert (state.status, state.attempts) == (BatchStatus.RETRYING, 1)
    assert "MinistryUnavailable" in state.last_error
    tasks.submit(ref)  # the state machine's retry
    tasks.submit(ref)  # and a redelivery of the same batch: the ministry deduplicates the batch id

    assert store.batch_states("school-a", "2025-T1", "sync-1")[0].status is BatchStatus.DONE
    assert max(ministry.accepted.values()) == 1
    assert ministry.calls == [ref.client_batch_id] * 3


def test_after_a_lost_answer_the_retry_reads_the_held_verdict_instead_of_sending_again(world) -> None:
    tasks, _, _, store, ministry = world
    ref = tasks.prepare(KEY, "sync-1", "schedule").batches[0]
    ministry.lose_submit_answers = {ref.client_batch_id}

    with pytest.raises(MinistryTimeout):
        tasks.submit(ref)  # the ministry recorded the batch, the answer never came back
    assert store.batch_states("school-a", "2025-T1", "sync-1")[0].status is BatchStatus.RETRYING
    done = tasks.submit(ref)

    assert ministry.calls == [ref.client_batch_id]  # one upload of the records
    assert ministry.fetches == [ref.client_batch_id]  # and one read of the verdict it holds
    assert done.accepted + done.rejected == ref.records
    assert store.batch_states("school-a", "2025-T1", "sync-1")[0].status is BatchStatus.DONE
    assert max(ministry.accepted.values()) == 1
    assert "verdict read after a lost answer" in store.trail[-1].what


def test_after_a_lost_answer_a_batch_the_ministry_never_recorded_is_sent_again(world) -> None:
    tasks, _, _, store, ministry = world
    ref = tasks.prepare(KEY, "sync-1", "schedule").batches[0]
    ministry.failures = [MinistryGarbled("an HTML page with status 200")]  # before it recorded anything

    with pytest.raises(MinistryGarbled):
        tasks.submit(ref)
    tasks.submit(ref)

    assert ministry.fetches == [ref.client_batch_id]  # it holds nothing under the id: 404
    assert ministry.calls == [ref.client_batch_id] * 2
    assert store.batch_states("school-a", "2025-T1", "sync-1")[0].status is BatchStatus.DONE
    assert max(ministry.accepted.values()) == 1


def test_a_failed_verdict_read_keeps_the_fate_unknown_until_one_answers(world) -> None:
    tasks, _, _, store, ministry = world
    ref = tasks.prepare(KEY, "sync-1", "schedule").batches[0]
    ministry.lose_submit_answers = {ref.client_batch_id}
    ministry.fetch_failures = [MinistryUnavailable("503", status=503)]

    with pytest.raises(MinistryTimeout):
        tasks.submit(ref)
    with pytest.raises(MinistryUnavailable):
        tasks.submit(ref)  # the read failed: the next attempt must ask again, not upload blindly
    tasks.submit(ref)

    assert ministry.fetches == [ref.client_batch_id] * 2
    assert ministry.calls == [ref.client_batch_id]
    assert store.batch_states("school-a", "2025-T1", "sync-1")[0].status is BatchStatus.DONE


def test_an_error_that_proves_nothing_landed_sends_again_without_asking(world) -> None:
    tasks, _, _, _, ministry = world
    ref = tasks.prepare(KEY, "sync-1", "schedule").batches[0]
    ministry.failures = [MinistryUnavailable("503 maintenance", status=503)]

    with pytest.raises(MinistryUnavailable):
        tasks.submit(ref)
    tasks.submit(ref)

    assert ministry.fetches == []
    assert ministry.calls == [ref.client_batch_id] * 2


def test_a_later_sync_of_the_same_period_never_resends_accepted_records(world, grade_of) -> None:
    tasks, grades, manifests, _, ministry = world
    for ref in tasks.prepare(KEY, "sync-1", "schedule").batches:
        tasks.submit(ref)
    # A teacher records one more grade; the period is synced again.
    grades.records[("school-a", "2025-T1")].append(grade_of(500))

    again = tasks.prepare(KEY, "sync-2", "ops")

    resent = {r for b in again.batches for r in manifests.get(b.manifest_key)}
    # Only what the ministry has not accepted: the new grade and the rejected ones (for a person to fix).
    assert {r.record_id for r in resent} == {"ev-0500"} | {f"ev-{n:04d}" for n in range(25) if n % 7 == 3}
    for ref in again.batches:
        tasks.submit(ref)
    assert max(ministry.accepted.values()) == 1


def test_a_dead_lettered_batch_is_marked_failed_and_the_sync_reports_it(world) -> None:
    tasks, _, _, store, ministry = world
    refs = tasks.prepare(KEY, "sync-1", "schedule").batches
    ministry.failures = [MinistryRefused("422 invalid batch", status=422)]
    with pytest.raises(MinistryRefused):
        tasks.submit(refs[0])
    tasks.record_failure(refs[0], "MinistryRefused", "422 invalid batch")
    for ref in refs[1:]:
        tasks.submit(ref)

    report = tasks.report(KEY, "sync-1")

    assert report.count(BatchStatus.FAILED) == 1
    assert report.status is SyncStatus.COMPLETED_WITH_FAILURES
    assert [e.step for e in store.trail] == ["prepare", "submit", "dead-letter", "submit", "submit", "report"]
    assert "MinistryRefused" in store.trail[1].outcome


def test_a_sync_only_reads_and_writes_its_own_school(world) -> None:
    tasks, _, manifests, store, ministry = world
    prepared = tasks.prepare(SyncKey("school-b", "2025-T1"), "sync-b", "schedule")
    for ref in prepared.batches:
        tasks.submit(ref)

    assert {k.split("/")[0] for k in manifests.objects} == {"school-b"}
    assert {school for school, _, _ in ministry.accepted} == {"school-b"}
    assert store.progress("school-a", "2025-T1") is None


@pytest.mark.parametrize("period", ["2025-Q1", "2025-T5", "25-T1", "", "2025-T1; DROP"])
def test_an_unknown_period_is_refused(period: str) -> None:
    with pytest.raises(InvalidSyncRequest, match="unknown period"):
        SyncKey("school-a", period)


def test_a_bad_batch_reference_is_refused() -> None:
    with pytest.raises(InvalidSyncRequest):
        BatchRef.from_json({"school_id": "school-a", "period": "2025-T1"})
    with pytest.raises(InvalidSyncRequest):
        BatchRef.from_json({**BatchRef("a#b", "2025-T1", "s", 1, "c", "k", 1).to_json()})


def test_execution_names_are_deterministic_and_valid() -> None:
    name = KEY.execution_name()
    assert name == "govsync-school-a-2025-T1" == SyncKey("school-a", "2025-T1").execution_name()
    long = SyncKey("x" * 90, "2025-T1").execution_name("redrive-abc")
    assert len(long) <= 80
    assert long != SyncKey("x" * 91, "2025-T1").execution_name("redrive-abc")


@pytest.mark.parametrize(
    ("year", "month", "period"),
    [(2026, 4, "2026-T1"), (2026, 1, "2025-T4"), (2026, 7, "2026-T2"), (2026, 10, "2026-T3")],
)
def test_a_scheduled_sync_submits_the_term_that_just_ended(year: int, month: int, period: str) -> None:
    assert period_before(year, month) == period


def test_a_school_grading_on_percentages_sends_grades_on_the_ministrys_scale(world, grade_of) -> None:
    tasks, grades, manifests, _, _ = world
    grades.records[("school-p", "2025-T1")] = [
        replace(grade_of(n, "school-p"), score=score)
        for n, score in enumerate(["0", "50", "60", "87", "100"])
    ]

    prepared = tasks.prepare(SyncKey("school-p", "2025-T1"), "sync-p", "schedule")

    sent = [r.score for b in prepared.batches for r in manifests.get(b.manifest_key)]
    # The school's passing grade (60%) is the ministry's 4.0; its best (100%) the ministry's 7.0.
    assert sent == ["1.0", "3.5", "4.0", "6.0", "7.0"]


def test_a_batch_reference_pointing_at_another_schools_manifest_is_refused(world) -> None:
    tasks, _, _, _, ministry = world
    theirs = tasks.prepare(SyncKey("school-b", "2025-T1"), "sync-b", "schedule").batches[0]
    forged = {**theirs.to_json(), "school_id": "school-a"}  # school B's records under school A's name

    with pytest.raises(InvalidSyncRequest, match="not under school-a/2025-T1/"):
        BatchRef.from_json(forged)
    assert ministry.calls == []
