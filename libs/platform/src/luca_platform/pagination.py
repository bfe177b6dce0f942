"""Page sizes and opaque, signed page cursors, the same for every listing of every service.

A cursor says where a listing stopped: the position (DynamoDB's ``LastEvaluatedKey``, whose key
attributes are all strings on the platform's table), the school, a hash of the query that made it and
when it was issued, signed with HMAC-SHA256 under a service key and base64url-encoded. A cursor that
was altered, made for another school or another query, signed with a key the service no longer holds,
or older than its maximum age is refused with ``InvalidCursor``: its position is never followed.

The cursor is signed, not encrypted. Its position is the key of the last item of the page the caller
was just shown, in the caller's own school; clients must still treat it as opaque.

Key rotation: the codec holds one or more keys, signs with the first and accepts any. To rotate, put
the new key first, keep the old one until the cursors it signed have expired, then drop it.

Pure Python (standard library only), so any service or function can use it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence

from luca_kernel.errors import InvalidCursor, InvalidInput

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
DEFAULT_MAX_AGE_SECONDS = 24 * 3600
# Tasks' clocks are synchronised, but not to the millisecond: a cursor issued "in the future" by
# this much is another task's, not a forgery (a forgery fails the signature anyway).
CLOCK_SKEW_SECONDS = 300
MIN_KEY_BYTES = 32
# A position holds a handful of short keys; anything longer than this is refused before decoding.
MAX_CURSOR_CHARS = 2048

_VERSION = 1
# Binds the signature to this use of the key, should the same key ever sign something else.
_CONTEXT = b"luca-page-cursor-v1\x00"
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")

Position = Mapping[str, str]
Query = Mapping[str, str]


def page_size(
    requested: int | None,
    *,
    default: int = DEFAULT_PAGE_SIZE,
    maximum: int = MAX_PAGE_SIZE,
    field: str = "page_size",
) -> int:
    """The page size to use: ``default`` when none was asked for; out of 1..``maximum`` is refused."""
    if requested is None:
        return default
    if isinstance(requested, bool) or not isinstance(requested, int) or not 1 <= requested <= maximum:
        raise InvalidInput(f"{field} must be between 1 and {maximum}", field=field)
    return requested


def keys_from_setting(value: str) -> tuple[bytes, ...]:
    """The keys of a comma-separated setting (the first signs), e.g. ``LUCA_CURSOR_KEYS``."""
    return tuple(part.strip().encode() for part in value.split(",") if part.strip())


def query_hash(query: Query) -> str:
    """What a cursor remembers of its query: a hash of its canonical form (names and values)."""
    canonical = json.dumps(dict(query), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _b64(hashlib.sha256(canonical.encode()).digest()[:16])


class CursorCodec:
    """Makes and checks the cursors of one service (its keys), for any school and query."""

    def __init__(
        self,
        keys: Sequence[str | bytes],
        *,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        timer: Callable[[], float] = time.time,
        field: str = "cursor",
    ) -> None:
        self._keys = tuple(k.encode() if isinstance(k, str) else bytes(k) for k in keys)
        if not self._keys:
            raise ValueError("a cursor codec needs at least one key")
        if any(len(k) < MIN_KEY_BYTES for k in self._keys):
            raise ValueError(f"every cursor key must be at least {MIN_KEY_BYTES} bytes")
        if max_age_seconds <= 0:
            raise ValueError("max_age_seconds must be positive")
        self._max_age = max_age_seconds
        self._timer = timer
        self._field = field

    def encode(self, *, school_id: str, query: Query, position: Position) -> str:
        payload = {
            "v": _VERSION,
            "s": school_id,
            "q": query_hash(query),
            "p": dict(position),
            "t": int(self._timer()),
        }
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
        return f"{_b64(body)}.{_b64(self._sign(self._keys[0], body))}"

    def decode(self, cursor: str, *, school_id: str, query: Query) -> dict[str, str]:
        """The position ``cursor`` carries, if it is this service's, unaltered, recent, and was made
        for ``school_id`` and ``query``; ``InvalidCursor`` otherwise."""
        body = self._verified(cursor)
        try:
            payload = json.loads(body)
        except ValueError:
            raise self._invalid() from None
        if not isinstance(payload, dict) or payload.get("v") != _VERSION:
            raise self._invalid()
        # Checked in full before anything of the position is used.
        if payload.get("s") != school_id or payload.get("q") != query_hash(query):
            raise self._invalid()
        issued = payload.get("t")
        if isinstance(issued, bool) or not isinstance(issued, int):
            raise self._invalid()
        now = self._timer()
        if now - issued > self._max_age or issued - now > CLOCK_SKEW_SECONDS:
            raise InvalidCursor("the cursor has expired: start the listing again", field=self._field)
        position = payload.get("p")
        if (
            not isinstance(position, dict)
            or not position
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in position.items())
        ):
            raise self._invalid()
        return position

    def _verified(self, cursor: str) -> bytes:
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS or cursor.count(".") != 1:
            raise self._invalid()
        body_part, mac_part = cursor.split(".")
        body, mac = _unb64(body_part), _unb64(mac_part)
        if body is None or mac is None:
            raise self._invalid()
        if not any(hmac.compare_digest(mac, self._sign(key, body)) for key in self._keys):
            raise self._invalid()
        return body

    def _invalid(self) -> InvalidCursor:
        return InvalidCursor(
            "the cursor is not valid for this listing: use the next_cursor of its previous page",
            field=self._field,
        )

    @staticmethod
    def _sign(key: bytes, body: bytes) -> bytes:
        return hmac.new(key, _CONTEXT + body, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    """Strict base64url: one spelling per byte string, so a cursor cannot be altered and still
    verify (the standard decoder drops stray characters and ignores unused trailing bits)."""
    if not _SEGMENT.match(text):
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if _b64(data) == text else None
