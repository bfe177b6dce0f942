"""The simulator served by uvicorn on loopback, in a background thread (for tests and the local platform)."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn

from luca_govsync.simulator.app import create_app
from luca_govsync.simulator.faults import FaultPlan
from luca_govsync.simulator.state import SimulatedMinistry


class SimulatorServer:
    """The ministry simulator on ``host:port`` (port 0: a free one, known after ``start``).

    ``ministry`` is the simulator's state, shared with the app: a test in the same process may read
    the ledger or change the plan through it as well as through ``/_sim/*``.
    """

    def __init__(
        self,
        ministry: SimulatedMinistry | None = None,
        *,
        plan: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.ministry = ministry or SimulatedMinistry(plan)
        self.app = create_app(self.ministry)
        self.host = host
        self.port = port
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="ministry-simulator", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        """Start serving (uvicorn installs no signal handlers off the main thread); returns the URL."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            self._thread.join(0.02)
        if not self._server.started:
            self._server.should_exit = True
            raise RuntimeError(f"the ministry simulator failed to start on {self.host}:{self.port}")
        self.port = _bound_port(self._server)
        return self.url

    def stop(self, grace: float = 5.0) -> None:
        """Stop serving; requests held by a timeout fault are let go at once."""
        self.ministry.released.set()
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(grace + 1)

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _bound_port(server: uvicorn.Server) -> int:
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the simulator is not listening")
