"""The Lambda deployment packages: one deterministic, pure-Python zip per deployable.

    python -m luca_infra.bundle [ingest] [govsync] [analytics] [--out DIR]   (``make bundle``: all; DIR: dist/)

``ingest`` is the burst path's grade processor (``IngestDefinition.bundle``, dist/ingest-lambda.zip);
``govsync`` holds the government sync's five functions, the state machine's four tasks and the
schedule's starter (``GovSyncDefinition.bundle``, dist/govsync-lambda.zip); ``analytics`` is the lake's
Pipes enrichment function (``AnalyticsAwsDefinition.bundle``, dist/analytics-lambda.zip). The CDK app
deploys exactly these files with ``Code.from_asset``, so synth never needs Docker. Everything a handler
imports comes from its zip, except what the Lambda Python runtime already ships.

What goes in
  Each bundle belongs to one service. Its ``BundleSpec`` names the service (``services/<name>``), the
  handlers, and ``requires``: what the handlers need, each a requirement the service's
  ``pyproject.toml`` declares (with the same extras or fewer). The closure of ``requires`` is taken
  as ``luca_infra.workspace`` takes it for the service's lock: workspace members through their
  ``pyproject.toml``, other distributions through their installed metadata, extras and markers
  applied; the runtime's distributions are neither bundled nor followed.
  * The service's own package and the import packages of the workspace libraries in that closure,
    copied from their source directories (the workspace's ``pyproject.toml`` files say where). A
    service in the closure, or another service's package among the files, refuses the build.
    - ingest: whole packages: ``luca_ingest``, ``luca_kernel``, ``luca_platform``, and ``luca``
      (luca-proto) for its data only (``data_only``): the handler reads
      ``luca/ingest/v1/schemas/*.json`` with importlib.resources, so package data is copied with the
      modules, and luca-proto's requirements (protobuf, grpcio) stay out. Modules the handler never
      imports come along and are never loaded: the pb2 stubs, and luca_platform's token, telemetry,
      gRPC and serving modules (jwt, grpc and the OpenTelemetry SDK are not in the zip; the
      OpenTelemetry API and its X-Ray propagator are, for the handler's spans).
    - govsync and analytics (``traced``): only the modules the handlers import, found by importing
      every handler in a fresh interpreter, with the tree's source directories first on
      ``sys.path``, and listing ``sys.modules``. govsync: ``luca_govsync`` without its ministry
      simulator (a web server that needs starlette and uvicorn) and without the definition builder
      (the CDK app's), and the modules of ``luca_kernel`` and ``luca_platform`` the tasks use.
      analytics: ``luca_analytics.domain.lake`` and ``luca_analytics.entrypoints.enrich`` (and their
      packages' ``__init__``); never the lake schema module, the DuckDB adapter or the query service
      (pyarrow and duckdb are native and large; rows leave the handler as JSON and Firehose writes the
      Parquet). No package data: the ministry's OpenAPI document is read by tests and the simulator
      only. The workspace code makes no lazy imports on these paths, and
      ``infra/tests/local/test_bundle.py`` runs every handler from the unzipped bundle.
  * The third-party distributions in that closure. Each must be pinned by the service's lock
    (``services/<name>/requirements.lock``) at the installed version, or the build refuses. Each is
    copied from the files its installer recorded, plus its METADATA and licence files; RECORD is left
    out because it would list files the zip does not hold. Nothing in the handlers reads distribution
    metadata (powertools keeps its version as a constant, ``aws_lambda_powertools.shared.version``);
    METADATA is there so the shipped versions can be read from the zip and ``importlib.metadata``
    answers in the function.
    - ingest: aws-lambda-powertools[validation] with jmespath, typing-extensions and fastjsonschema;
      cachetools (luca-platform's per-school client cache).
    - govsync: aws-lambda-powertools, jmespath, typing-extensions and cachetools as above, and the
      ministry client's httpx with its requirements anyio, certifi, httpcore, h11 and idna (httpx
      verifies TLS against certifi's CA bundle; anyio serves its async transports, which the
      synchronous client never imports).
    - analytics: aws-lambda-powertools, jmespath, typing-extensions.

What stays out
  * The runtime's own distributions (``RUNTIME_DISTRIBUTIONS``): boto3, botocore, s3transfer,
    urllib3, python-dateutil, six. The handlers only make long-standing DynamoDB, STS, S3, Secrets
    Manager, SSM and Step Functions calls, so the runtime's SDK is enough and the zips stay small.
    Should one need a newer SDK, remove boto3 and botocore from ``RUNTIME_DISTRIBUTIONS``.
  * jmespath *is* bundled although the runtime has a copy: that copy is a dependency of the
    runtime's SDK, whose version is not ours to pick, while powertools needs ``jmespath>=1.0.1``.
    The function's code directory comes first on ``sys.path``, so the bundled one is used, by
    botocore too (it accepts any jmespath below 2).
  * certifi is only in the govsync zip, for httpx; botocore then uses it too (the same Mozilla roots
    botocore's own bundle is made from), and elsewhere uses its own bundle.
  * Extras no handler requests: httpx's http2, socks, brotli, zstd and command line (click, rich,
    pygments); all of luca-platform's (token verification, telemetry, servers).
  * Whatever ``__pycache__``, ``*.pyc``, ``*.pyi``, ``py.typed``, ``tests`` directories and dotfiles
    the sources hold: bytecode goes in fresh from the build (below), never from a tree's caches.

Bytecode
  Every ``.py`` in the zip ships with its bytecode where the import system looks for it,
  ``<dir>/__pycache__/<module>.cpython-311.pyc``, the source staying beside it (tracebacks,
  ``inspect``). The function's code directory is read-only, so without it Python compiles every
  module the handler imports on every cold start and keeps nothing. The pycs are unchecked-hash
  (PEP 552, ``PycInvalidationMode.UNCHECKED_HASH``): a timestamp pyc would name its source's mtime
  and size, and the zip's entries all carry one fixed time, so every one would be stale on arrival
  and recompiled; a checked-hash pyc would be read but would hash its source again on each import.
  An unchecked-hash pyc is used as it is, and its bytes depend on the source alone, so the zip stays
  deterministic. A function's code is only ever replaced whole, so a pyc cannot outlive its source.
  Each module is compiled by the runtime's interpreter, in a fresh isolated process, as it appears
  in the zip (``luca_ingest/entrypoints/handler.py``; the import system puts the real path in
  tracebacks). Bytecode belongs to one Python minor version: the build refuses to run on any Python
  but the definition's runtime (``python3.11``), rather than ship pycs the function would ignore
  (and sources resolved for another interpreter). A source that does not compile refuses the build.

Every build imports every handler of the bundle from the finished zip, in an isolated interpreter
with nothing but the stdlib and the runtime's packages beside it, before the zip replaces the
previous one; a new import of a package that is neither bundled nor provided fails ``make bundle``,
not the first invocation. The same check times that cold import, which the build prints: it writes
no bytecode (``-B``), and any module of the zip compiled from its source rather than loaded from its
shipped pyc fails the build, so the figure is the zip's own bytecode at work. The runtime's packages
there are this environment's, with bytecode compiled for the check (``unpacked``), as the Lambda
runtime ships its SDK installed. (Imports made only while a handler works are covered by
``infra/tests/local/test_bundle.py``, which runs the handlers through the unzipped bundles against
the emulator.)

The zips are deterministic, so the CDK asset hash changes only when the content does: entries
sorted, one fixed timestamp, mode 0644, no directory entries, one compression level, unchecked-hash
bytecode (the same sources give the same bytes with the same zlib and the same Python 3.11 build,
whose compiler writes the pycs). ``root`` (the repository by default) is the tree
the workspace sources and locks are read from; ``luca_infra.deployables`` builds from copies of it.
A native extension refuses the build: the bundles are pure Python so that one zip runs on arm64 and
x86_64 alike.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from luca_infra.definitions import (
    PLATFORM_DEFINITION,
    AnalyticsAwsDefinition,
    GovSyncDefinition,
    IngestDefinition,
)
from luca_infra.workspace import (
    REPO_ROOT,
    WorkspaceError,
    closure,
    installed_version,
    members,
    read_lock,
    service_lock_path,
    services,
)

INGEST: IngestDefinition = PLATFORM_DEFINITION.ingest
GOVSYNC: GovSyncDefinition = PLATFORM_DEFINITION.govsync
ANALYTICS: AnalyticsAwsDefinition = PLATFORM_DEFINITION.analytics_aws

# What the Lambda Python runtime ships (distribution -> its top-level module); never bundled.
RUNTIME_DISTRIBUTIONS: dict[str, str] = {
    "boto3": "boto3",
    "botocore": "botocore",
    "s3transfer": "s3transfer",
    "urllib3": "urllib3",
    "python-dateutil": "dateutil",
    "six": "six",
}
PROVIDED_BY_RUNTIME: tuple[str, ...] = tuple(RUNTIME_DISTRIBUTIONS.values())

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
class BundleSpec:
    """What one deployment package is made of."""

    name: str
    summary: str
    service: str  # its directory under services/: its package, declared requirements and lock
    bundle: str  # the zip's path from the repository root (the definition's)
    runtime: str
    handlers: tuple[str, ...]  # module.attribute, each checked to import from the finished zip
    requires: tuple[str, ...]  # what the handlers need, each declared by the service's pyproject.toml
    data_only: tuple[str, ...] = ()  # workspace members copied whole, without their requirements
    traced: bool = False  # True: only the workspace modules the handlers import; False: whole packages


@dataclass(frozen=True, slots=True)
class Contents:
    """What a spec resolves to in one tree."""

    packages: dict[str, Path]  # import package -> its source directory
    traced: tuple[str, ...]  # those of ``packages`` of which only the imported modules go in
    distributions: tuple[str, ...]  # third-party, canonical names


INGEST_BUNDLE = BundleSpec(
    name="ingest",
    summary="the grade processor (burst path)",
    service="ingest",
    bundle=INGEST.bundle,
    runtime=INGEST.runtime,
    handlers=(INGEST.handler,),
    requires=(
        "luca-kernel",
        "luca-platform",
        "aws-lambda-powertools[validation]",
        # The tracing API and the X-Ray header format only; the SDK is the ADOT layer's in AWS.
        "opentelemetry-api",
        "opentelemetry-propagator-aws-xray",
    ),
    data_only=("luca-proto",),  # the ingest schemas, read as package data
)
GOVSYNC_BUNDLE = BundleSpec(
    name="govsync",
    summary="the government sync's task and starter functions",
    service="govsync",
    bundle=GOVSYNC.bundle,
    runtime=GOVSYNC.runtime,
    handlers=(
        *(GOVSYNC.handler(task) for task in (*GOVSYNC.tasks, GOVSYNC.starter_task)),
        GOVSYNC.failure_streak_handler,
    ),
    requires=(
        "luca-kernel",
        "luca-platform",
        "aws-lambda-powertools",
        "httpx",
        "opentelemetry-api",
        "opentelemetry-propagator-aws-xray",
    ),
    traced=True,  # keeps the ministry simulator's web stack and the definition builder out
)
ANALYTICS_BUNDLE = BundleSpec(
    name="analytics",
    summary="the lake's Pipes enrichment function",
    service="analytics",
    bundle=ANALYTICS.bundle,
    runtime=ANALYTICS.runtime,
    handlers=(ANALYTICS.enrich_handler,),
    requires=("aws-lambda-powertools",),
    traced=True,  # keeps pyarrow, duckdb and the query service out
)
BUNDLES: dict[str, BundleSpec] = {
    spec.name: spec for spec in (INGEST_BUNDLE, GOVSYNC_BUNDLE, ANALYTICS_BUNDLE)
}


@dataclass(frozen=True, slots=True)
class Built:
    path: Path
    import_seconds: float  # the handlers' cold import from the zip, in the isolated check


@dataclass(frozen=True, slots=True)
class BundleSummary:
    path: Path
    size_bytes: int
    files: int
    modules_compiled: int  # .pyc entries: the bytecode shipped beside the sources
    distributions: tuple[str, ...]  # "name version", from the METADATA files in the zip
    workspace_packages: tuple[str, ...]

    @property
    def size_mib(self) -> float:
        return self.size_bytes / (1024 * 1024)


def build(spec: BundleSpec, out_dir: Path, *, root: Path = REPO_ROOT) -> Built:
    """Write ``out_dir/<the definition's zip name>``, checked to import on its own."""
    _require_runtime_python(spec.runtime)
    files = bundle_files(spec, root=root)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / PurePosixPath(spec.bundle).name
    handle, staging_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=out_dir)
    os.close(handle)
    staging = Path(staging_name)
    try:
        write_bundle(files, staging, spec.runtime)
        import_seconds = check_handler_imports(staging, spec.handlers)
        staging.chmod(0o644)  # mkstemp made it private; the zip is no secret
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return Built(path=target, import_seconds=import_seconds)


