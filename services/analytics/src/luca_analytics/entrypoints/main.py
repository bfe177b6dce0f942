"""The analytics service's process: REST (uvicorn) and gRPC in one container, stopped cleanly on SIGTERM.

``python -m luca_analytics.entrypoints.main`` is the container's command in AWS and the child process
the local platform supervises. It is configured only by ``LUCA_*`` environment variables: the
service's own (``luca_analytics.config.AnalyticsSettings``) and this process's (``ProcessSettings``:
where REST listens, the ready file a supervisor waits for, log level and traces).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from luca_analytics.bootstrap import Container, bootstrap
from luca_analytics.config import AnalyticsSettings
from luca_analytics.entrypoints.grpc_server import create_server
from luca_analytics.entrypoints.rest import create_app
from luca_platform.serving import RunningServers, instrument_rest, serve_until_stopped, start_servers
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


def start(container: Container, settings: AnalyticsSettings, process: ProcessSettings) -> RunningServers:
    """Both servers of one analytics process, started."""
    app = create_app(container)
    if process.otel_exporter != "none":
        provider = configure_tracing(
            service=SERVICE_NAME, exporter=process.otel_exporter, file_path=process.otel_file_path
        )
        instrument_rest(app, provider)
    server, port = create_server(
        container, address=f"{settings.grpc_host}:{settings.grpc_port}", workers=settings.grpc_workers
    )
    return start_servers(
        name=SERVICE_NAME,
        grpc_server=server,
        grpc_port=port,
        app=app,
        host=process.rest_host,
        port=process.rest_port,
    )


def main() -> None:
    process = ProcessSettings.from_environment()
    configure_logging(SERVICE_NAME, process.log_level)
    settings = AnalyticsSettings.from_environment()  # fails fast when incomplete
    container = bootstrap(settings)
    serve_until_stopped(lambda: start(container, settings, process), log=log, ready_file=process.ready_file)


if __name__ == "__main__":
    main()
