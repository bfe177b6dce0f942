"""``python -m bench.capacity [measure|model|all]``: what one school uses and what the platform costs.

``measure`` runs every path on the local platform and writes ``bench/out/capacity-measured.json``;
``model`` reads it with the scenario files (``bench/capacity/scenarios/*.toml``) and the dated price
file (``bench/capacity/prices/*.toml``) and writes ``bench/out/capacity.json`` and
``bench/out/capacity.png``; ``all`` (``make capacity``) does both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.capacity import report
from bench.capacity.measure import MEASURED, measure

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("step", nargs="?", choices=("measure", "model", "all"), default="all")
    parser.add_argument("--students", type=int, default=30, help="students in the measured school's course")
    parser.add_argument("--history", type=int, default=3, help="seeded grades per student and subject")
    parser.add_argument("--repeat", type=int, default=20, help="requests of each interactive operation")
    parser.add_argument("--batches", type=int, default=4, help="burst batches after the first")
    parser.add_argument("--cpu-seconds", type=float, default=20.0)
    parser.add_argument("--measured", type=Path, default=MEASURED)
    parser.add_argument(
        "--scenarios", type=Path, nargs="*", default=sorted((HERE / "scenarios").glob("*.toml"))
    )
    parser.add_argument("--prices", type=Path, default=HERE / "prices" / "us-east-1.toml")
    opts = parser.parse_args()
    if opts.step in ("measure", "all"):
        measure(
            students=opts.students,
            history=opts.history,
            repeat=opts.repeat,
            batches=opts.batches,
            cpu_seconds=opts.cpu_seconds,
        )
    if opts.step in ("model", "all"):
        report.run(opts.measured, opts.scenarios, opts.prices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
