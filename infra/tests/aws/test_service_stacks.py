"""Each deployable ships alone: one stack per service behind the shared ALB, images built from their
own service only, and shared stacks that never refer to a service's stack.

GIVEN the synthesized app and its staged image assets
THEN  the government sync's API and the analytics query service run in stacks of their own, not in
      LucaGrading's task definition; no service stack depends on another's, and the shared stacks on
      none; and each image's build context holds its service (with its lock), the libraries and the
      generated contracts, never another service's package, which its Dockerfile installs from its
      own lock with the library extras its pyproject declares.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from luca_infra.aws.analytics_api import ANALYTICS_API_DOCKERFILE
from luca_infra.aws.app import REPO_ROOT
from luca_infra.aws.containers import COLLECTOR_CONTAINER, repository_image
from luca_infra.aws.govsync_api import GOVSYNC_API_DOCKERFILE
from luca_infra.aws.grading import IMAGE_DOCKERFILE
from luca_infra.definitions import PLATFORM_DEFINITION

pytestmark = pytest.mark.infra

# Each image's stack, service directory and the one container of its own in the task.
IMAGES = {
    "LucaGrading": (IMAGE_DOCKERFILE, "grading", PLATFORM_DEFINITION.grading.container),
    "LucaGovSyncApi": (GOVSYNC_API_DOCKERFILE, "govsync", PLATFORM_DEFINITION.govsync_api.container),
    "LucaAnalyticsApi": (ANALYTICS_API_DOCKERFILE, "analytics", PLATFORM_DEFINITION.analytics_api.container),
}
SERVICES = sorted(
    path.name for path in (REPO_ROOT / "services").iterdir() if (path / "pyproject.toml").is_file()
)
LAMBDA_STACKS = ("LucaIngest", "LucaGovSync", "LucaAnalytics")
SHARED_STACKS = ("LucaData", "LucaIdentity", "LucaObservability", "LucaNetwork")
# What a build context may hold besides its service: the generated contracts and the libraries.
SHARED_SOURCES = {"proto/python", "libs/kernel", "libs/platform"}


def _staged(synthesized: Any, stack: str) -> tuple[dict[str, Any], Path]:
    assets = json.loads((synthesized.outdir / f"{stack}.assets.json").read_text())
    ((image,),) = [list(assets["dockerImages"].values())]
    return image["source"], synthesized.outdir / image["source"]["directory"]


def _files(root: Path) -> list[str]:
    return sorted(
        Path(directory, name).relative_to(root).as_posix()
        for directory, _, names in os.walk(root)
        for name in names
    )


def _package(service: str) -> str:
    """The import package a service ships (``[tool.hatch.build.targets.wheel] packages``)."""
    pyproject = tomllib.loads((REPO_ROOT / "services" / service / "pyproject.toml").read_text())
    (package,) = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return Path(package).name


# -- stacks ------------------------------------------------------------------------------------------
def test_the_government_sync_api_and_the_report_service_are_not_in_the_grading_task(synthesized: Any) -> None:
    containers_by_stack = {
        stack: {
            container["Name"]
            for task in synthesized.resources(stack, "AWS::ECS::TaskDefinition").values()
            for container in task["Properties"]["ContainerDefinitions"]
        }
        for stack in synthesized.templates
    }
    assert containers_by_stack["LucaGrading"] == {"grading", COLLECTOR_CONTAINER}
    for stack, (_, _, container) in IMAGES.items():
        # Each service's container is in its own stack's task, and in no other stack.
        holders = {name for name, containers in containers_by_stack.items() if container in containers}
        assert holders == {stack}, container
        assert containers_by_stack[stack] == {container, COLLECTOR_CONTAINER}
        assert len(synthesized.resources(stack, "AWS::ECS::Service")) == 1


def test_each_service_stack_has_its_own_task_role_and_image(synthesized: Any) -> None:
    roles = set()
    for stack in IMAGES:
        _, task = synthesized.only(stack, "AWS::ECS::TaskDefinition")
        role_id = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
        roles.add(synthesized.templates[stack]["Resources"][role_id]["Properties"]["RoleName"])
    assert len(roles) == len(IMAGES)


def _dependencies(synthesized: Any) -> dict[str, set[str]]:
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())
    stacks = {name for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    return {
        name: {d for d in manifest["artifacts"][name].get("dependencies", []) if d in stacks}
        for name in stacks
    }


def test_no_deployable_stack_depends_on_another_and_shared_stacks_on_none(synthesized: Any) -> None:
    dependencies = _dependencies(synthesized)
    deployables = {*IMAGES, *LAMBDA_STACKS}
    for stack in SHARED_STACKS:
        assert dependencies[stack] == set(), stack
    for stack in deployables:
        # The query service takes the lake's key and secret from the lake's stack (same service).
        allowed = {"LucaAnalytics"} if stack == "LucaAnalyticsApi" else set()
        assert dependencies[stack] & deployables == allowed, stack
    # Nothing in a shared stack names a deployable's stack (an import would pin it there).
    for stack in SHARED_STACKS:
        text = json.dumps(synthesized.templates[stack])
        for deployable in deployables:
            assert f'"{deployable}:' not in text, (stack, deployable)


def test_a_service_stack_adds_its_rules_to_the_shared_listeners_and_opens_only_its_own_tasks(
    synthesized: Any,
) -> None:
    network_listeners = set(synthesized.resources("LucaNetwork", "AWS::ElasticLoadBalancingV2::Listener"))
    for stack in IMAGES:
        rules = synthesized.resources(stack, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
        assert rules, stack
        for rule in rules:
            assert rule["Properties"]["ListenerArn"]["Fn::ImportValue"].startswith("LucaNetwork:")
        (group_id,) = synthesized.resources(stack, "AWS::EC2::SecurityGroup")
        own = {"Fn::GetAtt": [group_id, "GroupId"]}
        for rule in synthesized.resources(stack, "AWS::EC2::SecurityGroupIngress").values():
            assert rule["Properties"]["GroupId"] == own
        for rule in synthesized.resources(stack, "AWS::EC2::SecurityGroupEgress").values():
            assert rule["Properties"]["DestinationSecurityGroupId"] == own
    assert len(network_listeners) == 2


# -- images ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", sorted(IMAGES))
def test_an_image_context_holds_its_service_the_libraries_and_the_contracts_only(
    synthesized: Any, stack: str
) -> None:
    dockerfile, service, _ = IMAGES[stack]
    source, staged = _staged(synthesized, stack)
    assert source["dockerFile"] == dockerfile
    files = _files(staged)
    roots = {"/".join(path.split("/")[:2]) for path in files}
    assert roots == SHARED_SOURCES | {f"services/{service}"}
    assert f"services/{service}/requirements.lock" in files
    assert dockerfile in files
    assert "requirements.lock" not in files  # the workspace's lock: every service's pins
    others = {_package(other) for other in SERVICES if other != service}
    leaked = [path for path in files if others & set(path.split("/"))]
    assert not leaked, leaked
    assert not [path for path in files if "/tests/" in f"/{path}" or "__pycache__" in path]


@pytest.mark.parametrize("stack", sorted(IMAGES))
def test_a_dockerfile_installs_its_service_from_its_own_lock_with_the_extras_it_declares(stack: str) -> None:
    dockerfile, service, _ = IMAGES[stack]
    text = (REPO_ROOT / dockerfile).read_text()
    copied = {
        line.split()[1] for line in text.splitlines() if line.startswith("COPY ") and "--from=" not in line
    }
    assert copied <= SHARED_SOURCES | {
        f"services/{service}/{name}" for name in ("requirements.lock", "pyproject.toml", "src")
    }
    assert f"services/{service}/requirements.lock" in copied
    pyproject = tomllib.loads((REPO_ROOT / "services" / service / "pyproject.toml").read_text())
    (platform,) = [
        Requirement(r) for r in pyproject["project"]["dependencies"] if Requirement(r).name == "luca-platform"
    ]
    installed = re.search(r"\./libs/platform\[([a-z,]+)\]", text)
    assert installed is not None
    assert set(installed.group(1).split(",")) == platform.extras
    for package in ("./proto/python", "./libs/kernel", f"./services/{service}"):
        assert f" {package} " in text or f" {package}\n" in text, package


def test_an_image_needs_its_services_lock_at_synthesis(tmp_path: Path) -> None:
    dockerfile = tmp_path / "services/example/Dockerfile"
    dockerfile.parent.mkdir(parents=True)
    dockerfile.write_text("FROM scratch\n")
    with pytest.raises(FileNotFoundError, match="make lock"):
        repository_image(tmp_path, "services/example/Dockerfile", ("*", "!services/example"))
    (dockerfile.parent / "requirements.lock").write_text("")
    assert repository_image(tmp_path, "services/example/Dockerfile", ("*", "!services/example")) is not None
