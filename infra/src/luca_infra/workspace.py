"""The uv workspace as the release tooling reads it: its members, their requirements, and the locks.

    python -m luca_infra.workspace --check-locks     (every service lock against its pyproject and the root lock)

* **Members** are listed by the root ``pyproject.toml`` (``[tool.uv.workspace]``); each member's
  ``pyproject.toml`` gives its distribution name, version, requirements (base and extras) and the
  source directories of its import packages (``[tool.hatch.build.targets.wheel] packages``).
* **The root lock** (``requirements.lock``) pins every package of the workspace and its tools.
* **A service lock** (``services/<name>/requirements.lock``, written by ``make lock``) pins exactly
  the third-party distributions in that service's dependency closure, at the root lock's versions
  and with its hashes; the workspace packages (luca-proto, luca-kernel, luca-platform) are installed
  from source, so they are not pinned there.

``check_service_lock`` tells whether a service lock is stale without resolving anything, so it runs
offline: it walks the closure of the service's requirements (workspace members through their
``pyproject.toml``, so an edit shows before it is installed; other distributions through the
installed metadata, whose versions it first checks against the root lock) and compares the result
with the service lock's name==version lines and hashes. The closure is evaluated for this
interpreter and platform, as ``uv pip compile`` resolves the locks.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_REQUIREMENTS = "build-requirements.in"
ROOT_LOCK = "requirements.lock"
SERVICES_DIR = "services"
SERVICE_LOCK_NAME = "requirements.lock"

# "name==version \" opens an entry of a `uv pip compile --generate-hashes` lock; "--hash=..." lines follow.
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+?)\s*\\?$")
_HASH = re.compile(r"--hash=(?P<hash>\S+)")


class WorkspaceError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Member:
    """One workspace member, as its ``pyproject.toml`` declares it."""

    name: str
    version: str
    directory: str  # from the repository root, e.g. "libs/platform"
    package_dirs: tuple[str, ...]  # import packages' source directories, from ``directory``
    dependencies: tuple[Requirement, ...]
    optional_dependencies: Mapping[str, tuple[Requirement, ...]]

    @property
    def packages(self) -> tuple[str, ...]:
        """The import packages it ships (e.g. ``luca_platform``)."""
        return tuple(PurePosixPath(path).name for path in self.package_dirs)

    def requirements(self, extras: Collection[str] = ()) -> tuple[Requirement, ...]:
        unknown = sorted(set(extras) - set(self.optional_dependencies))
        if unknown:
            raise WorkspaceError(f"{self.name} has no extra {', '.join(unknown)}")
        return self.dependencies + tuple(
            r for extra in sorted(extras) for r in self.optional_dependencies[extra]
        )


@dataclass(frozen=True, slots=True)
class Pin:
    name: str
    version: str
    hashes: frozenset[str]


def members(root: Path = REPO_ROOT) -> dict[str, Member]:
    """Every workspace member, by distribution name."""
    workspace = _toml(root / "pyproject.toml")["tool"]["uv"]["workspace"]["members"]
    found = {}
    for directory in workspace:
        member = _member(root, str(directory))
        found[member.name] = member
    return found


def services(root: Path = REPO_ROOT) -> dict[str, Member]:
    """The members under ``services/``, by directory name (``ingest`` -> luca-ingest)."""
    return {
        PurePosixPath(member.directory).name: member
        for member in members(root).values()
        if PurePosixPath(member.directory).parent == PurePosixPath(SERVICES_DIR)
    }


def service_lock_path(service: str) -> str:
    """The service's lock, from the repository root."""
    return f"{SERVICES_DIR}/{service}/{SERVICE_LOCK_NAME}"


def read_lock(path: Path) -> dict[str, Pin]:
    """The name==version entries of a lock and their hashes (editable and comment lines skipped)."""
    pins: dict[str, Pin] = {}
    current: tuple[str, str, set[str]] | None = None
    for line in [*path.read_text().splitlines(), ""]:
        match = _PIN.match(line)
        if match or not line.startswith(" "):
            if current is not None:
                pins[current[0]] = Pin(current[0], current[1], frozenset(current[2]))
            current = (canonicalize_name(match["name"]), match["version"], set()) if match else None
        elif current is not None:
            current[2].update(m["hash"] for m in _HASH.finditer(line))
    return pins


def closure(
    requirements: Iterable[Requirement | str],
    *,
    root: Path = REPO_ROOT,
    stop: Collection[str] = (),
) -> set[str]:
    """Every distribution ``requirements`` need here, themselves included (extras and markers applied).

    Workspace members are followed through their ``pyproject.toml`` under ``root``; other
    distributions through their installed metadata. Distributions in ``stop`` are kept but not
    followed (what the Lambda runtime provides, say).
    """
    workspace = members(root)
    stopped = {canonicalize_name(name) for name in stop}
    extras_seen: dict[str, set[str]] = {}
    pending = [
        r for r in (r if isinstance(r, Requirement) else Requirement(r) for r in requirements) if _applies(r)
    ]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        first = name not in extras_seen
        new_extras = set(requirement.extras) - extras_seen.setdefault(name, set())
        if (not first and not new_extras) or name in stopped:
            continue
        extras_seen[name] |= new_extras
        if name in workspace:
            member = workspace[name]
            added = member.requirements(new_extras)[0 if first else len(member.dependencies) :]
            pending += [r for r in added if _applies(r)]
        else:
            pending += _installed_requirements(name, new_extras, base=first)
    return set(extras_seen)


