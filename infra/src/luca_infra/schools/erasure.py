"""``luca schools delete``: erase a school everywhere, only after a confirmed export of it.

Before anything is touched:
- the manifest names this school and this stage, covers the whole school, and every file beside it
  still has its checksum;
- the school holds what the export holds (as many table items, users and lake objects): anything
  written since would be lost unexported;
- no government sync of the school is running (its executions would write the school back).

Then, edge first so the school's traffic stops being accepted: its API key (out of its usage plan,
then deleted), its users, its alarm, its place in the sync schedule, its table items (as the school,
through the tenant role), its lake objects (every version). Last, an audit record outside every
school's keys (``audit``). Each step finds what an interrupted earlier run left, so a rerun with the
same manifest finishes the job (once the table is empty, the item count is checked against zero).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from luca_infra.schools import sync_schools
from luca_infra.schools.audit import caller
from luca_infra.schools.manifest import Manifest
from luca_infra.schools.progress import Reporter, Silent
from luca_infra.schools.stage_access import StageAccess


class ErasureRefused(Exception):
    pass


@dataclass
class ErasureResult:
    school_id: str
    counts: dict[str, int] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)


def running_syncs(access: StageAccess, school: str) -> list[str]:
    """The names of the school's government-sync executions that are running now."""
    machine = access.target.resources.govsync_state_machine_arn
    if not machine:
        return []
    sfn = access.client("stepfunctions")
    # Every execution of the school is named govsync-<school>-<period>[-...] (a school id is at most
    # 40 characters, so the name is never shortened to a digest); the name narrows the candidates,
    # the input decides (school "a" is a prefix of school "a-b"'s names).
    prefix = f"govsync-{school}-"
    found = []
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, statusFilter="RUNNING")
    for page in pages:
        for execution in page.get("executions", []):
            if not str(execution["name"]).startswith(prefix):
                continue
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            try:
                named = json.loads(described.get("input") or "{}").get("school_id")
            except ValueError:
                named = None
            if named == school and described.get("status") == "RUNNING":
                found.append(str(execution["name"]))
    return found


def check(
    access: StageAccess, school: str, manifest_path: Path
) -> tuple[Manifest, list[str], dict[str, int]]:
    """The manifest, the school's partitions and its current counts, or ``ErasureRefused`` saying why."""
    try:
        manifest = Manifest.read(manifest_path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ErasureRefused(f"cannot read the export manifest {manifest_path}: {exc}") from exc
    if manifest.school_id != school:
        raise ErasureRefused(f"the manifest is an export of {manifest.school_id}, not of {school}")
    if manifest.stage != access.stage:
        raise ErasureRefused(f"the manifest is an export from stage {manifest.stage}, not {access.stage}")
    if manifest.student_id is not None:
        raise ErasureRefused("the manifest is one student's export: export the whole school first")
    problems = manifest.problems(manifest_path.parent)
    if problems:
        raise ErasureRefused("the export's files do not match its manifest: " + "; ".join(problems[:5]))
    running = running_syncs(access, school)
    if running:
        raise ErasureRefused(
            f"a government sync of {school} is running ({', '.join(running)}): wait for it "
            f"(luca sync status --school {school} --period P) and export again"
        )
    table = access.table(school)
    identities = access.identities
    partitions = table.partitions(identities.student_ids(school))
    current = {
        "table_items": len(table.keys_of(partitions)),
        "users": sum(1 for _ in identities.users(school, groups=False)),
        "lake_objects": len(access.lake.objects(school)),
    }
    erased_already = current["table_items"] == 0
    for name, count in current.items():
        if count != manifest.counts.get(name) and not (erased_already and count == 0):
            raise ErasureRefused(
                f"the school holds {count} {name.replace('_', ' ')} now, the export "
                f"{manifest.counts.get(name)}: export it again"
            )
    return manifest, partitions, current


def erase(
    access: StageAccess, school: str, manifest_path: Path, *, reporter: Reporter | None = None
) -> ErasureResult:
    reporter = reporter or Silent()
    reporter.phase("checking the export")
    manifest, partitions, _current = check(access, school, manifest_path)
    result = ErasureResult(school)
    table = access.table(school)

    reporter.phase("edge: API key")
    result.counts["api_keys"] = int(access.edge.remove(school))
    users = [user.username for user in access.identities.users(school, groups=False)]
    reporter.phase("users", total=len(users))
    for username in users:
        access.identities.delete([username])
        reporter.advance()
    result.counts["users"] = len(users)
    reporter.phase("alarm")
    result.counts["alarms"] = int(access.alarm.remove(school))
    sync_schools.leave(access.client("ssm"), access.schools_parameter(), school)
    item_keys = table.keys_of(partitions)
    reporter.phase("table items", total=len(item_keys))
    result.counts["table_items"] = table.delete(item_keys, progress=reporter.advance)
    reporter.phase("lake objects")
    result.counts["lake_object_versions"] = access.lake.erase(school)
    result.audit = access.audit.record(
        "delete",
        school,
        stage=access.stage,
        manifest_sha256=manifest.digest(),
        exported_at=manifest.exported_at,
        exported_by=manifest.exported_by,
        erased=result.counts,
        not_erasable=list(manifest.not_included),
        by=caller(access.client("sts")),
    )
    return result
