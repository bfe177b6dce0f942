"""The import contracts (``.importlinter``, run by ``make lint``) hold, and they bite.

Each violation is built in a temporary copy of one package, put first on the path of a lint-imports
run with the repository's own configuration; the real source tree is never touched. The kernel's
"standard library only" rule is also checked here exhaustively, module by module, because the
forbidden contract can only list the third-party packages the workspace uses today.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

SERVICES_INDEPENDENT = "Services never import each other"
KERNEL_STDLIB = "The kernel imports only the standard library"
PLATFORM_NO_SERVICES = "The platform and testing libraries import no service and no infra"
LIBS_NO_INFRA = "Libraries never import infra"
LAYERS = "Domain and use cases never import adapters or entrypoints"
DOMAIN_NO_IO = "Domain and use cases import no AWS SDK, gRPC, web framework or generated stubs"
INFRA_ROOT = "Infra reaches a service only through its composition root, entrypoints, config and definitions"
CONTRACTS = (
    SERVICES_INDEPENDENT,
    KERNEL_STDLIB,
    PLATFORM_NO_SERVICES,
    LIBS_NO_INFRA,
    LAYERS,
    DOMAIN_NO_IO,
    INFRA_ROOT,
)


@dataclass(frozen=True)
class Report:
    returncode: int
    output: str

    def verdicts(self) -> dict[str, str]:
        return {
            match["name"]: match["verdict"]
            for match in re.finditer(
                r"^(?P<name>\S.*?) (?P<verdict>KEPT|BROKEN)\b", self.output, re.MULTILINE
            )
        }

    @property
    def broken(self) -> set[str]:
        return {name for name, verdict in self.verdicts().items() if verdict == "BROKEN"}


def lint_imports(cwd: Path, *first_on_path: Path) -> Report:
    env = dict(os.environ)
    path = [str(entry) for entry in first_on_path]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["COLUMNS"] = "400"  # one contract per line, however long its name
    env["NO_COLOR"] = "1"
    completed = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(CONFIG)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Report(completed.returncode, completed.stdout + completed.stderr)


def copy_package(source: Path, destination_root: Path) -> Path:
    copy = destination_root / source.name
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


# -- the repository keeps every contract ----------------------------------------------------------
def test_the_repository_keeps_every_import_contract() -> None:
    report = lint_imports(REPO)
    assert report.returncode == 0, report.output
    assert report.verdicts() == dict.fromkeys(CONTRACTS, "KEPT"), report.output


def test_make_lint_runs_the_import_contracts() -> None:
    makefile = (REPO / "Makefile").read_text()
    lint_recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/lint-imports" in lint_recipe


# -- ... and each contract bites ------------------------------------------------------------------
@dataclass(frozen=True)
class Violation:
    package: str  # path of the package to copy, from the repository root
    module: str  # the module to add, relative to the package
    source: str
    contract: str
    named_import: str  # how the report names the offending import

    def __str__(self) -> str:
        return f"{Path(self.package).name}/{self.module}"


VIOLATIONS = (
    Violation(
        "services/ingest/src/luca_ingest",
        "_violation.py",
        "from luca_grading.domain import model\n",
        SERVICES_INDEPENDENT,
        "luca_ingest._violation -> luca_grading.domain.model",
    ),
    Violation(
        "libs/kernel/src/luca_kernel",
        "_violation.py",
        "import boto3\n",
        KERNEL_STDLIB,
        "luca_kernel._violation -> boto3",
    ),
    Violation(
        "libs/kernel/src/luca_kernel",
        "_violation.py",
        "from luca_platform.table import keys\n",
        KERNEL_STDLIB,
        "luca_kernel._violation -> luca_platform.table.keys",
    ),
    Violation(
        "libs/platform/src/luca_platform",
        "_violation.py",
        "from luca_govsync import config\n",
        PLATFORM_NO_SERVICES,
        "luca_platform._violation -> luca_govsync.config",
    ),
    Violation(
        "libs/testing/src/luca_testing",
        "_violation.py",
        "import luca_infra.definitions\n",
        LIBS_NO_INFRA,
        "luca_testing._violation -> luca_infra.definitions",
    ),
    Violation(
        "services/grading/src/luca_grading",
        "service_layer/_violation.py",
        "import luca_grading.adapters\n",
        LAYERS,
        "luca_grading.service_layer._violation -> luca_grading.adapters",
    ),
    Violation(
        "services/analytics/src/luca_analytics",
        "domain/_violation.py",
        "import boto3\n",
        DOMAIN_NO_IO,
        "luca_analytics.domain._violation -> boto3",
    ),
    Violation(
        "services/govsync/src/luca_govsync",
        "service_layer/_violation.py",
        "from luca.govsync.v1 import govsync_pb2\n",
        DOMAIN_NO_IO,
        "luca_govsync.service_layer._violation -> luca.govsync.v1.govsync_pb2",
    ),
    Violation(
        "infra/src/luca_infra",
        "local/_violation.py",
        "from luca_grading.adapters import dynamodb_repository\n",
        INFRA_ROOT,
        "luca_infra.local._violation -> luca_grading.adapters.dynamodb_repository",
    ),
)


@pytest.mark.parametrize("violation", VIOLATIONS, ids=str)
def test_a_deliberate_violation_breaks_its_contract(violation: Violation, tmp_path: Path) -> None:
    copy = copy_package(REPO / violation.package, tmp_path / "src")
    (copy / violation.module).write_text(violation.source)

    report = lint_imports(tmp_path, tmp_path / "src")

    assert report.returncode != 0, report.output
    assert violation.contract in report.broken, report.output
    assert violation.named_import in report.output, report.output
    assert report.verdicts().keys() == set(CONTRACTS)  # the copy was checked against every contract


def test_the_violations_were_built_in_copies_only() -> None:
    assert [str(v) for v in VIOLATIONS if (REPO / v.package / v.module).exists()] == []


# -- the kernel imports only the standard library, whatever is installed --------------------------
KERNEL = REPO / "libs/kernel/src/luca_kernel"
ALLOWED_TOP_LEVEL = frozenset(sys.stdlib_module_names) | {"luca_kernel"}


def non_stdlib_imports(package: Path) -> list[str]:
    """``path:line: module`` for every absolute import in ``package`` of neither the standard library
    nor the package itself."""
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] not in ALLOWED_TOP_LEVEL:
                    found.append(f"{path.relative_to(package.parent)}:{node.lineno}: {name}")
    return found


def test_the_kernel_imports_only_the_standard_library() -> None:
    modules = list(KERNEL.rglob("*.py"))
    assert len(modules) > 1
    assert non_stdlib_imports(KERNEL) == []


def test_the_stdlib_check_bites(tmp_path: Path) -> None:
    copy = copy_package(KERNEL, tmp_path)
    (copy / "_violation.py").write_text(
        "from __future__ import annotations\n"
        "import json\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import pydantic\n"
        "def f():\n"
        "    from luca_platform.table import keys\n"
        "    import yaml, os\n"
    )
    assert non_stdlib_imports(copy) == [
        "luca_kernel/_violation.py:5: pydantic",
        "luca_kernel/_violation.py:7: luca_platform.table",
        "luca_kernel/_violation.py:8: yaml",
    ]
