"""Durable local state: the emulator's backends snapshotted to the state directory and restored on start.

Why a snapshot and not moto's recorder (``MOTO_RECORDER_FILEPATH``, ``/moto-api/recorder/``): the
recorder appends every request and replays them into a fresh server, but a replay is not the same
state. Resources get new random ids (the user pool id, so every issued token's issuer changes and
every later request naming the old id fails), ReceiveMessage runs again and raises receive counts
(messages move to the DLQ) with new receipt handles, STS hands out new credentials, stream iterators
and Step Functions executions run again (the ministry would be called twice), and time-dependent
state (TTL, visibility timeouts, token expiry) replays at the wrong time. A filtered replay would
have to know all of that per API. Pickling moto's backends keeps the state itself, ids included.

What is kept: every backend the emulator created (the table and its items, the user pool, its users
and groups, IAM roles, the KMS key, the queues with their messages and receive counts, S3 objects of
the lake and the manifest bucket, SSM parameters, functions, state machines and their executions'
outcomes). The Cognito signing key is moto's fixed one (``cognitoidp/resources/jwks-private.json``),
so a token issued before a restart still verifies.

When: at a clean stop, once every other part has stopped (so the snapshot is consistent and the
lake has flushed), and every ``interval`` seconds while running. A periodic snapshot is written by a
forked copy of this process: the fork is one moment's memory (the other threads stop at the fork,
for a few milliseconds, not for the whole pickling), and the copy pickles and writes it while the
emulator goes on serving. Holding the threads for the whole pickling doubled the interactive path's
p95 (measured by the interactive benchmark, docs/decisions/0009-operations.md). Where fork is unavailable, the threads are held
instead (a long thread switch interval while pickling). A hard kill
loses what happened since the last periodic snapshot (at most ``interval`` seconds): a grade
written then, an event accepted then. Nothing half-written is read back: the file is replaced
atomically.

On restore: Step Functions executions that were running are marked FAILED (``Local.Restarted``):
their worker threads died with the process, and a redrive starts them again. The table's stream
restarts after the last record (the lake had those records already; after a hard kill, records the
lake had buffered but not written are lost from the lake, not from the table).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import importlib
import io
import logging
import os
import pickle
import sys
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from moto.core.base_backend import BackendDict

log = logging.getLogger("luca.local.state")

SNAPSHOT_FILE = "emulator.snapshot"
DEFAULT_INTERVAL_SECONDS = 5.0
_FORMAT = 2
# What every BackendDict has; anything else on one is state of its own (S3's bucket -> account map,
# without which a restored bucket is created anew, and emptied, by the next CreateBucket).
_REGISTRY_ATTRIBUTES = frozenset(
    {"backend", "service_name", "_use_boto3_regions", "_additional_regions", "_id"}
)
# While pickling, other threads of this process wait this long before asking for the interpreter.
_HOLD_SWITCH_INTERVAL_SECONDS = 30.0
_ATTEMPTS = 3
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
_CAN_FORK = hasattr(os, "fork")
_PRIVATE_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)


class SnapshotError(RuntimeError):
    pass


# -- pickling what moto holds ---------------------------------------------------------------------
def _new_lock(reentrant: bool) -> Any:
    return threading.RLock() if reentrant else threading.Lock()


def _private_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None)


def _weak_values(items: dict[Any, Any]) -> weakref.WeakValueDictionary[Any, Any]:
    return weakref.WeakValueDictionary(items)


@dataclass(frozen=True)
class _Factory:
    """Stands in for a ``defaultdict`` factory that is a lambda: returns a copy of what it made."""

    sample: Any

    def __call__(self) -> Any:
        return copy.deepcopy(self.sample)


def _defaultdict(
    cls: type[defaultdict[Any, Any]], factory: Callable[[], Any] | None
) -> defaultdict[Any, Any]:
    # Subclasses (SSM's parameter map) take other constructor arguments: build the bare mapping;
    # pickle then restores its attributes and items.
    made = cls.__new__(cls)
    defaultdict.__init__(made, factory)
    return made


def _unpicklable_function(function: Any) -> bool:
    qualname = getattr(function, "__qualname__", "")
    return "<lambda>" in qualname or "<locals>" in qualname


class _BackendPickler(pickle.Pickler):
    """Pickles moto's models, which hold a few things pickle refuses: locks (made anew), private
    keys (as PEM), weak-value maps, ``defaultdict``s with lambda factories or other constructors."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCK_TYPES):
            return _new_lock, (isinstance(obj, _LOCK_TYPES[1]),)
        if isinstance(obj, _PRIVATE_KEYS):
            pem = obj.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return _private_key, (pem,)
        if isinstance(obj, weakref.WeakValueDictionary):
            return _weak_values, (dict(obj.items()),)
        if isinstance(obj, threading.Thread):
            # A worker thread (a Step Functions execution's) dies with the process anyway.
            return type(None), ()
        if isinstance(obj, defaultdict):
            factory = obj.default_factory
            if factory is not None and _unpicklable_function(factory):
                factory = _Factory(factory())
            return _defaultdict, (type(obj), factory), getattr(obj, "__dict__", None), None, iter(obj.items())
        return NotImplemented


