"""Waiting for what happens asynchronously (a queue drained, a file landed), with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    probe: Callable[[], T | None],
    *,
    timeout: float = 20.0,
    interval: float = 0.1,
    what: str = "the condition",
) -> T:
    """The first truthy value ``probe`` returns, polling until ``timeout`` seconds have passed.

    Fails with ``what`` and the last value seen, so a red test says what never happened.
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(interval)
