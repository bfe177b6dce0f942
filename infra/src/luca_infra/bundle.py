"""The ``grade-processor`` Lambda's deployment package: one deterministic, pure-Python zip.

    python -m luca_infra.bundle ingest [--out DIR]      (``make bundle``; DIR defaults to dist/)

The CDK app deploys exactly this file (``IngestDefinition.bundle``) with ``Code.from_asset``, so
synth never needs Docker. Everything the handler imports comes from the zip, except what the Lambda
Python runtime already ships.

What goes in
  * The workspace packages the handler is made of, copied from their source directories (they are
    installed editable, so their dist-info holds only a .pth): ``luca_ingest``; ``luca_grading``
    (adapters, domain and rule cache); ``luca``, the generated contract, whose
    ``luca/ingest/v1/schemas/*.json`` the handler reads with importlib.resources, so package data is
    copied with the modules. Whole packages: modules the handler never imports (the grading
    service's entry points, the pb2 stubs) come along and are never loaded.
  * The third-party distributions in the handler's import graph that the runtime does not provide,
    found by importing the handler in an isolated interpreter (``-I -S``: stdlib, workspace sources
    and site-packages only) and listing ``sys.modules`` outside the stdlib: aws-lambda-powertools
    with its requirements jmespath and typing-extensions, fastjsonschema (powertools' validation)
    and cachetools (luca_grading's client and rule caches). Each is copied from the files its
    installer recorded, plus its METADATA and licence files; RECORD is left out because it would
    list files the zip does not hold. Nothing in the graph reads distribution metadata (powertools
    keeps its version as a constant, ``aws_lambda_powertools.shared.version``); METADATA is there so
    the shipped versions can be read from the zip and ``importlib.metadata`` answers in the function.

What stays out
  * The runtime's own packages: boto3, botocore, s3transfer, urllib3, python-dateutil, six. The
    handler only makes long-standing DynamoDB and STS calls, so the runtime's SDK is enough and the
    zip stays small. Should it need a newer SDK, add boto3 and botocore to ``DISTRIBUTIONS`` and
    remove them from ``PROVIDED_BY_RUNTIME``.
  * jmespath *is* bundled although the runtime has a copy: that copy is a dependency of the
    runtime's SDK, whose version is not ours to pick, while powertools needs ``jmespath>=1.0.1``.
    The function's code directory comes first on ``sys.path``, so the bundled one is used, by
    botocore too (it accepts any jmespath below 2).
  * certifi: botocore imports it when present and otherwise uses its own CA bundle; the runtime
    does not ship it and neither does the zip.
  * ``__pycache__``, ``*.pyc``, ``*.pyi``, ``py.typed``, ``tests`` directories and dotfiles.

Every build imports the handler from the finished zip, in an isolated interpreter with nothing but
the stdlib and the runtime's packages beside it, before the zip replaces the previous one; a new
import of a package that is neither bundled nor provided fails ``make bundle``, not the first
invocation. (Imports made only while records are processed are covered by
``infra/tests/local/test_bundle.py``, which runs a batch through the unzipped bundle.)

The zip is deterministic, so the CDK asset hash changes only when the content does: entries sorted,
one fixed timestamp, mode 0644, no directory entries, one compression level (the same sources give
the same bytes with the same zlib). A native extension refuses the build: the bundle is pure Python
so that one zip runs on arm64 and x86_64 alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path, PurePosixPath

from luca_infra.definitions import PLATFORM_DEFINITION, IngestDefinition

REPO_ROOT = Path(__file__).resolve().parents[3]
INGEST: IngestDefinition = PLATFORM_DEFINITION.ingest

WORKSPACE_PACKAGES: tuple[str, ...] = ("luca", "luca_grading", "luca_ingest")
DISTRIBUTIONS: tuple[str, ...] = (
    "aws-lambda-powertools",
    "cachetools",
    "fastjsonschema",
    "jmespath",
    "typing-extensions",
)
# Top-level modules the Lambda Python runtime ships; never bundled.
PROVIDED_BY_RUNTIME: tuple[str, ...] = ("boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six")

_SKIPPED_DIRECTORIES = frozenset({"__pycache__", "tests"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".pyi", ".pth")
_SKIPPED_NAMES = frozenset({"py.typed"})
_NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
_LICENCE_PREFIXES = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS")
# The earliest time a zip entry can carry; any fixed value would do.
_FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644  # a regular file, rw-r--r--
_UNIX = 3  # the zip "made by" system; fixed so the bytes do not depend on the building OS
_COMPRESS_LEVEL = 9
_IMPORT_TIMEOUT_SECONDS = 120


class BundleError(RuntimeError):
    pass


class NativeCodeError(BundleError):
    """A compiled extension would go into a bundle that must run on any architecture."""


@dataclass(frozen=True, slots=True)
class BundleSummary:
    path: Path
    size_bytes: int
    files: int
    distributions: tuple[str, ...]  # "name version", from the METADATA files in the zip
    workspace_packages: tuple[str, ...]

    @property
    def size_mib(self) -> float:
        return self.size_bytes / (1024 * 1024)


def build_ingest_bundle(out_dir: Path) -> Path:
    """Write ``out_dir/ingest-lambda.zip`` (checked to import on its own) and return its path."""
    _require_runtime_python(INGEST.runtime)
    files = ingest_bundle_files()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / PurePosixPath(INGEST.bundle).name
    handle, staging_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=out_dir)
    os.close(handle)
    staging = Path(staging_name)
    try:
        write_zip(files, staging)
        check_handler_imports(staging, INGEST.handler)
        staging.chmod(0o644)  # mkstemp made it private; the zip is no secret
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return target


def ingest_bundle_files() -> dict[str, Path]:
    """Every file of the bundle: its name in the zip -> where it is read from."""
    files: dict[str, Path] = {}
    sources = [_package_files(name) for name in WORKSPACE_PACKAGES]
    sources += [_distribution_files(name) for name in DISTRIBUTIONS]
    for source in sources:
        for arcname, path in source:
            if arcname in files:
                raise BundleError(f"{arcname} comes from both {files[arcname]} and {path}")
            files[arcname] = path
    top_levels = {name.split("/")[0].removesuffix(".py") for name in files}
    provided = sorted(top_levels & set(PROVIDED_BY_RUNTIME))
    if provided:
        raise BundleError(f"the Lambda runtime already provides {provided}; they must not be bundled")
    return files


def write_zip(files: Mapping[str, Path], target: Path) -> None:
    """A zip of ``files`` whose bytes depend only on their names and contents."""
    native = sorted(name for name in files if _is_native(name))
    if native:
        raise NativeCodeError(f"native extensions would make the bundle architecture-specific: {native}")
    with zipfile.ZipFile(target, "w") as archive:
        for arcname in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=_FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = _FILE_MODE << 16
            info.create_system = _UNIX
            archive.writestr(info, files[arcname].read_bytes(), compresslevel=_COMPRESS_LEVEL)


def check_handler_imports(bundle: Path, handler: str) -> None:
    """Import ``handler`` from the unzipped ``bundle`` with only the stdlib and the runtime's
    packages on ``sys.path``, in a fresh isolated interpreter (nothing from this environment)."""
    module, _, attribute = handler.rpartition(".")
    script = (
        "import importlib, sys\n"
        "sys.path[:0] = sys.argv[1:3]\n"
        "handler = getattr(importlib.import_module(sys.argv[3]), sys.argv[4])\n"
        "if not callable(handler):\n"
        "    raise SystemExit(f'{sys.argv[3]}.{sys.argv[4]} is not callable')\n"
    )
    with tempfile.TemporaryDirectory(prefix="luca-bundle-check-") as scratch:
        code_dir, runtime_dir = Path(scratch) / "task", Path(scratch) / "runtime"
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(code_dir)
        runtime_dir.mkdir()
        for location in runtime_packages().values():
            (runtime_dir / location.name).symlink_to(location, target_is_directory=location.is_dir())
        isolated = [base_interpreter(), "-I", "-S", "-B", "-c", script]
        result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
            [*isolated, str(code_dir), str(runtime_dir), module, attribute],
            capture_output=True,
            text=True,
            env={},
            timeout=_IMPORT_TIMEOUT_SECONDS,
            check=False,
        )
    if result.returncode != 0:
        raise BundleError(f"{handler} does not import from the bundle alone:\n{result.stderr[-4000:]}")


def runtime_packages() -> dict[str, Path]:
    """Where this environment's copies of the runtime-provided modules are (package dir or file)."""
    return {name: _module_location(name) for name in PROVIDED_BY_RUNTIME}