def build_ingest_bundle(out_dir: Path) -> Path:
    """Write ``out_dir/ingest-lambda.zip`` (checked to import on its own) and return its path."""
    return build(INGEST_BUNDLE, out_dir).path


def build_govsync_bundle(out_dir: Path) -> Path:
    """Write ``out_dir/govsync-lambda.zip`` (every handler checked to import) and return its path."""
    return build(GOVSYNC_BUNDLE, out_dir).path


def build_analytics_bundle(out_dir: Path) -> Path:
    """Write ``out_dir/analytics-lambda.zip`` (the enrichment handler checked to import) and return its path."""
    return build(ANALYTICS_BUNDLE, out_dir).path


def ingest_bundle_files() -> dict[str, Path]:
    """Every file of the grade processor's bundle: its name in the zip -> where it is read from."""
    return bundle_files(INGEST_BUNDLE)


def contents(spec: BundleSpec, *, root: Path = REPO_ROOT, check_pins: bool = True) -> Contents:
    """The packages and distributions ``spec`` takes from the tree at ``root`` (see the module doc).

    ``check_pins``: refuse unless the service's lock pins each distribution at the installed version.
    """
    try:
        workspace = members(root)
        owner = services(root)[spec.service]
    except (WorkspaceError, KeyError) as exc:
        raise BundleError(
            f"bundle {spec.name}: no service {spec.service!r} in the workspace at {root}"
        ) from exc
    declared = {canonicalize_name(r.name): r for r in owner.dependencies}
    for text in (*spec.requires, *spec.data_only):
        wanted = Requirement(text)
        found = declared.get(canonicalize_name(wanted.name))
        if found is None or not wanted.extras <= found.extras:
            raise BundleError(f"bundle {spec.name}: {owner.name} does not declare {text}")
    try:
        needed = closure(spec.requires, root=root, stop=RUNTIME_DISTRIBUTIONS)
    except WorkspaceError as exc:
        raise BundleError(f"bundle {spec.name}: {exc}") from exc
    other_services = {m.name for m in services(root).values()} - {owner.name}
    if needed & other_services:
        raise BundleError(f"bundle {spec.name} would hold another service: {sorted(needed & other_services)}")
    libraries = [workspace[n] for n in sorted(needed & set(workspace))]
    data_only = [workspace[canonicalize_name(n)] for n in spec.data_only]
    distributions = tuple(sorted(needed - set(workspace) - set(RUNTIME_DISTRIBUTIONS)))
    if check_pins:
        _check_pins(spec, distributions, root)
    packages = {
        PurePosixPath(package_dir).name: root / member.directory / package_dir
        for member in (owner, *libraries, *data_only)
        for package_dir in member.package_dirs
    }
    traced = tuple(n for m in (owner, *libraries) for n in m.packages) if spec.traced else ()
    return Contents(packages=packages, traced=traced, distributions=distributions)


