"""Generate the luca-proto package (messages, gRPC stubs and .pyi) from the buf module.

`python scripts/gen_proto.py` rewrites proto/python/src/luca; `--check` regenerates into a scratch
directory and exits non-zero when the committed stubs differ (stale or hand-edited).
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE_ROOT = ROOT / "proto" / "python" / "src"
HEADER = '"""Generated from the luca buf module by scripts/gen_proto.py. Do not edit."""\n'


def generate(out: Path) -> None:
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "luca").rglob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for directory in [out / "luca", *[p for p in (out / "luca").rglob("*") if p.is_dir()]]:
        (directory / "__init__.py").write_text(HEADER)
        (directory / "py.typed").write_text("") if directory == out / "luca" else None


def differences(left: Path, right: Path) -> list[str]:
    cmp = filecmp.dircmp(left, right, ignore=["__pycache__"])
    found = [f"only in committed: {n}" for n in cmp.left_only] + [f"missing: {n}" for n in cmp.right_only]
    found += [f"differs: {n}" for n in cmp.diff_files]
    _, mismatch, errors = filecmp.cmpfiles(left, right, cmp.common_files, shallow=False)
    found += [f"differs: {n}" for n in mismatch + errors if f"differs: {n}" not in found]
    for sub in cmp.common_dirs:
        found += [f"{sub}/{d}" for d in differences(left / sub, right / sub)]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs are stale")
    opts = parser.parse_args()
    if opts.check:
        with tempfile.TemporaryDirectory() as scratch:
            generate(Path(scratch))
            stale = differences(PACKAGE_ROOT / "luca", Path(scratch) / "luca")
        if stale:
            print("generated stubs are stale; run `make proto`:\n  " + "\n  ".join(stale), file=sys.stderr)
            return 1
        print("generated stubs are up to date")
        return 0
    shutil.rmtree(PACKAGE_ROOT / "luca", ignore_errors=True)
    generate(PACKAGE_ROOT)
    print(f"generated {PACKAGE_ROOT.relative_to(ROOT)}/luca")
    return 0


if __name__ == "__main__":
    sys.exit(main())