def base_interpreter() -> str:
    """The interpreter this virtual environment was made from (no site-packages of ours)."""
    return str(getattr(sys, "_base_executable", None) or sys.executable)


def describe(bundle: Path) -> BundleSummary:
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        distributions = []
        for name in names:
            path = PurePosixPath(name)
            if path.name == "METADATA" and path.parent.name.endswith(".dist-info"):
                headers = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
                distributions.append(f"{headers['Name']} {headers['Version']}")
    tops = {name.split("/")[0] for name in names}
    return BundleSummary(
        path=bundle,
        size_bytes=bundle.stat().st_size,
        files=len(names),
        distributions=tuple(sorted(distributions, key=str.lower)),
        workspace_packages=tuple(sorted(tops & set(WORKSPACE_PACKAGES))),
    )


def _package_files(name: str) -> Iterator[tuple[str, Path]]:
    """A workspace package's files, from wherever it is imported from (its source directory)."""
    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if len(locations) != 1:
        raise BundleError(f"{name} is not an importable regular package here (found {locations})")
    root = Path(locations[0])
    for directory, subdirectories, filenames in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if _wanted(d, directory=True))
        for filename in sorted(filenames):
            if _wanted(filename, directory=False):
                path = Path(directory) / filename
                yield f"{name}/{path.relative_to(root).as_posix()}", path


