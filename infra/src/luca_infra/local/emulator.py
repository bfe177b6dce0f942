"""moto's AWS server, embedded in this process on loopback: the local platform's stand-in for AWS.

Every service reaches it through the real AWS SDK with an endpoint URL, exactly as it reaches AWS
without one. moto keeps its state in process-wide backends, so two emulators in one process share
it; provisioning is therefore written to tolerate resources that already exist.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field

from moto.server import ThreadedMotoServer

from luca_infra.local import emulator_fixes

REGION = "us-east-1"
HOST = "127.0.0.1"
DEFAULT_PORT = 4566
_START_TIMEOUT_SECONDS = 10.0
# The emulator accepts any credentials; the SDK still wants some to sign with.
_DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

log = logging.getLogger("luca.local.emulator")


class EmulatorError(RuntimeError):
    pass


class PortInUseError(RuntimeError):
    pass


@dataclass
class Emulator:
    """One moto server on ``127.0.0.1:port`` (0 = any free port), started and stopped explicitly."""

    port: int = DEFAULT_PORT
    region: str = REGION
    _server: ThreadedMotoServer | None = field(default=None, init=False, repr=False)
    _bound_port: int | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        if self._bound_port is None:
            raise EmulatorError("the emulator is not running")
        return f"http://{HOST}:{self._bound_port}"

    @property
    def bound_port(self) -> int:
        if self._bound_port is None:
            raise EmulatorError("the emulator is not running")
        return self._bound_port

    def start(self) -> str:
        """Start the server; returns its URL. Fails fast (not hangs) when the port is taken."""
        if self._server is not None:
            return self.url
        ensure_dummy_credentials()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        fixes = emulator_fixes.apply()
        log.debug("emulator fixes in force", extra={"fixes": list(fixes)})
        if self.port:
            require_free_port(self.port)
        server = ThreadedMotoServer(ip_address=HOST, port=self.port, verbose=False)
        # moto's start() waits forever if its server thread dies while binding; bound the wait.
        starter = threading.Thread(target=server.start, name="emulator-start", daemon=True)
        starter.start()
        starter.join(_START_TIMEOUT_SECONDS)
        if starter.is_alive():
            raise EmulatorError(f"the emulator did not start on {HOST}:{self.port}")
        self._server = server
        self._bound_port = server.get_host_and_port()[1]
        # Step Functions tasks in moto call back to localhost:MOTO_PORT (LOCAL-ENGINE.md).
        os.environ["MOTO_PORT"] = str(self._bound_port)
        log.info("emulator ready", extra={"url": self.url})
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        self._server = None
        self._bound_port = None


def ensure_dummy_credentials() -> None:
    """Give the SDK credentials to sign with, unless the environment already has some."""
    for variable, value in _DUMMY_CREDENTIALS.items():
        os.environ.setdefault(variable, value)


def require_free_port(port: int) -> None:
    """Raise a clear error when ``port`` on loopback is taken (servers otherwise fail late or hang)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((HOST, port))
    except OSError as exc:
        raise PortInUseError(f"port {port} on {HOST} is in use ({exc.strerror}); pick another") from exc
    finally:
        probe.close()
