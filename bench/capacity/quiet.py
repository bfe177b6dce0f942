"""A Lambda handler's log and EMF lines, written as in Lambda (the measured CPU counts them) but not
onto the operator's terminal among the figures."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def handler_output_discarded(logger: Any) -> Iterator[None]:
    """``logger`` is the handler's Powertools ``Logger``; its stream and stdout go to the null device."""
    registered = logger.registered_handler
    with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
        previous = registered.setStream(sink)
        try:
            yield
        finally:
            registered.setStream(previous)