# -- the snapshot ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    module: str
    qualname: str
    account: str
    region: str
    backend: Any


def _entries() -> list[_Entry]:
    return [
        _Entry(bd.backend.__module__, bd.backend.__qualname__, account, region, backend)
        for bd in list(BackendDict._instances)  # type: ignore[misc]
        for account, region, backend in list(bd.iter_backends())
    ]


def _registry_state() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (bd.backend.__module__, bd.backend.__qualname__, extra)
        for bd in list(BackendDict._instances)  # type: ignore[misc]
        if (extra := {k: v for k, v in vars(bd).items() if k not in _REGISTRY_ATTRIBUTES})
    ]


def _backend_dict(module: str, qualname: str) -> BackendDict[Any]:
    """The module-level ``BackendDict`` that serves the backend class ``module.qualname``."""
    loaded = importlib.import_module(module)
    cls = getattr(loaded, qualname)
    for value in vars(loaded).values():
        if isinstance(value, BackendDict) and value.backend is cls:
            return value
    raise SnapshotError(f"no backend registry for {module}.{qualname}")


@contextlib.contextmanager
def _threads_held() -> Iterator[None]:
    """Keep this process's other threads (the emulator's request handlers, the lake, the sync's
    engine) from running while the backends are pickled, so the snapshot is one moment's state."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(_HOLD_SWITCH_INTERVAL_SECONDS)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _dump_objects(value: Any) -> bytes:
    buffer = io.BytesIO()
    _BackendPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def dump_backends() -> bytes:
    """Every backend the emulator holds, pickled in one pass (backends refer to each other: the
    streams backend to the table, the functions to their roles; one pass keeps them shared)."""
    failure: Exception | None = None
    for _ in range(_ATTEMPTS):
        try:
            with _threads_held():
                return _dump_objects((_FORMAT, _entries(), _registry_state()))
        except RuntimeError as exc:  # a dict changed size under us: a thread slipped in; try again
            failure = exc
    raise SnapshotError(f"the emulator's state could not be pickled: {failure}") from failure


def load_backends(data: bytes) -> int:
    """Put pickled backends in place of the emulator's; returns how many were restored."""
    version, *content = pickle.loads(data)  # noqa: S301 - our own file, in the user's state directory
    if version != _FORMAT:
        raise SnapshotError(f"snapshot format {version}, this version reads {_FORMAT}")
    entries, registries = content
    for entry in entries:
        _backend_dict(entry.module, entry.qualname)[entry.account][entry.region] = entry.backend
    for module, qualname, extra in registries:
        vars(_backend_dict(module, qualname)).update(extra)
    _after_restore()
    return len(entries)


def _after_restore() -> None:
    for bd in list(BackendDict._instances):  # type: ignore[misc]
        for _account, _region, backend in bd.iter_backends():
            for table in getattr(backend, "tables", {}).values():
                _restart_stream(table)
            for machine in getattr(backend, "state_machines", []):
                for execution in getattr(machine, "executions", []):
                    _fail_if_running(execution)


