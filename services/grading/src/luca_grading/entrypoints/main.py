"""The grading service's process: REST (uvicorn) and gRPC in one container, stopped cleanly on SIGTERM.

``python -m luca_grading.entrypoints.main`` is the container's command in AWS and the child process
the local platform supervises; both configure it only through ``LUCA_*`` environment variables.
"""

from __future__ import annotations

import contextlib
import logging

from luca_grading.bootstrap import Container, bootstrap
from luca_grading.config import GradingSettings
from luca_grading.entrypoints.grpc_server import create_server
from luca_grading.entrypoints.rest import create_app
from luca_platform.serving import RunningServers, instrument_rest, serve_until_stopped, start_servers
from luca_platform.telemetry.logs import configure_logging
from luca_platform.telemetry.tracing import configure_tracing

log = logging.getLogger("luca.grading")


def start(container: Container) -> RunningServers:
    """Both servers of one grading process, started."""
    settings = container.settings
    provider = configure_tracing(
        service=settings.service_name, exporter=settings.otel_exporter, file_path=settings.otel_file_path
    )
    app = create_app(container)
    instrument_rest(app, provider)
    server, port = create_server(container)
    return start_servers(
        name="grading",
        grpc_server=server,
        grpc_port=port,
        app=app,
        host=settings.rest_host,
        port=settings.rest_port,
    )


def main() -> None:
    settings = GradingSettings()  # type: ignore[call-arg]  # from the environment; fails fast when incomplete
    configure_logging(settings.service_name, settings.log_level)
    with contextlib.ExitStack() as resources:
        metrics_sink = None
        if settings.metrics_file_path:
            metrics_sink = resources.enter_context(open(settings.metrics_file_path, "a", encoding="utf-8"))
        container = bootstrap(settings, metrics_sink=metrics_sink)
        # After the servers drained (callbacks run last-in first-out): the last requests' metrics.
        resources.callback(container.metrics.close)
        serve_until_stopped(lambda: start(container), log=log, ready_file=settings.ready_file)


if __name__ == "__main__":
    main()
