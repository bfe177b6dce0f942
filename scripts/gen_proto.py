"""Generate the luca-proto package (messages, gRPC stubs and .pyi) from the buf module.

`python scripts/gen_proto.py` rewrites proto/python/src/luca; `--check` regenerates into a scratch
directory and exits non-zero when the committed stubs differ (stale or hand-edited).

Messages that travel as JSON (``JSON_MESSAGES``) also get a JSON Schema (draft-04, what API Gateway
models speak) of their proto3 JSON mapping with the original field names, next to their stubs in
``schemas/<Message>.schema.json``. Field limits come from the fields' protovalidate rules
(``buf.validate``, translated by ``luca_platform.contract_rules``), so the edge's request model and
the processor's validation are the contract, not copies of it.

``buf/validate/validate.proto`` (vendored in ``proto/``) is generated too, as the ``buf.validate``
package the contracts' stubs import.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from grpc_tools import protoc

from luca_platform.contract_rules import field_constraints, oneof_required

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE_ROOT = ROOT / "proto" / "python" / "src"
HEADER = '"""Generated from the luca buf module by scripts/gen_proto.py. Do not edit."""\n'
JSON_MESSAGES = (
    "luca.ingest.v1.StudentEvent",
    "luca.ingest.v1.SubmitEventsRequest",
    # Not on the edge: what the tests hold REST and gRPC to (one contract, three front doors).
    "luca.grading.v1.RecordEvaluationRequest",
)
PACKAGES = ("luca", "buf")  # top-level packages generated into proto/python/src


def generate(out: Path) -> None:
    sources = sorted(
        str(p.relative_to(PROTO_ROOT))
        for package in PACKAGES
        for p in (PROTO_ROOT / package).rglob("*.proto")
    )
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
    with tempfile.TemporaryDirectory() as scratch:
        descriptors = Path(scratch) / "set.binpb"
        if protoc.main([*args, "--include_imports", f"--descriptor_set_out={descriptors}"]) != 0:
            raise SystemExit("protoc failed")
        write_json_schemas(descriptor_pb2.FileDescriptorSet.FromString(descriptors.read_bytes()), out)
    for package in PACKAGES:
        for directory in [out / package, *[p for p in (out / package).rglob("*") if p.is_dir()]]:
            (directory / "__init__.py").write_text(HEADER)
            (directory / "py.typed").write_text("") if directory == out / package else None


def write_json_schemas(files: descriptor_pb2.FileDescriptorSet, out: Path) -> None:
    # A pool of its own: the schema follows the .proto files just compiled, not installed stubs.
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    for name in JSON_MESSAGES:
        package, _, message = name.rpartition(".")
        schema = {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": name,
            **json_schema(pool.FindMessageTypeByName(name)),
        }
        target = out.joinpath(*package.split("."), "schemas", f"{message}.schema.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")


_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "minimum": 0, "maximum": 4294967295},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "minimum": -2147483648, "maximum": 2147483647},
}
_NUMBER_KEYWORDS = ("enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"}
}


def json_schema(message: Descriptor) -> dict[str, Any]:
    """The proto3 JSON mapping of ``message``: closed objects, original field names."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in message.fields:
        rules = field_constraints(field)
        keywords = rules.json_schema()
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            item = dict(_WELL_KNOWN.get(field.message_type.full_name) or json_schema(field.message_type))
        elif field.type in _SCALARS:
            item = dict(_SCALARS[field.type])
        else:
            raise SystemExit(f"{message.name}.{field.name}: no JSON Schema mapping for type {field.type}")
        if item.get("type") == "string":
            item.update({k: v for k, v in keywords.items() if k in ("pattern", "minLength", "maxLength")})
        if item.get("type") == "integer":
            # The rules' bounds and allowed values narrow the type's own range.
            item.update({k: v for k, v in keywords.items() if k in _NUMBER_KEYWORDS})
        if field.is_repeated:
            item = {"type": "array", "items": item}
            item.update({k: v for k, v in keywords.items() if k in ("minItems", "maxItems")})
        properties[field.name] = item
        if rules.in_required_list:
            required.append(field.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    for oneof in message.oneofs:
        # Exactly one member when the rules require one; the JSON mapping itself refuses two.
        if oneof_required(oneof) and not _synthetic(oneof):
            members = [{"required": [f.name]} for f in oneof.fields]
            schema.setdefault("allOf", []).append({"oneOf": members})
    return schema


def _synthetic(oneof: Any) -> bool:
    # proto3 `optional` fields each sit in a synthetic oneof of their own.
    return len(oneof.fields) == 1 and bool(oneof.fields[0].has_presence) and oneof.name.startswith("_")


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
            stale = [
                f"{package}/{found}"
                for package in PACKAGES
                for found in differences(PACKAGE_ROOT / package, Path(scratch) / package)
            ]
        if stale:
            print("generated stubs are stale; run `make proto`:\n  " + "\n  ".join(stale), file=sys.stderr)
            return 1
        print("generated stubs are up to date")
        return 0
    for package in PACKAGES:
        shutil.rmtree(PACKAGE_ROOT / package, ignore_errors=True)
    generate(PACKAGE_ROOT)
    print(f"generated {PACKAGE_ROOT.relative_to(ROOT)}/{{{','.join(PACKAGES)}}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
