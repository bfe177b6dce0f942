"""``luca schools export``: everything the platform holds about one school, or one student, as files
with a manifest (counts, sha256 checksums, when, which stage, who).

- ``table/items.jsonl``: the school's items in DynamoDB's typed JSON (lossless), read as the school
  through the tenant role, partition by partition (``school_table``: how the partitions are found,
  and the one kind it cannot find);
- ``lake/...``: the school's lake objects as they are (Parquet), under their own keys;
- ``users.jsonl``: its users in the pool, with their attributes and groups.

With ``student_id`` (a data-access request): the student's partition (record, grades and their
history, notes, practice results) and the student's own users. The lake is left out then: its rows
carry a keyed pseudonym instead of the student, and files mix the school's students.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from luca_infra.schools.audit import caller
from luca_infra.schools.manifest import LAKE_DIR, TABLE_FILE, USERS_FILE, ExportedFile, Manifest, sha256_of
from luca_infra.schools.progress import Reporter, Silent
from luca_infra.schools.stage_access import StageAccess
from luca_kernel.ids import school_id as parse_school_id
from luca_platform.contracts.roster import student_pk
from luca_platform.table import keys

IDEMPOTENCY_GAP = (
    "idempotency records the grading service wrote before it indexed them under the school's unrooted "
    "partition (before luca-grading 0.3.0); they expire 30 days after their request"
)
STUDENT_LAKE_GAP = "lake rows: pseudonymised (student_key) and mixed with the school's other students"


class ExportRefused(Exception):
    pass


def export(
    access: StageAccess,
    school: str,
    out: Path,
    *,
    student_id: str | None = None,
    reporter: Reporter | None = None,
) -> Manifest:
    reporter = reporter or Silent()
    try:
        school = parse_school_id(school)
        if student_id is not None:
            keys.part(student_id)
    except ValueError as exc:
        raise ExportRefused(str(exc)) from exc
    if out.exists() and any(out.iterdir()):
        raise ExportRefused(f"{out} is not empty: export into a new directory")
    out.mkdir(parents=True, exist_ok=True)
    table = access.table(school)
    identities = access.identities

    reporter.phase("finding the school's partitions")
    if student_id is not None:
        partitions = [student_pk(school, student_id)]
    else:
        partitions = table.partitions(identities.student_ids(school))
    files: list[ExportedFile] = []

    reporter.phase("table items", total=len(partitions))
    items_path = out / TABLE_FILE
    items_path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with items_path.open("w", encoding="utf-8") as stream:
        for partition in partitions:
            for item in table.items([partition]):
                stream.write(json.dumps(item, sort_keys=True, ensure_ascii=False) + "\n")
                count += 1
            reporter.advance()
    files.append(_file(out, TABLE_FILE, records=count))

    reporter.phase("users")
    users = list(identities.users(school, student_id))
    with (out / USERS_FILE).open("w", encoding="utf-8") as stream:
        for user in users:
            stream.write(json.dumps(user.to_json(), sort_keys=True, ensure_ascii=False) + "\n")
    files.append(_file(out, USERS_FILE, records=len(users)))

    lake_objects = [] if student_id is not None else access.lake.objects(school)
    reporter.phase("lake objects", total=len(lake_objects))
    for lake_object in lake_objects:
        relative = f"{LAKE_DIR}/{lake_object.key}"
        access.lake.download(lake_object.key, out / relative)
        files.append(_file(out, relative))
        reporter.advance()

    manifest = Manifest(
        school_id=school,
        stage=access.stage,
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        exported_by=caller(access.client("sts")),
        student_id=student_id,
        counts={
            "table_items": count,
            "partitions": len(partitions),
            "users": len(users),
            "lake_objects": len(lake_objects),
        },
        files=tuple(files),
        not_included=(IDEMPOTENCY_GAP,) if student_id is None else (STUDENT_LAKE_GAP,),
    )
    manifest.write(out)
    access.audit.record(
        "export",
        school,
        stage=access.stage,
        student=bool(student_id),
        counts=manifest.counts,
        manifest_sha256=manifest.digest(),
        by=manifest.exported_by,
    )
    return manifest


def _file(root: Path, relative: str, records: int | None = None) -> ExportedFile:
    path = root / relative
    return ExportedFile(path=relative, sha256=sha256_of(path), bytes=path.stat().st_size, records=records)
