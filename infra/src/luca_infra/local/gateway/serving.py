"""The gateway served by uvicorn on a background thread, in the gateway process or in a test."""

from __future__ import annotations

import threading
import time

import uvicorn

from luca_infra.local.gateway.app import Gateway


class ServedGateway:
    """The gateway on uvicorn in a background thread (uvicorn installs no signal handlers there)."""

    def __init__(self, gateway: Gateway, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.gateway = gateway
        config = uvicorn.Config(
            gateway.app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,  # the gateway writes its own, one line per request
            lifespan="on",
            # The gateway is the edge: a caller's X-Forwarded-For is a claim, not its address.
            proxy_headers=False,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="gateway", daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            self._thread.join(0.02)
        if not self._server.started:
            self._server.should_exit = True
            raise RuntimeError(f"the gateway failed to start on {self.host}:{self.port}")
        self.port = bound_port(self._server)
        return self.url

    def stop(self, grace: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(grace + 1)
        self.gateway.access_log.close()


def bound_port(server: uvicorn.Server) -> int:
    """The port a started uvicorn server listens on (what port 0 turned into)."""
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the server is not listening")
