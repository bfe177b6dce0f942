"""What every service process of the platform does around its servers, whatever they serve.

A supervisor (the local platform; in AWS, ECS) starts the process, waits for its ready file, and
stops it with SIGTERM. Shared by the grading and analytics processes and the local stand-ins.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any


def announce_ready(path: Path, **ports: int) -> None:
    """Write this process's bound ports for a supervisor, atomically: a reader never sees half a file."""
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps({"pid": os.getpid(), **ports}), encoding="utf-8")
    scratch.replace(path)


def listening_port(server: Any) -> int:
    """The port a started uvicorn server listens on (what a configured port 0 turned into)."""
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the REST server is not listening")


def wait_for_stop_signal(log: logging.Logger) -> None:
    """Block until SIGTERM or SIGINT (call from the main thread)."""
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stopping", extra={"signal": signum})
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopped.wait()


def flush_traces() -> None:
    """Export the spans still buffered, if a tracer provider that buffers is installed."""
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if callable(flush):
        flush()