def build_requirements(root: Path = REPO_ROOT) -> tuple[Requirement, ...]:
    """What builds the workspace packages inside an image (``build-requirements.in``)."""
    lines = (root / BUILD_REQUIREMENTS).read_text(encoding="utf-8").splitlines()
    return tuple(Requirement(line) for line in (raw.split("#")[0].strip() for raw in lines) if line)


def lock_closure(service: str, root: Path = REPO_ROOT) -> set[str]:
    """The third-party distributions ``services/<service>/requirements.lock`` must pin: what the
    service needs, and what builds it in its image."""
    member = services(root)[service]
    wanted = (*member.dependencies, *build_requirements(root))
    return closure(wanted, root=root) - set(members(root))


def check_service_lock(service: str, root: Path = REPO_ROOT) -> list[str]:
    """Why ``services/<service>/requirements.lock`` is stale (nothing: it is current)."""
    lock_path = root / service_lock_path(service)
    if not lock_path.is_file():
        return [f"{service_lock_path(service)} is missing: run `make lock`"]
    root_pins = read_lock(root / ROOT_LOCK)
    try:
        expected = lock_closure(service, root)
    except WorkspaceError as exc:
        return [str(exc)]
    problems = check_environment(expected, root_pins)
    if problems:
        return problems
    pins = read_lock(lock_path)
    where = service_lock_path(service)
    for name in sorted(expected - set(pins)):
        problems.append(f"{where} does not pin {name}, which luca-{service} needs: run `make lock`")
    for name in sorted(set(pins) - expected):
        problems.append(f"{where} pins {name}, which luca-{service} does not need: run `make lock`")
    for name in sorted(expected & set(pins)):
        pin, pinned = pins[name], root_pins[name]
        if (pin.version, pin.hashes) != (pinned.version, pinned.hashes):
            problems.append(
                f"{where} pins {name} {pin.version}, {ROOT_LOCK} {pinned.version} (or other hashes): run `make lock`"
            )
    return problems


def check_environment(names: Iterable[str], root_pins: Mapping[str, Pin]) -> list[str]:
    """Whether these distributions are pinned by the root lock and installed at those versions."""
    problems = []
    for name in sorted(canonicalize_name(n) for n in names):
        if name not in root_pins:
            problems.append(f"{name} is required but {ROOT_LOCK} does not pin it: run `make lock`")
        elif (installed := installed_version(name)) != root_pins[name].version:
            problems.append(
                f"{name} {installed or '(not installed)'} is installed, {ROOT_LOCK} pins "
                f"{root_pins[name].version}: run `make setup`"
            )
    return problems


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _applies(requirement: Requirement) -> bool:
    """Whether a pyproject requirement's environment marker holds here."""
    return requirement.marker is None or requirement.marker.evaluate({"extra": ""})


def _installed_requirements(name: str, extras: Collection[str], *, base: bool) -> list[Requirement]:
    """An installed distribution's requirements for ``extras``, and its base ones if ``base``."""
    try:
        declared = metadata.distribution(name).requires or []
    except metadata.PackageNotFoundError as exc:
        raise WorkspaceError(
            f"{name} is required but not installed: run `make lock` and `make setup`"
        ) from exc
    found = []
    for requirement in map(Requirement, declared):
        marker = requirement.marker
        if marker is None or marker.evaluate({"extra": ""}):
            if base:
                found.append(requirement)
        elif any(marker.evaluate({"extra": extra}) for extra in extras):
            found.append(requirement)
    return found


def _member(root: Path, directory: str) -> Member:
    project_file = root / directory / "pyproject.toml"
    document = _toml(project_file)
    project = document["project"]
    wheel = document.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
    return Member(
        name=canonicalize_name(project["name"]),
        version=str(project["version"]),
        directory=directory,
        package_dirs=tuple(str(p) for p in wheel.get("packages", ())),
        dependencies=tuple(Requirement(r) for r in project.get("dependencies", ())),
        optional_dependencies={
            extra: tuple(Requirement(r) for r in requirements)
            for extra, requirements in project.get("optional-dependencies", {}).items()
        },
    )


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise WorkspaceError(f"{path} is missing") from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m luca_infra.workspace", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check-locks", action="store_true", help="check every service lock (offline)")
    args = parser.parse_args(argv)
    if not args.check_locks:
        parser.print_help()
        return 2
    stale = {service: check_service_lock(service) for service in services()}
    for service, problems in stale.items():
        for problem in problems:
            print(f"{service}: {problem}", file=sys.stderr)
    return 1 if any(stale.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
