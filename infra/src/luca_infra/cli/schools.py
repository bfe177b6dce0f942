"""``luca schools``: create a school, export everything about it (or one student), erase it.

    luca schools create SCHOOL --name NAME --enrolment N --admin-email EMAIL [--tier T] [--stage S]
    luca schools export SCHOOL --out DIR [--student ID] [--stage S]
    luca schools delete SCHOOL --export-manifest PATH [--yes] [--stage S]
    luca schools audit [--school SCHOOL] [--stage S]

An operator's commands (AWS credentials, the ``luca-operator`` role on a stage), never a school's
token. The use cases are in ``luca_infra.schools``; this module parses, asks and draws progress.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from luca_infra.cli.stage import add_target_arguments, resolve_or_report
from luca_infra.schools.edge import MissingUsagePlan
from luca_infra.schools.erasure import ErasureRefused, check, erase
from luca_infra.schools.export import ExportRefused, export
from luca_infra.schools.onboarding import STEPS, CreateRequest, Refused, create
from luca_infra.schools.stage_access import StageAccess

REFUSED = 2


def add_parser(commands: Any) -> None:
    schools = commands.add_parser("schools", help="a school's lifecycle: create, export, delete")
    sub = schools.add_subparsers(dest="schools_command")
    create_ = sub.add_parser("create", help="create a school: record, admin, edge key, rules, alarm")
    create_.add_argument("school_id", help="lower-case letters, digits and '-', e.g. liceo-7")
    create_.add_argument("--name", required=True)
    create_.add_argument("--enrolment", type=int, required=True, help="students enrolled (sets the tier)")
    create_.add_argument("--admin-email", required=True, help="the school's first admin (invited by mail)")
    create_.add_argument("--tier", help="the edge tier, instead of the enrolment's")
    add_target_arguments(create_)
    export_ = sub.add_parser(
        "export", help="everything held about a school (or one student), with a manifest"
    )
    export_.add_argument("school_id")
    export_.add_argument("--out", type=Path, required=True, help="a new or empty directory")
    export_.add_argument("--student", help="only this student's data (a data-access request)")
    add_target_arguments(export_)
    delete = sub.add_parser("delete", help="erase a school everywhere, after a confirmed export")
    delete.add_argument("school_id")
    delete.add_argument("--export-manifest", type=Path, required=True, help="the export's manifest.json")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_target_arguments(delete)
    audit = sub.add_parser("audit", help="the lifecycle's audit records (created, exported, erased)")
    audit.add_argument("--school", help="only this school's")
    add_target_arguments(audit)


class RichReporter:
    """Phases as rich progress bars (a bar per phase; a spinner-less line when there is no total)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def phase(self, name: str, total: int | None = None) -> None:
        self._finish()
        self._task = self._progress.add_task(name, total=total if total is not None else 1)

    def advance(self, count: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, count)

    def _finish(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[self._task]
            self._progress.update(self._task, completed=task.total)


def _bars(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def run(args: argparse.Namespace) -> int:
    out, err = Console(), Console(stderr=True)
    if args.schools_command is None:
        err.print("usage: luca schools {create,export,delete,audit} --help", markup=False)
        return REFUSED
    target = resolve_or_report(args, err)
    if isinstance(target, int):
        return target
    access = StageAccess(target)
    try:
        if args.schools_command == "create":
            return _create(access, args, out)
        if args.schools_command == "export":
            return _export(access, args, out, err)
        if args.schools_command == "delete":
            return _delete(access, args, out, err)
        return _audit(access, args, out)
    except (Refused, ExportRefused, ErasureRefused, MissingUsagePlan, ValueError) as exc:
        err.print(f"refused: {exc}", style="red", markup=False)
        return REFUSED


def _create(access: StageAccess, args: argparse.Namespace, out: Console) -> int:
    request = CreateRequest(
        school_id=args.school_id,
        name=args.name,
        enrolment=args.enrolment,
        admin_email=args.admin_email,
        tier=args.tier,
    )
    with _bars(out) as bars:
        task = bars.add_task(f"creating {args.school_id}", total=len(STEPS))
        result = create(access, request, on_step=lambda _step: bars.advance(task))
    verb = "finished (it had stopped half-way)" if result.resumed else "created"
    out.print(f"school {result.record.school_id} {verb} on stage {access.stage}", markup=False)
    for step, outcome in result.steps.items():
        out.print(f"  {step}: {outcome}", markup=False)
    return 0


def _export(access: StageAccess, args: argparse.Namespace, out: Console, err: Console) -> int:
    with _bars(err) as bars:
        manifest = export(
            access, args.school_id, args.out, student_id=args.student, reporter=RichReporter(bars)
        )
    who = f"student {args.student} of " if args.student else ""
    out.print(f"exported {who}{manifest.school_id} from {manifest.stage} to {args.out}", markup=False)
    for name, count in manifest.counts.items():
        out.print(f"  {name}: {count}", markup=False)
    for gap in manifest.not_included:
        out.print(f"  not included: {gap}", markup=False)
    out.print(f"manifest: {args.out / 'manifest.json'}", markup=False)
    return 0


def _delete(access: StageAccess, args: argparse.Namespace, out: Console, err: Console) -> int:
    # Checked before asking: the question is only put when the answer can be acted on.
    manifest, _partitions, current = check(access, args.school_id, args.export_manifest)
    if not args.yes:
        summary = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in current.items())
        answer = input(
            f"Erase school {args.school_id} from stage {access.stage} ({summary}; exported "
            f"{manifest.exported_at})? This cannot be undone. Type the school id to confirm: "
        )
        if answer.strip() != args.school_id:
            err.print("not confirmed: nothing erased", markup=False)
            return 1
    with _bars(err) as bars:
        result = erase(access, args.school_id, args.export_manifest, reporter=RichReporter(bars))
    out.print(f"school {args.school_id} erased from stage {access.stage}", markup=False)
    for name, count in result.counts.items():
        out.print(f"  {name}: {count}", markup=False)
    out.print(f"audit record in {access.audit.log_group}", markup=False)
    return 0


def _audit(access: StageAccess, args: argparse.Namespace, out: Console) -> int:
    for record in access.audit.records(args.school):
        out.print(json.dumps(record, sort_keys=True), markup=False, highlight=False, soft_wrap=True)
    return 0