def _distribution_files(name: str) -> Iterator[tuple[str, Path]]:
    """An installed distribution's modules and data, and its METADATA and licence files."""
    try:
        distribution = metadata.distribution(name)
    except metadata.PackageNotFoundError as exc:
        raise BundleError(f"{name} is not installed; run `make setup`") from exc
    if distribution.files is None:
        raise BundleError(f"{name} has no RECORD, so its files are unknown")
    for record in distribution.files:
        parts = PurePosixPath(record.as_posix()).parts
        if parts[0] == ".." or not all(_wanted(p, directory=True) for p in parts[:-1]):
            continue  # scripts installed outside site-packages, caches, tests
        if parts[0].endswith(".dist-info"):
            if not _is_kept_metadata(parts[1:]):
                continue
        elif not _wanted(parts[-1], directory=False):
            continue
        yield "/".join(parts), Path(str(record.locate()))


def _is_kept_metadata(parts: Sequence[str]) -> bool:
    return parts == ("METADATA",) or parts[0] == "licenses" or parts[-1].upper().startswith(_LICENCE_PREFIXES)


def _wanted(name: str, *, directory: bool) -> bool:
    if name.startswith("."):
        return False
    if directory:
        return name not in _SKIPPED_DIRECTORIES
    return name not in _SKIPPED_NAMES and not name.endswith(_SKIPPED_SUFFIXES)


def _is_native(arcname: str) -> bool:
    name = PurePosixPath(arcname).name
    return name.endswith(_NATIVE_SUFFIXES) or ".so." in name


def _module_location(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise BundleError(f"{name} is not installed; run `make setup`")
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin is None:
        raise BundleError(f"{name} has no file to copy")
    return Path(spec.origin)


def _require_runtime_python(runtime: str) -> None:
    # Installed distributions were resolved for this interpreter (environment markers), and the
    # sources must be syntax the function's Python reads.
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if here != runtime:
        raise BundleError(f"the bundle for a {runtime} function must be built with {runtime}, not {here}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m luca_infra.bundle", description="Build a Lambda deployment package."
    )
    parser.add_argument("function", choices=["ingest"], help="ingest: the grade processor (burst path)")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / PurePosixPath(INGEST.bundle).parent,
        help="output directory (default: dist/ at the repository root)",
    )
    args = parser.parse_args(argv)
    try:
        bundle = build_ingest_bundle(args.out)
    except BundleError as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 1
    summary = describe(bundle)
    print(f"{summary.path}: {summary.size_bytes} bytes ({summary.size_mib:.2f} MiB), {summary.files} files")
    print(f"  workspace packages: {', '.join(summary.workspace_packages)}")
    print(f"  distributions: {', '.join(summary.distributions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
