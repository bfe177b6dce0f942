"""The grading service's own CPU per request, and requests/s per vCPU, with the store out of the way.

``python -m bench.capacity.cpu [--seconds 20] [--json]``: starts the grading service's REST app under
uvicorn in a child process pinned to one core (``os.sched_setaffinity``), over the service's own
in-memory fake repositories (``services/grading/tests/grading_fakes.py``, indexed as the table's keys
index the grades: ``grading_app.indexed_fakes``), with telemetry on as in
its container (JSON logs, a span per request and per store call exported to a file, EMF metrics)
and the real RS256 token check on every request. This process, pinned to the other core, seeds the
school through the API and then drives a mixed teacher workload (``bench.interactive``'s: 40% record
a grade, 30% a student's evaluations, 20% a course's grades, 10% a grading rule) with enough
requests in flight to keep that core busy. The server's CPU time over the window (from
``/proc/<pid>/stat``) divided by the requests answered is its CPU per request; its inverse is the
requests/s one fully busy vCPU serves. The server's peak resident memory (``VmHWM``) is what a
task's memory must hold for the service (its collector sidecar aside).

The grades the workload records go into a second term of the course, so the reads stay at the
seeded school's size (90 grades a course read, 9 a student's: a class of 30 with three subjects), as
a real course's reads do; the figure is the service's per-request cost at that size and the one the
capacity model sizes tasks with. ``--growing-reads`` records them into the term it reads instead: a
course-grades read then grows from 90 grades to about 1,500 in 20 s, and the figure falls with the
run's length and the server's own speed (a stress of the read path, not a sizing figure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.capacity import grading_app

MIX = (
    ("record a grade", 0.4),
    ("read: student's evaluations", 0.3),
    ("read: course grades", 0.2),
    ("read: grading rule", 0.1),
)
IN_FLIGHT = 8


def pin(core: int) -> None:
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[core % len(cores)]})


def bare_app() -> Any:
    """The framework alone: the mix's four routes answering canned bodies, no token check, no
    telemetry, no store; what the service's own work is measured against."""
    from fastapi import FastAPI, Request

    app = FastAPI()
    evaluation = {"evaluation_id": "e", "student_id": "st", "score": "6.1", "version": 1}

    @app.post("/v1/evaluations", status_code=201)
    async def record(request: Request) -> dict[str, Any]:
        return {**evaluation, **(await request.json())}

    @app.get("/v1/students/{student_id}/evaluations")
    def student(student_id: str, term_id: str | None = None) -> dict[str, Any]:
        return {"evaluations": [evaluation] * 3, "averages": []}

    @app.get("/v1/courses/{course_id}/terms/{term_id}/grades")
    def course(course_id: str, term_id: str, subject_id: str | None = None) -> dict[str, Any]:
        return {"evaluations": [evaluation] * 30, "averages": []}

    @app.get("/v1/grading-rules/{subject_id}")
    def rule(subject_id: str) -> dict[str, Any]:
        return {"subject_id": subject_id, "scale": "chile"}

    return app


def serve(port_file: Path, telemetry_dir: Path, bare: bool = False) -> None:
    """The server side: one core, fake store, telemetry on, real token check (or the bare app)."""
    pin(0)
    import uvicorn

    if bare:
        _run(uvicorn, bare_app(), port_file, {"bare": True})
        return

    from luca_platform.serving import instrument_rest
    from luca_platform.telemetry.logs import configure_logging
    from luca_platform.telemetry.tracing import configure_tracing

    built = grading_app.build(region="us-east-1", table="unused", endpoint=None, tenant_role=None, fake=True)
    log = (telemetry_dir / "logs.jsonl").open("a", encoding="utf-8")
    configure_logging("grading", "INFO", stream=log)
    provider = configure_tracing(service="grading", exporter="file", file_path=telemetry_dir / "traces.jsonl")
    instrument_rest(built.app, provider)
    # The mint's private key goes to the driver, which signs the tokens this server verifies.
    from cryptography.hazmat.primitives import serialization

    pem = built.mint.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _run(uvicorn, built.app, port_file, {"key": pem.decode(), "kid": built.mint.kid})


