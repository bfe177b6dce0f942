"""The ``luca.govsync.v1`` gRPC API's process (its container's entrypoint, ``luca-govsync-api``).

Settings from the environment (``ApiSettings``), one composition (``bootstrap_api.build_control``), the
server with health and reflection; SIGTERM drains it. Ready, it writes its bound port to
``LUCA_READY_FILE`` when one is set (a supervisor's handshake).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path

from luca_govsync.bootstrap_api import build_control
from luca_govsync.config import ApiSettings
from luca_govsync.entrypoints.grpc_server import create_server

log = logging.getLogger("luca.govsync.api")
DRAIN_SECONDS = 10.0


def main() -> None:
    logging.basicConfig(level=os.environ.get("LUCA_LOG_LEVEL", "INFO"), format="%(message)s")
    settings = ApiSettings.from_environment()
    control, authenticator = build_control(settings)
    server, port = create_server(
        control,
        authenticator,
        address=f"{settings.grpc_host}:{settings.grpc_port}",
        workers=settings.grpc_workers,
    )
    server.start()
    log.info(json.dumps({"message": "govsync API ready", "grpc_port": port}))
    if settings.ready_file:
        path = Path(settings.ready_file)
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps({"pid": os.getpid(), "grpc_port": port}), encoding="utf-8")
        scratch.replace(path)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()
    server.stop(grace=DRAIN_SECONDS).wait()


if __name__ == "__main__":
    main()
