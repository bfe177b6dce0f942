"""Who is calling a REST route: the principal from the verified bearer token (never from the path
or body), and the idempotency key header every write takes. Routers of the app share these."""

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from luca_grading.bootstrap import Container
from luca_kernel.access import Principal
from luca_platform.telemetry import context


async def principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    # On the event loop: a token verified before costs a lookup, not a trip to a worker thread; a
    # new one is verified in a worker (the key set may have to be fetched).
    container: Container = request.app.state.container
    found = container.authenticator.cached(authorization)
    if found is None:
        found = await run_in_threadpool(container.authenticator.authenticate, authorization)
    request.state.school_id = found.school_id
    context.school_id.set(found.school_id)
    return found


Caller = Annotated[Principal, Depends(principal)]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        description="client-generated key; a retry with the same key returns the first result",
    ),
]
