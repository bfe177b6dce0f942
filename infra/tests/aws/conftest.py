"""Synthesize the CDK app once per test session and hand out its templates.

Synthesis takes ~20 s (jsii starts node, cdk-nag walks the tree), so every test in this folder
reads the same cloud assembly. If synthesis fails (including an unacknowledged cdk-nag finding),
every test here fails with that error.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from luca_infra.aws.app import (
    CERTIFICATE_ARN_CONTEXT,
    REPO_ROOT,
    SYNTH_ONLY_PLACEHOLDER_CERTIFICATE_ARN,
    build_app,
)

STACKS = ("LucaData", "LucaIdentity", "LucaGrading", "LucaEdge", "LucaObservability")
IAM_SIMULATOR = REPO_ROOT / "node_modules" / "@cloud-copilot" / "iam-simulate"


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
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk") / "cdk.out"
    app = build_app(str(outdir), context={CERTIFICATE_ARN_CONTEXT: SYNTH_ONLY_PLACEHOLDER_CERTIFICATE_ARN})
    app.synth()
    templates = {stack: json.loads((outdir / f"{stack}.template.json").read_text()) for stack in STACKS}
    return Synthesized(app=app, outdir=outdir, templates=templates)


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary and the test-only IAM simulator; missing tools fail the test, never skip it."""
    binary = shutil.which("node")
    if binary is None:
        pytest.fail(
            "node is not on PATH: the infra tests need node (CDK and the IAM simulator). Run `make setup`."
        )
    if not IAM_SIMULATOR.is_dir():
        pytest.fail(
            f"{IAM_SIMULATOR} is missing: run `make setup` (npm ci) to install the test-only IAM simulator."
        )
    return binary
