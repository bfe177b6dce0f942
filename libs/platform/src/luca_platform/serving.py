"""A service process's servers: REST (uvicorn) and/or gRPC started in background threads, announced
to a supervisor, drained on SIGTERM. The grading, analytics and government-sync processes all run
this way, in their containers and under the local platform alike."""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from luca_platform.process import announce_ready, flush_traces, listening_port, wait_for_stop_signal

REST_GRACE_SECONDS = 5


@dataclass
class RunningServers:
    """The servers of one process, started; ``stop()`` drains them."""

    grpc_server: grpc.Server
    grpc_port: int
    rest: Any | None = None  # uvicorn.Server
    rest_thread: threading.Thread | None = None

    @property
    def rest_port(self) -> int:
        """The port REST listens on (what a configured port 0 turned into)."""
        if self.rest is None:
            raise RuntimeError("this process serves no REST")
        return listening_port(self.rest)

    @property
    def ports(self) -> dict[str, int]:
        ports = {"grpc_port": self.grpc_port}
        if self.rest is not None:
            ports["rest_port"] = self.rest_port
        return ports

    def stop(self, grace: float = 5.0) -> None:
        if self.rest is not None:
            self.rest.should_exit = True
        self.grpc_server.stop(grace).wait(grace + 1)
        if self.rest_thread is not None:
            self.rest_thread.join(timeout=grace + 1)


def instrument_rest(app: Any, provider: Any) -> None:
    """One server span per request; the per-ASGI-message "http send/receive" child spans add cost to
    every request and say nothing the server span and the botocore spans do not."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="healthz", exclude_spans=["receive", "send"]
    )


def start_servers(
    *, name: str, grpc_server: grpc.Server, grpc_port: int, app: Any = None, host: str = "", port: int = 0
) -> RunningServers:
    """Start gRPC, and REST (``app`` on ``host:port``) in a thread: uvicorn installs no signal
    handlers off the main thread, so the process's own handler decides when to stop."""
    rest = rest_thread = None
    if app is not None:
        import uvicorn

        rest = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=REST_GRACE_SECONDS,
            )
        )
        rest_thread = threading.Thread(target=rest.run, name=f"{name}-rest", daemon=True)
        rest_thread.start()
    grpc_server.start()
    if rest is not None and rest_thread is not None:
        while not rest.started and rest_thread.is_alive():
            rest_thread.join(0.05)
        if not rest.started:
            grpc_server.stop(0)
            raise RuntimeError(f"REST server failed to start on {host}:{port}")
    return RunningServers(grpc_server, grpc_port, rest, rest_thread)


def serve_until_stopped(
    start: Callable[[], RunningServers],
    *,
    log: logging.Logger,
    ready_file: str | None,
    drain_seconds: float = 5.0,
) -> None:
    """Start, announce the bound ports to a supervisor (if it asked), and serve until SIGTERM/SIGINT;
    then drain the servers and flush the traces still buffered."""
    with contextlib.ExitStack() as resources:
        running = start()
        resources.callback(flush_traces)
        resources.callback(running.stop, drain_seconds)
        log.info("ready", extra=running.ports)
        # Start-up objects (modules, clients, keys) live as long as the process: keep them out of
        # the collector's full passes, which otherwise pause requests in proportion to the heap.
        gc.freeze()
        if ready_file:
            announce_ready(Path(ready_file), **running.ports)
        wait_for_stop_signal(log)
