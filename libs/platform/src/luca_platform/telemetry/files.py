"""Append-only JSON-lines files that several local processes write at once (spans and logs).

Each call's lines go out whole in one ``write(2)`` on a descriptor opened with ``O_APPEND``: the
kernel moves to the end and writes under the file's lock, so lines from different processes never
interleave (buffered text files may split a line across two writes). The path can be changed while in use:
tests host several local platforms, each with its own state directory, in one process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path


class AppendOnlyLines:
    """Whole lines appended to one file (re-pointable with ``repoint``); thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path = Path(path)

    @property
    def path(self) -> Path:
        return self._path

    def repoint(self, path: str | Path) -> None:
        """Later lines go to ``path``; the current file is closed (nothing written is lost)."""
        with self._lock:
            if Path(path) == self._path:
                return
            self._close_locked()
            self._path = Path(path)

    def write_lines(self, lines: Iterable[str]) -> None:
        with self._lock:
            if self._fd is None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            data = "".join(line.rstrip("\n") + "\n" for line in lines).encode("utf-8")
            if not data:
                return
            written = os.write(self._fd, data)
            if written < len(data):  # only on a full disk or a signal; finish the lines
                os.write(self._fd, data[written:])

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
