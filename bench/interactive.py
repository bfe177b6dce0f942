"""Interactive-path benchmark: N concurrent teachers through the gateway, against the raw emulator.

A command, not a test. It starts the local platform in a child process (so the load generator does
not share its interpreter lock), measures the emulator's raw GetItem/PutItem round trip from this
process, seeds each demo school with a class-sized roster and a term's history of grades (so reads
return what a real course returns, not a handful of items or an ever-growing pile on three
students), then lets N teachers (half per demo school) record and read grades with think time for a
fixed duration. It prints p50/p95/p99 per school and operation with the ratio to the raw round
trip, judges the p95 objective both in milliseconds and as that ratio (see ``REFERENCE_RAW_MS``),
and writes ``bench/out/interactive.json`` and a histogram ``bench/out/interactive.png``.

The workload, per teacher request: 40% record a grade, 30% a student's evaluations for the term,
20% the course's grades in the teacher's subject for the term, 10% a grading rule. Think time is
exponential with a 2 s mean: each of the 50 teachers acts every 2 s on average, far above a
classroom's pace (typing a grade takes longer), so the default offers about 25 requests/s.

    python -m bench.interactive [--teachers 50] [--seconds 30] [--think-ms 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
import httpx

from bench.platform import start_platform, stop_platform
from luca_infra.local.demo import DEMO_PASSWORD, DEMO_SCHOOLS, DemoSchool, id_token
from luca_infra.local.platform_config import PlatformState
from luca_platform.contracts import roster as roster_contract
from luca_platform.table import keys

OUT = Path(__file__).resolve().parent / "out"
OBJECTIVE_MS = 120.0
# The objective is for this kind of machine, whose raw emulator round trip the local-engine notes
# measured at 2.6 ms p50. These machines are shared and their speed drifts (the same round trip has
# measured 6-8 ms since), so the run also judges the objective as a multiple of the raw round trip it
# measures itself: a slower machine only makes that ratio harder to meet, since its queues are longer.
REFERENCE_RAW_MS = 2.6
OBJECTIVE_RATIO = OBJECTIVE_MS / REFERENCE_RAW_MS


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def raw_round_trips(state: PlatformState, samples: int) -> dict[str, list[float]]:
    """The emulator's own GetItem/PutItem latency over HTTP from this process (the floor)."""
    client = boto3.client("dynamodb", region_name=state.region, endpoint_url=state.emulator_url)
    results: dict[str, list[float]] = {"PutItem": [], "GetItem": []}
    key = {
        keys.TABLE_PARTITION_KEY: {"S": roster_contract.student_pk("bench-raw", "probe")},
        keys.TABLE_SORT_KEY: {"S": "PROBE"},
    }
    for i in range(samples):
        started = time.perf_counter()
        client.put_item(TableName=state.table_name, Item={**key, "n": {"N": str(i)}})
        results["PutItem"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        client.get_item(TableName=state.table_name, Key=key)
        results["GetItem"].append((time.perf_counter() - started) * 1000)
    client.delete_item(TableName=state.table_name, Key=key)
    return results


def roster(school: DemoSchool, size: int) -> list[str]:
    return [f"bench-{school.school_id[-1]}-{n:03d}" for n in range(size)]


def random_score(school: DemoSchool, rng: random.Random) -> str:
    if school.default_rule and school.default_rule.get("scale") == "percentage":
        return str(rng.randint(40, 100))
    return f"{rng.randint(10, 70) / 10:.1f}"


async def seed(state: PlatformState, tokens: dict[str, dict[str, str]], students: int, history: int) -> int:
    """A class-sized roster per school and ``history`` grades per student and subject for the term.

    Straight to the grading service, as the platform seeds its demo data: an operator's job that
    must not spend the schools' request budget at the gateway.
    """
    rng = random.Random(7)
    calls: list[tuple[str, str, str, dict[str, Any], dict[str, str]]] = []
    for school in DEMO_SCHOOLS:
        for student in roster(school, students):
            body = {"course_id": school.course_id, "display_name": f"Student {student}"}
            calls.append((school.school_id, "admin", f"/v1/students/{student}", body, {}))
    grades: list[tuple[str, str, str, dict[str, Any], dict[str, str]]] = []
    for school in DEMO_SCHOOLS:
        for student in roster(school, students):
            for subject in school.subjects:
                for number in range(history):
                    body = {"student_id": student, "course_id": school.course_id, "subject_id": subject,
                            "term_id": school.current_term_id, "score": random_score(school, rng)}  # fmt: skip
                    key = {"Idempotency-Key": f"bench-seed-{student}-{subject}-{number}"}
                    grades.append((school.school_id, "teacher", "/v1/evaluations", body, key))
    done = 0
    total = len(calls) + len(grades)
    async with httpx.AsyncClient(base_url=state.grading_rest_url, timeout=30, trust_env=False) as client:

        async def run(batch: list[tuple[str, str, str, dict[str, Any], dict[str, str]]], method: str) -> None:
            nonlocal done
            gate = asyncio.Semaphore(8)

            async def one(
                school_id: str, role: str, path: str, body: dict[str, Any], extra: dict[str, str]
            ) -> None:
                nonlocal done
                async with gate:
                    headers = {"Authorization": f"Bearer {tokens[school_id][role]}", **extra}
                    response = await client.request(method, path, json=body, headers=headers)
                if response.status_code >= 300:
                    raise SystemExit(f"seeding {method} {path}: {response.status_code} {response.text}")
                done += 1
                if done % 50 == 0 or done == total:
                    print(f"\r  seeded {done}/{total}", end="", flush=True)

            await asyncio.gather(*(one(*call) for call in batch))

        await run(calls, "PUT")
        await run(grades, "POST")
    print()
    return len(grades)


async def teacher(
    client: httpx.AsyncClient, school: DemoSchool, students: list[str], token: str, until: float,
    think_ms: float, samples: dict[tuple[str, str], list[float]], statuses: dict[int, int],
    rng: random.Random,
) -> None:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    subject = rng.choice(list(school.subjects))  # the subject this teacher teaches
    while time.monotonic() < until:
        await asyncio.sleep(rng.expovariate(1000 / think_ms))
        if time.monotonic() >= until:
            break  # only requests issued inside the window count
        student = rng.choice(students)
        roll = rng.random()
        if roll < 0.4:
            operation = "record grade"
            body = {"student_id": student, "course_id": school.course_id, "subject_id": subject,
                    "term_id": school.current_term_id, "score": random_score(school, rng)}  # fmt: skip
            request = client.post(
                "/v1/evaluations", json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
            )
        elif roll < 0.7:
            operation = "student evaluations"
            request = client.get(
                f"/v1/students/{student}/evaluations",
                params={"term_id": school.current_term_id},
                headers=headers,
            )
        elif roll < 0.9:
            operation = "course grades"
            request = client.get(
                f"/v1/courses/{school.course_id}/terms/{school.current_term_id}/grades",
                params={"subject_id": subject},
                headers=headers,
            )
        else:
            operation = "grading rule"
            request = client.get(f"/v1/grading-rules/{subject}", headers=headers)
        started = time.perf_counter()
        response = await request
        elapsed = (time.perf_counter() - started) * 1000
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code < 400:
            samples[(school.school_id, operation)].append(elapsed)


async def load(
    state: PlatformState, tokens: dict[str, str], students: int, teachers: int, seconds: float,
    think_ms: float,
) -> Any:  # fmt: skip
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=teachers, max_keepalive_connections=teachers)
    async with httpx.AsyncClient(base_url=state.gateway_url, limits=limits, timeout=30) as client:
        until = time.monotonic() + seconds
        progress = asyncio.create_task(report_progress(samples, until))
        await asyncio.gather(
            *(
                teacher(
                    client,
                    school,
                    roster(school, students),
                    tokens[school.school_id],
                    until,
                    think_ms,
                    samples,
                    statuses,
                    random.Random(i),
                )
                for i in range(teachers)
                for school in [DEMO_SCHOOLS[i % len(DEMO_SCHOOLS)]]
            )
        )
        progress.cancel()
    print()
    return samples, statuses


