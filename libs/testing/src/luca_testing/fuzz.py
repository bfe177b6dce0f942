"""Schemathesis through the edge: every operation of the public document, once per caller.

Runs the ``st`` CLI (all checks, all phases) against a gateway with each role's token (teacher,
student, admin) and with none, and counts the generated test cases from its JSON reports. Used by
the end-to-end test (few examples) and by ``make fuzz`` (many).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

OPENAPI_PATH = "/v1/openapi.json"


@dataclass(frozen=True, slots=True)
class FuzzRun:
    caller: str
    cases: int
    failures: int
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
        "--workers",
        "2",
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
    cases, failures = _counts(report)
    return FuzzRun(caller, cases, failures, done.returncode, done.stdout + done.stderr)


def _counts(report: Path) -> tuple[int, int]:
    """(generated cases, unique failures) from the CLI's JSON report; (0, 0) when it wrote none."""
    if not report.is_file():
        return 0, 0
    cases = json.loads(report.read_text(encoding="utf-8")).get("test_cases", {})
    return int(cases.get("generated", 0)), int(cases.get("unique_failures", 0))


def fuzz_all(
    gateway_url: str, tokens: Mapping[str, str | None], *, max_examples: int, report_dir: Path
) -> list[FuzzRun]:
    report_dir.mkdir(parents=True, exist_ok=True)
    return [
        fuzz_caller(gateway_url, caller, token, max_examples=max_examples, report_dir=report_dir)
        for caller, token in tokens.items()
    ]
