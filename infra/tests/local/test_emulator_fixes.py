"""The emulator's local-only fixes change nothing a client can see: one script, with and without them.

``emulator_scenario.py`` drives a fresh moto server through boto3 and records every response. It
runs twice, in two processes (``emulator_fixes.apply()`` patches moto for the whole process and
cannot be undone, and other tests in this session may have applied it already): once with the fixes
applied first, as the embedded emulator does, once with moto as installed. The two records must be
equal, step for step.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from luca_infra.local import emulator_fixes

pytestmark = pytest.mark.emulator

SCENARIO = Path(__file__).with_name("emulator_scenario.py")
MODES = ("stock", "fixed")
FIXES = [
    "batch-system-attributes",
    "cached-backend-lookup",
    "direct-json-results",
    "direct-sqs-retention-check",
    "direct-stream-records",
    "fast-sqs-clock",
    "item-level-transactions",
    "partition-scoped-queries",
]
SHOWN_DIFFERENCES = 40


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Both runs of the scenario, side by side in two processes."""
    folder = tmp_path_factory.mktemp("emulator-scenario")
    env = {k: v for k, v in os.environ.items() if k not in {"AWS_PROFILE", "AWS_SESSION_TOKEN"}}
    env.update(PYTHONHASHSEED="0", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    outputs = {mode: folder / f"{mode}.json" for mode in MODES}
    processes = {}
    for mode in MODES:
        with outputs[mode].open("w") as out, (folder / f"{mode}.log").open("w") as log:
            processes[mode] = subprocess.Popen(
                [sys.executable, str(SCENARIO), mode], stdout=out, stderr=log, env=env
            )
    try:
        for mode, process in processes.items():
            code = process.wait(timeout=180)
            errors = (folder / f"{mode}.log").read_text()
            assert code == 0, f"the {mode} scenario failed ({code}):\n{errors[-6000:]}"
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return {mode: json.loads(outputs[mode].read_text()) for mode in MODES}


def differences(stock: Any, fixed: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Where two recorded values differ, as (path, stock value, fixed value)."""
    if isinstance(stock, dict) and isinstance(fixed, dict):
        for key in sorted(set(stock) | set(fixed)):
            if key not in stock or key not in fixed:
                yield f"{path}.{key}", stock.get(key, "<missing>"), fixed.get(key, "<missing>")
            else:
                yield from differences(stock[key], fixed[key], f"{path}.{key}")
    elif isinstance(stock, list) and isinstance(fixed, list) and len(stock) == len(fixed):
        for index, (a, b) in enumerate(zip(stock, fixed, strict=True)):
            yield from differences(a, b, f"{path}[{index}]")
    elif json.dumps(stock, sort_keys=True) != json.dumps(fixed, sort_keys=True):  # 2 and 2.0 differ
        yield path, stock, fixed


def assert_same_section(runs: dict[str, dict[str, Any]], section: str) -> None:
    stock, fixed = runs["stock"]["sections"][section], runs["fixed"]["sections"][section]
    assert [step["step"] for step in fixed] == [step["step"] for step in stock]
    found = [
        f"{step['step']} ({step['operation']}){where}:\n    stock: {a!r:.300}\n    fixed: {b!r:.300}"
        for step, other in zip(stock, fixed, strict=True)
        for where, a, b in differences(step, other)
    ]
    if found:
        shown = "\n".join(found[:SHOWN_DIFFERENCES])
        more = f"\n... and {len(found) - SHOWN_DIFFERENCES} more" if len(found) > SHOWN_DIFFERENCES else ""
        pytest.fail(f"{len(found)} differences with the fixes applied:\n{shown}{more}", pytrace=False)


def test_apply_names_every_fix_and_patches_nothing_twice(runs: dict[str, dict[str, Any]]) -> None:
    assert sorted(emulator_fixes._FIXES) == FIXES
    applied = runs["fixed"]["apply"]
    assert applied["first"] == FIXES
    assert applied["second"] == FIXES
    assert applied["third"] == FIXES
    assert applied["entry points unchanged by repeated apply"]
    assert runs["fixed"]["fixes"] == dict.fromkeys(FIXES, True)
    assert runs["stock"]["fixes"] == dict.fromkeys(FIXES, False)  # the reference run is moto's own


@pytest.mark.parametrize("mode", MODES)
def test_the_scenario_checks_hold(runs: dict[str, dict[str, Any]], mode: str) -> None:
    """Cancelled transactions leave no trace (items, scans, streams); index results carry their keys."""
    checks = runs[mode]["checks"]
    assert len(checks) >= 10
    assert {name for name, holds in checks.items() if not holds} == set()


def test_clients_see_the_same_responses_with_the_fixes(runs: dict[str, dict[str, Any]]) -> None:
    """Reads, queries (table, GSI1, GSI2, a hash-only table), scans, updates and transactions."""
    assert_same_section(runs, "main")


def test_sqs_clients_see_the_same_responses_with_the_fixes(runs: dict[str, dict[str, Any]]) -> None:
    """Send, batch send, delay, receive, visibility, delete, redrive to the DLQ, long poll, depths."""
    assert_same_section(runs, "sqs")
    steps = {step["step"]: step for step in runs["fixed"]["sections"]["sqs"]}
    # The recorded responses carry what they must for the comparison to mean something.
    moved = steps["sqs: the DLQ holds them"]["response"]["Messages"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in moved] == ["3", "3"]
    assert all(m["MessageAttributes"]["school_id"]["StringValue"] for m in moved)
    depth = steps["sqs: depth with everything in flight"]["response"]["Attributes"]
    assert depth == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "5",
        "ApproximateNumberOfMessagesDelayed": "1",
    }


def test_stream_clients_see_the_same_responses_with_the_fixes(runs: dict[str, dict[str, Any]]) -> None:
    """GetRecords and DescribeStream, parsed and as written: every view type, paging, empty pages."""
    assert_same_section(runs, "streams")
    steps = runs["fixed"]["sections"]["streams"]
    bodies = [step["wire"]["body"] for step in steps if step["operation"] == "get_records"]
    # The bodies compared carry every form moto writes a timestamp in: epoch seconds as an int
    # (a whole second), a float ending in .0 (under a millisecond) and a float in milliseconds.
    written = set(re.findall(r'"ApproximateCreationDateTime": (\d+(?:\.\d+)?)[,}]', "".join(bodies)))
    assert any("." not in value for value in written)
    assert any(value.endswith(".0") for value in written)
    assert any(re.fullmatch(r"\d+\.\d{3}", value) for value in written)
    assert all(re.fullmatch(r"\d{10}(\.\d{1,3})?", value) for value in written)
    assert '"Records": []' in "".join(bodies)  # an empty page
    described = [step["wire"]["body"] for step in steps if step["operation"] == "describe_stream"]
    assert described
    assert all(re.search(r'"CreationRequestDateTime": \d{10}\.\d{3},', body) for body in described)
    assert {step["wire"]["content type"] for step in steps if "wire" in step} == {
        "application/x-amz-json-1.0"
    }


def test_stream_responses_skip_the_generic_serializer_with_the_fixes(
    runs: dict[str, dict[str, Any]],
) -> None:
    """With the fixes, moto's generic serializer writes only the GetRecords pages holding binary values."""
    stock, fixed = runs["stock"]["stream responses"], runs["fixed"]["stream responses"]
    calls = fixed["calls"]
    assert stock["calls"] == calls
    assert stock["written by moto's serializer"] == calls  # the reference run is moto's own
    binary = fixed["GetRecords pages with binary values"]
    assert 0 < binary < calls["GetRecords"] - 10
    by_moto = fixed["written by moto's serializer"]
    assert by_moto.get("GetRecords") == binary
    assert "DescribeStream" not in by_moto
    assert by_moto["ListStreams"] == calls["ListStreams"]  # not part of the fix


def _step(runs: dict[str, dict[str, Any]], mode: str, name: str) -> dict[str, Any]:
    (step,) = [step for step in runs[mode]["sections"]["rollback edges"] if step["step"] == name]
    return step


def test_transaction_rollback_edges_behave_as_dynamodb_with_the_fixes(
    runs: dict[str, dict[str, Any]],
) -> None:
    """Where moto's whole-table rollback differs from DynamoDB, the item-level one behaves as DynamoDB.

    A stream consumer reading across a cancelled transaction sees the writes that follow and never
    the cancelled one (moto swapped in a copy of the table and its stream, so the reader saw the
    cancelled write and lost the later one); a transaction refused for an entry naming two operations
    leaves no trace of the entries before it (moto kept them).
    """
    records = _step(runs, "fixed", "edge: records on the earlier iterator")["response"]["Records"]
    written = [(r["eventName"], r["dynamodb"]["Keys"]["id"]["S"]) for r in records]
    assert written == [("INSERT", "after")]

    refused = _step(runs, "fixed", "edge: entry with two operations")
    assert refused["error"]["Error"]["Code"] == "ValidationException"
    assert "Item" not in _step(runs, "fixed", "edge: first put of the refused transaction")["response"]