async def report_progress(samples: dict[tuple[str, str], list[float]], until: float) -> None:
    while True:
        done = sum(len(v) for v in samples.values())
        left = max(0.0, until - time.monotonic())
        print(f"\r  {done:6d} requests answered, {left:4.0f} s left", end="", flush=True)
        await asyncio.sleep(1)


def plot(per_school: dict[str, list[float]], raw: list[float], path: Path) -> None:
    raw_p50 = percentile(raw, 50)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    top = max(max(v) for v in per_school.values())
    bins = [i * top / 60 for i in range(61)]
    for school, values in per_school.items():
        ax.hist(values, bins=bins, alpha=0.55, label=f"{school} (n={len(values)})")
    ax.axvline(OBJECTIVE_MS, color="red", linestyle="--", label=f"objective p95 < {OBJECTIVE_MS:.0f} ms")
    ax.axvline(
        OBJECTIVE_RATIO * raw_p50,
        color="darkred",
        linestyle="-.",
        label=f"objective at this run's emulator speed ({OBJECTIVE_RATIO:.0f}x raw p50)",
    )
    ax.axvline(statistics.median(raw), color="black", linestyle=":", label="raw emulator round trip p50")
    ax.set_xlabel("latency through the gateway (ms)")
    ax.set_ylabel("requests")
    ax.set_title("Interactive path: concurrent teachers, local platform")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teachers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--think-ms", type=float, default=2000.0, help="mean pause between a teacher's requests"
    )
    parser.add_argument("--students", type=int, default=30, help="students per school (one course each)")
    parser.add_argument("--history", type=int, default=5, help="seeded grades per student and subject")
    parser.add_argument("--raw-samples", type=int, default=300)
    parser.add_argument(
        "--snapshot-interval",
        type=float,
        default=None,
        help="the platform's durable-state snapshot interval in seconds (0: only at stop; default: luca up's)",
    )
    opts = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    # The emulator accepts any keys; only set them when the shell has none.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "emulator")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "emulator")
    with tempfile.TemporaryDirectory(prefix="luca-bench-") as scratch:
        process, state, _ = start_platform(Path(scratch), snapshot_interval=opts.snapshot_interval)
        try:
            cognito = boto3.client("cognito-idp", region_name=state.region, endpoint_url=state.emulator_url)
            tokens = {
                school: {
                    role: id_token(
                        cognito, state.user_pool_id, state.user_pool_client_id, users[role], DEMO_PASSWORD
                    )
                    for role in ("teacher", "admin")
                }
                for school, users in state.users.items()
            }
            print(f"seeding {opts.students} students per school, {opts.history} grades each per subject")
            seeded = asyncio.run(seed(state, tokens, opts.students, opts.history))
            print(f"raw emulator round trip: {opts.raw_samples} PutItem + GetItem")
            raw = raw_round_trips(state, opts.raw_samples)
            print(
                f"load: {opts.teachers} teachers for {opts.seconds:.0f} s, mean think time {opts.think_ms:.0f} ms"
            )
            started = time.monotonic()
            teacher_tokens = {school: roles["teacher"] for school, roles in tokens.items()}
            samples, statuses = asyncio.run(
                load(state, teacher_tokens, opts.students, opts.teachers, opts.seconds, opts.think_ms)
            )
            wall = time.monotonic() - started
        finally:
            stop_platform(process)
    raw_all = raw["GetItem"] + raw["PutItem"]
    raw_p50 = percentile(raw_all, 50)
    per_school: dict[str, list[float]] = defaultdict(list)
    for (school, _), values in samples.items():
        per_school[school].extend(values)
    report = {
        "teachers": opts.teachers,
        "think_ms": opts.think_ms,
        "students_per_school": opts.students,
        "seeded_grades": seeded,
        "seconds": opts.seconds,
        "wall_seconds": round(wall, 1),
        "offered_rps": round(opts.teachers * 1000 / opts.think_ms, 1),
        "throughput_rps": round(sum(len(v) for v in per_school.values()) / opts.seconds, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "raw_emulator_ms": {op: summary(v) for op, v in raw.items()},
        "per_school_ms": {school: summary(v) for school, v in per_school.items()},
        "per_operation_ms": {f"{s} / {op}": summary(v) for (s, op), v in sorted(samples.items())},
        "objective_p95_ms": OBJECTIVE_MS,
        "objective_reference_raw_ms": REFERENCE_RAW_MS,
        "objective_p95_over_raw_p50": round(OBJECTIVE_RATIO, 1),
        "worst_p95_over_raw_p50": round(max(summary(v)["p95"] for v in per_school.values()) / raw_p50, 1),
    }
    (OUT / "interactive.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(per_school, raw_all, OUT / "interactive.png")

    print(f"\nraw emulator round trip (same run): GetItem p50 {summary(raw['GetItem'])['p50']:.1f} ms, "
          f"PutItem p50 {summary(raw['PutItem'])['p50']:.1f} ms")  # fmt: skip
    print(
        f"offered ~{report['offered_rps']} req/s, answered {report['throughput_rps']} req/s; "
        f"statuses {report['statuses']}"
    )
    print(f"{'':34s} {'n':>6s} {'p50':>7s} {'p95':>7s} {'p99':>7s} {'p95/raw p50':>12s}")
    rows = [(s, per_school[s]) for s in sorted(per_school)] + [
        (f"  {s} / {op}", v) for (s, op), v in sorted(samples.items())
    ]
    for name, values in rows:
        stats = summary(values)
        print(f"{name:34s} {stats['count']:6.0f} {stats['p50']:7.1f} {stats['p95']:7.1f} {stats['p99']:7.1f} "
              f"{stats['p95'] / raw_p50:11.1f}x")  # fmt: skip
    worst = max(summary(v)["p95"] for v in per_school.values())
    print(
        f"\nworst per-school p95 {worst:.1f} ms vs objective {OBJECTIVE_MS:.0f} ms: "
        f"{'met' if worst < OBJECTIVE_MS else 'MISSED'} in absolute terms"
    )
    print(
        f"normalized to the emulator's speed in this run (raw p50 {raw_p50:.1f} ms, against "
        f"{REFERENCE_RAW_MS} ms in the local-engine notes): p95 = {worst / raw_p50:.1f}x raw vs objective {OBJECTIVE_RATIO:.1f}x: "
        f"{'met' if worst / raw_p50 < OBJECTIVE_RATIO else 'MISSED'}"
    )
    print(f"wrote {OUT / 'interactive.json'} and {OUT / 'interactive.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