def _restart_stream(table: Any) -> None:
    """The stream goes on after its last record: a new stream reader (the lake's poller reads from
    the start) does not get again what the lake already holds; sequence numbers keep growing."""
    shard = getattr(table, "stream_shard", None)
    if shard is not None and shard.items:
        shard.starting_sequence_number += len(shard.items)
        shard.items = []


def _fail_if_running(execution: Any) -> None:
    status = getattr(execution, "exec_status", None)
    if status is None or getattr(status, "value", status) != "RUNNING":
        return
    execution.exec_status = type(status)("FAILED")
    execution.stop_date = datetime.now(UTC)
    execution.error = "Local.Restarted"
    execution.cause = "the local platform stopped while this execution ran; redrive it"
    execution.exec_worker = None


def _write_and_exit(state: DurableState) -> None:
    """In the forked copy: no other thread runs, so nothing changes under the pickler."""
    code = 1
    try:
        os.nice(19)  # the emulator's requests come first on a two-core laptop
        state._write(_dump_objects((_FORMAT, _entries(), _registry_state())))
        code = 0
    except BaseException as exc:
        with contextlib.suppress(Exception):
            os.write(2, f"local state snapshot failed: {exc!r}\n".encode())
    finally:
        os._exit(code)  # no atexit handlers, no flushing of the parent's buffers


class DurableState:
    """The emulator's snapshot file in ``state_dir``, and the thread that refreshes it."""

    def __init__(self, state_dir: Path, *, interval_seconds: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self.path = state_dir / SNAPSHOT_FILE
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last_save_seconds: float | None = None
        self.last_pause_seconds: float | None = None  # how long the emulator stood still for it

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def restore(self) -> bool:
        """Load the snapshot, if there is one, into the emulator's backends (before it serves)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return False
        started = time.perf_counter()
        try:
            restored = load_backends(data)
        except Exception as exc:  # a truncated file, or one written by another moto version
            raise SnapshotError(
                f"the local state in {self.path} cannot be read ({exc!r}); `luca up --fresh` starts empty"
            ) from exc
        log.info(
            "local state restored",
            extra={
                "path": str(self.path),
                "backends": restored,
                "bytes": len(data),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return True

    def save(self) -> None:
        """Snapshot now, in this process (at a clean stop, when nothing else runs)."""
        with self._lock:
            started = time.perf_counter()
            size = self._write(dump_backends())
            self.last_save_seconds = time.perf_counter() - started
            log.debug("local state saved", extra={"bytes": size, "seconds": self.last_save_seconds})

    def save_in_background(self) -> None:
        """Snapshot while the emulator serves: a forked copy pickles and writes; this thread waits."""
        if not _CAN_FORK:
            self.save()
            return
        with self._lock:
            started = time.perf_counter()
            # While the copy lives, this process's collector leaves the old objects alone: a full
            # collection would touch every object's header and copy every page the two share.
            gc.freeze()
            try:
                pid = os.fork()
                if pid == 0:  # the copy: one thread, this moment's memory; never returns
                    _write_and_exit(self)
                self.last_pause_seconds = time.perf_counter() - started
                _, status = os.waitpid(pid, 0)
            finally:
                gc.unfreeze()
            self.last_save_seconds = time.perf_counter() - started
            if os.waitstatus_to_exitcode(status) != 0:
                raise SnapshotError(f"the snapshot process failed (status {status}); see its error above")
            log.debug(
                "local state saved",
                extra={"pause_seconds": self.last_pause_seconds, "seconds": self.last_save_seconds},
            )

    def _write(self, data: bytes) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_suffix(f".{os.getpid()}.tmp")
        with scratch.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        scratch.replace(self.path)  # a reader (the next start) never sees half a snapshot
        return len(data)

    def start_periodic(self) -> None:
        if self._thread is not None or self.interval_seconds <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="local-state-snapshot", daemon=True)
        self._thread.start()

    def stop_periodic(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.save_in_background()
            except Exception:
                log.exception("saving the local state failed; the last good snapshot is kept")
