"""An export's manifest: what was exported, from where and when, and each file's checksum.

``luca schools delete`` erases a school only against a manifest that names the school and the stage,
covers the whole school (not one student), and whose files are all there with their checksums.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"
FORMAT = 1
TABLE_FILE = "table/items.jsonl"
USERS_FILE = "users.jsonl"
LAKE_DIR = "lake"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ExportedFile:
    path: str  # relative to the manifest's directory, '/'-separated
    sha256: str
    bytes: int
    records: int | None = None  # lines, for the JSON-lines files


@dataclass(frozen=True)
class Manifest:
    school_id: str
    stage: str
    exported_at: str
    exported_by: str
    # The student of a data-access request; None for the whole school.
    student_id: str | None
    counts: dict[str, int]
    files: tuple[ExportedFile, ...]
    # What the export could not hold, and why (said, not hidden).
    not_included: tuple[str, ...] = ()
    format: int = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        body = asdict(self)
        body["files"] = [asdict(f) for f in self.files]
        return json.dumps(body, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError("not a luca schools export manifest (or of another format)")
        return cls(
            school_id=str(raw["school_id"]),
            stage=str(raw["stage"]),
            exported_at=str(raw["exported_at"]),
            exported_by=str(raw.get("exported_by", "")),
            student_id=raw.get("student_id"),
            counts={str(k): int(v) for k, v in raw["counts"].items()},
            files=tuple(ExportedFile(**f) for f in raw["files"]),
            not_included=tuple(raw.get("not_included", ())),
            extra=dict(raw.get("extra", {})),
        )

    def write(self, directory: Path) -> Path:
        path = directory / MANIFEST_FILE
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls.from_json(path.read_text(encoding="utf-8"))

    def digest(self) -> str:
        """The manifest's own checksum, which the erasure's audit record keeps."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def problems(self, directory: Path) -> list[str]:
        """What is wrong with the files beside the manifest: missing, resized or changed ones."""
        found = []
        root = directory.resolve()
        for entry in self.files:
            path = (root / entry.path).resolve()
            if root not in path.parents:
                found.append(f"{entry.path}: outside the export's directory")
            elif not path.is_file():
                found.append(f"{entry.path}: missing")
            elif path.stat().st_size != entry.bytes or sha256_of(path) != entry.sha256:
                found.append(f"{entry.path}: its checksum does not match")
        return found
