"""The app's parts are wired in one place: only the factory and the request dependencies touch
`app.state`; everything else receives typed parts (service/container.py)."""

from __future__ import annotations

import ast
from pathlib import Path

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
