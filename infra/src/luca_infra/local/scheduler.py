"""The local stand-in for an EventBridge schedule: fires a callback on the same expression.

The emulator stores schedules but never fires them (LOCAL-ENGINE.md), so the local platform reads
the schedule expression the CDK app deploys (``GovSyncDefinition.schedule_expression``) and fires
it with APScheduler in the schedule's time zone. AWS expressions are ``rate(5 minutes)`` and
``cron(minutes hours day-of-month month day-of-week year)`` with ``?`` for "no value"; day-of-week
is 1-7 from Sunday, or SUN-SAT. Local-only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("luca.local.scheduler")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\(([^)]*)\)$")
_AWS_DAYS = {"1": "sun", "2": "mon", "3": "tue", "4": "wed", "5": "thu", "6": "fri", "7": "sat"}


class ScheduleError(ValueError):
    pass


def _day_of_week(field: str) -> str:
    """AWS numbers days 1 (Sunday) to 7; APScheduler wants names (or 0 = Monday)."""

    def one(token: str) -> str:
        return _AWS_DAYS.get(token, token.lower())

    return ",".join("-".join(one(t) for t in part.split("-")) for part in field.split(","))


def trigger_for(expression: str, timezone: str = "UTC") -> BaseTrigger:
    """The APScheduler trigger of an EventBridge schedule expression."""
    zone = ZoneInfo(timezone)
    expression = expression.strip()
    if rate := _RATE.match(expression):
        amount, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if amount < 1:
            raise ScheduleError(f"{expression}: the rate must be at least 1")
        return IntervalTrigger(**{f"{unit}s": amount}, timezone=zone)
    if cron := _CRON.match(expression):
        fields = cron.group(1).split()
        if len(fields) != 6:
            raise ScheduleError(f"{expression}: cron() takes 6 fields, got {len(fields)}")
        minute, hour, day, month, day_of_week, year = fields
        if (day == "?") == (day_of_week == "?"):
            raise ScheduleError(f"{expression}: exactly one of day-of-month and day-of-week is '?'")
        try:
            return CronTrigger(
                minute=minute,
                hour=hour,
                day=None if day == "?" else day,
                month=month,
                day_of_week=None if day_of_week == "?" else _day_of_week(day_of_week),
                year=None if year == "*" else year,
                timezone=zone,
            )
        except ValueError as exc:
            raise ScheduleError(f"{expression}: {exc}") from exc
    raise ScheduleError(f"not a schedule expression: {expression!r} (rate(...) or cron(...))")


class LocalSchedule:
    """Fires ``fire(at)`` on the expression, in a background thread, until stopped."""

    def __init__(self, expression: str, fire: Callable[[datetime], None], *, timezone: str = "UTC") -> None:
        self.expression = expression
        self._trigger = trigger_for(expression, timezone)
        self._fire = fire
        self._scheduler = BackgroundScheduler(timezone=ZoneInfo(timezone))

    def _run(self) -> None:
        at = datetime.now(self._scheduler.timezone)
        try:
            self._fire(at)
        except Exception:  # a failed firing is logged; the schedule keeps its next one
            log.exception("scheduled run failed", extra={"expression": self.expression})

    def start(self) -> None:
        self._scheduler.add_job(self._run, self._trigger, id="schedule", coalesce=True, max_instances=1)
        self._scheduler.start()
        log.info("schedule armed", extra={"expression": self.expression, "next": str(self.next_fire_time)})

    @property
    def next_fire_time(self) -> datetime | None:
        job = self._scheduler.get_job("schedule")
        return job.next_run_time if job is not None else None

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