def bundle_files(spec: BundleSpec, *, root: Path = REPO_ROOT, check_pins: bool = True) -> dict[str, Path]:
    """Every file of ``spec``'s bundle: its name in the zip -> where it is read from."""
    resolved = contents(spec, root=root, check_pins=check_pins)
    files: dict[str, Path] = {}
    whole = [name for name in resolved.packages if name not in resolved.traced]
    sources: list[Iterator[tuple[str, Path]]] = [
        _package_files(name, resolved.packages[name]) for name in whole
    ]
    if resolved.traced:
        traced = {name: resolved.packages[name] for name in resolved.traced}
        sources.append(_imported_module_files(spec.handlers, traced))
    sources += [_distribution_files(name) for name in resolved.distributions]
    for source in sources:
        for arcname, path in source:
            if arcname in files:
                raise BundleError(f"{arcname} comes from both {files[arcname]} and {path}")
            files[arcname] = path
    top_levels = {name.split("/")[0].removesuffix(".py") for name in files}
    provided = sorted(top_levels & set(PROVIDED_BY_RUNTIME))
    if provided:
        raise BundleError(f"the Lambda runtime already provides {provided}; they must not be bundled")
    foreign = sorted(top_levels & _other_services_packages(spec.service, root))
    if foreign:
        raise BundleError(f"bundle {spec.name} would hold another service's package: {foreign}")
    return files


