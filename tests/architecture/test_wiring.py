"""The app's parts are wired in one place: only the factory and the request dependencies touch
`app.state`; everything else receives typed parts (service/container.py). No request dependency
runs in FastAPI's thread pool."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, _IncludedRouter
from starlette.routing import BaseRoute

import service.app as app_module
from devtools.live_server import LiveServer
from service.app import create_app
from tests.conftest import ApiSettings, make_settings

SERVICE = Path(__file__).resolve().parents[2] / "service"
ALLOWED = {"service/app.py", "service/api/deps.py"}


def _touches_app_state(tree: ast.AST) -> bool:
    """`<anything>.state` where the object is named app (app.state, request.app.state, ...)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "state":
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name == "app":
                return True
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("getattr", "setattr"):
            args = node.args
            if len(args) >= 2 and isinstance(args[1], ast.Constant) and args[1].value == "state":
                return True
    return False


def test_only_the_factory_and_deps_touch_app_state() -> None:
    offenders = []
    for path in sorted(SERVICE.rglob("*.py")):
        rel = path.relative_to(SERVICE.parent).as_posix()
        if rel not in ALLOWED and _touches_app_state(ast.parse(path.read_text(), rel)):
            offenders.append(rel)
    assert offenders == []


def test_the_check_sees_each_spelling() -> None:
    for source in (
        "x = request.app.state.pool",
        "app.state.rag_embedder = e",
        "getattr(app.state, 'pool', None)",
        "getattr(app, 'state')",
    ):
        assert _touches_app_state(ast.parse(source)), source
    assert not _touches_app_state(ast.parse("state = request.state"))


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router, resolved lazily
            yield from _routes(route.original_router.routes)


def _threaded(dependant: Dependant) -> Iterator[str]:
    """Every dependency below `dependant` that FastAPI would call in its thread pool."""
    for dep in dependant.dependencies:
        call = dep.call
        if call is not None:
            fn = call if inspect.isroutine(call) else type(call).__call__
            if not (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)):
                yield getattr(call, "__qualname__", repr(call))
        yield from _threaded(dep)


def sync_dependencies(app: FastAPI) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for route in _routes(app.routes):
        for name in _threaded(route.dependant):
            found.setdefault(name, set()).add(route.path)
    return found


def test_no_request_dependency_runs_in_the_thread_pool(tmp_path: Path) -> None:
    """A `def` dependency costs a thread-pool hop per request; on a loaded machine each hop
    waits for a core to wake the thread. Six of them once sat in front of every cached answer."""
    app = create_app(make_settings("postgresql://unused@/unused", tmp_path))
    assert sum(1 for _ in _routes(app.routes)) > 50
    assert sync_dependencies(app) == {}


def test_the_dependency_check_sees_a_plain_def() -> None:
    def plain() -> int:
        return 1

    async def awaited() -> int:
        return 1

    app = FastAPI()

    @app.get("/x")
    async def x(a: int = Depends(plain), b: int = Depends(awaited)) -> int:
        return a + b

    assert sync_dependencies(app) == {
        "test_the_dependency_check_sees_a_plain_def.<locals>.plain": {"/x"}
    }


async def _leave_routes_unbuilt(app: FastAPI) -> None:
    return None


@pytest.mark.parametrize("at_startup", [True, False], ids=["built at startup", "left lazy"])
def test_every_route_is_built_before_the_first_request(
    api_settings: ApiSettings, monkeypatch: pytest.MonkeyPatch, at_startup: bool
) -> None:
    """FastAPI builds an included router's routes on the first request that reaches it (100-250
    ms a router). The app builds them all while starting, so no request pays for it; with that
    step left out, the first requests do (the test can fail)."""
    built: list[object] = []
    original = _IncludedRouter._build_effective_context

    def counting(self: _IncludedRouter, route: BaseRoute) -> Any:
        built.append(route)
        return original(self, route)

    monkeypatch.setattr(_IncludedRouter, "_build_effective_context", counting)
    if not at_startup:
        monkeypatch.setattr(app_module, "build_routes", _leave_routes_unbuilt)
    with LiveServer(create_app(api_settings())) as server:
        at_start = len(built)
        for path in ("/api/health", "/api/projects", "/api/v1/recordings", "/api/chat/sessions"):
            assert httpx.get(server.url + path, timeout=30).status_code in (200, 401)
    built_by_requests = len(built) - at_start
    if at_startup:
        assert at_start > 0 and built_by_requests == 0
    else:
        assert at_start == 0 and built_by_requests > 0
