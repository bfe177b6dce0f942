"""``make fuzz``: the local platform up on free ports, then schemathesis through its gateway as every
caller, many examples per operation; prints the generated case count and the result."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from luca_infra.local.demo import SCHOOL_A
from luca_infra.local.platform import LocalPlatform, PlatformConfig
from luca_testing.fuzz import fuzz_all


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=40)
    parser.add_argument("--report-dir", type=Path, default=Path(".luca/fuzz"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        config = PlatformConfig.ephemeral(Path(state), access_log_stdout=False, log_level="WARNING")
        with LocalPlatform(config) as platform:
            tokens: dict[str, str | None] = {
                role: platform.token_for(SCHOOL_A.school_id, role) for role in ("teacher", "student", "admin")
            }
            tokens["anonymous"] = None
            runs = fuzz_all(
                platform.gateway_url, tokens, max_examples=args.max_examples, report_dir=args.report_dir
            )
    for run in runs:
        verdict = "ok" if run.exit_code == 0 else f"FAILED ({run.failures} failures, {run.errors} errors)"
        print(f"{run.caller:>10}: {run.cases} cases, {verdict}")
    total = sum(run.cases for run in runs)
    failed = [run for run in runs if run.exit_code != 0]
    print(
        f"total: {total} generated cases; {'no failures' if not failed else 'failures'}; reports in {args.report_dir}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
