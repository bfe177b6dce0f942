"""Starting a school's sync: only for a closed term; one run at a time, named from what it sends, so a
second start finds the run and a start after corrections runs once more with exactly those."""

from __future__ import annotations

from typing import Any

import pytest

from luca_govsync.domain.model import BatchRef, InvalidSyncRequest, SyncKey
from luca_govsync.domain.preconditions import SyncUnsettled, TermNotClosed
from luca_govsync.service_layer.starter import SyncStarter

PERIOD = "2025-T1"
FIRST = "govsync-school-a-2025-T1"


@pytest.fixture
def starting(world, terms, executions) -> Any:
    """The unit world (every record accepted by a first run), and a starter over it."""
    tasks, grades, _, store, ministry = world
    ministry.reject_students = frozenset()
    starter = SyncStarter(executions, terms=terms, grades=grades, store=store)
    return starter, tasks, grades, store


def sync(tasks: Any, executions: Any, name: str) -> None:
    """What the started execution does (prepare, every batch, report), then it ends."""
    key = SyncKey("school-a", PERIOD)
    for ref in tasks.prepare(key, name, "ops").batches:
        tasks.submit(ref)
    tasks.report(key, name)
    executions.finish()


def test_a_sync_of_a_term_that_is_not_closed_is_refused_and_nothing_starts(
    starting, terms, executions
) -> None:
    starter = starting[0]
    terms.open.add(("school-b", PERIOD))
    terms.missing.add(("school-c", PERIOD))

    with pytest.raises(TermNotClosed) as refused:
        starter.start(PERIOD, ["school-a", "school-b", "school-c"], "admin")

    assert refused.value.not_closed == {"school-b": "open", "school-c": "unknown"}
    assert refused.value.reason == "TERM_NOT_CLOSED"
    assert "school-b (still open)" in str(refused.value)
    assert "school-c (no such term)" in str(refused.value)
    assert isinstance(refused.value, InvalidSyncRequest)  # tools that refuse bad requests refuse it
    assert executions.started == {}


def test_the_schedule_starts_the_closed_terms_and_names_the_others(starting, terms, executions) -> None:
    starter = starting[0]
    terms.open.add(("school-b", PERIOD))

    started, not_started = starter.start_scheduled(PERIOD, ["school-a", "school-b"])

    assert [s.execution_name for s in started] == [FIRST]
    assert not_started == {"school-b": "open"}
    assert executions.started[FIRST]["started_by"] == "schedule"


def test_a_second_start_finds_the_run_and_a_start_after_it_ended_with_nothing_new_starts_nothing(
    starting, executions
) -> None:
    starter, tasks, *_ = starting
    (first,) = starter.start(PERIOD, ["school-a"], "admin")
    (again,) = starter.start(PERIOD, ["school-a"], "admin")
    sync(tasks, executions, FIRST)
    (after,) = starter.start(PERIOD, ["school-a"], "admin")

    assert (first.started, again.started, after.started) == (True, False, False)
    assert first.execution_name == again.execution_name == after.execution_name == FIRST
    assert list(executions.started) == [FIRST]


def test_a_start_after_corrections_runs_once_more_with_exactly_them(starting, executions) -> None:
    starter, tasks, grades, _ = starting
    starter.start(PERIOD, ["school-a"], "admin")
    sync(tasks, executions, FIRST)
    grades.correct("ev-0003", "6.9")
    grades.retract("ev-0004")

    (update,) = starter.start(PERIOD, ["school-a"], "admin")
    (again,) = starter.start(PERIOD, ["school-a"], "admin")  # while it runs: the same run
    sync(tasks, executions, update.execution_name)
    (after,) = starter.start(PERIOD, ["school-a"], "admin")  # it sent them: nothing more

    assert update.started
    assert update.execution_name.startswith(f"{FIRST}-update-")
    assert (again.started, again.execution_name) == (False, update.execution_name)
    assert (after.started, after.execution_name) == (False, update.execution_name)
    assert len(executions.started) == 2


def test_a_follow_up_waits_until_dead_lettered_batches_are_redriven(starting, executions) -> None:
    starter, tasks, grades, _ = starting
    starter.start(PERIOD, ["school-a"], "admin")
    refs: list[BatchRef] = list(tasks.prepare(SyncKey("school-a", PERIOD), FIRST, "ops").batches)
    tasks.submit(refs[0])
    tasks.record_failure(refs[1], "MinistryUnavailable", "retries exhausted")
    tasks.submit(refs[2])
    tasks.report(SyncKey("school-a", PERIOD), FIRST)
    executions.finish("FAILED")
    grades.correct("ev-0001", "6.0")

    with pytest.raises(SyncUnsettled) as refused:
        starter.start(PERIOD, ["school-a"], "admin")
    assert refused.value.unsettled == 1
    assert "redrive" in str(refused.value)

    tasks.submit(refs[1])  # the redrive
    (update,) = starter.start(PERIOD, ["school-a"], "admin")
    assert update.started
