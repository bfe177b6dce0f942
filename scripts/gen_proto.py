"""Generate the luca-proto package (messages, gRPC stubs and .pyi) from the buf module.

`python scripts/gen_proto.py` rewrites proto/python/src/luca; `--check` regenerates into a scratch
directory and exits non-zero when the committed stubs differ (stale or hand-edited).

Messages that travel as JSON (``JSON_MESSAGES``) also get a JSON Schema (draft-04, what API Gateway
models speak) of their proto3 JSON mapping with the original field names, next to their stubs in
``schemas/<Message>.schema.json``. Field limits come from the ``(luca.common.v1.limits)`` option, so
the edge's request model and the processor's validation are the contract, not copies of it.
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

from google.protobuf import descriptor_pb2, empty_pb2
from google.protobuf.unknown_fields import UnknownFieldSet
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE_ROOT = ROOT / "proto" / "python" / "src"
HEADER = '"""Generated from the luca buf module by scripts/gen_proto.py. Do not edit."""\n'
JSON_MESSAGES = ("luca.ingest.v1.StudentEvent", "luca.ingest.v1.SubmitEventsRequest")
LIMITS_EXTENSION = 51234  # luca.common.v1.limits (proto/luca/common/v1/options.proto)


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
    with tempfile.TemporaryDirectory() as scratch:
        descriptors = Path(scratch) / "set.binpb"
        if protoc.main([*args, "--include_imports", f"--descriptor_set_out={descriptors}"]) != 0:
            raise SystemExit("protoc failed")
        write_json_schemas(descriptor_pb2.FileDescriptorSet.FromString(descriptors.read_bytes()), out)
    for directory in [out / "luca", *[p for p in (out / "luca").rglob("*") if p.is_dir()]]:
        (directory / "__init__.py").write_text(HEADER)
        (directory / "py.typed").write_text("") if directory == out / "luca" else None


def write_json_schemas(files: descriptor_pb2.FileDescriptorSet, out: Path) -> None:
    messages = {
        f".{file.package}.{message.name}": message for file in files.file for message in file.message_type
    }
    limits_type = messages[".luca.common.v1.FieldLimits"]
    for name in JSON_MESSAGES:
        package, _, message = name.rpartition(".")
        schema = {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": name,
            **json_schema(messages[f".{name}"], messages, limits_type),
        }
        target = out.joinpath(*package.split("."), "schemas", f"{message}.schema.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")


def field_limits(field: descriptor_pb2.FieldDescriptorProto, limits_type: Any) -> dict[str, Any]:
    # The option is an extension this script does not import: read it from the unknown fields.
    found: dict[str, Any] = {}
    for unknown in UnknownFieldSet(field.options):
        if unknown.field_number == LIMITS_EXTENSION:
            for limit in UnknownFieldSet(_parse_bytes(unknown.data)):
                name = next(f.name for f in limits_type.field if f.number == limit.field_number)
                found[name] = limit.data.decode() if isinstance(limit.data, bytes) else limit.data
    return found


def _parse_bytes(data: bytes) -> empty_pb2.Empty:
    # A message with no fields keeps every field of the nested message's bytes as unknown.
    return empty_pb2.Empty.FromString(data)


_SCALARS: dict[int, dict[str, Any]] = {
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: {"type": "string"},
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: {"type": "boolean"},
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT32: {"type": "integer", "minimum": 0, "maximum": 4294967295},
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32: {
        "type": "integer",
        "minimum": -2147483648,
        "maximum": 2147483647,
    },
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    ".google.protobuf.Timestamp": {"type": "string", "format": "date-time"}
}


def json_schema(message: Any, messages: dict[str, Any], limits_type: Any) -> dict[str, Any]:
    """The proto3 JSON mapping of ``message``: closed objects, original field names."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    oneofs: dict[int, list[str]] = {}
    for field in message.field:
        limits = field_limits(field, limits_type)
        if field.type == descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE:
            item = _WELL_KNOWN.get(field.type_name) or json_schema(
                messages[field.type_name], messages, limits_type
            )
        elif field.type in _SCALARS:
            item = dict(_SCALARS[field.type])
        else:
            raise SystemExit(f"{message.name}.{field.name}: no JSON Schema mapping for type {field.type}")
        if item.get("type") == "string":
            if "pattern" in limits:
                item["pattern"] = limits["pattern"]
            if "max_length" in limits:
                item["maxLength"] = limits["max_length"]
            if limits.get("required"):
                item["minLength"] = 1
        if field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
            item = {"type": "array", "items": item}
            if "min_items" in limits:
                item["minItems"] = limits["min_items"]
            if "max_items" in limits:
                item["maxItems"] = limits["max_items"]
        properties[field.name] = item
        if limits.get("required") or "min_items" in limits:
            required.append(field.name)
        if field.HasField("oneof_index") and not field.proto3_optional:
            oneofs.setdefault(field.oneof_index, []).append(field.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    for members in oneofs.values():  # exactly one member of each oneof
        schema.setdefault("allOf", []).append({"oneOf": [{"required": [m]} for m in members]})
    return schema


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
