"""The interactive path's operations, each run through the grading service's REST app over the
platform's table with its per-school credentials, every DynamoDB call metered."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from rich.progress import Progress

from bench.capacity import grading_app
from bench.capacity.meter import Meter

OPERATIONS = (
    "record a grade",
    "record a behaviour note",
    "read: student's evaluations",
    "read: course grades",
    "read: grading rule",
    "read: behaviour profile",
    "read: course roster",
    "read: one evaluation",
    "read: grade history",
    "correct a grade",
)


def seed(
    client: TestClient, built: grading_app.Built, students: int, history: int, progress: Progress
) -> None:
    requests = list(grading_app.seed_requests(students, history))
    task = progress.add_task("seed the school (REST)", total=len(requests))
    for role, method, path, body, headers in requests:
        response = client.request(method, path, json=body, headers={**built.bearer(role), **headers})
        if response.status_code >= 300:
            raise SystemExit(f"seeding {method} {path}: {response.status_code} {response.text}")
        progress.advance(task)


def known_evaluations(
    client: TestClient, built: grading_app.Built, roster: list[str]
) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for student in roster:
        path = f"/v1/students/{student}/evaluations?term_id={grading_app.TERM}"
        body = client.get(path, headers=built.bearer("teacher")).json()
        found = [(e["evaluation_id"], f'"v{e.get("version", 1)}"') for e in body.get("evaluations", [])]
        out[student] = found
    return out


def run(
    meter: Meter, built: grading_app.Built, *, students: int, history: int, repeat: int, progress: Progress
) -> dict[str, Any]:
    """Seed the school, then ``repeat`` requests of every operation, each metered under its name."""
    with TestClient(built.app) as client:
        seed(client, built, students, history, progress)
        workload = grading_app.Workload(grading_app.students(students))
        workload.evaluations = known_evaluations(client, built, workload.roster)
        task = progress.add_task("interactive operations", total=len(OPERATIONS) * repeat)
        statuses: dict[str, dict[int, int]] = {}
        for operation in OPERATIONS:
            seen: dict[int, int] = {}
            for n in range(repeat):
                role, method, path, body, headers = workload.request(operation, n)
                with meter.operation(operation):
                    response = client.request(
                        method, path, json=body, headers={**built.bearer(role), **headers}
                    )
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                if operation == "correct a grade" and response.status_code < 300:
                    student = workload.roster[n % len(workload.roster)]
                    evaluation, _ = workload.evaluations[student][0]
                    workload.evaluations[student][0] = (evaluation, response.headers.get("ETag", ""))
                progress.advance(task)
            statuses[operation] = seen
    bad = {op: s for op, s in statuses.items() if any(code >= 300 for code in s)}
    if bad:
        raise SystemExit(f"interactive operations answered errors: {bad}")
    return {"requests_per_operation": repeat, "students": students, "history_per_subject": history}
