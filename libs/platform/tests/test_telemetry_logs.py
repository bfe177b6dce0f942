"""Log lines carry the request's ids and the current span's, to stdout and to a shared file."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from luca_platform.telemetry import context
from luca_platform.telemetry.logs import attach_log_file, configure_logging, detach_log_file, xray_trace_id

log = logging.getLogger("luca.test")


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_a_line_carries_the_request_ids_and_the_current_span(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("grading", "INFO", stream=out)
    tracer = TracerProvider().get_tracer("test")
    with context.RequestScope("corr-1", route_name="/v1/grades"), tracer.start_as_current_span("s") as span:
        context.school_id.set("school-a")
        log.info("graded")
    [line] = _lines(out.getvalue())
    ids = span.get_span_context()
    assert line["correlation_id"] == "corr-1"
    assert line["school_id"] == "school-a"
    assert line["route"] == "/v1/grades"
    assert line["service"] == "grading"
    assert line["trace_id"] == format(ids.trace_id, "032x")
    assert line["span_id"] == format(ids.span_id, "016x")
    assert line["xray_trace_id"] == xray_trace_id(ids.trace_id)
    assert re.fullmatch(r"1-[0-9a-f]{8}-[0-9a-f]{24}", str(line["xray_trace_id"]))
    assert str(line["timestamp"]).endswith("+00:00")


def test_outside_a_span_and_a_request_the_ids_are_null(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("grading", "INFO", stream=out)
    log.info("idle")
    [line] = _lines(out.getvalue())
    assert trace.get_current_span().get_span_context().is_valid is False
    assert (line["trace_id"], line["span_id"], line["correlation_id"]) == (None, None, None)


def test_the_same_lines_are_appended_to_the_file_from_the_environment(
    restore_root: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state" / "logs.jsonl"
    path.parent.mkdir()
    path.write_text('{"earlier":"line"}\n')
    monkeypatch.setenv("LUCA_LOG_FILE", str(path))
    out = io.StringIO()
    configure_logging("gateway", "INFO", stream=out)
    with context.RequestScope("corr-2"):
        log.info("one")
    assert _lines(path.read_text())[1:] == _lines(out.getvalue())
    assert _lines(path.read_text())[0] == {"earlier": "line"}


def test_a_second_configuration_replaces_both_handlers(restore_root: None, tmp_path: Path) -> None:
    configure_logging("a", "INFO", stream=io.StringIO(), file_path=tmp_path / "a.jsonl")
    configure_logging("b", "INFO", stream=io.StringIO(), file_path=tmp_path / "b.jsonl")
    log.info("once")
    luca = [h for h in logging.getLogger().handlers if getattr(h, "_luca", False)]
    assert len(luca) == 2
    assert not (tmp_path / "a.jsonl").exists()
    assert [line["service"] for line in _lines((tmp_path / "b.jsonl").read_text())] == ["b"]


_WRITER = """
import json, logging, sys
from luca_platform.telemetry.logs import AppendingFileHandler
path, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
handler = AppendingFileHandler(path)
handler.setFormatter(logging.Formatter("%(message)s"))
pad = tag * 70000  # longer than a pipe buffer and a page: a buffered writer would split it
for i in range(count):
    handler.emit(logging.makeLogRecord({"msg": json.dumps({"tag": tag, "i": i, "pad": pad})}))
handler.close()
"""


def test_lines_from_several_processes_never_interleave(tmp_path: Path) -> None:
    path = str(tmp_path / "logs.jsonl")
    workers = [subprocess.Popen([sys.executable, "-c", _WRITER, path, tag, "100"]) for tag in "abc"]
    assert [worker.wait(120) for worker in workers] == [0, 0, 0]
    lines = _lines(Path(path).read_text())
    assert len(lines) == 300
    for tag in "abc":
        assert [line["i"] for line in lines if line["tag"] == tag] == list(range(100))


def test_the_file_keeps_info_lines_when_the_terminal_shows_only_warnings(
    restore_root: None, tmp_path: Path
) -> None:
    out = io.StringIO()
    configure_logging("svc", "WARNING", stream=out, file_path=tmp_path / "logs.jsonl")

    log.info("a request's line")
    log.warning("a warning")

    assert [line["message"] for line in _lines(out.getvalue())] == ["a warning"]
    in_file = _lines((tmp_path / "logs.jsonl").read_text())
    assert [line["message"] for line in in_file] == ["a request's line", "a warning"]


def test_an_attached_file_gets_info_lines_and_leaves_the_other_handlers_as_they_were(
    restore_root: None, tmp_path: Path
) -> None:
    out = io.StringIO()
    configure_logging("svc", "WARNING", stream=out)
    handler = attach_log_file("platform", tmp_path / "logs.jsonl")
    assert attach_log_file("platform", tmp_path / "logs.jsonl") is None  # one per file
    try:
        log.info("a thread's line")
    finally:
        detach_log_file(handler)

    assert out.getvalue() == ""
    (line,) = _lines((tmp_path / "logs.jsonl").read_text())
    assert line["message"] == "a thread's line"
    assert line["service"] == "platform"
