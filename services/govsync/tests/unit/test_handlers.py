"""The scheduled starter's handler with the composition installed by ``handlers.use`` (as the local
platform hosts it): the term that just ended, every listed school whose term is closed, never
started twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from luca_govsync.bootstrap import SyncStarter
from luca_govsync.entrypoints import handlers


class FakeExecutions:
    def __init__(self) -> None:
        self.started: dict[str, dict[str, object]] = {}

    def start(self, name: str, payload: dict[str, object]) -> tuple[str, bool]:
        fresh = name not in self.started
        self.started.setdefault(name, payload)
        return f"arn:aws:states:us-east-1:1:execution:sync:{name}", fresh

    def status(self, name: str) -> str | None:
        return "RUNNING" if name in self.started else None


class Context:
    function_name = "luca-govsync-start-scheduled"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:luca-govsync-start-scheduled"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@pytest.fixture
def scheduled(world: Any, terms: Any) -> Iterator[FakeExecutions]:
    executions = FakeExecutions()
    _, grades, _, store, _ = world
    starter = SyncStarter(executions, terms=terms, grades=grades, store=store)
    handlers.use(None, (starter, lambda: ["school-b", "school-a"]))
    yield executions
    handlers.use(None)


def test_the_schedule_starts_the_term_that_just_ended_for_every_listed_school(
    scheduled: FakeExecutions,
) -> None:
    event: dict[str, Any] = {"scheduled_time": "2025-04-01T09:00:00Z"}

    first = handlers.start_scheduled(event, Context())  # type: ignore[arg-type]
    again = handlers.start_scheduled(event, Context())  # type: ignore[arg-type]

    names = ["govsync-school-a-2025-T1", "govsync-school-b-2025-T1"]
    minted, minted_again = first.pop("correlation_id"), again.pop("correlation_id")
    assert first == {"period": "2025-T1", "started": names, "already": [], "not_started": {}}
    assert again == {"period": "2025-T1", "started": [], "already": names, "not_started": {}}
    assert {payload["started_by"] for payload in scheduled.started.values()} == {"schedule"}
    # The schedule has no caller: each firing mints an id, and the runs it starts carry it.
    assert minted
    assert minted != minted_again
    assert {payload["correlation_id"] for payload in scheduled.started.values()} == {minted}


def test_a_school_whose_term_is_still_open_is_not_synced_on_schedule(
    scheduled: FakeExecutions, terms: Any
) -> None:
    terms.open.add(("school-b", "2025-T1"))
    terms.missing.add(("school-a", "2025-T1"))

    summary = handlers.start_scheduled({"scheduled_time": "2025-04-01T09:00:00Z"}, Context())  # type: ignore[arg-type]

    assert summary["started"] == []
    assert summary["not_started"] == {"school-a": "unknown", "school-b": "open"}
    assert scheduled.started == {}
