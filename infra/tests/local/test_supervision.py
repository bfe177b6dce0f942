"""The supervisor on a tiny child process: restart after a crash on the same port, the ERROR line that
says why, backoff, retries of a child that fails to start, and no restart once stopping."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from luca_infra.local.service_process import ServiceProcess, ServiceSpec
from luca_infra.local.supervisor import Backoff, SupervisedChild, describe_exit
from luca_testing.polling import eventually

CHILD = textwrap.dedent(
    """
    import json, os, signal, socket, sys, threading
    if os.path.exists(os.environ["CRASH_FILE"]):
        print("refusing to start: crash file present", file=sys.stderr, flush=True)
        sys.exit(3)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", int(os.environ.get("CHILD_PORT", "0"))))
    server.listen()
    print("child listening", file=sys.stderr, flush=True)
    ready = os.environ["READY_FILE"]
    with open(ready + ".tmp", "w") as f:
        json.dump({"pid": os.getpid(), "http_port": server.getsockname()[1]}, f)
    os.replace(ready + ".tmp", ready)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    """
)


@pytest.fixture
def spec(tmp_path: Path) -> ServiceSpec:
    (tmp_path / "luca_fake_child.py").write_text(CHILD, encoding="utf-8")
    ready = tmp_path / "child.ready.json"
    return ServiceSpec(
        name="fake",
        module="luca_fake_child",
        environment={
            "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]),
            "READY_FILE": str(ready),
            "CRASH_FILE": str(tmp_path / "crash"),
        },
        ready_file=ready,
        timeout_seconds=30,
        port_variables={"http_port": "CHILD_PORT"},
    )


@pytest.fixture
def supervised(spec: ServiceSpec) -> Iterator[SupervisedChild]:
    child = SupervisedChild(
        spec,
        ServiceProcess.spawn(spec).wait_ready(spec.timeout_seconds),
        backoff=Backoff(initial=0.1, maximum=0.4, healthy_seconds=60),
    )
    yield child
    child.stop(grace_seconds=5)


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_backoff_doubles_to_its_cap_and_resets_after_a_healthy_period() -> None:
    backoff = Backoff(initial=1, maximum=30, healthy_seconds=60)

    delays = [backoff.delay(uptime_seconds=0) for _ in range(7)]

    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay(uptime_seconds=61) == 1
    assert backoff.delay(uptime_seconds=0) == 2


def test_exit_description_names_the_signal() -> None:
    assert describe_exit(-signal.SIGKILL) == {"exit_code": -9, "signal": "SIGKILL"}
    assert describe_exit(3) == {"exit_code": 3}


def test_a_killed_child_is_logged_and_restarted_on_the_same_port(
    supervised: SupervisedChild, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="luca.local")
    port = supervised.ports["http_port"]
    first_pid = supervised.process.pid

    os.kill(first_pid, signal.SIGKILL)

    eventually(lambda: supervised.restarts == 1 and supervised.up, timeout=30, what="a restart")
    assert supervised.process.pid != first_pid
    assert supervised.process.ports == {"http_port": port}
    assert answers(port)
    crash = next(
        r for r in caplog.records if r.levelno == logging.ERROR and "exited unexpectedly" in r.message
    )
    assert crash.__dict__["child"] == "fake"
    assert crash.__dict__["pid"] == first_pid
    assert crash.__dict__["signal"] == "SIGKILL"
    assert "child listening" in crash.__dict__["stderr_tail"]
    assert any("restarted" in r.message and r.levelno == logging.WARNING for r in caplog.records)


def test_a_child_that_fails_to_start_again_is_retried_until_it_starts(
    supervised: SupervisedChild, spec: ServiceSpec, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="luca.local")
    crash_file = Path(spec.environment["CRASH_FILE"])
    crash_file.touch()

    os.kill(supervised.process.pid, signal.SIGKILL)
    eventually(
        lambda: sum("did not start again" in r.message for r in caplog.records) >= 2,
        timeout=30,
        what="failed restarts logged",
    )
    assert supervised.restarts == 0
    failed = next(r for r in caplog.records if "did not start again" in r.message)
    assert "refusing to start" in " ".join(failed.__dict__["stderr_tail"])
    crash_file.unlink()

    eventually(lambda: supervised.restarts == 1 and supervised.up, timeout=30, what="the restart")
    assert answers(supervised.ports["http_port"])


def test_a_stopping_child_is_not_restarted(spec: ServiceSpec) -> None:
    child = SupervisedChild(
        spec,
        ServiceProcess.spawn(spec).wait_ready(spec.timeout_seconds),
        # Long enough that stop() always comes during the backoff.
        backoff=Backoff(initial=30, maximum=30),
    )
    killed = child.process
    os.kill(killed.pid, signal.SIGKILL)
    eventually(lambda: killed.process.poll() is not None, timeout=10, what="the child's death")

    child.stop(grace_seconds=5)

    assert child.restarts == 0
    assert child.process is killed
    assert not spec.ready_file.exists()


def test_stop_ends_a_healthy_child_without_a_restart(supervised: SupervisedChild) -> None:
    process = supervised.process

    supervised.stop(grace_seconds=5)

    assert process.process.returncode == 0
    assert supervised.restarts == 0
    assert not supervised.up
