"""Corrections and retractions after a sync, against in-memory ports: what a later sync of the period
sends (an amendment, a retraction, a submission in the latest state, or nothing), and that a retry,
a lost answer or a redrive never applies a change twice at the ministry."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from luca_govsync.domain.changes import Held, client_change_id, new_work, plan_sync
from luca_govsync.domain.errors import MinistryRefused, MinistryUnavailable
from luca_govsync.domain.model import BatchKind, BatchStatus, RecordStatus, SyncKey, SyncStatus
from luca_govsync.domain.tally import ChangeCounts, ChangeKind

KEY = SyncKey("school-a", "2025-T1")


@pytest.fixture
def accepting(world) -> Any:
    """The unit world with a ministry that rejects no one: every record is accepted by the first run."""
    world[4].reject_students = frozenset()
    return world


def run(tasks: Any, sync_id: str) -> Any:
    """One whole run: prepare, every batch submitted once, report."""
    prepared = tasks.prepare(KEY, sync_id, "ops")
    for ref in prepared.batches:
        tasks.submit(ref)
    return prepared, tasks.report(KEY, sync_id)


def test_a_correction_after_acceptance_is_sent_as_one_amendment(accepting) -> None:
    tasks, grades, manifests, store, ministry = accepting
    run(tasks, "sync-1")
    corrected = grades.correct("ev-0004", "6.8")

    prepared, report = run(tasks, "sync-2")

    (ref,) = prepared.batches
    assert (ref.kind, ref.records, ref.retractions) == (BatchKind.CHANGES, 1, 0)
    (change,) = manifests.get_changes(ref.manifest_key)
    assert (change.kind, change.record.version, change.record.score) == (ChangeKind.AMENDMENT, 2, "6.8")
    assert change.client_change_id == client_change_id(
        ChangeKind.AMENDMENT, "school-a", "2025-T1", "ev-0004", 2
    )
    assert ministry.applied == {("school-a", "2025-T1", "ev-0004", ChangeKind.AMENDMENT, 2): 1}
    assert ministry.holds[("school-a", "2025-T1", "ev-0004")] == (corrected.version, "6.8", False)
    assert max(ministry.accepted.values()) == 1  # the record itself was never submitted again
    assert (report.records_total, report.amendments) == (0, ChangeCounts(sent=1, accepted=1))
    assert report.retractions == ChangeCounts()
    assert store.held("school-a", "2025-T1")["ev-0004"].version == 2

    _, third = run(tasks, "sync-3")  # and it is never sent again
    assert third.amendments == ChangeCounts()
    assert ministry.calls.count(change.client_change_id) == 1


def test_a_retraction_after_acceptance_is_sent_once_and_the_grade_leaves_every_later_sync(accepting) -> None:
    tasks, grades, _, store, ministry = accepting
    run(tasks, "sync-1")
    grades.retract("ev-0005")

    prepared, report = run(tasks, "sync-2")

    assert [(b.kind, b.records, b.retractions) for b in prepared.batches] == [(BatchKind.CHANGES, 1, 1)]
    assert report.retractions == ChangeCounts(sent=1, accepted=1)
    assert ministry.holds[("school-a", "2025-T1", "ev-0005")][2] is True
    assert store.held("school-a", "2025-T1")["ev-0005"].retracted
    # Corrected again after its retraction (a grade stays retracted; the version moves on): nothing.
    grades.correct("ev-0005", "7.0")
    later, _ = run(tasks, "sync-3")
    assert later.batches == ()
    assert ministry.applied[("school-a", "2025-T1", "ev-0005", ChangeKind.RETRACTION, 2)] == 1


def test_a_correction_before_the_first_submission_is_sent_in_its_final_state_not_amended(
    world, grade_of
) -> None:
    tasks, grades, manifests, _, ministry = world
    grades.correct("ev-0001", "3.2")
    grades.correct("ev-0001", "4.1")  # corrected twice: version 3

    prepared, report = run(tasks, "sync-1")

    sent = {r.record_id: r for b in prepared.batches for r in manifests.get(b.manifest_key)}
    assert (sent["ev-0001"].score, sent["ev-0001"].version) == ("4.1", 3)
    assert all(b.kind is BatchKind.SUBMISSION for b in prepared.batches)
    assert report.amendments == ChangeCounts()
    assert ministry.applied == {}
    assert ministry.holds[("school-a", "2025-T1", "ev-0001")] == (3, "4.1", False)


def test_a_grade_retracted_before_the_ministry_took_it_is_never_sent(world) -> None:
    tasks, grades, manifests, store, ministry = world
    grades.retract("ev-0002")
    prepared, report = run(tasks, "sync-1")

    sent = {r.record_id for b in prepared.batches for r in manifests.get(b.manifest_key)}
    assert "ev-0002" not in sent
    assert len(sent) == 24
    assert ("school-a", "2025-T1", "ev-0002") not in ministry.accepted
    assert report.retractions == ChangeCounts()
    assert "1 retracted before the ministry took them (not sent)" in store.trail[0].what


def test_a_rejected_record_retracted_since_is_not_sent_and_a_corrected_one_gets_a_new_batch_id(
    world,
) -> None:
    tasks, grades, manifests, _, ministry = world
    first, _ = run(tasks, "sync-1")  # st-3's records are rejected (ev-0003, ev-0010, ev-0017, ev-0024)
    grades.retract("ev-0003")
    grades.correct("ev-0010", "5.0")
    ministry.reject_students = frozenset()  # the registry is fixed meanwhile

    again, report = run(tasks, "sync-2")

    sent = {r.record_id: r.version for b in again.batches for r in manifests.get(b.manifest_key)}
    assert sent == {"ev-0010": 2, "ev-0017": 1, "ev-0024": 1}
    assert {b.client_batch_id for b in again.batches}.isdisjoint(b.client_batch_id for b in first.batches)
    assert report.accepted == 3
    assert max(ministry.accepted.values()) == 1


def test_a_lost_answer_then_the_retry_applies_the_change_once(accepting) -> None:
    tasks, grades, _, store, ministry = accepting
    run(tasks, "sync-1")
    grades.correct("ev-0006", "6.1")
    grades.retract("ev-0007")
    ref = tasks.prepare(KEY, "sync-2", "ops").batches[0]
    amendment = client_change_id(ChangeKind.AMENDMENT, "school-a", "2025-T1", "ev-0006", 2)
    ministry.lose_answers = {amendment}  # applied by the ministry, the answer lost on the way back

    with pytest.raises(Exception, match="no answer in time"):
        tasks.submit(ref)
    state = store.batch_states("school-a", "2025-T1", "sync-2")[0]
    assert (state.status, state.changes.retractions_accepted) == (BatchStatus.RETRYING, 1)
    tasks.submit(ref)  # the state machine's retry: only the unanswered change is sent again
    tasks.submit(ref)  # a redelivery of the done batch: nothing is sent at all

    assert ministry.calls.count(amendment) == 2
    assert sum(ministry.applied.values()) == 2  # one amendment, one retraction, each once
    report = tasks.report(KEY, "sync-2")
    assert report.amendments == ChangeCounts(sent=1, accepted=1, replayed=1)
    assert report.retractions == ChangeCounts(sent=1, accepted=1)
    assert report.status is SyncStatus.SUCCEEDED


def test_a_change_batch_dead_lettered_then_redriven_never_applies_a_change_twice(accepting) -> None:
    tasks, grades, _, _, ministry = accepting
    run(tasks, "sync-1")
    for n in (8, 9, 11):
        grades.correct(f"ev-{n:04d}", "6.0")
    (ref,) = tasks.prepare(KEY, "sync-2", "ops").batches
    ministry.failures = [MinistryUnavailable("503", status=503)]  # the first call of the first attempt

    with pytest.raises(MinistryUnavailable):
        tasks.submit(ref)
    tasks.record_failure(ref, "MinistryUnavailable", "retries exhausted")
    failed = tasks.report(KEY, "sync-2")
    assert failed.amendments == ChangeCounts(sent=3, accepted=2, failed=1)
    assert failed.status is SyncStatus.COMPLETED_WITH_FAILURES

    tasks.submit(ref)  # the redrive: the same reference, only the unanswered change goes
    done = tasks.report(KEY, "sync-2")

    assert done.amendments == ChangeCounts(sent=3, accepted=3)
    assert set(ministry.applied.values()) == {1}
    assert len(ministry.applied) == 3


def test_a_change_the_ministry_refuses_as_a_whole_goes_to_the_dlq_with_the_others_kept(accepting) -> None:
    tasks, grades, _, store, ministry = accepting
    run(tasks, "sync-1")
    grades.correct("ev-0012", "6.0")
    grades.correct("ev-0013", "6.0")
    (ref,) = tasks.prepare(KEY, "sync-2", "ops").batches
    ministry.failures = [MinistryRefused("409 change id reused", status=409)]

    with pytest.raises(MinistryRefused):
        tasks.submit(ref)

    state = store.batch_states("school-a", "2025-T1", "sync-2")[0]
    assert "MinistryRefused" in state.last_error
    assert "1 of 2 changes unanswered" in state.last_error
    assert state.changes.amendments_accepted == 1


def test_a_change_the_ministry_rejects_is_reported_and_not_sent_again(accepting) -> None:
    tasks, grades, _, store, ministry = accepting
    run(tasks, "sync-1")
    grades.correct("ev-0014", "6.0")
    # The ministry holds a later version already (another system amended it): STALE_VERSION.
    ministry.holds[("school-a", "2025-T1", "ev-0014")] = (5, "6.0", False)

    _, report = run(tasks, "sync-2")
    later, _ = run(tasks, "sync-3")

    assert report.amendments == ChangeCounts(sent=1, rejected=1)
    (rejection,) = report.change_rejections
    assert (rejection.record_id, rejection.reason_code) == ("ev-0014", "STALE_VERSION")
    assert report.status is SyncStatus.COMPLETED_WITH_FAILURES
    assert later.batches == ()
    assert store.held("school-a", "2025-T1")["ev-0014"].judged == (ChangeKind.AMENDMENT, 2)


# -- the plan itself -------------------------------------------------------------------------------
def test_the_plan_follows_what_the_ministry_holds(grade_of) -> None:
    versions = [
        (1, 1, False),
        (2, 3, False),
        (3, 2, True),
        (4, 2, True),
        (5, 2, False),
        (6, 2, False),
        (7, 4, True),
    ]
    g = [replace(grade_of(n), version=v, retracted=r) for n, v, r in versions]
    held = {
        "ev-0001": Held("ev-0001", RecordStatus.ACCEPTED, 1),  # as it is: nothing
        "ev-0002": Held("ev-0002", RecordStatus.ACCEPTED, 1),  # corrected twice: an amendment to 3
        "ev-0003": Held("ev-0003", RecordStatus.ACCEPTED, 1),  # retracted: a retraction
        "ev-0004": Held("ev-0004", RecordStatus.REJECTED, 1),  # rejected, then retracted: nothing
        "ev-0005": Held("ev-0005", RecordStatus.REJECTED, 1),  # rejected, then corrected: resubmitted
        # ev-0006 never judged: submitted in its latest state
        "ev-0007": Held("ev-0007", RecordStatus.ACCEPTED, 2, retracted=True),  # retracted: final
    }

    plan = plan_sync("school-a", g, held)

    assert [r.record_id for r in plan.submissions] == ["ev-0005", "ev-0006"]
    assert [(c.kind, c.record.record_id, c.version) for c in plan.changes] == [
        (ChangeKind.AMENDMENT, "ev-0002", 3),
        (ChangeKind.RETRACTION, "ev-0003", 2),
    ]
    assert (plan.unchanged, plan.withheld, plan.judged) == (2, 1, 0)
    assert new_work(plan, held) is not None
    assert new_work(plan_sync("school-a", g[:1], held), held) is None


def test_new_work_ignores_what_the_ministry_already_judged_in_that_very_version(grade_of) -> None:
    rejected = {"ev-0001": Held("ev-0001", RecordStatus.REJECTED, 1)}
    plan = plan_sync("school-a", [grade_of(1)], rejected)

    assert [r.record_id for r in plan.submissions] == ["ev-0001"]  # resent with any run
    assert new_work(plan, rejected) is None  # but no reason to start one
