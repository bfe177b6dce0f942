"""The deployables, the repository files that feed each, and which of them a change reaches.

    python -m luca_infra.deployables                       each deployable, its stack and what feeds it
    python -m luca_infra.deployables --changed PATH...     the deployables those paths feed, and their stacks
    git diff --name-only main | python -m luca_infra.deployables --changed -

Deployables, each named here and deployed by one stack:

* **Lambda zips**, one per ``luca_infra.bundle.BUNDLES`` spec, named after the zip (``ingest-lambda``,
  ``govsync-lambda``, ``analytics-lambda``). Inputs: the workspace files the bundler puts in the zip
  (``bundle_files``: the same whole packages, traced modules and package data) and the service's
  lock, which pins the zip's third-party distributions. Fingerprint: the SHA-256 of the zip the
  bundler writes from the tree (sources and their bytecode); the import check is skipped, as it does not change the bytes. A tree
  whose lock disagrees with the installed distributions refuses to build, and that counts as a change.
* **Container images**, one per Dockerfile the CDK app (``luca_infra.aws``) builds an image from,
  with the allowlist that defines its build context: both read from the source (``ast``) as the
  constants a call is given, so this module never imports the CDK and follows the allowlists
  wherever the stacks define them. Inputs:
  every file of the build context the allowlist admits, with Docker's ignore rules (the CDK stages
  the context with ``IgnoreMode.DOCKER``), and the service's lock. Fingerprint: the SHA-256 of those
  paths and their contents.

``changed_by(paths)`` answers from the inputs alone, without building anything;
``tests/independence`` checks it against fingerprints of real builds from an edited copy of the tree.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from luca_infra.bundle import BUNDLES, BundleError, BundleSpec, bundle_files, contents, write_bundle
from luca_infra.workspace import REPO_ROOT, service_lock_path

# Where the CDK app defines its image assets (searched recursively).
AWS_PACKAGE = "infra/src/luca_infra/aws"
# How an image's Dockerfile argument ends (services/<name>/Dockerfile).
DOCKERFILE_SUFFIX = "/Dockerfile"
# Each image's name and stack, by the Dockerfile the CDK app builds it from.
IMAGES: dict[str, tuple[str, str]] = {
    "services/grading/Dockerfile": ("grading-image", "LucaGrading"),
    "services/govsync/Dockerfile": ("govsync-api-image", "LucaGovSyncApi"),
    "services/analytics/Dockerfile": ("analytics-api-image", "LucaAnalyticsApi"),
    "services/edge/Dockerfile": ("edge-authorizer-image", "LucaEdge"),
}
# Each Lambda bundle's stack.
LAMBDA_STACKS: dict[str, str] = {
    "ingest": "LucaIngest",
    "govsync": "LucaGovSync",
    "analytics": "LucaAnalytics",
}
# Never part of a copy of the tree: generated, installed or cached.
_NOT_COPIED = (
    ".git",
    ".venv",
    ".tools",
    "node_modules",
    "dist",
    "cdk.out",
    ".luca",
    ".hypothesis",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
)


class DeployablesError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Deployable:
    name: str
    kind: str  # "lambda" or "image"
    service: str  # its directory under services/
    stack: str
    bundle: BundleSpec | None = None  # a Lambda's
    dockerfile: str = ""  # an image's, from the repository root
    allowlist: tuple[str, ...] = ()  # an image's build context, in Docker ignore syntax


def deployables(root: Path = REPO_ROOT) -> dict[str, Deployable]:
    """Every deployable, by name: the Lambda zips, then the container images."""
    found: dict[str, Deployable] = {}
    for spec in BUNDLES.values():
        name = PurePosixPath(spec.bundle).stem
        found[name] = Deployable(name, "lambda", spec.service, LAMBDA_STACKS[spec.name], bundle=spec)
    contexts = image_contexts(root)
    unknown = sorted(set(contexts) - set(IMAGES))
    missing = sorted(set(IMAGES) - set(contexts))
    if unknown or missing:
        raise DeployablesError(
            f"the CDK app's images ({', '.join(sorted(contexts)) or 'none'}) are not the ones named here "
            f"(luca_infra.deployables.IMAGES): unknown {unknown}, not found {missing}"
        )
    for dockerfile, allowlist in sorted(contexts.items()):
        name, stack = IMAGES[dockerfile]
        service = PurePosixPath(dockerfile).parent.name
        found[name] = Deployable(name, "image", service, stack, dockerfile=dockerfile, allowlist=allowlist)
    return found


def inputs(deployable: Deployable, root: Path = REPO_ROOT) -> set[str]:
    """The repository paths (from ``root``, POSIX) that feed ``deployable``."""
    lock = service_lock_path(deployable.service)
    if deployable.bundle is not None:
        # Which files feed it does not depend on whether the lock agrees with what is installed.
        resolved = contents(deployable.bundle, root=root, check_pins=False)
        package_dirs = [path.resolve() for path in resolved.packages.values()]
        base = root.resolve()
        sources = {
            path.resolve().relative_to(base).as_posix()
            for path in bundle_files(deployable.bundle, root=root, check_pins=False).values()
            if any(path.resolve().is_relative_to(d) for d in package_dirs)
        }
        return sources | {lock}  # the lock stands for the third-party distributions
    return set(context_files(root, deployable.allowlist)) | {lock}


def fingerprint(deployable: Deployable, root: Path = REPO_ROOT) -> str:
    """What the deployable would be if built from ``root``: a digest, or why it cannot be built."""
    if deployable.bundle is not None:
        try:
            files = bundle_files(deployable.bundle, root=root)
        except BundleError as exc:
            return f"refused: {exc}"
        with tempfile.TemporaryDirectory(prefix="luca-fingerprint-") as scratch:
            target = Path(scratch) / PurePosixPath(deployable.bundle.bundle).name
            write_bundle(files, target, deployable.bundle.runtime)
            return hashlib.sha256(target.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for path in sorted(inputs(deployable, root)):
        content = (root / path).read_bytes() if (root / path).is_file() else b"(missing)"
        digest.update(f"{path}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def fingerprints(root: Path = REPO_ROOT) -> dict[str, str]:
    return {name: fingerprint(deployable, root) for name, deployable in deployables(root).items()}


def changed_by(paths: Iterable[str], root: Path = REPO_ROOT) -> dict[str, Deployable]:
    """The deployables that any of ``paths`` (repository paths; a directory stands for its files) feeds."""
    wanted = {_existing(root, _normalise(path)) for path in paths}
    reached = {}
    for name, deployable in deployables(root).items():
        feeding = inputs(deployable, root)
        if any(path in feeding or any(f.startswith(f"{path}/") for f in feeding) for path in wanted):
            reached[name] = deployable
    return reached


def copy_tree(target: Path, root: Path = REPO_ROOT) -> Path:
    """A copy of the repository's sources at ``target`` (nothing installed, generated or cached)."""
    shutil.copytree(root, target, ignore=shutil.ignore_patterns(*_NOT_COPIED), symlinks=True)
    return target


