"""The analytics service's process: REST (uvicorn) and gRPC in one container, stopped cleanly on SIGTERM.

``python -m luca_analytics.entrypoints.main`` is the container's command in AWS and the child process
the local platform supervises. It is configured only by ``LUCA_*`` environment variables: the
service's own (``luca_analytics.config.AnalyticsSettings``) and this process's (``ProcessSettings``:
where REST listens, the ready file a supervisor waits for, log level and traces).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
import uvicorn

from luca_analytics.bootstrap import Container, bootstrap
from luca_analytics.config import AnalyticsSettings
from luca_analytics.entrypoints.grpc_server import create_server
from luca_analytics.entrypoints.rest import create_app
from luca_platform.process import announce_ready, flush_traces, listening_port, wait_for_stop_signal
from luca_platform.telemetry.logs import configure_logging
from luca_platform.telemetry.tracing import configure_tracing

SERVICE_NAME = "analytics"
log = logging.getLogger("luca.analytics")


@dataclass(frozen=True, slots=True)
class ProcessSettings:
    rest_host: str = "127.0.0.1"
    rest_port: int = 8082
    ready_file: str = ""  # written with the bound ports once both servers accept requests
    log_level: str = "INFO"
    otel_exporter: str = "none"  # "none", "file", "console" or "otlp" (the task's collector)
    otel_file_path: str = ""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ProcessSettings:
        env = os.environ if environ is None else environ
        exporter = env.get("LUCA_OTEL_EXPORTER", "none")
        if exporter not in {"none", "file", "console", "otlp"}:
            raise RuntimeError(f"LUCA_OTEL_EXPORTER must be none, file, console or otlp, not {exporter!r}")
        return cls(
            rest_host=env.get("LUCA_REST_HOST", "127.0.0.1"),
            rest_port=int(env.get("LUCA_REST_PORT", "8082")),
            ready_file=env.get("LUCA_READY_FILE", ""),
            log_level=env.get("LUCA_LOG_LEVEL", "INFO"),
            otel_exporter=exporter,
            otel_file_path=env.get("LUCA_OTEL_FILE_PATH", ""),
        )


@dataclass
class RunningService:
    """Both servers of one analytics process, started; ``stop()`` drains them."""

    rest: uvicorn.Server
    rest_thread: threading.Thread
    grpc_server: grpc.Server
    grpc_port: int

    @property
    def rest_port(self) -> int:
        return listening_port(self.rest)

    def stop(self, grace: float = 5.0) -> None:
        self.rest.should_exit = True
        self.grpc_server.stop(grace).wait(grace + 1)
        self.rest_thread.join(timeout=grace + 1)


def start(container: Container, settings: AnalyticsSettings, process: ProcessSettings) -> RunningService:
    """Start REST and gRPC in background threads (uvicorn installs no signal handlers off the main thread)."""
    app = create_app(container)
    if process.otel_exporter != "none":
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        provider = configure_tracing(
            service=SERVICE_NAME, exporter=process.otel_exporter, file_path=process.otel_file_path
        )
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=provider, excluded_urls="healthz", exclude_spans=["receive", "send"]
        )
    rest = uvicorn.Server(
        uvicorn.Config(
            app,
            host=process.rest_host,
            port=process.rest_port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )
    rest_thread = threading.Thread(target=rest.run, name="analytics-rest", daemon=True)
    rest_thread.start()
    server, port = create_server(
        container, address=f"{settings.grpc_host}:{settings.grpc_port}", workers=settings.grpc_workers
    )
    server.start()
    while not rest.started and rest_thread.is_alive():
        rest_thread.join(0.05)
    if not rest.started:
        server.stop(0)
        raise RuntimeError(f"REST server failed to start on {process.rest_host}:{process.rest_port}")
    running = RunningService(rest, rest_thread, server, port)
    log.info("analytics service ready", extra={"rest_port": running.rest_port, "grpc_port": port})
    return running


def main() -> None:
    process = ProcessSettings.from_environment()
    configure_logging(SERVICE_NAME, process.log_level)
    settings = AnalyticsSettings.from_environment()  # fails fast when incomplete
    with contextlib.ExitStack() as resources:
        running = start(bootstrap(settings), settings, process)
        resources.callback(flush_traces)
        resources.callback(running.stop)
        gc.freeze()  # start-up objects live as long as the process: keep them out of full collections
        if process.ready_file:
            announce_ready(Path(process.ready_file), rest_port=running.rest_port, grpc_port=running.grpc_port)
        wait_for_stop_signal(log)


if __name__ == "__main__":
    main()
