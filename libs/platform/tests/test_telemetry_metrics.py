"""Request metrics: gathered per (school, route, status), published as EMF lines whose arrays hold
every request's values, never across a minute nor past EMF's 100 values a line, in decision 0012's
shape (per school the latency alone, per service both metrics)."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from luca_platform.telemetry.metrics import (
    INTERACTIVE_REQUEST_COUNT,
    INTERACTIVE_REQUEST_LATENCY,
    MAX_VALUES,
    RequestMetrics,
)
from luca_testing.polling import eventually

ROUTE = "/v1/grading-rules/{subject_id}"
OTHER_ROUTE = "/v1/courses/{course_id}/grades"
START = time.time() // 60 * 60  # a minute's start (EMF refuses timestamps far from now)
START_MS = int(START * 1000)
NEVER = 3600.0  # a flush period no test waits for


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def lines(sink: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def flushers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "emf-flusher"]


Make = Callable[..., RequestMetrics]


@pytest.fixture
def make() -> Iterator[Make]:
    """RequestMetrics on a sink, closed after the test (so no test leaves its writer running)."""
    made: list[RequestMetrics] = []

    def build(
        sink: Any, *, clock: Callable[[], float] = time.time, flush_seconds: float = NEVER
    ) -> RequestMetrics:
        recorder = RequestMetrics(
            namespace="Luca/Test", service="grading", sink=sink, flush_seconds=flush_seconds, clock=clock
        )
        made.append(recorder)
        return recorder

    yield build
    for recorder in made:
        recorder.close()


def test_each_school_route_and_status_is_one_line_with_every_requests_values(make: Make) -> None:
    sink, clock = io.StringIO(), Clock()
    recorder = make(sink, clock=clock)
    recorder.record(school_id="school-a", route=ROUTE, latency_ms=1.5, status=200)
    clock.now += 0.25
    recorder.record(school_id="school-b", route=ROUTE, latency_ms=3.0, status=200)
    recorder.record(school_id="school-a", route=ROUTE, latency_ms=2.5, status=200)
    recorder.record(school_id="school-a", route=ROUTE, latency_ms=4.0, status=404)
    recorder.record(school_id="school-a", route=OTHER_ROUTE, latency_ms=5.0, status=200)
    recorder.flush()

    found = {(line["school_id"], line["route"], line["status"]): line for line in lines(sink)}
    assert len(lines(sink)) == len(found) == 4
    assert set(found) == {
        ("school-a", ROUTE, 200),
        ("school-b", ROUTE, 200),
        ("school-a", ROUTE, 404),
        ("school-a", OTHER_ROUTE, 200),
    }
    first = found[("school-a", ROUTE, 200)]
    assert first[INTERACTIVE_REQUEST_COUNT] == [1.0, 1.0]  # one sample a request: Sum is the count
    assert first[INTERACTIVE_REQUEST_LATENCY] == [1.5, 2.5]  # in the order they were recorded
    assert first["service"] == "grading"
    assert first["_aws"]["Timestamp"] == START_MS  # its first request's
    school_b = found[("school-b", ROUTE, 200)]
    assert (school_b[INTERACTIVE_REQUEST_COUNT], school_b[INTERACTIVE_REQUEST_LATENCY]) == ([1.0], [3.0])
    assert school_b["_aws"]["Timestamp"] == START_MS + 250
    assert found[("school-a", ROUTE, 404)][INTERACTIVE_REQUEST_LATENCY] == [4.0]

    recorder.flush()
    assert len(lines(sink)) == 4  # nothing is written twice


def test_a_line_has_decision_0012s_two_directives(make: Make) -> None:
    sink = io.StringIO()
    recorder = make(sink)
    recorder.record(school_id="school-a", route=ROUTE, latency_ms=1.0, status=200)
    recorder.flush()

    (line,) = lines(sink)
    # Per school the latency alone (its SampleCount is the school's request count: one billed series
    # a school); per service both, for the platform-wide p95 alarm.
    assert line["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "Luca/Test",
            "Dimensions": [["school_id", "service"]],
            "Metrics": [{"Name": INTERACTIVE_REQUEST_LATENCY, "Unit": "Milliseconds"}],
        },
        {
            "Namespace": "Luca/Test",
            "Dimensions": [["service"]],
            "Metrics": [
                {"Name": INTERACTIVE_REQUEST_COUNT, "Unit": "Count"},
                {"Name": INTERACTIVE_REQUEST_LATENCY, "Unit": "Milliseconds"},
            ],
        },
    ]
    # Every dimension a directive names, and the route and status as searchable properties.
    assert (line["school_id"], line["service"], line["route"], line["status"]) == (
        "school-a",
        "grading",
        ROUTE,
        200,
    )


def test_a_line_holds_at_most_100_values(make: Make) -> None:
    sink = io.StringIO()
    recorder = make(sink, clock=Clock())
    for n in range(2 * MAX_VALUES + 50):
        recorder.record(school_id="school-a", route=ROUTE, latency_ms=float(n), status=200)
    recorder.flush()

    written = lines(sink)
    assert MAX_VALUES == 100
    assert [len(line[INTERACTIVE_REQUEST_LATENCY]) for line in written] == [100, 100, 50]
    assert [len(line[INTERACTIVE_REQUEST_COUNT]) for line in written] == [100, 100, 50]
    # Every request once, in order.
    assert [v for line in written for v in line[INTERACTIVE_REQUEST_LATENCY]] == [
        float(n) for n in range(2 * MAX_VALUES + 50)
    ]


def test_a_line_never_spans_two_minutes(make: Make) -> None:
    sink, clock = io.StringIO(), Clock()
    recorder = make(sink, clock=clock)
    clock.now = START + 30
    recorder.record(school_id="school-a", route=ROUTE, latency_ms=1.0, status=200)
    clock.now = START + 59.5
    recorder.record(school_id="school-a", route=ROUTE, latency_ms=2.0, status=200)
    recorder.record(school_id="school-b", route=ROUTE, latency_ms=9.0, status=200)
    clock.now = START + 60
    recorder.record(school_id="school-a", route=ROUTE, latency_ms=3.0, status=200)
    clock.now = START + 125
    recorder.record(school_id="school-a", route=ROUTE, latency_ms=4.0, status=200)
    recorder.flush()

    school_a = [line for line in lines(sink) if line["school_id"] == "school-a"]
    assert [(line["_aws"]["Timestamp"], line[INTERACTIVE_REQUEST_LATENCY]) for line in school_a] == [
        (START_MS + 30_000, [1.0, 2.0]),
        (START_MS + 60_000, [3.0]),
        (START_MS + 125_000, [4.0]),
    ]
    (school_b,) = [line for line in lines(sink) if line["school_id"] == "school-b"]
    assert (school_b["_aws"]["Timestamp"], school_b[INTERACTIVE_REQUEST_LATENCY]) == (
        START_MS + 59_500,
        [9.0],
    )


def test_lines_are_written_in_the_background(make: Make) -> None:
    sink = io.StringIO()
    recorder = make(sink, flush_seconds=0.05)
    recorder.record(school_id="school-a", route=ROUTE, latency_ms=1.0, status=200)
    eventually(lambda: sink.getvalue(), timeout=10, interval=0.01, what="the background flush")
    recorder.record(school_id="school-a", route=ROUTE, latency_ms=2.0, status=200)
    eventually(lambda: len(lines(sink)) == 2, timeout=10, interval=0.01, what="the second flush")
    assert [line[INTERACTIVE_REQUEST_LATENCY] for line in lines(sink)] == [[1.0], [2.0]]


def test_a_full_line_is_written_without_waiting_for_the_period(make: Make) -> None:
    sink = io.StringIO()
    recorder = make(sink, clock=Clock())  # the period is an hour
    for n in range(MAX_VALUES + 1):
        recorder.record(school_id="school-a", route=ROUTE, latency_ms=float(n), status=200)
    eventually(lambda: sink.getvalue(), timeout=10, interval=0.01, what="the full line")
    # The full line, and the open one with it (the writer takes everything there is).
    assert sorted(len(line[INTERACTIVE_REQUEST_LATENCY]) for line in lines(sink)) in ([100], [1, 100])


def test_close_writes_everything_and_stops_the_writer(make: Make) -> None:
    sink = io.StringIO()
    recorder = make(sink)
    before = len(flushers())

    def requests(school: str) -> None:
        for n in range(500):
            recorder.record(school_id=school, route=ROUTE, latency_ms=float(n), status=200 + n % 3)

    threads = [threading.Thread(target=requests, args=(f"school-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(flushers()) == before + 1  # one writer, started by the first request
    recorder.close()

    written = lines(sink)
    assert len(flushers()) == before
    assert sum(len(line[INTERACTIVE_REQUEST_COUNT]) for line in written) == 4 * 500
    for school in (f"school-{n}" for n in range(4)):
        mine = [line for line in written if line["school_id"] == school]
        assert sorted(v for line in mine for v in line[INTERACTIVE_REQUEST_LATENCY]) == sorted(
            float(n) for n in range(500)
        )
        assert all(len(line[INTERACTIVE_REQUEST_LATENCY]) <= MAX_VALUES for line in mine)
    assert sink.getvalue().endswith("\n")


class BrokenSink(io.StringIO):
    """Refuses its first ``failures`` writes, then works."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0

    def write(self, text: str) -> int:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise OSError("disk full")
        return super().write(text)


def test_a_broken_sink_does_not_stop_the_writer(make: Make, caplog: pytest.LogCaptureFixture) -> None:
    sink = BrokenSink(failures=1)
    recorder = make(sink, flush_seconds=0.05)
    with caplog.at_level(logging.ERROR, logger="luca_platform.telemetry.metrics"):
        recorder.record(school_id="school-a", route=ROUTE, latency_ms=1.0, status=200)
        eventually(lambda: sink.attempts >= 1, timeout=10, interval=0.01, what="the failed write")
        recorder.record(school_id="school-a", route=ROUTE, latency_ms=2.0, status=200)
        eventually(lambda: sink.getvalue(), timeout=10, interval=0.01, what="a write after the failure")

    assert [line[INTERACTIVE_REQUEST_LATENCY] for line in lines(sink)] == [[2.0]]  # the failed one is lost
    assert any("could not write request metrics" in r.getMessage() for r in caplog.records)


def test_nothing_recorded_writes_nothing_and_starts_no_writer(make: Make) -> None:
    sink = io.StringIO()
    before = len(flushers())
    recorder = make(sink)
    recorder.flush()
    recorder.close()
    assert sink.getvalue() == ""
    assert len(flushers()) == before
