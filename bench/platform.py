"""Start the local platform for a benchmark, in a child process with its own interpreter lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from luca_infra.local.platform_config import PlatformState


def start_platform(
    state_dir: Path,
    *,
    log_level: str = "WARNING",
    timeout: float = 120.0,
    snapshot_interval: float | None = None,  # None: the platform's default
) -> tuple[subprocess.Popen[bytes], PlatformState, Path]:
    """``luca up`` on free ports; its output goes to ``state_dir/platform.log`` (never an unread pipe)."""
    # Every port free (0): a fixed one may be taken, even by a client's ephemeral port in TIME_WAIT.
    ports = ("--port", "--rest-port", "--grpc-port", "--emulator-port", "--sync-grpc-port",
             "--analytics-rest-port", "--analytics-grpc-port")  # fmt: skip
    command = [
        sys.executable, "-m", "luca_infra.cli", "up", *(arg for port in ports for arg in (port, "0")),
        "--state-dir", str(state_dir), "--log-level", log_level,
    ]  # fmt: skip
    if snapshot_interval is not None:
        command += ["--snapshot-interval", str(snapshot_interval)]
    log_path = state_dir / "platform.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    print("starting the local platform ", end="", flush=True)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise SystemExit(f"platform exited:\n{tail}")
        try:
            state = PlatformState.read(state_dir)
            print(" ready")
            return process, state, log_path
        except FileNotFoundError:
            print(".", end="", flush=True)
            time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"the platform did not become ready in {timeout:.0f} s")


def stop_platform(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
