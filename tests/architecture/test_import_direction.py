"""Data flows one way: request → router → domain → DB/store/provider, never back up.

Every package under service/ is domain or data by default, so new ones (recordings, analysis,
...) fall under these checks without touching this file. Only the HTTP layer may import FastAPI
or Starlette: the API (routes, dependencies), core's HTTP plumbing (middleware, exception
handlers), the app factory and the ASGI entry point.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HTTP_LAYER = ("service.api", "service.core", "service.app", "service.main")
HTTP_LIBRARIES = ("fastapi", "starlette", "sse_starlette")
# core is not here: its config, db and exceptions serve every layer. What in it is HTTP plumbing
# imports the HTTP libraries, which the walk catches.
FORBIDDEN_FOR_DOMAIN = (*HTTP_LIBRARIES, "service.api", "service.app", "service.main")


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted((root / "service").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path) -> set[str]:
    """Every dotted name the module imports, anywhere in it (function-level imports too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _graph(root: Path) -> dict[str, set[str]]:
    """Module → what importing it runs: imported modules, their parent packages, libraries."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        deps = set()
        for name in _imports(module, path) | {module.rpartition(".")[0]}:
            if not name.startswith("service"):
                if name:
                    deps.add(name.split(".")[0])
                continue
            while name and name not in modules:
                name = name.rpartition(".")[0]
            parts = name.split(".")
            deps.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        deps.discard(module)
        graph[module] = deps
    return graph


def _reached(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Everything importing `start` loads, each with the module that imports it."""
    via: dict[str, str] = {}
    todo = [start]
    while todo:
        current = todo.pop()
        for dep in graph.get(current, ()):
            if dep not in via and dep != start:
                via[dep] = current
                todo.append(dep)
    return via


def domain_violations(root: Path) -> list[str]:
    graph = _graph(root)
    found = []
    for module in graph:
        if _within(module, HTTP_LAYER) or module == "service":
            continue
        for dep, importer in _reached(graph, module).items():
            if _within(dep, FORBIDDEN_FOR_DOMAIN):
                found.append(f"{module} reaches {dep} (imported by {importer})")
    return sorted(found)


def test_domain_and_data_layers_never_import_http() -> None:
    assert domain_violations(ROOT) == []


def test_nothing_in_the_runtime_package_imports_dev_tooling() -> None:
    offenders = [
        module
        for module, path in _modules(ROOT).items()
        if any(_within(name, ("devtools",)) for name in _imports(module, path))
    ]
    assert offenders == []


def test_importing_the_domain_loads_no_http_library() -> None:
    """The real interpreter agrees, libraries' own imports included."""
    domain = [m for m in _modules(ROOT) if m != "service" and not _within(m, HTTP_LAYER)]
    script = (
        "import importlib, json, sys\n"
        f"for name in {domain!r}:\n"
        "    importlib.import_module(name)\n"
        f"    loaded = sorted(m for m in sys.modules if m.split('.')[0] in {HTTP_LIBRARIES!r})\n"
        "    if loaded:\n"
        "        print(json.dumps([name, loaded[:3]]))\n"
        "        break\n"
        "else:\n"
        "    print(json.dumps(None))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.splitlines()[-1]) is None


def test_a_new_package_falls_under_the_rule(tmp_path: Path) -> None:
    (tmp_path / "service" / "recordings").mkdir(parents=True)
    (tmp_path / "service" / "__init__.py").write_text("")
    (tmp_path / "service" / "recordings" / "__init__.py").write_text("")
    (tmp_path / "service" / "recordings" / "upload.py").write_text("from . import analysis\n")
    (tmp_path / "service" / "recordings" / "analysis.py").write_text(
        "def f():\n    from fastapi import HTTPException\n"
    )
    assert domain_violations(tmp_path) == [
        "service.recordings.analysis reaches fastapi (imported by service.recordings.analysis)",
        "service.recordings.upload reaches fastapi (imported by service.recordings.analysis)",
    ]