def imported_modules(
    handlers: Sequence[str], packages: Sequence[str], source_dirs: Sequence[Path] = ()
) -> dict[str, Path]:
    """The modules of ``packages`` that importing ``handlers`` loads: module name -> source file.

    Found in a fresh interpreter of this environment (nothing this process imported counts), with
    ``source_dirs`` first on its path and an empty environment, so what a handler module reads at
    import is what the function would see.
    """
    script = (
        "import importlib, json, os, sys\n"
        "packages = set(sys.argv[1].split(','))\n"
        "sys.path[:0] = [p for p in sys.argv[2].split(os.pathsep) if p]\n"
        "for handler in sys.argv[3:]:\n"
        "    module, _, attribute = handler.rpartition('.')\n"
        "    getattr(importlib.import_module(module), attribute)\n"
        "found = {name: getattr(module, '__file__', None) for name, module in list(sys.modules.items())\n"
        "         if name.split('.')[0] in packages}\n"
        "print(json.dumps(found))\n"
    )
    result = _run_isolated(
        [
            *(sys.executable, "-I", "-B", "-c", script),
            *(",".join(packages), os.pathsep.join(str(d) for d in source_dirs), *handlers),
        ],
        failure=f"importing {', '.join(handlers)} failed here",
    )
    found: dict[str, str | None] = json.loads(result.stdout)
    sourceless = sorted(name for name, origin in found.items() if not origin)
    if sourceless:
        raise BundleError(f"modules with no source file cannot be bundled: {sourceless}")
    return {name: Path(str(origin)) for name, origin in sorted(found.items())}


