"""A service of the local platform in its own process, supervised like a container.

The platform starts each service as ``python -m <module>`` with its settings in ``LUCA_*``
environment variables, exactly the interface its container has in AWS. The child inherits the
terminal's stdout, so its JSON logs interleave with the platform's; its stderr is copied to the
terminal too, and its last lines are kept for the supervisor to report when the child dies. Port 0 is resolved through a ready file
the service writes once it accepts requests. ``stop()`` sends SIGTERM (the service drains and exits)
and kills only what does not exit in time. On Linux the child also gets SIGTERM if the platform dies
without stopping it, so no orphan keeps the ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from pydantic_settings import BaseSettings

log = logging.getLogger("luca.local")

_POLL_SECONDS = 0.05
STDERR_TAIL_LINES = 20
_PR_SET_PDEATHSIG = 1


class ServiceStartError(RuntimeError):
    pass


def settings_environment(settings: BaseSettings) -> dict[str, str]:
    """The environment that reproduces ``settings`` in a child (unset values are left out)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {
        f"{prefix}{name}".upper(): str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)

    def set_parent_death_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_parent_death_signal


@dataclass(frozen=True)
class ServiceSpec:
    """How to start one service: what the supervisor needs to start it again, the same way."""

    name: str
    module: str
    environment: Mapping[str, str]
    ready_file: Path
    timeout_seconds: float
    # Ready-file key -> the variable that sets that port: a restart binds the ports the first start
    # got, so the gateway's upstreams and platform.json stay right.
    port_variables: Mapping[str, str] = field(default_factory=dict)

    def pinned(self, ports: Mapping[str, int]) -> ServiceSpec:
        pins = {variable: str(ports[key]) for key, variable in self.port_variables.items() if key in ports}
        return replace(self, environment={**self.environment, **pins})


class _StderrTail:
    """Copies a child's stderr to this process's (so it stays on the terminal) and keeps its last
    lines, which say why a child died."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self._stream = stream
        self._lines: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._thread = threading.Thread(target=self._pump, name=f"{name}-stderr", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for line in iter(self._stream.readline, b""):
            self._lines.append(line.decode("utf-8", "replace").rstrip())
            with contextlib.suppress(OSError):
                os.write(2, line)  # the terminal's stderr, as when the child inherited it
        self._stream.close()

    def lines(self, wait_seconds: float = 1.0) -> list[str]:
        self._thread.join(wait_seconds)  # the child is gone: let the pipe drain first
        return list(self._lines)


@dataclass
class ServiceProcess:
    name: str
    process: subprocess.Popen[bytes]
    ready_file: Path
    ports: Mapping[str, int]
    stderr: _StderrTail | None = None

    @classmethod
    def start(
        cls,
        *,
        name: str,
        module: str,
        environment: Mapping[str, str],
        ready_file: Path,
        timeout_seconds: float,
    ) -> ServiceProcess:
        spec = ServiceSpec(name, module, environment, ready_file, timeout_seconds)
        return cls.spawn(spec).wait_ready(timeout_seconds)

    @classmethod
    def spawn(cls, spec: ServiceSpec) -> ServiceProcess:
        """Start the child; it is not ready until ``wait_ready`` says so."""
        with contextlib.suppress(FileNotFoundError):
            spec.ready_file.unlink()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", spec.module],
            env={**os.environ, **spec.environment},
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent(),
        )
        if process.stderr is None:  # asked for above; only a broken Popen would not give it
            raise ServiceStartError(f"the {spec.name} service's stderr is not readable")
        return cls(
            name=spec.name,
            process=process,
            ready_file=spec.ready_file,
            ports={},
            stderr=_StderrTail(process.stderr, spec.name),
        )

    def wait_ready(self, timeout_seconds: float) -> ServiceProcess:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise ServiceStartError(f"the {self.name} service exited with code {code} while starting")
            try:
                announced = json.loads(self.ready_file.read_text(encoding="utf-8"))
            except (FileNotFoundError, json.JSONDecodeError):
                time.sleep(_POLL_SECONDS)
                continue
            self.ports = {key: int(value) for key, value in announced.items() if key.endswith("_port")}
            log.info("%s service started", self.name, extra={"pid": self.process.pid, **self.ports})
            return self
        _terminate(self.process, grace_seconds=5)
        raise ServiceStartError(f"the {self.name} service did not become ready in {timeout_seconds:.0f} s")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr_tail(self) -> list[str]:
        return self.stderr.lines() if self.stderr is not None else []

    def stop(self, grace_seconds: float = 15.0) -> None:
        code = _terminate(self.process, grace_seconds)
        with contextlib.suppress(FileNotFoundError):
            self.ready_file.unlink()
        log.info("%s service stopped", self.name, extra={"exit_code": code})


def _terminate(process: subprocess.Popen[bytes], grace_seconds: float) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            log.warning("service did not stop in %.0f s: killing it", grace_seconds)
            process.kill()
    return process.wait()
