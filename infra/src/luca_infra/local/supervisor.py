"""Supervision of the local platform's child processes, as ECS restarts a task and Lambda an environment.

Each child gets a watcher thread that waits on it. A child that exits while the platform is not
stopping is logged at ERROR (name, pid, exit code or signal, its last stderr lines) and started
again with the same specification, on the same ports, after a backoff: 1 s, doubling to 30 s, back
to 1 s once a child has stayed up for a healthy period. Meanwhile the gateway answers 503 with
``Retry-After`` for that service's routes, and events wait in the queue. ``stop()`` and a restart
never race: a stopping child is never started again, and one started while ``stop()`` was called is
stopped by it.

The watcher thread is also the restarted child's parent thread, and lives until the child is stopped:
on Linux a child is signalled when the thread that started it exits (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from luca_infra.local.service_process import ServiceProcess, ServiceSpec, ServiceStartError

log = logging.getLogger("luca.local.supervisor")


@dataclass
class Backoff:
    """Delays before a restart: ``initial`` doubling to ``maximum``; reset after ``healthy_seconds`` up."""

    initial: float = 1.0
    maximum: float = 30.0
    healthy_seconds: float = 60.0
    _next: float = field(default=0.0, init=False)

    def delay(self, uptime_seconds: float) -> float:
        if self._next == 0.0 or uptime_seconds >= self.healthy_seconds:
            self._next = self.initial
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay


def describe_exit(code: int) -> dict[str, object]:
    """``exit_code`` and, for a child killed by a signal, its name (Popen reports -signum)."""
    if code < 0:
        try:
            return {"exit_code": code, "signal": signal.Signals(-code).name}
        except ValueError:
            return {"exit_code": code, "signal": str(-code)}
    return {"exit_code": code}


class SupervisedChild:
    """One child process, restarted when it dies until ``stop()``."""

    def __init__(
        self,
        spec: ServiceSpec,
        process: ServiceProcess,
        *,
        backoff: Backoff | None = None,
        on_restart: Callable[[ServiceProcess], None] | None = None,
    ) -> None:
        # Restarts bind the ports the first start got.
        self.spec = spec.pinned(process.ports)
        self.process = process
        self.ports = dict(process.ports)
        self.restarts = 0
        self.backoff = backoff or Backoff()
        self._on_restart = on_restart
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name=f"supervise-{spec.name}", daemon=True)
        self._thread.start()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def up(self) -> bool:
        return self.process.process.poll() is None

    def _watch(self) -> None:
        while True:
            process = self.process
            code = process.process.wait()
            if self._stopping.is_set():
                return
            delay = self.backoff.delay(time.monotonic() - self._started_at)
            log.error(
                "%s exited unexpectedly; restarting it in %.0f s",
                self.name,
                delay,
                extra={
                    "child": self.name,
                    "pid": process.pid,
                    **describe_exit(code),
                    "stderr_tail": process.stderr_tail(),
                    "restarts": self.restarts,
                },
            )
            if not self._restart(delay):
                return

    def _restart(self, delay: float) -> bool:
        """Start the child again after ``delay`` (and later ones if it fails to start); False once
        the child is being stopped."""
        while not self._stopping.wait(delay):
            with self._lock:
                if self._stopping.is_set():
                    return False
                spawned = ServiceProcess.spawn(self.spec)
                self.process = spawned
            try:
                spawned.wait_ready(self.spec.timeout_seconds)
            except ServiceStartError as exc:
                if self._stopping.is_set():
                    return False
                delay = self.backoff.delay(0.0)
                log.error(
                    "%s did not start again; next try in %.0f s",
                    self.name,
                    delay,
                    extra={"child": self.name, "error": str(exc), "stderr_tail": spawned.stderr_tail()},
                )
                continue
            self._started_at = time.monotonic()
            self.restarts += 1
            if spawned.ports and dict(spawned.ports) != self.ports:
                log.error("%s came back on other ports", self.name, extra={"ports": dict(spawned.ports)})
            log.warning(
                "%s restarted",
                self.name,
                extra={"child": self.name, "pid": spawned.pid, "restarts": self.restarts},
            )
            if self._on_restart is not None:
                self._on_restart(spawned)
            return True
        return False

    def stop(self, grace_seconds: float = 15.0) -> None:
        with self._lock:
            self._stopping.set()
            process = self.process
        process.stop(grace_seconds)
        self._thread.join(timeout=grace_seconds + 5)
