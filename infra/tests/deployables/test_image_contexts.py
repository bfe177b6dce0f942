"""The images' build contexts as ``luca_infra.deployables`` reads them: the CDK app's allowlists,
with Docker's ignore rules, giving the same files the CDK stages."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from luca_infra.deployables import IMAGES, DockerIgnore, context_files, deployables, image_contexts
from luca_infra.workspace import REPO_ROOT

# Beyond the app's own allowlists: re-included files under an excluded parent, ** at both ends,
# a wildcard in the middle, a re-exclusion inside a re-inclusion.
TRICKY_ALLOWLISTS = (
    (
        "*",
        "!libs",
        "libs/testing",
        "!services/ingest/src",
        "services/ingest/src/luca_ingest/*/__init__.py",
        "!proto/python/pyproject.toml",
        "!proto/python/src/luca/**/*.json",
        "!requirements.lock",
        "**/__pycache__",
    ),
)


def test_every_image_of_the_cdk_app_is_a_known_deployable() -> None:
    contexts = image_contexts()

    assert sorted(contexts) == sorted(IMAGES)
    for dockerfile, allowlist in contexts.items():
        assert allowlist, dockerfile
        assert dockerfile in context_files(REPO_ROOT, allowlist), f"{dockerfile} is not in its own context"


def test_an_image_is_found_wherever_its_constants_are_passed(tmp_path: Path) -> None:
    # GIVEN a CDK package where a construct passes an imported allowlist on to repository_image
    package = tmp_path / "infra/src/luca_infra/aws"
    (package / "constructs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "contexts.py").write_text('DEMO_ALLOWLIST: tuple[str, ...] = ("*", "!services/demo")\n')
    (package / "constructs/service.py").write_text(
        "def service(scope, name, *, dockerfile, allowlist):\n"
        "    return repository_image(scope.root, dockerfile, allowlist)\n"
    )
    (package / "demo.py").write_text(
        "from luca_infra.aws.contexts import DEMO_ALLOWLIST as ALLOWED\n"
        'DEMO_DOCKERFILE = "services/demo/Dockerfile"\n'
        "class Demo:\n"
        "    def __init__(self):\n"
        '        service(self, "Demo", dockerfile=DEMO_DOCKERFILE, allowlist=ALLOWED)\n'
        '        other(("a", "b"), "no dockerfile here")\n'
    )

    assert image_contexts(tmp_path) == {"services/demo/Dockerfile": ("*", "!services/demo")}


def test_each_image_is_deployed_by_its_own_stack() -> None:
    found = deployables()

    stacks = [d.stack for d in found.values()]
    assert len(stacks) == len(set(stacks)) == 7
    assert {d.name: d.kind for d in found.values()} == {
        "ingest-lambda": "lambda",
        "govsync-lambda": "lambda",
        "analytics-lambda": "lambda",
        "grading-image": "image",
        "govsync-api-image": "image",
        "analytics-api-image": "image",
        "edge-authorizer-image": "image",
    }


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("README.md", True),
        ("requirements.lock", False),
        ("libs/kernel/src/luca_kernel/ids.py", False),
        ("libs/testing/pyproject.toml", True),
        ("services/ingest/src/luca_ingest/config.py", False),
        ("services/ingest/src/luca_ingest/domain/__init__.py", True),
        ("services/ingest/src/luca_ingest/__init__.py", False),  # * stops at /
        ("services/ingest/src/luca_ingest/domain/__pycache__/events.cpython-311.pyc", True),
        ("services/ingest/tests/test_x.py", True),
        ("proto/python/pyproject.toml", False),
        ("proto/python/src/luca/ingest/v1/schemas/StudentEvent.schema.json", False),
        ("proto/python/src/luca/ingest/v1/ingest_pb2.py", True),
    ],
)
def test_docker_ignore_rules(path: str, ignored: bool) -> None:
    assert DockerIgnore(TRICKY_ALLOWLISTS[0]).ignores(path) is ignored


@pytest.mark.infra
def test_the_contexts_are_the_files_the_cdk_stages(tmp_path: Path) -> None:
    # jsii runs on the project's pinned node (installed by `make setup`), as in the CDK tests.
    os.environ.setdefault(
        "JSII_NODE", shutil.which("node", path=REPO_ROOT / "node_modules" / ".bin") or "node"
    )
    import aws_cdk as cdk

    for allowlist in (*image_contexts().values(), *TRICKY_ALLOWLISTS):
        staged = Path(tempfile.mkdtemp(dir=tmp_path))
        options = cdk.CopyOptions(exclude=list(allowlist), ignore_mode=cdk.IgnoreMode.DOCKER)
        cdk.FileSystem.copy_directory(str(REPO_ROOT), str(staged), options)

        cdk_files = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
        assert context_files(REPO_ROOT, allowlist) == cdk_files, allowlist
