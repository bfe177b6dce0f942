"""The local stand-in for the EventBridge schedule: AWS expressions read the way AWS reads them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.scheduler import LocalSchedule, ScheduleError, trigger_for

SANTIAGO = ZoneInfo("America/Santiago")


def fires_after(expression: str, after: datetime, timezone: str = "UTC", count: int = 3) -> list[datetime]:
    trigger = trigger_for(expression, timezone)
    fired: list[datetime] = []
    previous = None
    now = after
    for _ in range(count):
        nxt = trigger.get_next_fire_time(previous, now)
        assert nxt is not None
        fired.append(nxt)
        previous, now = nxt, nxt
    return fired


def test_the_deployed_quarterly_schedule_fires_after_each_term_in_the_schools_time_zone() -> None:
    govsync = PLATFORM_DEFINITION.govsync

    fired = fires_after(
        govsync.schedule_expression, datetime(2026, 2, 15, tzinfo=SANTIAGO), govsync.schedule_timezone
    )

    assert [(f.year, f.month, f.day, f.hour, f.minute) for f in fired] == [
        (2026, 4, 1, 6, 0),
        (2026, 7, 1, 6, 0),
        (2026, 10, 1, 6, 0),
    ]
    assert all(f.tzinfo is not None and f.utcoffset() == f.astimezone(SANTIAGO).utcoffset() for f in fired)


def test_aws_day_numbers_start_on_sunday() -> None:
    # AWS: 2 = Monday. 2026-11-28 is a Saturday; the next Monday is the 30th.
    (monday,) = fires_after("cron(30 8 ? * 2 *)", datetime(2026, 11, 28, tzinfo=UTC), count=1)
    assert (monday.day, monday.hour, monday.minute, monday.strftime("%a")) == (30, 8, 30, "Mon")
    (named,) = fires_after("cron(30 8 ? * MON-FRI *)", datetime(2026, 11, 28, tzinfo=UTC), count=1)
    assert named == monday


def test_rate_expressions() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    first, second = fires_after("rate(5 minutes)", start, count=2)
    assert (second - first).total_seconds() == 300


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 6 1 1,4,7,10 * *)",  # day-of-month and day-of-week both set
        "cron(0 6 1 1,4,7,10 ?)",  # five fields
        "cron(0 25 1 * ? *)",  # no hour 25
        "rate(0 minutes)",
        "rate(5 fortnights)",
        "at(2026-01-01T00:00:00)",
        "",
    ],
)
def test_expressions_aws_would_refuse_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleError):
        trigger_for(expression)


def test_a_firing_that_fails_is_logged_and_the_schedule_keeps_going(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[datetime] = []
    fired = threading.Event()

    def fire(at: datetime) -> None:
        calls.append(at)
        fired.set()
        raise RuntimeError("the ministry is down")

    schedule = LocalSchedule("rate(1 minute)", fire)
    schedule.start()
    try:
        assert schedule.next_fire_time is not None
        schedule._run()  # what the scheduler calls when the time comes
    finally:
        schedule.stop()

    assert fired.is_set()
    assert len(calls) == 1
    assert "scheduled run failed" in caplog.text
