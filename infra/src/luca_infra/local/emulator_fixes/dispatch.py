"""Local-only fix to moto's request dispatch, shared by every service. Never part of anything deployed.

**cached-backend-lookup: backend lookup on every request.** moto's WSGI dispatcher lists its own
package directory on disk for every HTTP request (``moto.backends.list_of_moto_modules``). The
listing never changes while the process runs, so it is computed once. Every request to the emulator
gains from it (``sqs`` shows by how much, next to the SQS fixes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def cache_module_listing() -> None:
    from moto import backends

    listing: Callable[[], Iterable[str]] = backends.list_of_moto_modules
    if getattr(listing, "__luca_fix__", False):
        return
    modules = tuple(listing())

    def list_of_moto_modules() -> Iterable[str]:
        return iter(modules)

    list_of_moto_modules.__luca_fix__ = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules
