"""A FastAPI route class whose sync handlers cost one trip to a worker thread, not two.

FastAPI runs a sync (``def``) handler in its thread pool and then, because the handler was sync,
validates the returned value against ``response_model`` in the thread pool again: two hand-offs a
request, each a thread wake-up and a GIL exchange, together about as much CPU as a small handler.
``WorkerRoute`` still runs the whole handler in one worker (its blocking store calls stay off the
event loop) but presents it to FastAPI as a coroutine, so the result is validated and serialised on
the loop, where that pure CPU work costs no hand-off.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool


class WorkerRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # An including router re-creates the route from ``route.endpoint``: wrap only once.
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = in_worker(endpoint)
        super().__init__(path, endpoint, **kwargs)


def in_worker(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` as a coroutine that runs it in the thread pool; its signature, name and docstring
    (what FastAPI reads for parameters, the operation id and the document) are the handler's."""

    @functools.wraps(handler)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(handler, *args, **kwargs)

    return run
