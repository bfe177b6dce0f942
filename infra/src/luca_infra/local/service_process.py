"""A service of the local platform in its own process, supervised like a container.

The platform starts each service as ``python -m <module>`` with its settings in ``LUCA_*``
environment variables, exactly the interface its container has in AWS. The child inherits the
terminal, so its JSON logs interleave with the platform's. Port 0 is resolved through a ready file
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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings

log = logging.getLogger("luca.local")

_POLL_SECONDS = 0.05
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


@dataclass
class ServiceProcess:
    name: str
    process: subprocess.Popen[bytes]
    ready_file: Path
    ports: Mapping[str, int]

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
        with contextlib.suppress(FileNotFoundError):
            ready_file.unlink()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", module],
            env={**os.environ, **environment},
            preexec_fn=_die_with_parent(),
        )
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                raise ServiceStartError(f"the {name} service exited with code {code} while starting")
            try:
                announced = json.loads(ready_file.read_text(encoding="utf-8"))
            except FileNotFoundError:
                time.sleep(_POLL_SECONDS)
                continue
            ports = {key: int(value) for key, value in announced.items() if key.endswith("_port")}
            log.info("%s service started", name, extra={"pid": process.pid, **ports})
            return cls(name=name, process=process, ready_file=ready_file, ports=ports)
        _terminate(process, grace_seconds=5)
        raise ServiceStartError(f"the {name} service did not become ready in {timeout_seconds:.0f} s")

    @property
    def pid(self) -> int:
        return self.process.pid

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