def write_bundle(files: Mapping[str, Path], target: Path, runtime: str) -> None:
    """The zip of ``files`` and of the bytecode of each of their modules for ``runtime``: what
    ``build`` writes before its import check (``bundle_files`` lists the sources only)."""
    with tempfile.TemporaryDirectory(prefix="luca-bytecode-") as scratch:
        bytecode = compile_bytecode(files, Path(scratch), runtime)
        write_zip({**files, **bytecode}, target)


def compile_bytecode(files: Mapping[str, Path], scratch: Path, runtime: str) -> dict[str, Path]:
    """The bytecode of every module among ``files`` (``.py`` names), written under ``scratch``:
    its name in the zip (``pkg/__pycache__/mod.cpython-311.pyc``) -> the file.

    Unchecked-hash pycs (PEP 552): their bytes depend on the source alone (no timestamp), and the
    import system uses them without reading the source back, so the zip's fixed entry times do not
    make them stale. Compiled by the runtime's Python only (``_require_runtime_python``), in a fresh
    isolated interpreter so that nothing this process loaded changes the marshalled bytes.
    """
    _require_runtime_python(runtime)
    tag = bytecode_tag(runtime)
    jobs = [
        (str(files[arcname]), arcname, str(scratch / bytecode_name(arcname, tag)))
        for arcname in sorted(files)
        if arcname.endswith(".py")
    ]
    _compile(jobs, tag)
    return {bytecode_name(arcname, tag): Path(cfile) for _, arcname, cfile in jobs}


