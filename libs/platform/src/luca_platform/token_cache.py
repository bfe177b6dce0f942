"""Tokens already verified, kept until they expire, so a caller's every request does not pay the
RS256 check again (a signed-in teacher sends the same ID token for up to an hour).

Keyed by the SHA-256 of the whole token: only the very token that was verified is answered from
memory, never another one. An entry is served only while the token's own ``exp`` is in the future
(no leeway: past it, the full check runs again and decides), and the cache is bounded (least
recently used entries go first). Refusals are never cached.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from luca_kernel.access import Principal


class VerifiedTokens:
    def __init__(self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> Principal | None:
        key = self._key(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() >= entry[0]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        if self._clock() >= expires_at:
            return  # accepted only thanks to the verifier's leeway: verify it every time
        with self._lock:
            self._entries[self._key(token)] = (expires_at, principal)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
