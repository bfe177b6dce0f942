"""The ``luca.govsync.v1`` gRPC API's process (its container's entrypoint, ``luca-govsync-api``).

Settings from the environment (``ApiSettings``), one composition (``bootstrap_api.build_control``), the
server with health and reflection; SIGTERM drains it. Ready, it writes its bound port to
``LUCA_READY_FILE`` when one is set (a supervisor's handshake).
"""

from __future__ import annotations

import logging
import os

from luca_govsync.bootstrap_api import build_control
from luca_govsync.config import ApiSettings
from luca_govsync.entrypoints.grpc_server import create_server
from luca_platform.serving import RunningServers, serve_until_stopped, start_servers
from luca_platform.telemetry.logs import configure_logging
from luca_platform.telemetry.tracing import configure_tracing_from_environment

log = logging.getLogger("luca.govsync.api")
DRAIN_SECONDS = 10.0


def main() -> None:
    configure_logging("govsync-api", os.environ.get("LUCA_LOG_LEVEL", "INFO"))
    # LUCA_OTEL_EXPORTER (otlp in AWS, file locally); the provider exists before the server is built.
    configure_tracing_from_environment("govsync-api")
    settings = ApiSettings.from_environment()
    control, authenticator = build_control(settings)

    def start() -> RunningServers:
        server, port = create_server(
            control,
            authenticator,
            address=f"{settings.grpc_host}:{settings.grpc_port}",
            workers=settings.grpc_workers,
        )
        return start_servers(name="govsync-api", grpc_server=server, grpc_port=port)

    serve_until_stopped(start, log=log, ready_file=settings.ready_file, drain_seconds=DRAIN_SECONDS)


if __name__ == "__main__":
    main()
