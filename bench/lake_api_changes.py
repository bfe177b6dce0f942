"""The teachers' changes to grades through the REST API (the gateway, with real tokens):
corrections and retractions with If-Match and an Idempotency-Key, and the refusals and replays that
must write nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import jwt
from rich.progress import Progress, TaskID

from bench.lake_workload import Change, Ledger, School, Step, teacher_of
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.demo import DemoIdentities
from luca_infra.local.platform import LocalPlatform


@dataclass
class ApiFigures:
    """What the teachers' changes cost and how the API answered."""

    answers: Counter[str] = field(default_factory=Counter)  # "PATCH 200", ...
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # by operation
    corrections: int = 0
    second_corrections: int = 0
    retractions: int = 0
    stale_refused: int = 0  # 412 for an If-Match naming a version no longer current
    unconditional_refused: int = 0  # 428 without If-Match
    replays_same: int = 0  # a retried key answered the same, writing nothing
    checked: int = 0  # grades on which those three were tried
    unexpected: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def teacher_tokens(platform: LocalPlatform, schools: Sequence[School]) -> dict[str, str]:
    """Each school's teacher as a Cognito user of the platform's pool, signed in: its ID token. The
    token's ``cognito:username`` is the actor id the service checks against the grades' teacher."""
    resources = platform.resources
    identities = DemoIdentities(
        cognito=platform.cognito(),
        user_pool_id=resources.user_pool_id,
        client_id=resources.user_pool_client_id,
        pool=PLATFORM_DEFINITION.user_pool,
    )
    tokens: dict[str, str] = {}
    for school in schools:
        username = identities.create_user(school.school_id, "teacher", teacher_of(school.school_id))
        token = identities.id_token(username)
        claims = jwt.decode(token, options={"verify_signature": False})
        if claims.get("cognito:username", claims.get("sub")) != teacher_of(school.school_id):
            raise SystemExit(f"the teacher token of {school.school_id} names another user: {claims}")
        tokens[school.school_id] = token
    return tokens


def apply_changes(
    gateway_url: str,
    tokens: dict[str, str],
    changes: Sequence[Change],
    ledger: Ledger,
    workers: int,
    progress: Progress,
    task: TaskID,
) -> ApiFigures:
    """Each school's changes by its teacher, through the gateway (``workers`` teachers at a time)."""
    figures = ApiFigures()
    by_school: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        by_school[change.school_id].append(change)

    def teacher(school_id: str) -> None:
        headers = {"Authorization": f"Bearer {tokens[school_id]}"}
        checked = False
        with httpx.Client(base_url=gateway_url, headers=headers, timeout=30, trust_env=False) as client:
            for change in by_school[school_id]:
                # The conditions are tried once a school, on a grade that is corrected first.
                conditions = not checked and change.steps[0].kind == "correct"
                checked = checked or conditions
                change_grade(client, change, ledger, figures, try_conditions=conditions)
                progress.advance(task)

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(teacher, sorted(by_school)))
    figures.wall_seconds = time.monotonic() - began
    return figures


def call(
    client: httpx.Client, figures: ApiFigures, operation: str, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    began = time.perf_counter()
    response = client.request(method, path, **kwargs)
    with figures.lock:
        figures.seconds[operation].append(time.perf_counter() - began)
        figures.answers[f"{method} {response.status_code}"] += 1
    return response


def change_grade(
    client: httpx.Client, change: Change, ledger: Ledger, figures: ApiFigures, *, try_conditions: bool
) -> None:
    """Read the grade (its ETag), then each step with If-Match and a fresh Idempotency-Key. With
    ``try_conditions`` (a grade whose first step is a correction) also the first step without
    If-Match (428), a change naming the version it replaced (412) and, last, the first step again
    with its key (the first answer): none of them may write anything."""
    path = f"/v1/students/{change.student}/evaluations/{change.evaluation_id}"

    def unexpected(what: str, response: httpx.Response) -> None:
        with figures.lock:
            figures.unexpected.append(
                f"{change.school_id} {change.evaluation_id} {what}: {response.status_code}"
            )

    def request(step: Step, headers: dict[str, str], operation: str = "") -> httpx.Response:
        method, target = ("POST", f"{path}/retraction") if step.kind == "retract" else ("PATCH", path)
        return call(client, figures, operation or step.kind, method, target, headers=headers, json=body(step))

    read = call(client, figures, "read", "GET", path)
    asked = ledger.grades[(change.school_id, change.evaluation_id)]
    if read.status_code != 200 or (read.json()["version"], Decimal(read.json()["score"])) != (1, asked.score):
        unexpected("read", read)
        return
    etag = read.headers["ETag"]
    first: tuple[Step, dict[str, str], dict[str, Any]] | None = None
    for number, step in enumerate(change.steps):
        headers = {"If-Match": etag, "Idempotency-Key": key()}
        if try_conditions and number == 0:
            bare = request(step, {"Idempotency-Key": key()}, "refused")
            with figures.lock:
                figures.unconditional_refused += bare.status_code == 428
        response = request(step, headers)
        if response.status_code != 200:
            unexpected(step.kind, response)
            return
        ledger.changed(change.school_id, change.evaluation_id, step)
        expected = ledger.grades[(change.school_id, change.evaluation_id)]
        answer = response.json()
        if values(answer) != (expected.version, expected.retracted, expected.score, expected.weight):
            unexpected(f"{step.kind} answered {answer}", response)
        etag = response.headers["ETag"]
        with figures.lock:
            if step.kind == "retract":
                figures.retractions += 1
            else:
                figures.corrections += 1
                figures.second_corrections += number > 0
        if try_conditions and number == 0:
            first = (step, headers, answer)
            stale = request(step, {"If-Match": read.headers["ETag"], "Idempotency-Key": key()}, "refused")
            with figures.lock:
                figures.stale_refused += stale.status_code == 412
    if first is not None:
        step, headers, answer = first
        replay = request(step, headers, "replay")
        with figures.lock:
            figures.checked += 1
            figures.replays_same += replay.status_code == 200 and values(replay.json()) == values(answer)


def values(answer: dict[str, Any]) -> tuple[Any, ...]:
    return answer["version"], answer["retracted"], Decimal(answer["score"]), Decimal(answer["weight"])


def key() -> str:
    return f"lake-bench-{uuid.uuid4().hex}"


def body(step: Step) -> dict[str, str]:
    found = {"reason": step.reason}
    if step.score is not None:
        found["score"] = str(step.score)
    if step.weight is not None:
        found["weight"] = str(step.weight)
    return found