def _run(uvicorn: Any, app: Any, port_file: Path, announce: dict[str, Any]) -> None:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        port_file.write_text(json.dumps({"port": port, **announce}))
        await task

    # The loop the service's container runs (uvicorn's choice: uvloop when installed), not asyncio's.
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(run())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (``VmHWM``): what a task's memory must hold for the service."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def drive(
    base: str, mint: Any, seconds: float, pid: int, progress: bool, steady_reads: bool = False
) -> dict[str, Any]:
    if mint is None:  # the bare app: no tokens, nothing to seed
        headers: dict[str, dict[str, str]] = {"admin": {}, "teacher": {}}
    else:
        signer: Any = grading_app.Built(None, None, mint, None)  # type: ignore[arg-type]
        headers = {role: signer.bearer(role) for role in ("admin", "teacher")}
    async with httpx.AsyncClient(
        base_url=base, timeout=30, limits=httpx.Limits(max_connections=IN_FLIGHT)
    ) as client:
        extra_terms = (grading_app.RECORD_TERM_STEADY,) if steady_reads else ()
        for role, method, path, body, extra in grading_app.seed_requests(30, 3, extra_terms) if mint else ():
            response = await client.request(method, path, json=body, headers={**headers[role], **extra})
            if response.status_code >= 300:
                raise SystemExit(f"seeding {path}: {response.status_code} {response.text}")
        workload = grading_app.Workload(grading_app.students(30))
        if steady_reads:
            workload.record_term = grading_app.RECORD_TERM_STEADY

        async def course_read_size() -> float | None:
            """The grades a course-grades read answers (mean over the subjects): the workload records
            grades into the course it reads, so that read grows during the window."""
            if mint is None:
                return None
            sizes = []
            for n in range(len(grading_app.SUBJECTS)):
                role, method, path, _body, extra = workload.request("read: course grades", n)
                response = await client.request(method, path, headers={**headers[role], **extra})
                sizes.append(len(response.json()["evaluations"]))
            return round(sum(sizes) / len(sizes), 1)

        read_size_before = await course_read_size()
        rng = random.Random(3)
        counts: dict[str, int] = {}
        statuses: dict[int, int] = {}
        stop = time.monotonic() + seconds
        started_cpu, started = cpu_seconds(pid), time.monotonic()

        async def worker(n: int) -> None:
            i = n
            while time.monotonic() < stop:
                operation = rng.choices([m[0] for m in MIX], [m[1] for m in MIX])[0]
                role, method, path, body, extra = workload.request(operation, i)
                i += IN_FLIGHT
                response = await client.request(method, path, json=body, headers={**headers[role], **extra})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                counts[operation] = counts.get(operation, 0) + 1

        async def report() -> None:
            while time.monotonic() < stop:
                await asyncio.sleep(1)
                if progress:
                    left = max(0, stop - time.monotonic())
                    print(
                        f"\r  cpu: {sum(counts.values()):6d} requests, {left:4.0f} s left",
                        end="",
                        file=sys.stderr,
                        flush=True,
                    )

        await asyncio.gather(*(worker(n) for n in range(IN_FLIGHT)), report())
        used, wall = cpu_seconds(pid) - started_cpu, time.monotonic() - started
        read_size_after = await course_read_size()
    if progress:
        print(file=sys.stderr)
    requests = sum(counts.values())
    return {
        "requests": requests,
        "mix": counts,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "wall_seconds": round(wall, 2),
        "server_cpu_seconds": round(used, 3),
        "server_core_busy": round(used / wall, 3),
        "cpu_ms_per_request": round(1000 * used / requests, 3),
        "requests_per_second_per_vcpu": round(requests / used, 1),
        "throughput_rps_on_one_core": round(requests / wall, 1),
        "steady_reads": steady_reads,
        "course_read_grades_before": read_size_before,
        "course_read_grades_after": read_size_after,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", action="store_true", help="print one JSON line (for bench.capacity)")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also measure the bare framework with the same routes, and print both figures",
    )
    parser.add_argument(
        "--growing-reads",
        action="store_true",
        help="record the grades into the term the reads read, so every read grows as the run goes "
        "(by default they go to a second term and the reads keep the seeded course's size)",
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.serve:
        with tempfile.TemporaryDirectory(prefix="luca-cpu-") as scratch:
            serve(opts.serve, Path(scratch), bare=opts.bare)
        return 0
    figures = measure_server(opts.seconds, bare=False, steady_reads=not opts.growing_reads)
    if opts.baseline:
        bare = measure_server(opts.seconds, bare=True)
        figures["bare_framework_requests_per_second_per_vcpu"] = bare["requests_per_second_per_vcpu"]
        print(
            f"grading service: {figures['requests_per_second_per_vcpu']} requests/s per vCPU "
            f"(telemetry on, RS256 tokens, fake store); bare framework, same routes: "
            f"{bare['requests_per_second_per_vcpu']} requests/s per vCPU",
            file=sys.stderr,
        )
    if opts.json:
        print(json.dumps(figures))
    else:
        print(json.dumps(figures, indent=2))
    return 0


def measure_server(seconds: float, *, bare: bool, steady_reads: bool = True) -> dict[str, Any]:
    """Start the server pinned to one core, drive it from the other, return the figures."""
    with tempfile.TemporaryDirectory(prefix="luca-cpu-") as scratch:
        port_file = Path(scratch) / "port.json"
        command = [sys.executable, "-m", "bench.capacity.cpu", "--serve", str(port_file)]
        server = subprocess.Popen([*command, "--bare"] if bare else command)
        try:
            deadline = time.monotonic() + 60
            while not port_file.exists() or not port_file.read_text():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.1)
            ready = json.loads(port_file.read_text())
            mint = None
            if not bare:
                from cryptography.hazmat.primitives import serialization

                from luca_testing.tokens import TokenMint

                key: Any = serialization.load_pem_private_key(ready["key"].encode(), None)
                mint = TokenMint(key=key, kid=ready["kid"])
            pin(1)
            base = f"http://127.0.0.1:{ready['port']}"
            figures = asyncio.run(drive(base, mint, seconds, server.pid, True, steady_reads))
            figures["server_peak_rss_mib"] = peak_rss_mib(server.pid)
            return figures
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