def bytecode_tag(runtime: str) -> str:
    """The import system's cache tag for a Lambda runtime: ``python3.11`` -> ``cpython-311``."""
    found = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
    if found is None:
        raise BundleError(f"{runtime!r} is not a Lambda Python runtime (pythonX.Y)")
    return f"cpython-{found[1]}{found[2]}"


def bytecode_name(arcname: str, tag: str) -> str:
    """Where the import system looks for a module's bytecode: ``pkg/__pycache__/mod.<tag>.pyc``."""
    source = PurePosixPath(arcname)
    return (source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc").as_posix()


def _compile(jobs: Sequence[tuple[str, str, str]], tag: str) -> None:
    """Compile each (source, name in tracebacks, pyc) to unchecked-hash bytecode, in a fresh
    interpreter whose cache tag is ``tag``."""
    script = (
        "import json, py_compile, sys\n"
        "if sys.implementation.cache_tag != sys.argv[1]:\n"
        "    raise SystemExit(f'this interpreter writes {sys.implementation.cache_tag}, not {sys.argv[1]}')\n"
        "failed = []\n"
        "for source, display, target in json.load(sys.stdin):\n"
        "    try:\n"
        "        py_compile.compile(source, cfile=target, dfile=display, doraise=True, optimize=0,\n"
        "                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
        "    except py_compile.PyCompileError as exc:\n"
        "        failed.append(exc.msg)\n"
        "if failed:\n"
        "    raise SystemExit('\\n'.join(failed))\n"
    )
    _run_isolated(
        [base_interpreter(), "-I", "-S", "-B", "-W", "ignore", "-c", script, tag],
        stdin=json.dumps(jobs),
        failure="compiling the bundle's modules failed",
    )


def _run_isolated(
    argv: list[str], *, failure: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """One of the build's checks in a fresh interpreter with an empty environment; its stderr's tail
    becomes the BundleError when it fails."""
    result = subprocess.run(  # noqa: S603 - our own interpreters, arguments built here
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        env={},
        timeout=_IMPORT_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise BundleError(f"{failure}:\n{result.stderr[-4000:]}")
    return result


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


def check_handler_imports(bundle: Path, handlers: str | Sequence[str]) -> float:
    """Import ``handlers`` from the unzipped ``bundle`` with only the stdlib and the runtime's
    packages on ``sys.path`` (``unpacked``), in a fresh isolated interpreter (nothing from this
    environment) that writes no bytecode (``-B``).

    Returns how long that cold import took, in seconds: the zip's own bytecode, as in the function.
    A module of the zip compiled from its source instead (no pyc, or one the import system rejects)
    refuses the build.
    """
    names = [handlers] if isinstance(handlers, str) else list(handlers)
    script = (
        "import importlib, importlib.machinery, json, sys, time\n"
        "code_dir = sys.argv[1]\n"
        "sys.path[:0] = sys.argv[1:3]\n"
        "compiled = []\n"
        "loader = importlib.machinery.SourceFileLoader\n"
        "from_source = loader.source_to_code\n"
        "def source_to_code(self, data, path, *args, **kwargs):\n"
        "    if str(path).startswith(code_dir + '/'):\n"
        "        compiled.append(str(path)[len(code_dir) + 1 :])\n"
        "    return from_source(self, data, path, *args, **kwargs)\n"
        "loader.source_to_code = source_to_code\n"
        "started = time.perf_counter()\n"
        "for handler in sys.argv[3:]:\n"
        "    module, _, attribute = handler.rpartition('.')\n"
        "    if not callable(getattr(importlib.import_module(module), attribute)):\n"
        "        raise SystemExit(f'{handler} is not callable')\n"
        "print(json.dumps({'seconds': time.perf_counter() - started, 'compiled': compiled}))\n"
    )
    with unpacked(bundle) as (code_dir, runtime_dir):
        isolated = [base_interpreter(), "-I", "-S", "-B", "-c", script]
        # -B: no bytecode written (PYTHONDONTWRITEBYTECODE's effect; -I ignores the variable).
        result = _run_isolated(
            [*isolated, str(code_dir), str(runtime_dir), *names],
            failure=f"{', '.join(names)} do not import from the bundle alone",
        )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    if found["compiled"]:
        raise BundleError(f"the bundle's bytecode was not used for: {', '.join(sorted(found['compiled']))}")
    return float(found["seconds"])


@contextlib.contextmanager
def unpacked(bundle: Path) -> Iterator[tuple[Path, Path]]:
    """``bundle`` unzipped, and the runtime's packages beside it, as the function finds them:
    (code directory, runtime directory), both removed on exit.

    The runtime directory is this environment's copy of ``RUNTIME_DISTRIBUTIONS``' modules (files
    linked, not copied) with bytecode of its own compiled beside them: the Lambda runtime ships its
    SDK installed, hence compiled, so a measured cold start compiles neither the zip's modules nor
    the SDK's, whether or not this environment has cached bytecode for them.
    """
    with tempfile.TemporaryDirectory(prefix="luca-bundle-check-") as scratch:
        code_dir, runtime_dir = Path(scratch) / "task", Path(scratch) / "runtime"
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(code_dir)
        runtime_dir.mkdir()
        tag = sys.implementation.cache_tag
        jobs: list[tuple[str, str, str]] = []
        for location in runtime_packages().values():
            for linked in _link_tree(location, runtime_dir / location.name):
                jobs.append((str(linked), str(linked), str(linked.parent / bytecode_name(linked.name, tag))))
        _compile(jobs, tag)
        yield code_dir, runtime_dir


def _link_tree(source: Path, target: Path) -> Iterator[Path]:
    """Mirror ``source`` at ``target`` with symbolic links (a directory holding no module: one link),
    leaving out bytecode caches; yields the linked modules."""
    if source.is_file():
        target.symlink_to(source)
        if source.suffix == ".py":
            yield target
        return
    target.mkdir()
    for entry in sorted(source.iterdir()):
        if entry.name == "__pycache__" or entry.suffix == ".pyc":
            continue
        if entry.is_dir() and not any(entry.rglob("*.py")):
            (target / entry.name).symlink_to(entry, target_is_directory=True)
        else:
            yield from _link_tree(entry, target / entry.name)


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
        modules_compiled=sum(1 for name in names if name.endswith(".pyc")),
        distributions=tuple(sorted(distributions, key=str.lower)),
        workspace_packages=tuple(sorted(tops & workspace_packages())),
    )


def _imported_module_files(handlers: Sequence[str], roots: Mapping[str, Path]) -> Iterator[tuple[str, Path]]:
    """The source files of the modules the handlers import from ``roots``' packages, as named in the zip."""
    source_dirs = sorted({str(path.parent) for path in roots.values()})
    for module, origin in imported_modules(handlers, list(roots), [Path(d) for d in source_dirs]).items():
        top = module.split(".")[0]
        try:
            relative = origin.resolve().relative_to(roots[top].resolve())
        except ValueError as exc:
            raise BundleError(f"{module} was imported from {origin}, outside {roots[top]}") from exc
        if not _wanted(origin.name, directory=False):
            raise BundleError(f"{module} was imported from {origin}, which a bundle never holds")
        yield f"{top}/{relative.as_posix()}", origin


def _package_files(name: str, root: Path) -> Iterator[tuple[str, Path]]:
    """A workspace package's files, from its source directory ``root``."""
    if not (root / "__init__.py").is_file():
        raise BundleError(f"{name} is not a regular package at {root}")
    for directory, subdirectories, filenames in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if _wanted(d, directory=True))
        for filename in sorted(filenames):
            if _wanted(filename, directory=False):
                path = Path(directory) / filename
                yield f"{name}/{path.relative_to(root).as_posix()}", path


def _check_pins(spec: BundleSpec, distributions: Sequence[str], root: Path) -> None:
    """The zip ships what the service's lock pins: every distribution pinned, at the installed version."""
    lock = service_lock_path(spec.service)
    if not (root / lock).is_file():
        raise BundleError(f"bundle {spec.name}: {lock} is missing; run `make lock`")
    pins = read_lock(root / lock)
    for name in distributions:
        if name not in pins:
            raise BundleError(f"bundle {spec.name}: {lock} does not pin {name}; run `make lock`")
        installed = installed_version(name)
        if installed != pins[name].version:
            raise BundleError(
                f"bundle {spec.name}: {lock} pins {name} {pins[name].version}, "
                f"{installed or 'nothing'} is installed; run `make setup`"
            )


def _other_services_packages(service: str, root: Path) -> set[str]:
    return {
        package for name, member in services(root).items() if name != service for package in member.packages
    }


def workspace_packages(root: Path = REPO_ROOT) -> set[str]:
    """Every import package a workspace member ships (for describing a zip)."""
    return {package for member in members(root).values() for package in member.packages}


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
    # Installed distributions were resolved for this interpreter (environment markers), the sources
    # must be syntax the function's Python reads, and the bytecode is this interpreter's: a pyc of
    # another minor version would be ignored by the function, which would compile every module again.
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if here != runtime:
        raise BundleError(
            f"the bundle for a {runtime} function must be built with {runtime}, not {here} "
            f"(its bytecode is the building interpreter's)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m luca_infra.bundle", description="Build the Lambda deployment packages."
    )
    parser.add_argument(
        "functions",
        nargs="*",
        metavar="BUNDLE",
        help="; ".join(f"{spec.name}: {spec.summary}" for spec in BUNDLES.values()) + " (default: all)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: each definition's, dist/ at the repository root)",
    )
    args = parser.parse_args(argv)
    # Checked here: argparse compares an empty nargs="*" list against ``choices`` (Python 3.11).
    unknown = sorted(set(args.functions) - set(BUNDLES))
    if unknown:
        parser.error(f"unknown bundle {', '.join(unknown)} (choose from {', '.join(sorted(BUNDLES))})")
    for name in args.functions or list(BUNDLES):
        spec = BUNDLES[name]
        try:
            built = build(spec, args.out or REPO_ROOT / PurePosixPath(spec.bundle).parent)
        except BundleError as exc:
            print(f"bundle {name}: {exc}", file=sys.stderr)
            return 1
        summary = describe(built.path)
        print(
            f"{summary.path}: {summary.size_bytes} bytes ({summary.size_mib:.2f} MiB), {summary.files} files "
            f"({summary.modules_compiled} modules with bytecode); "
            f"cold import of {len(spec.handlers)} handler(s): {built.import_seconds * 1000:.0f} ms"
        )
        print(f"  workspace packages: {', '.join(summary.workspace_packages)}")
        print(f"  distributions: {', '.join(summary.distributions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
