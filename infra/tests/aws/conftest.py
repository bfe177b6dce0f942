"""Synthesize the CDK app once per test session and hand out its templates.

Synthesis takes ~20 s (jsii starts node, cdk-nag walks the tree), so every test in this folder
reads the same cloud assembly. If synthesis fails (including an unacknowledged cdk-nag finding),
every test here fails with that error. The Lambda bundles (the grade processor's, the government
sync's, the lake enrichment's) are built for the session with the real builder (``make bundle`` does the same), so the
synthesized functions deploy what CI tested.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# jsii starts node as soon as aws_cdk is imported: run it on the project's pinned node
# (node_modules/.bin/node, installed by `make setup`) rather than whatever node is first on PATH.
os.environ.setdefault(
    "JSII_NODE",
    shutil.which("node", path=Path(__file__).resolve().parents[3] / "node_modules" / ".bin") or "node",
)

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from luca_infra.aws.app import (
    CERTIFICATE_ARN_CONTEXT,
    MINISTRY_URL_CONTEXT,
    REPO_ROOT,
    SYNTH_ONLY_PLACEHOLDER_CERTIFICATE_ARN,
    SYNTH_ONLY_PLACEHOLDER_MINISTRY_URL,
    build_app,
)
from luca_infra.bundle import build_analytics_bundle, build_govsync_bundle, build_ingest_bundle

STACKS = (
    "LucaData",
    "LucaIdentity",
    "LucaObservability",
    "LucaNetwork",
    "LucaIngest",
    "LucaGovSync",
    "LucaAnalytics",
    "LucaGrading",
    "LucaGovSyncApi",
    "LucaAnalyticsApi",
    "LucaEdge",
    "LucaAudit",
    "LucaOperations",
)
# The context every synthesis in these tests passes (deploy-time values with no default).
SYNTH_CONTEXT = {
    CERTIFICATE_ARN_CONTEXT: SYNTH_ONLY_PLACEHOLDER_CERTIFICATE_ARN,
    MINISTRY_URL_CONTEXT: SYNTH_ONLY_PLACEHOLDER_MINISTRY_URL,
}
IAM_SIMULATOR = REPO_ROOT / "node_modules" / "@cloud-copilot" / "iam-simulate"
# The project's node: the npm package `node`, pinned exactly in package.json (see test_toolchain.py).
PROJECT_NODE_BIN = REPO_ROOT / "node_modules" / ".bin"
SIMULATOR_SCRIPT = Path(__file__).with_name("iam_simulate.cjs")


@dataclass(frozen=True)
class Synthesized:
    app: cdk.App
    outdir: Path
    templates: dict[str, dict[str, Any]]

    def template(self, stack: str) -> Template:
        return Template.from_json(self.templates[stack])

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[stack]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def only(self, stack: str, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(stack, resource_type)
        assert len(found) == 1, f"expected one {resource_type} in {stack}, found {sorted(found)}"
        return next(iter(found.items()))


@pytest.fixture(scope="session")
def ingest_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The grade processor's zip, built by the same function as ``make bundle``."""
    return build_ingest_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="session")
def govsync_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The government sync's zip (its five functions), built by the same function as ``make bundle``."""
    return build_govsync_bundle(tmp_path_factory.mktemp("govsync-bundle"))


@pytest.fixture(scope="session")
def analytics_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lake enrichment function's zip, built by the same function as ``make bundle``."""
    return build_analytics_bundle(tmp_path_factory.mktemp("analytics-bundle"))


@pytest.fixture(scope="session")
def synthesized(
    tmp_path_factory: pytest.TempPathFactory,
    ingest_bundle: Path,
    govsync_bundle: Path,
    analytics_bundle: Path,
) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk") / "cdk.out"
    app = build_app(
        str(outdir),
        context=SYNTH_CONTEXT,
        ingest_bundle=ingest_bundle,
        govsync_bundle=govsync_bundle,
        analytics_bundle=analytics_bundle,
    )
    app.synth()
    templates = {stack: json.loads((outdir / f"{stack}.template.json").read_text()) for stack in STACKS}
    return Synthesized(app=app, outdir=outdir, templates=templates)


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary (the project's pinned one when installed) and the test-only IAM simulator.

    Missing tools fail the test, never skip it.
    """
    binary = shutil.which("node", path=PROJECT_NODE_BIN) or shutil.which("node")
    if binary is None:
        pytest.fail(
            "node is not on PATH: the infra tests need node (CDK and the IAM simulator). Run `make setup`."
        )
    if not IAM_SIMULATOR.is_dir():
        pytest.fail(
            f"{IAM_SIMULATOR} is missing: run `make setup` (npm ci) to install the test-only IAM simulator."
        )
    return binary


Simulate = Callable[[dict[str, dict[str, Any]]], dict[str, str]]


@pytest.fixture(scope="session")
def simulate_iam(node: str) -> Simulate:
    """Named iam-simulate requests in, the policy engine's decision for each out."""

    def simulate(cases: dict[str, dict[str, Any]]) -> dict[str, str]:
        payload = json.dumps([{"name": name, "simulation": case} for name, case in cases.items()])
        completed = subprocess.run(
            [node, str(SIMULATOR_SCRIPT)],
            input=payload,
            capture_output=True,
            text=True,
            cwd=SIMULATOR_SCRIPT.parent,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        results = {item["name"]: item["result"] for item in json.loads(completed.stdout)}
        errors = {name: result for name, result in results.items() if result.startswith("error")}
        assert not errors, errors
        return results

    return simulate


IamCase = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def iam_case() -> IamCase:
    """Builds one ``simulate_iam`` case (see ``iam_request``)."""
    return iam_request


def iam_request(
    principal: str, policy: dict[str, Any], account: str, action: str, resource: str,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One case for ``simulate_iam``: ``principal`` calling ``action`` on ``resource`` with only its
    identity policy ``policy`` (no SCPs, no resource policy)."""
    return {
        "request": {
            "principal": principal,
            "action": action,
            "resource": {"resource": resource, "accountId": account},
            "contextVariables": context or {},
        },
        "identityPolicies": [{"name": "identity", "policy": policy}],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
    }