# -- image contexts ----------------------------------------------------------------------------------


def image_contexts(root: Path = REPO_ROOT) -> dict[str, tuple[str, ...]]:
    """Every image the CDK app builds: its Dockerfile -> its context allowlist.

    Read from every call under ``AWS_PACKAGE`` that is given, as constants, one Dockerfile path and
    one tuple of strings: ``repository_image(repo_root, DOCKERFILE, ALLOWLIST)`` itself, or a
    construct that passes them on to it. Calls whose arguments are not constants (``repository_image``
    inside such a construct) are skipped; their caller names the image.
    """
    modules = {_module_name(root, path): path for path in sorted((root / AWS_PACKAGE).rglob("*.py"))}
    parsed = {name: ast.parse(path.read_text(), filename=str(path)) for name, path in modules.items()}
    found: dict[str, tuple[str, ...]] = {}
    for module, tree in parsed.items():
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            values = [_constant(a, module, parsed) for a in (*call.args, *(k.value for k in call.keywords))]
            dockerfiles = [v for v in values if isinstance(v, str) and v.endswith(DOCKERFILE_SUFFIX)]
            allowlists = [v for v in values if isinstance(v, tuple)]
            if len(dockerfiles) != 1 or len(allowlists) != 1:
                continue
            (dockerfile,), (allowlist,) = dockerfiles, allowlists
            if found.get(dockerfile, allowlist) != allowlist:
                raise DeployablesError(
                    f"{dockerfile} is built from two different contexts ({modules[module]})"
                )
            found[dockerfile] = allowlist
    return found


def context_files(root: Path, allowlist: Sequence[str]) -> list[str]:
    """The files (from ``root``, POSIX) a Docker build context of ``root`` holds under these ignore patterns."""
    matcher = DockerIgnore(allowlist)
    files = []
    for directory, subdirectories, filenames in os.walk(root):
        relative = Path(directory).relative_to(root).as_posix()
        prefix = "" if relative == "." else f"{relative}/"
        subdirectories[:] = sorted(d for d in subdirectories if not matcher.prunes(prefix + d))
        files += [prefix + f for f in sorted(filenames) if not matcher.ignores(prefix + f)]
    return sorted(files)


