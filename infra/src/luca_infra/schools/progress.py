"""How a long lifecycle operation reports its progress: phases with an optional total, then advances.
The CLI draws them with rich; tests and scripts pass ``Silent``."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def phase(self, name: str, total: int | None = None) -> None: ...

    def advance(self, count: int = 1) -> None: ...


class Silent:
    def phase(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, count: int = 1) -> None:
        pass
