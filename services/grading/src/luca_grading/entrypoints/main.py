"""The grading service's process: REST (uvicorn) and gRPC in one container, stopped cleanly on SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass

import grpc
import uvicorn

from luca_grading.bootstrap import Container, bootstrap
from luca_grading.config import GradingSettings
from luca_grading.entrypoints.grpc_server import create_server
from luca_grading.entrypoints.rest import create_app
from luca_grading.telemetry.logs import configure_logging
from luca_grading.telemetry.tracing import configure_tracing

log = logging.getLogger("luca.grading")


@dataclass
class RunningService:
    """Both servers of one grading process, started; ``stop()`` drains them."""

    container: Container
    rest: uvicorn.Server
    rest_thread: threading.Thread
    grpc_server: grpc.Server
    grpc_port: int

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

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="healthz")
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
    log.info("grading service ready", extra={"rest_port": settings.rest_port, "grpc_port": port})
    return RunningService(container, rest, rest_thread, server, port)


def main() -> None:
    settings = GradingSettings()  # type: ignore[call-arg]  # from the environment; fails fast when incomplete
    configure_logging(settings.service_name, settings.log_level)
    running = start(bootstrap(settings))
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stopping", extra={"signal": signum})
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopped.wait()
    running.stop()


if __name__ == "__main__":
    main()
