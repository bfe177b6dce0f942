"""The grading service's process: REST (uvicorn) and gRPC in one container, stopped cleanly on SIGTERM.

``python -m luca_grading.entrypoints.main`` is the container's command in AWS and the child process
the local platform supervises; both configure it only through ``LUCA_*`` environment variables.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc
import uvicorn

from luca_grading.bootstrap import Container, bootstrap
from luca_grading.config import GradingSettings
from luca_grading.entrypoints.grpc_server import create_server
from luca_grading.entrypoints.rest import create_app
from luca_platform.process import announce_ready, flush_traces, listening_port, wait_for_stop_signal
from luca_platform.telemetry.logs import configure_logging
from luca_platform.telemetry.tracing import configure_tracing

log = logging.getLogger("luca.grading")


@dataclass
class RunningService:
    """Both servers of one grading process, started; ``stop()`` drains them."""

    container: Container
    rest: uvicorn.Server
    rest_thread: threading.Thread
    grpc_server: grpc.Server
    grpc_port: int

    @property
    def rest_port(self) -> int:
        """The port REST listens on (what a configured port 0 turned into)."""
        return listening_port(self.rest)

    def stop(self, grace: float = 5.0) -> None:
        self.rest.should_exit = True
        self.grpc_server.stop(grace).wait(grace + 1)
        self.rest_thread.join(timeout=grace + 1)


def start(container: Container) -> RunningService:
    """Start REST and gRPC in background threads (uvicorn installs no signal handlers off the main thread)."""
    settings = container.settings
    provider = configure_tracing(
        service=settings.service_name, exporter=settings.otel_exporter, file_path=settings.otel_file_path
    )
    app = create_app(container)
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # One server span per request; the per-ASGI-message "http send/receive" child spans add cost to
    # every request and say nothing the server span and the botocore spans do not.
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="healthz", exclude_spans=["receive", "send"]
    )
    config = uvicorn.Config(
        app,
        host=settings.rest_host,
        port=settings.rest_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    rest = uvicorn.Server(config)
    rest_thread = threading.Thread(target=rest.run, name="grading-rest", daemon=True)
    rest_thread.start()
    server, port = create_server(container)
    server.start()
    while not rest.started and rest_thread.is_alive():
        rest_thread.join(0.05)
    if not rest.started:
        server.stop(0)
        raise RuntimeError(f"REST server failed to start on {settings.rest_host}:{settings.rest_port}")
    running = RunningService(container, rest, rest_thread, server, port)
    log.info("grading service ready", extra={"rest_port": running.rest_port, "grpc_port": port})
    return running


def main() -> None:
    settings = GradingSettings()  # type: ignore[call-arg]  # from the environment; fails fast when incomplete
    configure_logging(settings.service_name, settings.log_level)
    with contextlib.ExitStack() as resources:
        metrics_sink = None
        if settings.metrics_file_path:
            metrics_sink = resources.enter_context(open(settings.metrics_file_path, "a", encoding="utf-8"))
        running = start(bootstrap(settings, metrics_sink=metrics_sink))
        resources.callback(flush_traces)
        resources.callback(running.stop)
        # Start-up objects (modules, clients, keys) live as long as the process: keep them out of
        # the collector's full passes, which otherwise pause requests in proportion to the heap.
        gc.freeze()
        if settings.ready_file:
            announce_ready(
                Path(settings.ready_file), rest_port=running.rest_port, grpc_port=running.grpc_port
            )
        wait_for_stop_signal(log)


if __name__ == "__main__":
    main()
