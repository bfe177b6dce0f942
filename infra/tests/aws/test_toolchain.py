"""The node the infra toolchain runs on is the project's, pinned exactly, and a supported major.

jsii (aws-cdk-lib in these tests) and the cdk CLI support Node 22 and 24; Node 20 is end-of-life. The
project installs its own node from the npm package ``node`` (``make setup``), so the machine's node
does not matter: the Makefile puts ``node_modules/.bin`` first on PATH and the conftest points jsii
and the IAM simulator at it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from luca_infra.aws.app import REPO_ROOT

pytestmark = pytest.mark.infra

SUPPORTED_MAJORS = {22, 24}
PROJECT_NODE = REPO_ROOT / "node_modules" / ".bin" / "node"


def _pinned_node() -> str:
    package = json.loads((REPO_ROOT / "package.json").read_text())
    return str(package["devDependencies"]["node"])


def test_package_json_pins_a_supported_node_exactly() -> None:
    pinned = _pinned_node()
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), f"package.json must pin node exactly, got {pinned!r}"
    assert int(pinned.split(".")[0]) in SUPPORTED_MAJORS
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    assert lock["packages"][""]["devDependencies"]["node"] == pinned
    assert lock["packages"]["node_modules/node"]["version"] == pinned


def test_the_installed_project_node_is_the_pinned_one() -> None:
    if not PROJECT_NODE.exists():
        pytest.fail(f"{PROJECT_NODE} is missing: run `make setup` (npm ci) to install the pinned node.")
    version = subprocess.run(
        [str(PROJECT_NODE), "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    assert version == f"v{_pinned_node()}"


def test_jsii_and_the_iam_simulator_run_on_the_project_node(node: str) -> None:
    assert Path(os.environ["JSII_NODE"]) == PROJECT_NODE
    assert Path(node) == PROJECT_NODE
