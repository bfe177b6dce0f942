"""Schemathesis through the edge: every operation of the public document, once per caller.

Runs the ``st`` CLI (all checks, all phases) against a gateway with each role's token (teacher,
student, admin) and with none, and counts the generated test cases from its JSON reports. Used by
the end-to-end test (few examples) and by ``make fuzz`` (many). ``schemathesis.toml`` beside this
module names the few answers that depend on what no schema states, operation by operation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

OPENAPI_PATH = "/v1/openapi.json"
CONFIG = Path(__file__).with_name("schemathesis.toml")


@dataclass(frozen=True, slots=True)
class FuzzRun:
    caller: str
    cases: int
    failures: int
    errors: int
    exit_code: int
    output: str


def fuzz_caller(
    gateway_url: str,
    caller: str,
    token: str | None,
    *,
    max_examples: int,
    report_dir: Path,
    seed: int = 15,
    timeout_seconds: float = 1800,
) -> FuzzRun:
    """One ``st run`` as ``caller`` (``token`` None: no Authorization header at all)."""
    report = report_dir / f"{caller}.json"
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        gateway_url + OPENAPI_PATH,
        "--url",
        gateway_url,
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        # One thread per run, the callers' runs side by side instead (fuzz_all): hypothesis parses
        # sources with ast in its worker threads, which CPython 3.11 before 3.11.8 can fail at
        # ("AST constructor recursion depth mismatch", gh-106905) as a runtime error of the run.
        "--workers",
        "1",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    if token is not None:
        command += ["--header", f"Authorization: Bearer {token}"]
    # Our own CLI from this interpreter's environment, arguments built here: nothing untrusted.
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_seconds, check=False)  # noqa: S603
    cases, failures, errors = _counts(report)
    output = done.stdout + done.stderr
    # The CLI's own account (failures, errors, warnings) beside its JSON report.
    report.with_suffix(".txt").write_text(output, encoding="utf-8")
    return FuzzRun(caller, cases, failures, errors, done.returncode, output)


def _counts(report: Path) -> tuple[int, int, int]:
    """(generated cases, unique failures, errors) from the CLI's JSON report; zeros when it wrote none."""
    if not report.is_file():
        return 0, 0, 0
    found = json.loads(report.read_text(encoding="utf-8"))
    cases = found.get("test_cases", {})
    errors = sum(int(error.get("count", 1)) for error in found.get("errors", []))
    return int(cases.get("generated", 0)), int(cases.get("unique_failures", 0)), errors


def fuzz_all(
    gateway_url: str, tokens: Mapping[str, str | None], *, max_examples: int, report_dir: Path
) -> list[FuzzRun]:
    """Every caller's run at once (each one thread: see fuzz_caller), in ``tokens``' order."""
    report_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        runs = [
            pool.submit(
                fuzz_caller, gateway_url, caller, token, max_examples=max_examples, report_dir=report_dir
            )
            for caller, token in tokens.items()
        ]
        return [run.result() for run in runs]
