"""The Lambda handlers' cold start: importing each handler module in a fresh interpreter.

``python -m bench.capacity.coldstart [--json] [--repeat 5]``: for each function the stacks deploy
(the module named in the platform definition), a new interpreter imports it and reports the wall
and CPU time of the import and the process's peak resident memory. The median of ``--repeat`` runs
is kept. A handler builds its clients on its first invocation (no I/O at import), so this is the
init phase Lambda bills before the first event.

The grade processor, whose cold starts land on a recess's burst, is also measured up to the end of
its first invocation: import, build (the composition root, from the environment the stacks set) and
one full batch through its handler against the embedded emulator, each in a new interpreter. Work
moved out of the import into the first invocation shows up there.

Its import is measured a third way, as Lambda runs it: from the contents of its deployment package
(``luca_infra.bundle``, built afresh and unzipped) with the runtime's packages beside it (this
environment's, with their bytecode, as the Lambda runtime ships its SDK), in isolated interpreters
that write no bytecode, so each import uses exactly the pycs the zip ships; and again with the zip's
``__pycache__`` directories removed, which is what every cold start paid while the bundles held
sources only (the function's code directory is read-only: nothing compiled there is kept). The
bundle figure is the one printed beside ``IMPORT_TARGET_MS``; the environment's figures above
depend on whatever bytecode its site-packages has cached.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from luca_infra.definitions import PLATFORM_DEFINITION

# The grade processor's import budget (issue 16): a recess's cold starts all pay it at once.
IMPORT_TARGET_MS = 300.0

PROBE = """
import importlib, json, resource, sys, time
began, began_cpu = time.perf_counter(), time.process_time()
importlib.import_module(sys.argv[1])
print(json.dumps({"wall_ms": 1000 * (time.perf_counter() - began), "cpu_ms": 1000 * (time.process_time() - began_cpu),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# Import, build and one batch through the handler as Lambda calls it (stdin: the SQS event). The
# handler's own log and metric lines go to stdout first; the figures are the last line. CPU apart
# from wall: the batch's wall time includes the emulator's, which runs in the parent. The share of
# loaded modules that had cached bytecode tells a compiling import (a venv installed without
# compiling, run with PYTHONDONTWRITEBYTECODE, has none) from a warm one.
FIRST_INVOCATION_PROBE = """
import importlib, json, os, sys, time, types
event = json.loads(sys.stdin.read())
began, began_cpu = time.perf_counter(), time.process_time()
module = importlib.import_module(sys.argv[1])
imported, imported_cpu = time.perf_counter(), time.process_time()
module.app()
built = time.perf_counter()
context = types.SimpleNamespace(function_name="grade-processor", memory_limit_in_mb=512, aws_request_id="cold",
                                invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:grade-processor")
response = module.handler(event, context)
done, done_cpu = time.perf_counter(), time.process_time()
assert not response.get("batchItemFailures"), response
cached = [m.__cached__ for m in list(sys.modules.values()) if getattr(m, "__cached__", None)]
print(json.dumps({"import_ms": 1000 * (imported - began), "build_ms": 1000 * (built - imported),
                  "first_batch_ms": 1000 * (done - built), "total_ms": 1000 * (done - began),
                  "import_cpu_ms": 1000 * (imported_cpu - began_cpu), "total_cpu_ms": 1000 * (done_cpu - began_cpu),
                  "bytecode_cached_share": sum(map(os.path.exists, cached)) / len(cached)}))
"""


# The same import from the unzipped bundle (argv: module, code directory, runtime directory), in an
# interpreter run with -I -S -B: the stdlib, the zip's contents and the runtime's packages only.
BUNDLE_PROBE = """
import importlib, json, sys, time
sys.path[:0] = sys.argv[2:4]
began, began_cpu = time.perf_counter(), time.process_time()
importlib.import_module(sys.argv[1])
print(json.dumps({"wall_ms": 1000 * (time.perf_counter() - began), "cpu_ms": 1000 * (time.process_time() - began_cpu)}))
"""


def handler_modules() -> dict[str, str]:
    d = PLATFORM_DEFINITION
    return {
        "grade-processor": d.ingest.handler.rsplit(".", 1)[0],
        "govsync tasks": d.govsync.handler_module,
        "lake enrichment": d.analytics_aws.enrich_handler.rsplit(".", 1)[0],
        "edge authorizer": "luca_edge.entrypoints.authorizer",
    }


def measure(module: str, repeat: int) -> dict[str, float]:
    runs: list[dict[str, float]] = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, module], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {key: round(statistics.median(run[key] for run in runs), 1) for key in runs[0]}


def bundle_import(repeat: int) -> dict[str, float]:
    """The grade processor's import from its Lambda bundle (medians of fresh isolated interpreters):
    with the bytecode the zip ships, and without it (the zip's sources only)."""
    from luca_infra.bundle import INGEST_BUNDLE, base_interpreter, build, describe, unpacked

    module = PLATFORM_DEFINITION.ingest.handler.rsplit(".", 1)[0]

    def median_of_runs(code_dir: Path, runtime_dir: Path) -> dict[str, float]:
        command = [
            base_interpreter(),
            "-I",
            "-S",
            "-B",
            "-c",
            BUNDLE_PROBE,
            module,
            str(code_dir),
            str(runtime_dir),
        ]
        runs = [
            json.loads(subprocess.run(command, capture_output=True, text=True, env={}, check=True).stdout)
            for _ in range(repeat)
        ]
        return {key: round(statistics.median(run[key] for run in runs), 1) for key in runs[0]}

    with tempfile.TemporaryDirectory(prefix="luca-coldstart-") as out:
        built = build(INGEST_BUNDLE, Path(out))
        with unpacked(built.path) as (code_dir, runtime_dir):
            shipped = median_of_runs(code_dir, runtime_dir)
            for cache in list(code_dir.rglob("__pycache__")):
                shutil.rmtree(cache)
            sources_only = median_of_runs(code_dir, runtime_dir)
        modules = describe(built.path).modules_compiled
    return {
        **shipped,
        "without_bytecode_wall_ms": sources_only["wall_ms"],
        "without_bytecode_cpu_ms": sources_only["cpu_ms"],
        "modules_with_bytecode": modules,
    }


def first_invocation(repeat: int) -> dict[str, float]:
    """The grade processor's import, build and first batch (medians of fresh interpreters), against
    the embedded emulator with a seeded school."""
    from bench.capacity import grading_app, measure_burst
    from luca_platform.aws import AwsClients
    from luca_testing.emulator import REGION, batch_role, create_table, running_emulator
    from luca_testing.seed import SchoolSeed

    module = PLATFORM_DEFINITION.ingest.handler.rsplit(".", 1)[0]
    size = PLATFORM_DEFINITION.ingest.batch_size
    with running_emulator() as endpoint:
        table = create_table(endpoint)
        role = batch_role(endpoint)
        seed = SchoolSeed(AwsClients(region=REGION, endpoint_url=endpoint), table, grading_app.SCHOOL)
        seed.course(grading_app.COURSE).subject(grading_app.SUBJECTS[0])
        students = grading_app.students(10)
        for student in students:
            seed.student(student, grading_app.COURSE)
        env = {
            **os.environ,
            "LUCA_TABLE_NAME": table,
            "LUCA_AWS_REGION": REGION,
            "LUCA_AWS_ENDPOINT_URL": endpoint,
            "LUCA_BATCH_ROLE_ARN": role,
        }
        runs: list[dict[str, float]] = []
        for n in range(repeat):
            rng = random.Random(n)  # a seed per run: its events' ids are new to the table
            bodies = [measure_burst.event_body(rng, students[i % len(students)]) for i in range(size)]
            out = subprocess.run(
                [sys.executable, "-c", FIRST_INVOCATION_PROBE, module],
                input=json.dumps(measure_burst.sqs_event(bodies, grading_app.SCHOOL)),
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    figures = {key: round(statistics.median(run[key] for run in runs), 2) for key in runs[0]}
    return {"events": size, **figures}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    figures: dict[str, Any] = {}
    modules = handler_modules()
    for n, (name, module) in enumerate(modules.items(), start=1):
        print(f"  cold start {n}/{len(modules)}: {name} ({module})", file=sys.stderr, flush=True)
        figures[name] = {"module": module, **measure(module, opts.repeat)}
    print("  cold start: grade-processor's first invocation", file=sys.stderr, flush=True)
    grade = figures["grade-processor"]
    grade["import_target_ms"] = IMPORT_TARGET_MS
    grade["first_invocation"] = first_invocation(opts.repeat)
    print("  cold start: grade-processor from its Lambda bundle", file=sys.stderr, flush=True)
    grade["bundle_import"] = bundle_import(opts.repeat)
    print(json.dumps(figures) if opts.json else json.dumps(figures, indent=2))
    if not opts.json:
        first, bundled = grade["first_invocation"], grade["bundle_import"]
        print(
            f"grade-processor: import from its Lambda bundle {bundled['wall_ms']:.0f} ms "
            f"(target {IMPORT_TARGET_MS:.0f} ms) with the {bundled['modules_with_bytecode']} pycs the zip ships; "
            f"{bundled['without_bytecode_wall_ms']:.0f} ms without them (sources only, as before the zip held bytecode)"
        )
        print(
            f"grade-processor from this environment: import {grade['wall_ms']:.0f} ms; "
            f"import + build + first batch of {first['events']} {first['total_ms']:.0f} ms "
            f"(import {first['import_ms']:.0f}, build {first['build_ms']:.0f}, "
            f"first batch {first['first_batch_ms']:.0f}; CPU {first['total_cpu_ms']:.0f} ms); "
            f"medians of {opts.repeat} fresh interpreters, {first['bytecode_cached_share']:.0%} of modules "
            "with cached bytecode"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
