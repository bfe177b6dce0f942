"""The Lambda handlers' cold start: importing each handler module in a fresh interpreter.

``python -m bench.capacity.coldstart [--json] [--repeat 3]``: for each function the stacks deploy
(the module named in the platform definition), a new interpreter imports it and reports the wall
and CPU time of the import and the process's peak resident memory. The median of ``--repeat`` runs
is kept. A handler builds its clients on its first invocation (no I/O at import), so this is the
init phase Lambda bills before the first event.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

from luca_infra.definitions import PLATFORM_DEFINITION

PROBE = """
import importlib, json, resource, sys, time
began, began_cpu = time.perf_counter(), time.process_time()
importlib.import_module(sys.argv[1])
print(json.dumps({"wall_ms": 1000 * (time.perf_counter() - began), "cpu_ms": 1000 * (time.process_time() - began_cpu),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    figures: dict[str, Any] = {}
    modules = handler_modules()
    for n, (name, module) in enumerate(modules.items(), start=1):
        print(f"  cold start {n}/{len(modules)}: {name} ({module})", file=sys.stderr, flush=True)
        figures[name] = {"module": module, **measure(module, opts.repeat)}
    print(json.dumps(figures) if opts.json else json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