class DockerIgnore:
    """Docker's ``.dockerignore`` rules (moby's patternmatcher): the last pattern matching a path or
    one of its parent directories decides; ``!`` re-includes; ``*`` and ``?`` stop at ``/``, ``**``
    spans directories."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self._patterns: list[tuple[bool, str, re.Pattern[str]]] = []
        for raw in patterns:
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            negated = text.startswith("!")
            cleaned = os.path.normpath(text.removeprefix("!").strip()).replace(os.sep, "/").lstrip("/")
            self._patterns.append((negated, cleaned, re.compile(_pattern_regex(cleaned))))

    def ignores(self, path: str) -> bool:
        parts = path.split("/")
        parents = ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
        ignored = False
        for negated, _, regex in self._patterns:
            if ignored != negated:
                continue  # cannot change the outcome
            if regex.match(path) or any(regex.match(parent) for parent in parents):
                ignored = not negated
        return ignored

    def prunes(self, directory: str) -> bool:
        """Whether nothing under ``directory`` can be in the context (so it need not be walked)."""
        return self.ignores(directory) and not any(
            negated and _may_match_below(cleaned, directory) for negated, cleaned, _ in self._patterns
        )


def _pattern_regex(pattern: str) -> str:
    regex, i = "^", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
            regex += ".*" if i >= len(pattern) else "(.*/)?"
            continue
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char in "[]":
            regex += char
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            regex += re.escape(pattern[i])
        else:
            regex += re.escape(char)
        i += 1
    return regex + "$"


def _may_match_below(pattern: str, directory: str) -> bool:
    """Whether ``pattern`` could match ``directory``, one of its parents or something inside it."""
    for pattern_part, directory_part in zip(pattern.split("/"), directory.split("/"), strict=False):
        if "**" in pattern_part:
            return True
        if not re.match(_pattern_regex(pattern_part), directory_part):
            return False
    return True


def _module_name(root: Path, path: Path) -> str:
    relative = path.relative_to(root / "infra" / "src").with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _constant(node: ast.expr, module: str, parsed: Mapping[str, ast.Module]) -> str | tuple[str, ...] | None:
    try:
        return _resolve(node, module, parsed)
    except KeyError:
        return None


def _resolve(node: ast.expr, module: str, parsed: Mapping[str, ast.Module]) -> str | tuple[str, ...]:
    """A constant expression's value: a literal, or a name bound to one here or imported from a module of ``parsed``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Tuple | ast.List) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return tuple(str(e.value) for e in node.elts)  # type: ignore[attr-defined]
    if isinstance(node, ast.Name):
        for statement in parsed[module].body:
            if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == node.id for t in statement.targets
            ):
                return _resolve(statement.value, module, parsed)
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and statement.target.id == node.id
                and statement.value is not None
            ):
                return _resolve(statement.value, module, parsed)
            if isinstance(statement, ast.ImportFrom) and statement.module and statement.module in parsed:
                for alias in statement.names:
                    if (alias.asname or alias.name) == node.id:
                        return _resolve(ast.Name(id=alias.name), statement.module, parsed)
    raise KeyError(ast.unparse(node))


def _normalise(path: str) -> str:
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.resolve().relative_to(REPO_ROOT)
        except ValueError as exc:
            raise DeployablesError(f"{path} is outside the repository") from exc
    return PurePosixPath(candidate.as_posix()).as_posix().removeprefix("./").rstrip("/")


def _existing(root: Path, path: str) -> str:
    """``path``, or for a deleted file its nearest directory still in the tree (what it was part of)."""
    candidate = PurePosixPath(path)
    while str(candidate) != "." and not (root / candidate).exists():
        candidate = candidate.parent
    return candidate.as_posix()


def _read_paths(values: Sequence[str]) -> Iterator[str]:
    for value in values:
        if value == "-":
            yield from (line.strip() for line in sys.stdin if line.strip())
        else:
            yield value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m luca_infra.deployables",
        description="The deployables and the repository files that feed each.",
    )
    parser.add_argument(
        "--changed",
        nargs="+",
        metavar="PATH",
        help="list the deployables these repository paths feed (a directory: its files; -: read stdin)",
    )
    args = parser.parse_args(argv)
    try:
        if args.changed:
            reached = changed_by(_read_paths(args.changed))
            for name, deployable in reached.items():
                print(f"{name}\t{deployable.stack}\tservices/{deployable.service}")
            if not reached:
                print("no deployable", file=sys.stderr)
            return 0
        for name, deployable in deployables().items():
            print(
                f"{name}\t{deployable.stack}\tservices/{deployable.service}\t{len(inputs(deployable))} inputs"
            )
    except (DeployablesError, BundleError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
