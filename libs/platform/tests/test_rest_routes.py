"""WorkerRoute: a sync handler still runs off the event loop, in one worker trip, not two; the route's
parameters, response model and document are those of a plain FastAPI route."""

from __future__ import annotations

import threading
from typing import Any

import fastapi.routing
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

import luca_platform.rest_routes
from luca_platform.rest_routes import WorkerRoute


class Out(BaseModel):
    name: str
    thread: int


def build(route_class: type[fastapi.routing.APIRoute] | None) -> FastAPI:
    app = FastAPI()
    if route_class is not None:
        app.router.route_class = route_class
    router = APIRouter(prefix="/r", route_class=route_class or fastapi.routing.APIRoute)

    @app.get("/things/{name}", response_model=Out)
    def thing(name: str, limit: int = 3) -> dict[str, Any]:
        """A thing, by name."""
        return {"name": name * limit, "thread": threading.get_ident()}

    @router.get("/things/{name}", response_model=Out)
    def routed(name: str) -> dict[str, Any]:
        return {"name": name, "thread": threading.get_ident()}

    app.include_router(router)
    return app


def count_trips(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[str]:
    trips: list[str] = []
    original = module.run_in_threadpool

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(func, "__name__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(module, "run_in_threadpool", counting)
    return trips


def test_a_sync_handler_runs_in_one_worker_trip_and_its_result_is_checked_on_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = count_trips(monkeypatch, luca_platform.rest_routes)
    fastapis = count_trips(monkeypatch, fastapi.routing)
    with TestClient(build(WorkerRoute)) as client:
        loop_thread = client.portal.call(threading.get_ident)  # type: ignore[union-attr]
        for path in ("/things/ab?limit=2", "/r/things/ab"):
            response = client.get(path)
            assert response.status_code == 200
            assert response.json()["thread"] != loop_thread  # the handler did not block the loop
    assert ours == ["thing", "routed"]
    assert fastapis == []  # no second trip for the response's validation


def test_a_plain_route_takes_two_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    # What WorkerRoute saves: FastAPI's own sync path hops for the handler and for the validation.
    trips = count_trips(monkeypatch, fastapi.routing)
    with TestClient(build(None)) as client:
        assert client.get("/things/ab").status_code == 200
    assert len(trips) == 2


def test_the_response_model_still_checks_what_a_handler_returns() -> None:
    app = FastAPI()
    app.router.route_class = WorkerRoute

    @app.get("/bad", response_model=Out)
    def bad() -> dict[str, Any]:
        return {"name": "x"}  # no thread

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/bad").status_code == 500


def test_the_document_is_the_plain_routes() -> None:
    assert build(WorkerRoute).openapi() == build(None).openapi()
